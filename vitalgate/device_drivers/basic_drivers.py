"""Minimal drivers for the SIG health services and the Polar PMD ECG stream.

The connection manager's stand-in until the firmware-profile drivers are wired into
:mod:`vitalgate.device_drivers.recognition`: strict decoders (a payload shorter than its flags
announce is a :class:`MalformedPayload`, reported and skipped, the link kept) and one driver per
service. Device time stamps are local time of the gateway's zone, made aware.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from vitalgate.device_drivers.manager import Session
from vitalgate.errors import MalformedPayload
from vitalgate.readings import BeatIntervals, DeviceIdentity, EcgSamples, Reading
from vitalgate.vocabulary import Kind

logger = logging.getLogger(__name__)

KPA_TO_MMHG = 7.500615


def uuid16(short: str) -> str:
    return f"0000{short.lower()}-0000-1000-8000-00805f9b34fb"


PMD_CONTROL = "fb005c81-02e7-f387-1cad-8acd2d8df0c8"
PMD_DATA = "fb005c82-02e7-f387-1cad-8acd2d8df0c8"


class _Reader:
    """Bounds-checked little-endian reads; a short payload raises :class:`MalformedPayload`."""

    def __init__(self, data: bytes, source: str) -> None:
        self.data, self.source, self.pos = data, source, 0

    def take(self, fmt: str) -> tuple[int, ...]:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise MalformedPayload(
                f"payload {self.data.hex()} ends before the field its flags announce", source=self.source,
                offset=self.pos,
            )
        out = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return out

    def sfloat(self) -> float:
        (raw,) = self.take("<H")
        mantissa, exponent = raw & 0x0FFF, raw >> 12
        if mantissa >= 0x07FE and mantissa <= 0x0802:
            raise MalformedPayload(f"special SFLOAT 0x{raw:04X} (NaN/NRes/INF) as a value", source=self.source)
        if mantissa >= 0x0800:
            mantissa -= 0x1000
        if exponent >= 0x8:
            exponent -= 0x10
        return float(mantissa * 10.0**exponent)

    def date_time(self) -> datetime | None:
        """Date Time (0x2A08) as an aware local time; ``None`` when the device says "unknown"."""
        year, month, day, hour, minute, second = self.take("<HBBBBB")
        if year == 0 or month == 0 or day == 0:
            return None  # 0 means "not known" (clock not set)
        try:
            return datetime(year, month, day, hour, minute, second).astimezone()
        except ValueError as err:
            raise MalformedPayload(
                f"invalid date {year}-{month}-{day} {hour}:{minute}:{second}", source=self.source
            ) from err


def decode_bp(data: bytes, device: DeviceIdentity) -> Reading:
    r = _Reader(data, "0x2A35 Blood Pressure Measurement")
    (flags,) = r.take("<B")
    scale = KPA_TO_MMHG if flags & 0x01 else 1.0
    sys_, dia, mean = (round(r.sfloat() * scale, 1) for _ in range(3))
    stamp = r.date_time() if flags & 0x02 else None
    values = {"systolic": sys_, "diastolic": dia, "mean": mean}
    if flags & 0x04:
        values["pulse"] = r.sfloat()
    user = r.take("<B")[0] if flags & 0x08 else None
    status = r.take("<H")[0] if flags & 0x10 else 0
    marks = {
        "body_movement": status & 0x01, "irregular_pulse": status & 0x04,
        "clock_unset": flags & 0x02 and stamp is None,
    }
    return Reading.of(
        Kind.BLOOD_PRESSURE, values, stamp or datetime.now(UTC), device,
        user_slot=None if user == 0xFF else user,
        flags=frozenset(k for k, v in marks.items() if v),
    )


def decode_glucose(data: bytes, device: DeviceIdentity) -> Reading:
    r = _Reader(data, "0x2A18 Glucose Measurement")
    (flags,) = r.take("<B")
    (seq,) = r.take("<H")
    at = r.date_time()
    if at is None:
        raise MalformedPayload(f"record {seq} has no base time", source=r.source)
    if flags & 0x01:
        at += timedelta(minutes=r.take("<h")[0])
    if not flags & 0x02:
        raise MalformedPayload("glucose record without a concentration", source=r.source)
    value = r.sfloat()
    r.take("<B")  # type and sample location
    mmol = value * 1000.0 if flags & 0x04 else value * 100000.0 / 18.016
    return Reading.of(Kind.GLUCOSE, {"glucose": round(mmol, 2)}, at, device, sequence=seq, stored=True)


def decode_plx(data: bytes, device: DeviceIdentity, *, spot: bool) -> Reading:
    r = _Reader(data, "0x2A5E PLX Spot-check" if spot else "0x2A5F PLX Continuous")
    (flags,) = r.take("<B")
    spo2, pulse = r.sfloat(), r.sfloat()
    at = r.date_time() if spot and flags & 0x01 else None
    return Reading.of(Kind.SPO2, {"spo2": spo2, "pulse": pulse}, at or datetime.now(UTC), device)


def decode_hr(data: bytes, device: DeviceIdentity) -> tuple[Reading, BeatIntervals | None]:
    r = _Reader(data, "0x2A37 Heart Rate Measurement")
    (flags,) = r.take("<B")
    (bpm,) = r.take("<H" if flags & 0x01 else "<B")
    if flags & 0x08:
        r.take("<H")
    rr: list[float] = []
    if flags & 0x10:
        if (len(data) - r.pos) % 2 or len(data) == r.pos:
            raise MalformedPayload(f"RR field of {len(data) - r.pos} bytes is not whole intervals", source=r.source)
        while r.pos < len(data):
            rr.append(r.take("<H")[0] / 1024.0)
    now = datetime.now(UTC)
    beats = BeatIntervals(device, tuple(rr), now) if rr else None
    return Reading.of(Kind.HEART_RATE, {"heart_rate": float(bpm)}, now, device), beats


def decode_pmd_ecg(data: bytes, device: DeviceIdentity, fs_hz: float = 130.0) -> EcgSamples:
    r = _Reader(data, "Polar PMD data (ECG)")
    kind, stamp_ns, frame_type = r.take("<BQB")
    body = data[r.pos :]
    if kind != 0 or frame_type != 0 or len(body) % 3:
        raise MalformedPayload(f"not an ECG type-0 frame ({kind}, {frame_type}, {len(body)} bytes)", source=r.source)
    samples = tuple(int.from_bytes(body[i : i + 3], "little", signed=True) for i in range(0, len(body), 3))
    first = datetime.fromtimestamp(stamp_ns / 1e9, UTC) - timedelta(seconds=(len(samples) - 1) / fs_hz)
    return EcgSamples(device, fs_hz, samples, first)


class _Base:
    """Decode notifications in order through a queue; malformed ones are reported and skipped."""

    async def _pump(self, session: Session, queue: asyncio.Queue[tuple[str, bytes]]) -> None:
        ident = DeviceIdentity(session.address, model=session.name)
        while True:
            char, data = await queue.get()
            await self._handle(session, ident, char, data)

    async def _handle(self, session: Session, ident: DeviceIdentity, char: str, data: bytes) -> None:
        try:
            outputs = self.decode(char, data, ident)
        except MalformedPayload as err:
            session.malformed(err)
            return
        for out in outputs:
            await session.emit(out)

    def decode(self, char: str, data: bytes, ident: DeviceIdentity) -> list[Reading | BeatIntervals | EcgSamples]:
        raise NotImplementedError

    async def _subscribe(self, session: Session, *chars: str) -> asyncio.Queue[tuple[str, bytes]]:
        queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        for ch in chars:
            await session.client.start_notify(ch, lambda c, d: queue.put_nowait((c.uuid, bytes(d))))
        return queue

    async def run(self, session: Session) -> None:
        raise NotImplementedError


class BpDriver(_Base):
    def decode(self, char: str, data: bytes, ident: DeviceIdentity) -> list[Reading | BeatIntervals | EcgSamples]:
        return [decode_bp(data, ident)]

    async def run(self, session: Session) -> None:
        await self._pump(session, await self._subscribe(session, uuid16("2A35")))


class PlxDriver(_Base):
    def decode(self, char: str, data: bytes, ident: DeviceIdentity) -> list[Reading | BeatIntervals | EcgSamples]:
        return [decode_plx(data, ident, spot=char == uuid16("2A5E"))]

    async def run(self, session: Session) -> None:
        await self._pump(session, await self._subscribe(session, uuid16("2A5E"), uuid16("2A5F")))


class HrDriver(_Base):
    def decode(self, char: str, data: bytes, ident: DeviceIdentity) -> list[Reading | BeatIntervals | EcgSamples]:
        if char == PMD_DATA:
            return [decode_pmd_ecg(data, ident)]
        reading, beats = decode_hr(data, ident)
        return [reading] if beats is None else [reading, beats]

    async def run(self, session: Session) -> None:
        await self._pump(session, await self._subscribe(session, uuid16("2A37")))


class PolarEcgDriver(HrDriver):
    """Heart rate plus the PMD ECG stream; a strap without PMD is served as an HR strap."""

    async def run(self, session: Session) -> None:
        if session.client.services.get_characteristic(PMD_CONTROL) is None:
            await super().run(session)
            return
        queue = await self._subscribe(session, uuid16("2A37"), PMD_DATA)
        await session.client.start_notify(PMD_CONTROL, lambda _c, _d: None)
        start_ecg = bytes([0x02, 0x00, 0x00, 0x01, 0x82, 0x00, 0x01, 0x01, 0x0E, 0x00])
        await session.client.write_gatt_char(PMD_CONTROL, start_ecg, response=True)
        await self._pump(session, queue)


class GlucoseDriver(_Base):
    """RACP: report the records after ``session.last_sequence`` (all on first contact)."""

    def decode(self, char: str, data: bytes, ident: DeviceIdentity) -> list[Reading | BeatIntervals | EcgSamples]:
        return [decode_glucose(data, ident)]

    async def run(self, session: Session) -> None:
        racp = uuid16("2A52")
        queue = await self._subscribe(session, uuid16("2A18"), racp)
        last = session.last_sequence
        request = bytes([1, 1]) if last is None else bytes([1, 3, 1]) + struct.pack("<H", last + 1)
        await session.client.write_gatt_char(racp, request, response=True)
        ident = DeviceIdentity(session.address, model=session.name)
        while True:  # records, then the RACP response, in link order
            char, data = await queue.get()
            if char == racp:
                break
            await self._handle(session, ident, char, data)
        if data[:3] != bytes([6, 0, 1]) or data[3] not in (1, 6):
            logger.warning("%s: RACP answered %s", session.address, data.hex())


@dataclass(frozen=True)
class BasicProfile:
    """A recognised device: profile id, whether it bonds, and its driver class."""

    id: str
    driver_class: type[_Base]
    needs_bonding: bool = False

    def driver(self) -> _Base:
        return self.driver_class()
