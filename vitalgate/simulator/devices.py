"""Emulated health devices: blood-pressure monitor, glucose meter, pulse oximeter, HR strap.

Each keeps what it measured while the gateway was away and hands it over on the next
connection, as the real devices do. Times are the device's clock: ``clock_offset`` makes it
wrong on purpose (a BP monitor whose battery was changed). The Polar-style ECG stream is in
:mod:`vitalgate.simulator.polar`.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bumble import att, gatt
from bumble.device import Connection

from vitalgate.simulator import payloads as pl
from vitalgate.simulator.peripheral import READABLE, WRITEABLE, P, Peripheral

logger = logging.getLogger(__name__)


def _local_now() -> datetime:
    """The device's wall clock: local time, no zone (what a consumer device keeps)."""
    return datetime.now().replace(microsecond=0)


class BloodPressureMonitor(Peripheral):
    """Blood Pressure Service (0x1810): indications on 0x2A35, multi-user slots.

    Parameters
    ----------
    disconnect_after_measurement:
        The common quirk: the monitor drops the link as soon as its records are confirmed.
    clock_offset:
        Error of the device clock (time stamps are sent in the device's local time).
    """

    advertised_services = ("1810",)
    manufacturer = "OMRON HEALTHCARE"
    model = "BP7000"
    firmware = "1.2.0"

    def __init__(
        self, address: str, name: str = "BLESmart_00000116", *, link: str = "default",
        disconnect_after_measurement: bool = True, clock_offset: timedelta = timedelta(0),
        serial: str | None = None,
    ) -> None:
        super().__init__(address, name, link=link, serial=serial)
        self.disconnect_after_measurement = disconnect_after_measurement
        self.clock_offset = clock_offset
        self.clock_set_at: datetime | None = None
        self.pending: list[bytes] = []
        self.delivered: list[bytes] = []
        self._flushing = asyncio.Lock()

    def build_services(self) -> list[gatt.Service]:
        return [
            gatt.Service(
                "1810",
                [
                    gatt.Characteristic("2A35", P.INDICATE, READABLE, b""),
                    gatt.Characteristic("2A49", P.READ, READABLE, struct.pack("<H", 0x0021)),
                ],
            ),
            # Current Time Service: the gateway sets the monitor's clock (CTS 1.1, 0x2A2B writable).
            gatt.Service(
                "1805",
                [
                    gatt.Characteristic(
                        "2A2B", P.READ | P.WRITE, READABLE | WRITEABLE,
                        gatt.CharacteristicValue(read=self._read_time, write=self._write_time),
                    ),
                ],
            ),
        ]

    def _read_time(self, _connection: Connection) -> bytes:
        now = _local_now() + self.clock_offset
        return pl.date_time(now) + bytes([now.isoweekday(), 0, 0])

    def _write_time(self, _connection: Connection, value: bytes) -> None:
        year, month, day, hour, minute, second = struct.unpack_from("<HBBBBB", value, 0)
        written = datetime(year, month, day, hour, minute, second)
        self.clock_offset = written - _local_now().replace(microsecond=0)
        self.clock_set_at = _local_now()
        logger.info("%s: clock set by the gateway (offset now %s)", self.address, self.clock_offset)

    def measure(
        self, systolic: float, diastolic: float, pulse: float | None = None, *,
        user: int | None = 1, at: datetime | None = None, status: int | None = 0,
    ) -> bytes:
        """Take a measurement; it is sent now if the gateway listens, else kept for later."""
        when = (at or _local_now()) + self.clock_offset
        value = pl.blood_pressure(systolic, diastolic, at=when, pulse=pulse, user=user, status=status)
        self.pending.append(value)
        if self.connection is not None and self.is_subscribed("2A35"):
            self.spawn(self.flush(), "bp-flush")
        else:
            self.wake()
        return value

    def wants_to_advertise(self) -> bool:
        """Like the real monitors: advertise only with measurements to hand over."""
        return bool(self.pending)

    def on_connect(self, connection: Connection) -> None:
        self.spawn(self._flush_when_subscribed(), "bp-connect")

    async def _flush_when_subscribed(self) -> None:
        await self.wait_subscribed("2A35")
        await self.flush()

    async def flush(self) -> None:
        """Indicate every stored measurement, oldest first; a record is kept until confirmed."""
        async with self._flushing:
            sent = 0
            while self.pending and self.connection is not None:
                value = self.pending[0]
                await self.indicate("2A35", value)
                self.delivered.append(self.pending.pop(0))
                sent += 1
            if sent and self.disconnect_after_measurement:
                await self.drop_link()


@dataclass(frozen=True, slots=True)
class GlucoseRecord:
    sequence: int
    at: datetime
    mmol_l: float
    meal: int | None = None  # GLS meal code (3 = fasting): sent as a Measurement Context


class GlucoseMeter(Peripheral):
    """Glucose Service (0x1808) with stored records and a Record Access Control Point.

    RACP "report stored records" with operators all / ≥ sequence / ≤ / range / first / last,
    "report number of stored records" and "abort". ``drop_after_records`` drops the link in the
    middle of a transfer once (a meter put away mid-download).
    """

    advertised_services = ("1808",)
    manufacturer = "Roche"
    model = "Accu-Chek Guide"
    firmware = "2.4.1"

    def __init__(
        self, address: str, name: str = "meter+06743390", *, link: str = "default",
        serial: str | None = None, clock_offset: timedelta = timedelta(0),
    ) -> None:
        super().__init__(address, name, link=link, serial=serial)
        self.records: list[GlucoseRecord] = []
        self.clock_offset = clock_offset
        self.drop_after_records: int | None = None
        self.unsent = False
        self.records_sent = 0
        self.transfer_done = asyncio.Event()
        self._transfer: asyncio.Task[None] | None = None

    def build_services(self) -> list[gatt.Service]:
        return [
            gatt.Service(
                "1808",
                [
                    gatt.Characteristic("2A18", P.NOTIFY, READABLE, b""),
                    gatt.Characteristic("2A34", P.NOTIFY, READABLE, b""),
                    gatt.Characteristic("2A51", P.READ, READABLE, struct.pack("<H", 0x0000)),
                    gatt.Characteristic(
                        "2A52", P.WRITE | P.INDICATE, READABLE | WRITEABLE,
                        gatt.CharacteristicValue(write=self._on_racp_write),
                    ),
                ],
            )
        ]

    def add_record(self, mmol_l: float, at: datetime | None = None, *, meal: int | None = None) -> GlucoseRecord:
        """Store a measurement (the meter is used while the gateway is away); ``meal`` (1
        preprandial, 2 postprandial, 3 fasting...) adds a Measurement Context (0x2A34)."""
        seq = self.records[-1].sequence + 1 if self.records else 1
        rec = GlucoseRecord(seq, (at or _local_now()) + self.clock_offset, mmol_l, meal)
        self.records.append(rec)
        self.unsent = True
        self.wake()
        return rec

    def wants_to_advertise(self) -> bool:
        """Advertise after a new measurement, until a download has run to its end."""
        return self.unsent

    def encode(self, rec: GlucoseRecord) -> bytes:
        return pl.glucose(rec.sequence, rec.at, rec.mmol_l, context_follows=rec.meal is not None)

    def _on_racp_write(self, connection: Connection, value: bytes) -> None:
        if self._transfer is not None and not self._transfer.done():
            if value[:1] == bytes([pl.RACP_ABORT]):
                self._transfer.cancel()
                self.spawn(self.indicate("2A52", pl.racp_response(pl.RACP_ABORT, pl.RSP_SUCCESS)), "racp")
                return
            raise att.ATT_Error(0xFE)  # procedure already in progress
        if not self.is_subscribed("2A52"):
            raise att.ATT_Error(0xFD)  # client characteristic configuration improperly configured
        self.transfer_done.clear()
        self._transfer = asyncio.get_running_loop().create_task(
            self._racp(bytes(value)), name=f"racp-{self.address}"
        )

    def select(self, value: bytes) -> list[GlucoseRecord] | int:
        """Records a RACP request selects, or a RACP response code when it is invalid."""
        if len(value) < 2:
            return pl.RSP_INVALID_OPERATOR
        operator, operand = value[1], value[2:]
        recs = self.records
        if operator == pl.OP_ALL:
            return list(recs)
        if operator == pl.OP_FIRST:
            return recs[:1]
        if operator == pl.OP_LAST:
            return recs[-1:]
        if operator in (pl.OP_GREATER_OR_EQUAL, pl.OP_LESS_OR_EQUAL, pl.OP_RANGE):
            if not operand or operand[0] != pl.FILTER_SEQUENCE:
                return pl.RSP_OPERATOR_NOT_SUPPORTED
            need = 5 if operator == pl.OP_RANGE else 3
            if len(operand) != need:
                return pl.RSP_INVALID_OPERAND
            lo = struct.unpack_from("<H", operand, 1)[0]
            if operator == pl.OP_GREATER_OR_EQUAL:
                return [r for r in recs if r.sequence >= lo]
            if operator == pl.OP_LESS_OR_EQUAL:
                return [r for r in recs if r.sequence <= lo]
            hi = struct.unpack_from("<H", operand, 3)[0]
            return [r for r in recs if lo <= r.sequence <= hi]
        return pl.RSP_OPERATOR_NOT_SUPPORTED

    async def _racp(self, value: bytes) -> None:
        try:
            opcode = value[0] if value else 0
            selected = self.select(value)
            if opcode == pl.RACP_REPORT_NUMBER:
                if isinstance(selected, int):
                    await self.indicate("2A52", pl.racp_response(opcode, selected))
                else:
                    await self.indicate("2A52", pl.racp_number(len(selected)))
                return
            if opcode != pl.RACP_REPORT_RECORDS:
                await self.indicate("2A52", pl.racp_response(opcode, pl.RSP_OPCODE_NOT_SUPPORTED))
                return
            if isinstance(selected, int):
                await self.indicate("2A52", pl.racp_response(opcode, selected))
                return
            if not selected:
                await self.indicate("2A52", pl.racp_response(opcode, pl.RSP_NO_RECORDS))
                self.unsent = False
                return
            for rec in selected:
                if self.drop_after_records is not None and self.records_sent >= self.drop_after_records:
                    self.drop_after_records = None
                    logger.info("%s: dropping the link mid-transfer (scripted fault)", self.address)
                    await self.drop_link()
                    return
                await self.notify("2A18", self.encode(rec))
                if rec.meal is not None:
                    await self.notify("2A34", pl.glucose_context(rec.sequence, rec.meal))
                self.records_sent += 1
            await self.indicate("2A52", pl.racp_response(opcode, pl.RSP_SUCCESS))
            self.unsent = False
        except ConnectionError:
            logger.info("%s: link lost during a RACP transfer", self.address)
        finally:
            self.transfer_done.set()


class PulseOximeter(Peripheral):
    """Pulse Oximeter Service (0x1822): spot-check (indicate 0x2A5E), continuous (notify 0x2A5F)."""

    advertised_services = ("1822",)
    manufacturer = "Nonin Medical"
    model = "3230"
    firmware = "1.6"

    def __init__(
        self, address: str, name: str = "Nonin3230_502644183", *, link: str = "default",
        serial: str | None = None,
    ) -> None:
        super().__init__(address, name, link=link, serial=serial)
        self.pending: list[bytes] = []

    def build_services(self) -> list[gatt.Service]:
        return [
            gatt.Service(
                "1822",
                [
                    gatt.Characteristic("2A5E", P.INDICATE, READABLE, b""),
                    gatt.Characteristic("2A5F", P.NOTIFY, READABLE, b""),
                    gatt.Characteristic("2A60", P.READ, READABLE, struct.pack("<H", 0x0000)),
                ],
            )
        ]

    def spot_check(self, spo2: float, pulse: float, at: datetime | None = None) -> None:
        """A finished spot-check; indicated now or on the next connection."""
        self.pending.append(pl.plx_spot_check(spo2, pulse, at=at or _local_now()))
        if self.connection is not None and self.is_subscribed("2A5E"):
            self.spawn(self._flush(), "plx-flush")
        else:
            self.wake()

    def on_connect(self, connection: Connection) -> None:
        self.spawn(self._flush_when_subscribed(), "plx-connect")

    async def _flush_when_subscribed(self) -> None:
        await self.wait_subscribed("2A5E")
        await self._flush()

    async def _flush(self) -> None:
        while self.pending and self.connection is not None:
            await self.indicate("2A5E", self.pending[0])
            self.pending.pop(0)

    async def continuous(self, spo2: float, pulse: float) -> None:
        """One continuous-measurement notification (when the gateway listens)."""
        if self.connection is not None and self.is_subscribed("2A5F"):
            await self.notify("2A5F", pl.plx_continuous(spo2, pulse))


class HeartRateStrap(Peripheral):
    """Heart Rate Service (0x180D): notifications on 0x2A37 with RR intervals."""

    advertised_services = ("180D",)
    manufacturer = "Polar Electro Oy"
    model = "H9"
    firmware = "3.1.1"

    def __init__(self, address: str, name: str = "Polar H9 8A3B2C1D", *, link: str = "default",
                 serial: str | None = None) -> None:
        super().__init__(address, name, link=link, serial=serial)

    def build_services(self) -> list[gatt.Service]:
        return [
            gatt.Service(
                "180D",
                [
                    gatt.Characteristic("2A37", P.NOTIFY, READABLE, b""),
                    gatt.Characteristic("2A38", P.READ, READABLE, bytes([1])),  # chest
                ],
            )
        ]

    async def beat(self, bpm: int, rr_s: Sequence[float] = ()) -> bool:
        """Send one HR measurement; returns False when nobody listens (straps do not store)."""
        if self.connection is None or not self.is_subscribed("2A37"):
            return False
        await self.notify("2A37", pl.heart_rate(bpm, rr_s))
        return True

    def play_rr(self, rr_s: Sequence[float], *, speed: float = 1.0) -> None:
        """Stream RR intervals: one notification per beat, paced by the intervals / ``speed``."""

        async def loop() -> None:
            for rr in rr_s:
                await asyncio.sleep(rr / speed)
                await self.beat(round(60.0 / rr), [rr])

        self.spawn(loop(), "rr")
