"""The demo's emulated world: several residents, all four kinds of device, on one bumble link.

=========  ======================================  ===========================================
resident   device                                  what it shows
=========  ======================================  ===========================================
r-001      BP monitor ``...:01``, user slot 1      normal blood pressure
r-002      same BP monitor, user slot 2            BP over target (~162/98 mmHg)
r-003      glucose meter ``...:03`` (RACP)         fasting records >= 7.0 taken while away
r-004      pulse oximeter ``...:04``               spot-checks, one low SpO2
r-005      Polar-style ECG strap ``...:05``        real ECG of MIT-BIH record 201 (AF)
r-006      HR strap ``...:06``                     sinus rhythm RR intervals
=========  ======================================  ===========================================

The ECG plays the MITDB record whose path is given (``ecg_record``); without one, the strap is
an HR strap sending irregular (AF-like) RR intervals instead, so the demo runs anywhere.
:meth:`DemoWorld.source` is the :class:`~vitalgate.gateway.ports.DeviceSource` to hand to the
gateway: the connection manager on the world's link, with the world's devices allow-listed.
"""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from vitalgate.config import BleSettings
from vitalgate.simulator.devices import (
    BloodPressureMonitor,
    GlucoseMeter,
    HeartRateStrap,
    PulseOximeter,
)
from vitalgate.simulator.peripheral import Peripheral

logger = logging.getLogger(__name__)

BP_ADDRESS = "D1:00:00:00:00:01"
GLUCOSE_ADDRESS = "D1:00:00:00:00:03"
OXIMETER_ADDRESS = "D1:00:00:00:00:04"
ECG_ADDRESS = "D1:00:00:00:00:05"
HR_ADDRESS = "D1:00:00:00:00:06"

#: Static attribution of the world's devices (the ``[residents]`` table's ``devices``).
RESIDENT_DEVICES = {
    f"{BP_ADDRESS}#1": "r-001",
    f"{BP_ADDRESS}#2": "r-002",
    GLUCOSE_ADDRESS: "r-003",
    OXIMETER_ADDRESS: "r-004",
    ECG_ADDRESS: "r-005",
    HR_ADDRESS: "r-006",
}


def demo_residents() -> dict[str, Any]:
    """The ``[residents]`` table attributing the world's devices."""
    return {"devices": dict(RESIDENT_DEVICES)}


class DemoWorld:
    """Start the emulated devices and script their measurements.

    Parameters
    ----------
    link:
        Name of the bumble link (``ble.bumble_link``) shared with the gateway's backend.
    ecg_record:
        MITDB record path without extension (e.g. ``.../mitdb/201``); ``None`` for RR only.
    interval_s:
        Seconds between scripted measurements of the BP monitor, meter and oximeter.
    ecg_speed:
        Playback speed of the ECG (1.0 = real time, 130 samples/s).
    """

    def __init__(
        self, *, link: str = "demo", ecg_record: Path | None = None, interval_s: float = 5.0,
        ecg_speed: float = 1.0, seed: int = 7,
    ) -> None:
        self.link = link
        self.interval_s = interval_s
        self.rng = random.Random(seed)
        self._last_stamp: dict[str, datetime] = {}
        self.bp = BloodPressureMonitor(BP_ADDRESS, link=link, clock_offset=timedelta(minutes=-3))
        self.meter = GlucoseMeter(GLUCOSE_ADDRESS, link=link)
        self.oximeter = PulseOximeter(OXIMETER_ADDRESS, link=link)
        self.hr = HeartRateStrap(HR_ADDRESS, "Polar H9 5E6F7A8B", link=link)
        self.ecg: Peripheral
        self._rr_only = ecg_record is None
        if ecg_record is not None:
            from vitalgate.simulator.polar import PolarEcgStrap, load_mitdb_ecg

            ecg = load_mitdb_ecg(ecg_record, start_s=0.0, duration_s=300.0)
            self.ecg = PolarEcgStrap(ECG_ADDRESS, ecg, link=link, speed=ecg_speed)
        else:
            self.ecg = HeartRateStrap(ECG_ADDRESS, "Polar H10 A1B2C3D4", link=link)
        self.devices: list[Peripheral] = [self.bp, self.meter, self.oximeter, self.hr, self.ecg]

    @property
    def addresses(self) -> list[str]:
        return [d.address for d in self.devices]

    def ble_settings(self) -> BleSettings:
        """``[ble]`` settings that select the bumble backend on this world's link."""
        return BleSettings(backend="bumble", bumble_link=self.link, allow=self.addresses)

    def source(self, **kw: Any) -> Any:
        """The connection manager on this world's link (a gateway DeviceSource)."""
        from vitalgate.device_drivers.manager import ConnectionManager
        from vitalgate.device_drivers.recognition import recognizer

        ble = self.ble_settings()
        return ConnectionManager.from_settings(ble, recognizer(), **kw)

    async def __aenter__(self) -> DemoWorld:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        now = datetime.now().replace(microsecond=0)
        # Stored before the gateway came up: yesterday's readings, handed over on first contact.
        # r-003's fasting glucose was >= 7.0 on the two previous days (glucose_fasting_persistent).
        for hours, value, meal in ((48, 7.4, 3), (24, 7.6, 3), (6, 7.9, 2)):
            self.meter.add_record(value, now - timedelta(hours=hours), meal=meal)
        # r-002's monitor holds the two previous days' readings (over target): today's first
        # reading makes three days in a row (bp_over_target_3d).
        for days, (sys_, dia) in ((2, (158, 96)), (1, (164, 99))):
            self.bp.measure(sys_, dia, 88, user=2, at=now - timedelta(days=days, minutes=5))
        for d in self.devices:
            await d.start()
        self.bp.every(self.interval_s, self._bp_round)
        self.meter.every(self.interval_s * 2, self._glucose)
        self.oximeter.every(self.interval_s * 1.4, self._spot_check)
        self.hr.every(1.0, self._sinus_beat)
        if self._rr_only:
            self.ecg.every(0.8, self._af_beat)

    async def stop(self) -> None:
        for d in self.devices:
            await d.stop()

    def _stamp(self, device: Peripheral) -> datetime:
        """The device's time stamp for a new measurement: whole seconds (SIG Date Time), and at
        least one second after its previous one, so fast demo scripts never repeat a stamp."""
        now = datetime.now().replace(microsecond=0)
        last = self._last_stamp.get(device.address)
        stamp = now if last is None or now > last else last + timedelta(seconds=1)
        self._last_stamp[device.address] = stamp
        return stamp

    async def _bp_round(self) -> None:
        g = self.rng
        at = self._stamp(self.bp)
        self.bp.measure(round(g.gauss(126, 5)), round(g.gauss(80, 3)), round(g.gauss(70, 4)), user=1, at=at)
        self.bp.measure(round(g.gauss(163, 4)), round(g.gauss(98, 3)), round(g.gauss(86, 4)), user=2, at=at)

    async def _glucose(self) -> None:
        self.meter.add_record(round(self.rng.gauss(6.6, 0.5), 1), self._stamp(self.meter))

    async def _spot_check(self) -> None:
        spo2 = 87 if self.rng.random() < 0.3 else round(self.rng.gauss(96, 1))
        self.oximeter.spot_check(min(100, spo2), round(self.rng.gauss(74, 4)), self._stamp(self.oximeter))

    async def _sinus_beat(self) -> None:
        rr = self.rng.gauss(0.92, 0.02)
        await self.hr.beat(round(60 / rr), [rr])

    async def _af_beat(self) -> None:
        assert isinstance(self.ecg, HeartRateStrap)
        rr = [self.rng.uniform(0.45, 1.1) for _ in range(2)]
        await self.ecg.beat(round(60 / (sum(rr) / 2)), rr)


class WorldSource:
    """A DeviceSource that brings the emulated world up, runs the manager on it, and stops it."""

    def __init__(self, world: DemoWorld) -> None:
        self.world = world

    async def run(self, emit: Any) -> None:
        async with self.world:
            await self.world.source().run(emit)


def demo_sources(
    *, link: str = "demo", ecg_record: Path | None = None, interval_s: float = 5.0
) -> list[WorldSource]:
    """The demo's device sources: the emulated world behind the connection manager."""
    return [WorldSource(DemoWorld(link=link, ecg_record=ecg_record, interval_s=interval_s))]
