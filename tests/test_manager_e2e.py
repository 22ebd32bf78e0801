"""Every device kind end to end: emulated device -> bumble link -> bleak -> manager -> the
profile's real driver (recognised by firmware profile) -> typed device output."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from vitalgate.config import BleSettings
from vitalgate.device_drivers.manager import ConnectionManager, RetryPolicy
from vitalgate.device_drivers.recognition import recognizer
from vitalgate.readings import BeatIntervals, DeviceOutput, EcgSamples, Reading
from vitalgate.simulator.demo_world import DemoWorld
from vitalgate.simulator.devices import (
    BloodPressureMonitor,
    GlucoseMeter,
    HeartRateStrap,
    PulseOximeter,
)
from vitalgate.simulator.peripheral import Peripheral
from vitalgate.simulator.polar import PolarEcgStrap, load_mitdb_ecg
from vitalgate.vocabulary import Kind

pytestmark = pytest.mark.timeout(60)
LINK = "e2e-test"
FAST = RetryPolicy(attempts=3, connect_timeout_s=3.0, backoff_min_s=0.01, backoff_max_s=0.05, revisit_s=0.01)


class Sink:
    def __init__(self) -> None:
        self.items: list[DeviceOutput] = []
        self.changed = asyncio.Condition()

    async def emit(self, out: DeviceOutput) -> None:
        async with self.changed:
            self.items.append(out)
            self.changed.notify_all()

    def readings(self, kind: Kind) -> list[Reading]:
        return [r for r in self.items if isinstance(r, Reading) and r.kind == kind]

    async def until(self, predicate: object) -> None:
        async with self.changed:
            await self.changed.wait_for(predicate)  # type: ignore[arg-type]


async def serve(sink: Sink, *devices: Peripheral) -> asyncio.Task[None]:
    ble = BleSettings(backend="bumble", bumble_link=LINK, allow=[d.address for d in devices],
                      paired_file=Path("paired.json"))
    manager = ConnectionManager.from_settings(ble, recognizer(), seed=3)
    manager.retry = FAST
    return asyncio.create_task(manager.run(sink.emit))


@pytest.fixture(autouse=True)
def _workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_blood_pressure_user_slots_and_device_clock() -> None:
    bp = BloodPressureMonitor("C4:00:00:00:00:01", link=LINK)
    t0 = datetime(2026, 3, 1, 7, 30)
    bp.measure(152, 95, 71, user=2, at=t0)
    bp.measure(118, 76, 64, user=1, at=t0 + timedelta(minutes=5))
    sink = Sink()
    async with bp:
        task = await serve(sink, bp)
        await sink.until(lambda: len(sink.readings(Kind.BLOOD_PRESSURE)) >= 2)
        await stop(task)
    first, second = sink.readings(Kind.BLOOD_PRESSURE)
    assert (first.value("systolic"), first.value("diastolic"), first.value("pulse")) == (152, 95, 71)
    assert (first.user_slot, second.user_slot) == (2, 1)
    assert second.measured_at - first.measured_at == timedelta(minutes=5)
    assert first.device.address == bp.address


async def test_glucose_stored_records_in_mmol_per_l() -> None:
    meter = GlucoseMeter("C4:00:00:00:00:02", link=LINK)
    for v in (5.4, 7.9, 16.9):
        meter.add_record(v)
    sink = Sink()
    async with meter:
        task = await serve(sink, meter)
        await sink.until(lambda: len(sink.readings(Kind.GLUCOSE)) >= 3)
        await stop(task)
    got = sink.readings(Kind.GLUCOSE)
    assert [r.value("glucose") for r in got] == pytest.approx([5.4, 7.9, 16.9])
    assert [r.sequence for r in got] == [1, 2, 3]


async def test_glucose_context_gives_the_meal() -> None:
    meter = GlucoseMeter("C4:00:00:00:00:07", link=LINK)
    meter.add_record(7.4, meal=3)  # fasting
    meter.add_record(9.1, meal=2)  # postprandial
    meter.add_record(6.0)  # no context
    sink = Sink()
    async with meter:
        task = await serve(sink, meter)
        await sink.until(lambda: len(sink.readings(Kind.GLUCOSE)) >= 3)
        await stop(task)
    got = {r.sequence: r for r in sink.readings(Kind.GLUCOSE)}
    assert {seq: r.context for seq, r in got.items()} == {1: "fasting", 2: "postprandial", 3: None}
    assert got[1].value("glucose") == pytest.approx(7.4)


async def test_oximeter_spot_check() -> None:
    ox = PulseOximeter("C4:00:00:00:00:03", link=LINK)
    ox.spot_check(88, 101)
    sink = Sink()
    async with ox:
        task = await serve(sink, ox)
        await sink.until(lambda: len(sink.readings(Kind.SPO2)) >= 1)
        await stop(task)
    r = sink.readings(Kind.SPO2)[0]
    assert (r.value("spo2"), r.value("pulse")) == (88, 101)


async def test_heart_rate_strap_rr_intervals() -> None:
    strap = HeartRateStrap("C4:00:00:00:00:04", link=LINK)
    sink = Sink()
    async with strap:
        task = await serve(sink, strap)
        await strap.wait_subscribed("2A37")
        await strap.beat(64, [0.9375, 0.9375])
        await sink.until(lambda: any(isinstance(o, BeatIntervals) for o in sink.items))
        await stop(task)
    rr = next(o for o in sink.items if isinstance(o, BeatIntervals))
    assert rr.rr_s == pytest.approx((0.9375, 0.9375))
    assert rr.device.address == strap.address


async def test_heart_rate_strap_without_beats_raises_asystole(tmp_path: Path) -> None:
    """A strap that stops sending RR intervals while its notifications go on (no beat detected)
    reaches the ECG monitor as notifications without intervals, over the real link and driver,
    and raises ``ecg_asystole`` (``asystole_alert_s`` 1 s here, to keep the test short)."""
    from vitalgate.gateway.alerts import AlertEngine
    from vitalgate.gateway.daemon import StaticAttributor
    from vitalgate.gateway.ecg_monitor import EcgMonitor

    strap = HeartRateStrap("C4:00:00:00:00:05", link=LINK)
    engine = AlertEngine("hut7", "gw-a", tmp_path / "alerts.sqlite")
    monitor = EcgMonitor(engine, StaticAttributor({strap.address: "r-005"}), {"asystole_alert_s": 1.0})
    sink = Sink()
    async with strap:
        task = await serve(sink, strap)
        await strap.wait_subscribed("2A37")
        for _ in range(5):
            await strap.beat(200, [0.3])
            await asyncio.sleep(0.3)
        for _ in range(8):
            await strap.beat(200)  # no interval: no beat detected
            await asyncio.sleep(0.25)
        await sink.until(lambda: sum(isinstance(o, BeatIntervals) for o in sink.items) >= 13)
        await stop(task)
    beats = [o for o in sink.items if isinstance(o, BeatIntervals)]
    assert [b.rr_s for b in beats[5:]] == [()] * 8
    assert [b.new_link for b in beats] == [True] + [False] * 12  # (the connection's first notification)
    alerts = [a for b in beats for a in monitor.feed(b)]
    assert [a.rule for a in alerts] == ["ecg_asystole"]


async def test_polar_ecg_stream_of_real_af_record(shared_data: Path) -> None:
    ecg = load_mitdb_ecg(shared_data / "mitdb" / "201", start_s=0, duration_s=5)
    strap = PolarEcgStrap("C4:00:00:00:00:05", ecg, link=LINK, speed=20.0, loop=False)
    sink = Sink()

    def samples() -> list[int]:
        return [s for o in sink.items if isinstance(o, EcgSamples) for s in o.samples_uv]

    async with strap:
        task = await serve(sink, strap)
        await sink.until(lambda: len(samples()) >= 5 * 73)
        await stop(task)
    chunk = next(o for o in sink.items if isinstance(o, EcgSamples))
    assert chunk.fs_hz == 130
    assert samples()[: 5 * 73] == ecg[: 5 * 73].tolist()


async def test_demo_world_brings_every_kind(shared_data: Path) -> None:
    world = DemoWorld(link=LINK, ecg_record=shared_data / "mitdb" / "201", interval_s=0.5, ecg_speed=4.0)
    sink = Sink()
    kinds = {Kind.BLOOD_PRESSURE, Kind.GLUCOSE, Kind.SPO2}
    async with world:
        task = asyncio.create_task(world.source(seed=5).run(sink.emit))
        await sink.until(
            lambda: kinds <= {r.kind for r in sink.items if isinstance(r, Reading)}
            and any(isinstance(o, EcgSamples) for o in sink.items)
        )
        await stop(task)
    slots = {r.user_slot for r in sink.readings(Kind.BLOOD_PRESSURE)}
    assert slots == {1, 2}


async def test_ecg_stream_dropped_mid_stream_resumes_without_gap_or_repeat(shared_data: Path) -> None:
    ecg = load_mitdb_ecg(shared_data / "mitdb" / "203", start_s=60, duration_s=10)
    strap = PolarEcgStrap("C4:00:00:00:00:06", ecg, link=LINK, speed=20.0, loop=False)
    strap.drop_after_frames = 4
    sink = Sink()

    def samples() -> list[int]:
        return [s for o in sink.items if isinstance(o, EcgSamples) for s in o.samples_uv]

    async with strap:
        task = await serve(sink, strap)
        await sink.until(lambda: len(samples()) >= 10 * 73)
        await stop(task)
    assert strap.connection_count == 2
    assert samples()[: 10 * 73] == ecg[: 10 * 73].tolist()


async def test_gateway_sets_a_wrong_device_clock_via_cts() -> None:
    bp = BloodPressureMonitor("C4:00:00:00:00:08", link=LINK, clock_offset=timedelta(hours=-2),
                              disconnect_after_measurement=False)
    bp.measure(131, 84, 70)  # taken with the wrong clock (2 h behind), before the gateway came
    sink = Sink()
    async with bp:
        task = await serve(sink, bp)
        await sink.until(lambda: len(sink.readings(Kind.BLOOD_PRESSURE)) >= 1)
        assert bp.clock_set_at is not None  # the driver wrote the Current Time
        assert abs(bp.clock_offset) < timedelta(seconds=2)
        bp.measure(132, 85, 71)  # now with the right clock
        await sink.until(lambda: len(sink.readings(Kind.BLOOD_PRESSURE)) >= 2)
        await stop(task)
    first, second = sink.readings(Kind.BLOOD_PRESSURE)
    now = datetime.now().astimezone()
    assert abs(second.measured_at - now) < timedelta(seconds=30)
    assert first.measured_at < now - timedelta(hours=1, minutes=50)  # a stored record keeps its stamp
