"""A Pi boots without RTC and without NTP: readings wait, then get the right times once the
clock is set (monotonic anchoring), and reach the real store exactly once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from dataflow import BP_CUFF, GLUCO, T0, settings, until, worker

from vitalgate.cloud_bridge.sinks import SqliteSink
from vitalgate.gateway.clock import CLOCK_CORRECTED, GATEWAY_TIME, GatewayClock
from vitalgate.gateway.daemon import UNTIMED, Gateway
from vitalgate.readings import Reading
from vitalgate.vocabulary import Kind

BOOT_WALL = datetime(2025, 6, 30, 22, 0, tzinfo=UTC)  # fake-hwclock: the last shutdown
TRUE_WALL = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)  # what NTP will say


@dataclass
class Machine:
    """A Pi's two clocks: the wall clock (settable) and the monotonic clock (never jumps)."""

    wall_at_boot: float
    mono: float = 100.0
    jump: float = 0.0
    synced: bool = False

    def wall(self) -> float:
        return self.wall_at_boot + self.mono + self.jump

    def advance(self, s: float) -> None:
        self.mono += s

    def ntp(self, true_now: datetime) -> None:
        self.jump = true_now.timestamp() - (self.wall_at_boot + self.mono)
        self.synced = True

    def clock(self, **kw: object) -> GatewayClock:
        return GatewayClock(wall=self.wall, monotonic=lambda: self.mono, synchronised=lambda: self.synced, **kw)  # type: ignore[arg-type]


def received(machine: Machine, kind: Kind, values: dict[str, float], *, device_time: datetime | None) -> Reading:
    now = datetime.fromtimestamp(machine.wall(), UTC)
    dev = BP_CUFF if kind is Kind.BLOOD_PRESSURE else GLUCO
    if device_time is None:  # the device sent no time stamp: the gateway's receive time
        return Reading.of(kind, values, now, dev, received_at=now, flags=frozenset({GATEWAY_TIME}))
    return Reading.of(kind, values, device_time, dev, received_at=now)


async def test_readings_before_ntp_are_retimed_exactly_and_stored_once(tmp_path: Path, mosquitto) -> None:  # type: ignore[no-untyped-def]
    m = Machine(BOOT_WALL.timestamp() - 100.0)
    cfg = settings(tmp_path, mosquitto.url)
    async with SqliteSink(tmp_path / "store.sqlite") as sink, worker(cfg, sink), Gateway(
        cfg, [], clock=m.clock(require_sync=True), tick_s=0.02
    ) as gw:
        m.advance(30)
        bp = received(m, Kind.BLOOD_PRESSURE, {"systolic": 150.0, "diastolic": 95.0}, device_time=None)
        m.advance(12.5)
        glu = received(m, Kind.GLUCOSE, {"glucose": 7.4}, device_time=T0)  # the meter's own clock
        for r in (bp, glu, bp):  # the BP reading arrives twice (a re-sent notification)
            assert gw.accept_reading(r) is None
        assert [reason for _, reason, _ in gw.outbox.held()] == [UNTIMED, UNTIMED]
        m.advance(60)
        true_now = TRUE_WALL
        m.ntp(true_now)  # NTP answers; the wall clock jumps
        await until(lambda: sink.count() == 2, within=20, what="both readings stored")
        assert gw.outbox.held() == []
        by_kind = {o.kind: o for o in sink.observations()}
    # Received 60 s and 72.5 s before NTP set the clock: exactly that, by the monotonic clock.
    assert by_kind[Kind.BLOOD_PRESSURE].received_at == true_now - timedelta(seconds=72.5)
    assert by_kind[Kind.BLOOD_PRESSURE].measured_at == true_now - timedelta(seconds=72.5)
    assert by_kind[Kind.GLUCOSE].received_at == true_now - timedelta(seconds=60)
    assert by_kind[Kind.GLUCOSE].measured_at == T0  # the device's time stamp is not touched
    assert all(CLOCK_CORRECTED in o.flags for o in by_kind.values())


def test_a_clock_before_the_release_date_is_never_trusted() -> None:
    m = Machine(datetime(1970, 1, 1, tzinfo=UTC).timestamp())
    clock = m.clock()  # require_sync off: an RTC is assumed...
    assert not clock.trusted()  # ...but 1970 is certainly wrong
    m.ntp(TRUE_WALL)
    assert clock.trusted()


@pytest.mark.parametrize(("require_sync", "synced", "trusted"), [
    (False, False, True), (True, False, False), (True, True, True),
])
def test_trust_policy(require_sync: bool, synced: bool, trusted: bool) -> None:
    m = Machine(TRUE_WALL.timestamp(), synced=synced)
    assert m.clock(require_sync=require_sync).trusted() is trusted


def test_timesyncd_flag_file_counts_as_synchronised(tmp_path: Path) -> None:
    flag = tmp_path / "synchronized"
    clock = GatewayClock(
        require_sync=True, sync_file=flag, wall=lambda: TRUE_WALL.timestamp(), synchronised=lambda: False
    )
    assert not clock.trusted()
    flag.touch()
    assert clock.trusted()
