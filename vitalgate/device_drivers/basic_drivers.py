"""Drivers for the SIG health services and the Polar PMD ECG stream, on the GATT codecs.

One driver per profile kind (chosen by :mod:`vitalgate.device_drivers.recognition` from the
firmware profiles); the codecs (:mod:`vitalgate.device_drivers.gatt`) decode the bytes and this
module turns them into :class:`~vitalgate.readings.Reading` s in canonical units (mmHg, mmol/L
via glucose's molar mass, %, /min). A malformed payload is a :class:`MalformedPayload`, reported
and skipped, the link kept. Device time stamps are local time of the gateway's zone, made
aware; a reading without one is stamped with the receive time and flagged ``gateway_time``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bleak.exc import BleakError

from vitalgate.device_drivers import gatt
from vitalgate.device_drivers.manager import Session
from vitalgate.errors import MalformedPayload
from vitalgate.readings import GATEWAY_TIME, BeatIntervals, DeviceIdentity, EcgSamples, Reading
from vitalgate.service import honour_swallowed_cancel
from vitalgate.vocabulary import Kind

logger = logging.getLogger(__name__)

KPA_TO_MMHG = 7.50061683  # 1 kPa in mmHg (101.325/760 kPa per mmHg)


def uuid16(short: str) -> str:
    return f"0000{short.lower()}-0000-1000-8000-00805f9b34fb"


PMD_CONTROL = "fb005c81-02e7-f387-1cad-8acd2d8df0c8"
PMD_DATA = "fb005c82-02e7-f387-1cad-8acd2d8df0c8"


def _value(x: float | None, what: str, source: str) -> float:
    """A measured value; an IEEE 11073 special value (NaN, NRes, INF) is not a reading."""
    if x is None or math.isnan(x) or math.isinf(x):
        raise MalformedPayload(f"{what} is an IEEE 11073 special value, not a measurement", source=source, offset=1)
    return float(x)


def _local(stamp: datetime | None) -> datetime | None:
    """A device's Date Time (local, naive) as an aware time in the gateway's zone."""
    return stamp.astimezone() if stamp is not None else None


def decode_bp(data: bytes, device: DeviceIdentity) -> Reading:
    v = gatt.decode(0x2A35, data)
    src = "0x2A35 Blood Pressure Measurement"
    scale = KPA_TO_MMHG if v.unit == "kPa" else 1.0
    values = {
        "systolic": round(_value(v.systolic, "systolic", src) * scale, 1),
        "diastolic": round(_value(v.diastolic, "diastolic", src) * scale, 1),
    }
    if v.mean_arterial is not None and math.isfinite(v.mean_arterial):
        values["mean"] = round(v.mean_arterial * scale, 1)
    if v.pulse_rate is not None and math.isfinite(v.pulse_rate):
        values["pulse"] = v.pulse_rate
    st = v.status
    marks = {
        "body_movement": st is not None and st.body_movement,
        "irregular_pulse": st is not None and st.irregular_pulse,
        "cuff_too_loose": st is not None and st.cuff_too_loose,
        "improper_position": st is not None and st.improper_position,
        "clock_unset": bool(data[0] & 0x02) and v.timestamp is None,
        GATEWAY_TIME: v.timestamp is None,
    }
    return Reading.of(
        Kind.BLOOD_PRESSURE, values, _local(v.timestamp) or datetime.now(UTC), device,
        user_slot=v.user_id, flags=frozenset(k for k, on in marks.items() if on),
    )


def decode_glucose(data: bytes, device: DeviceIdentity, context: str | None = None) -> Reading:
    v = gatt.decode(0x2A18, data)
    src = "0x2A18 Glucose Measurement"
    at = _local(v.base_time)
    if at is None:
        raise MalformedPayload(f"record {v.sequence_number} has no base time", source=src, offset=3)
    if v.time_offset_min is not None:
        at += timedelta(minutes=v.time_offset_min)
    if v.concentration is None:
        raise MalformedPayload("glucose record without a concentration", source=src, offset=0)
    _value(v.concentration, "glucose concentration", src)
    mmol = v.mmol_per_l
    assert mmol is not None
    return Reading.of(Kind.GLUCOSE, {"glucose": round(mmol, 2)}, at, device, sequence=v.sequence_number,
                      stored=True, context=context, flags=frozenset(glucose_status_flags(v)))


#: The Glucose Measurement's Sensor Status Annunciation bits (Bluetooth Glucose Service 1.0) as
#: reading flags: a result the meter itself says is not valid (sensor malfunction, sample too
#: small, strip insertion error, wrong strip, temperature out of range, strip pulled too soon,
#: device fault), one beyond its range (the true value is past the one given), a time fault, a
#: low battery.
_GLUCOSE_STATUS = {0: "battery_low", 1: "measurement_invalid", 2: "measurement_invalid", 3: "measurement_invalid",
                   4: "measurement_invalid", 5: "above_range", 6: "below_range", 7: "measurement_invalid",
                   8: "measurement_invalid", 9: "measurement_invalid", 10: "measurement_invalid", 11: "time_fault"}
CONTROL_SOLUTION_TYPE = 10  # the Glucose Measurement's Type nibble: control solution
CONTROL_SOLUTION_LOCATION = 4  # its Sample Location nibble: control solution


def glucose_status_flags(v: gatt.GlucoseMeasurement) -> set[str]:
    """Reading flags from a glucose record's sensor status and type: ``control_solution`` for
    a meter's quality-control test (not the resident's blood)."""
    out = {f for bit, f in _GLUCOSE_STATUS.items() if (v.sensor_status or 0) >> bit & 1}
    if v.type == CONTROL_SOLUTION_TYPE or v.sample_location == CONTROL_SOLUTION_LOCATION:
        out.add("control_solution")
    return out


def decode_plx(data: bytes, device: DeviceIdentity, *, spot: bool) -> Reading:
    src = "0x2A5E PLX Spot-check" if spot else "0x2A5F PLX Continuous"
    v = gatt.decode(0x2A5E if spot else 0x2A5F, data)
    at = _local(v.timestamp) if spot else None
    flags = {GATEWAY_TIME} if at is None else set()
    if spot and v.device_clock_not_set:
        flags.add("clock_unset")
    flags |= plx_status_flags(v.measurement_status, v.device_sensor_status)
    values = {"spo2": _value(v.spo2, "SpO2", src), "pulse": _value(v.pulse_rate, "pulse rate", src)}
    return Reading.of(Kind.SPO2, values, at or datetime.now(UTC), device, flags=frozenset(flags))


#: The PLX Measurement Status and Device and Sensor Status bits (Bluetooth Pulse Oximeter
#: Service 1.0) that qualify a value, as reading flags (``alerts.UNJUDGED_FLAGS`` says which keep
#: a reading from the rules):
_PLX_MEASUREMENT = {10: "demo_data", 11: "demo_data", 13: "measurement_invalid", 14: "measurement_questionable",
                    15: "measurement_invalid"}  # demonstration, testing; unavailable; questionable; invalid
_PLX_SENSOR = {1: "sensor_fault", 5: "low_perfusion", 11: "sensor_off", 12: "sensor_fault", 13: "sensor_off",
               14: "sensor_fault", 15: "sensor_off"}  # equipment malfunction; low perfusion; unconnected to
# the user, unknown sensor, displaced, malfunctioning, disconnected


def plx_status_flags(measurement_status: int | None, sensor_status: int | None) -> set[str]:
    """Reading flags from a PLX measurement's status fields (``None``: not sent)."""
    out = {f for bit, f in _PLX_MEASUREMENT.items() if (measurement_status or 0) >> bit & 1}
    return out | {f for bit, f in _PLX_SENSOR.items() if (sensor_status or 0) >> bit & 1}


def decode_hr(data: bytes, device: DeviceIdentity) -> tuple[Reading, BeatIntervals]:
    """The heart rate, and the RR intervals of the beats since the previous notification. A
    notification without intervals gives none: no beat detected since the previous one (for a
    strap that sends intervals, the ECG monitor's sign of a pause going on)."""
    v = gatt.decode(0x2A37, data)
    now = datetime.now(UTC)
    beats = BeatIntervals(device, v.rr_intervals_s, now, v.sensor_contact)
    flags = frozenset({GATEWAY_TIME} | ({"no_skin_contact"} if v.sensor_contact is False else set()))
    return Reading.of(Kind.HEART_RATE, {"heart_rate": float(v.heart_rate)}, now, device, flags=flags), beats


def decode_pmd_ecg(data: bytes, device: DeviceIdentity, fs_hz: float = 130.0) -> EcgSamples:
    v = gatt.decode(PMD_DATA, data)
    first = datetime.fromtimestamp(v.timestamp_ns / 1e9, UTC) - timedelta(seconds=(len(v.samples_uv) - 1) / fs_hz)
    return EcgSamples(device, fs_hz, v.samples_uv, first)


class _Base:
    """Decode notifications in order through a queue; malformed ones are reported and skipped."""

    async def _pump(self, session: Session, queue: asyncio.Queue[tuple[str, bytes]]) -> None:
        ident = DeviceIdentity(session.address, model=session.name)
        while True:
            honour_swallowed_cancel()  # a stop lost in the BLE stack while subscribing still stops
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

    async def set_clock(self, session: Session) -> None:
        """Set the device's clock via the Current Time Service when it offers a writable one,
        so its time stamps are right (devices drift, and lose the time with their batteries)."""
        cts = session.client.services.get_characteristic(uuid16("2A2B"))
        if cts is None or "write" not in cts.properties:
            return
        now = datetime.now().astimezone()
        try:
            await session.client.write_gatt_char(cts, gatt.encode_current_time(now.replace(tzinfo=None)), response=True)
        except (BleakError, TimeoutError, OSError) as err:  # a clock we cannot set is logged, not fatal
            logger.warning("%s: could not set the device clock via CTS: %s", session.address, err)
            return
        logger.info("%s: device clock set to %s via CTS", session.address, now.isoformat(timespec="seconds"))


class BpDriver(_Base):
    def decode(self, char: str, data: bytes, ident: DeviceIdentity) -> list[Reading | BeatIntervals | EcgSamples]:
        return [decode_bp(data, ident)]

    async def run(self, session: Session) -> None:
        await self.set_clock(session)
        await self._pump(session, await self._subscribe(session, uuid16("2A35")))


class PlxDriver(_Base):
    def decode(self, char: str, data: bytes, ident: DeviceIdentity) -> list[Reading | BeatIntervals | EcgSamples]:
        return [decode_plx(data, ident, spot=char == uuid16("2A5E"))]

    async def run(self, session: Session) -> None:
        await self._pump(session, await self._subscribe(session, uuid16("2A5E"), uuid16("2A5F")))


class HrDriver(_Base):
    def __init__(self) -> None:
        self.linked = False  # a heart rate notification of this connection decoded yet

    def decode(self, char: str, data: bytes, ident: DeviceIdentity) -> list[Reading | BeatIntervals | EcgSamples]:
        if char == PMD_DATA:
            return [decode_pmd_ecg(data, ident)]
        reading, beats = decode_hr(data, ident)
        if not self.linked:  # (one driver per connection)
            self.linked = True
            beats = dataclasses.replace(beats, new_link=True)
        return [reading, beats]

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
    """RACP: report the records after ``session.last_sequence`` (all on first contact).

    A record flagged "context follows" waits for its Measurement Context (0x2A34, same sequence
    number) so the reading carries its meal (``fasting`` drives the fasting-glucose rule); a
    record whose context never comes is emitted without one when the RACP transfer ends.
    """

    def decode(self, char: str, data: bytes, ident: DeviceIdentity) -> list[Reading | BeatIntervals | EcgSamples]:
        return [decode_glucose(data, ident)]

    async def run(self, session: Session) -> None:
        await self.set_clock(session)
        racp, measurement, context = uuid16("2A52"), uuid16("2A18"), uuid16("2A34")
        has_context = session.client.services.get_characteristic(context) is not None
        queue = await self._subscribe(session, measurement, racp, *((context,) if has_context else ()))
        last = session.last_sequence
        request = bytes([1, 1]) if last is None else bytes([1, 3, 1]) + struct.pack("<H", last + 1)
        await session.client.write_gatt_char(racp, request, response=True)
        ident = DeviceIdentity(session.address, model=session.name)
        waiting: dict[int, bytes] = {}  # sequence -> measurement awaiting its context
        while True:  # records (and contexts), then the RACP response, in link order
            char, data = await queue.get()
            if char == racp:
                break
            try:
                if char == context:
                    ctx = gatt.decode(0x2A34, data)
                    raw = waiting.pop(ctx.sequence_number, None)
                    if raw is None:
                        logger.warning("%s: context for unknown record %d", session.address, ctx.sequence_number)
                        continue
                    meal = gatt.MEAL_NAMES.get(ctx.meal) if ctx.meal is not None else None
                    await session.emit(decode_glucose(raw, ident, context=meal))
                    continue
                m = gatt.decode(0x2A18, data)
                if m.context_follows and has_context:
                    waiting[m.sequence_number] = data
                    continue
            except MalformedPayload as err:
                session.malformed(err)
                continue
            await self._handle(session, ident, char, data)
        for raw in waiting.values():  # context announced but never sent
            await self._handle(session, ident, measurement, raw)
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
