"""The alert lifecycle: dedup, escalation with a controllable clock, acknowledgement (also over a
real mosquitto), restart with an open alert, and the ECG monitor on a real AF record."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiomqtt
import numpy as np
from dataflow import BP_CUFF, T0, settings, until
from ecg_data import mitdb

from vitalgate.cloud_bridge.topics import Topics
from vitalgate.cloud_bridge.wire import Ack, AlertState, Observation, Severity, dump_payload
from vitalgate.gateway.alerts import AlertEngine, EscalationConfig
from vitalgate.gateway.daemon import Gateway, StaticAttributor
from vitalgate.gateway.demo import build_screeners
from vitalgate.gateway.ecg_monitor import EcgMonitor
from vitalgate.readings import DeviceIdentity, EcgSamples, Reading
from vitalgate.vocabulary import Kind


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> datetime:
        return self.t


def obs(sbp: float, dbp: float, at: datetime, who: str = "r-001") -> Observation:
    r = Reading.of(Kind.BLOOD_PRESSURE, {"systolic": sbp, "diastolic": dbp}, at, BP_CUFF)
    return Observation.from_reading(r, site="hut7", gateway="gw-a", resident=who)


def engine(tmp: Path, clock: Clock, **esc: float) -> AlertEngine:
    return AlertEngine("hut7", "gw-a", tmp / "alerts.sqlite", escalation=EscalationConfig(**esc), now=clock)


def test_one_alert_per_episode_with_readable_reason(tmp_path: Path) -> None:
    clock = Clock()
    e = engine(tmp_path, clock)
    first = e.observe(obs(186, 104, T0))
    assert [a.rule for a in first] == ["bp_urgent"]
    assert first[0].severity is Severity.URGENT
    assert first[0].reason.startswith("BP 186/104 mmHg at 2026-03-01 08:00")
    assert first[0].reading_ids
    assert e.observe(obs(183, 100, T0 + timedelta(minutes=5))) == []  # same episode
    assert len(e.open_alerts()) == 1


def test_escalation_when_nobody_acknowledges(tmp_path: Path) -> None:
    clock = Clock()
    e = engine(tmp_path, clock, urgent=30.0, max_level=2)
    (a,) = e.observe(obs(186, 104, T0))
    clock.t = T0 + timedelta(minutes=29)
    assert e.tick(clock.t) == []
    clock.t = T0 + timedelta(minutes=31)
    (up,) = e.tick(clock.t)
    assert (up.alert_id, up.escalation_level, up.state) == (a.alert_id, 1, AlertState.ESCALATED)
    assert e.tick(clock.t) == []  # not again until the next period
    clock.t = T0 + timedelta(minutes=61)
    assert [x.escalation_level for x in e.tick(clock.t)] == [2]
    clock.t = T0 + timedelta(days=1)
    assert e.tick(clock.t) == []  # max_level reached


def test_acknowledged_alert_stops_escalating(tmp_path: Path) -> None:
    clock = Clock()
    e = engine(tmp_path, clock, urgent=30.0)
    (a,) = e.observe(obs(186, 104, T0))
    (done,) = e.acknowledge(Ack(alert_id=a.alert_id, by="dr-li", role="doctor", at=T0 + timedelta(minutes=3)))
    assert (done.state, done.acknowledged_by) == (AlertState.ACKNOWLEDGED, "dr-li")
    assert e.acknowledge(Ack(alert_id=a.alert_id, by="dr-li", at=T0)) == []  # repeated
    assert e.acknowledge(Ack(alert_id="0" * 32, by="x", at=T0)) == []  # unknown
    clock.t = T0 + timedelta(hours=5)
    assert e.tick(clock.t) == []


def test_restart_keeps_open_alerts_and_episodes(tmp_path: Path) -> None:
    clock = Clock()
    e = engine(tmp_path, clock, urgent=30.0)
    (a,) = e.observe(obs(186, 104, T0))
    e.close()
    again = engine(tmp_path, clock, urgent=30.0)
    assert [x.alert_id for x in again.open_alerts()] == [a.alert_id]
    assert again.observe(obs(184, 100, T0 + timedelta(minutes=10))) == []  # the episode is still open
    clock.t = T0 + timedelta(minutes=40)
    assert [x.alert_id for x in again.tick(clock.t)] == [a.alert_id]  # and escalates after the restart


def test_restart_keeps_the_rules_history(tmp_path: Path) -> None:
    clock = Clock()
    e = engine(tmp_path, clock)
    for day in (0, 1):
        assert e.observe(obs(150, 95, T0 + timedelta(days=day))) == []
    e.close()
    again = engine(tmp_path, clock)
    out = again.observe(obs(150, 95, T0 + timedelta(days=2)))
    assert [x.rule for x in out] == ["bp_over_target_3d"]  # days 1 and 2 came from before the restart


async def test_ack_round_trip_over_mosquitto(tmp_path: Path, mosquitto) -> None:  # type: ignore[no-untyped-def]
    cfg = settings(tmp_path, mosquitto.url)
    screeners, ecg = build_screeners(cfg)
    (alerts,) = screeners
    assert isinstance(alerts, AlertEngine)
    topics = Topics("hut7", "gw-a")
    high = Reading.of(Kind.BLOOD_PRESSURE, {"systolic": 190.0, "diastolic": 112.0}, datetime.now(UTC), BP_CUFF)
    async with aiomqtt.Client("127.0.0.1", mosquitto.port) as c:
        await c.subscribe(topics.alert("r-001"), qos=1)
        await c.subscribe(topics.notify("r-001"), qos=1)
        async with Gateway(cfg, [], screeners=screeners, ecg_screeners=ecg, tick_s=0.05) as gw:
            gw.accept_reading(high)
            seen: dict[str, list[dict]] = {"alert": [], "notify": []}  # type: ignore[type-arg]
            async with asyncio.timeout(20):
                async for msg in c.messages:
                    channel = str(msg.topic).split("/")[4]
                    seen[channel].append(json.loads(msg.payload))  # type: ignore[arg-type]
                    if seen["alert"] and seen["notify"]:
                        break
            a = seen["alert"][0]
            assert a["rule"] == "bp_urgent"
            assert seen["notify"][0]["alert_id"] == a["alert_id"]  # the resident is told too
            ack = Ack(alert_id=a["alert_id"], by="nurse-wang", role="health_manager", at=datetime.now(UTC))
            await c.publish(topics.ack("r-001"), dump_payload(ack), qos=1)
            await until(lambda: (x := alerts.get(a["alert_id"])) is not None and x.state == AlertState.ACKNOWLEDGED,
                        within=20, what="ack applied")
            async with asyncio.timeout(20):  # the acknowledged state is published back
                async for msg in c.messages:
                    body = json.loads(msg.payload)  # type: ignore[arg-type]
                    if body.get("state") == "acknowledged":
                        assert body["acknowledged_by"] == "nurse-wang"
                        break
            assert gw.held == 0


def test_ecg_monitor_alerts_af_with_its_strip(tmp_path: Path, shared_data: Path) -> None:
    x, fs, _, ref_af = mitdb(shared_data, "201")
    onset_s = np.flatnonzero(ref_af)[0] / fs  # the reference AF starts with the record (0.2 s)
    strap = DeviceIdentity("D1:00:00:00:00:05", model="Polar H10")
    clock = Clock()
    e = engine(tmp_path, clock)
    monitor = EcgMonitor(e, StaticAttributor({"D1:00:00:00:00:05": "r-005"}))
    uv = np.round(x[: int(300 * fs)] * 1000).astype(int)
    alerts = []
    for i in range(0, len(uv), 130):
        chunk = EcgSamples(strap, fs, tuple(uv[i : i + 130].tolist()), T0 + timedelta(seconds=i / fs))
        alerts += monitor.feed(chunk)
    af = [a for a in alerts if a.rule == "ecg_af"]
    assert len(af) == 1
    a = af[0]
    assert a.resident == "r-005"
    assert a.severity is Severity.URGENT
    assert a.ecg_strip is not None
    assert a.ecg_strip.fs_hz == fs
    assert len(a.ecg_strip.samples_uv) > 10 * fs
    assert abs((a.triggered_at - T0).total_seconds() - onset_s) < 5  # measured 0.4 s
    assert e.get(a.alert_id) is not None  # acknowledged and escalated like the others


def test_ecg_from_an_unassigned_strap_raises_nothing(tmp_path: Path, shared_data: Path) -> None:
    x, fs, _, _ = mitdb(shared_data, "201")
    e = engine(tmp_path, Clock())
    monitor = EcgMonitor(e, StaticAttributor({}))
    uv = np.round(x[: int(200 * fs)] * 1000).astype(int)
    strap = DeviceIdentity("D1:00:00:00:00:09")
    out = [a for i in range(0, len(uv), 360) for a in monitor.feed(EcgSamples(strap, fs, tuple(uv[i:i + 360].tolist()), T0))]
    assert out == []


def test_heart_rate_without_skin_contact_is_not_judged(tmp_path: Path) -> None:
    """A strap that reports no skin contact sends a rate that is not the heart's (here 0): the
    reading raises no heart_rate_low; the same rate with contact does."""
    strap = DeviceIdentity("F1:E2:D3:C4:B5:A6", "Polar H10", "strap")
    e = engine(tmp_path, Clock())

    def hr(at: datetime, flags: frozenset[str]) -> Observation:
        r = Reading.of(Kind.HEART_RATE, {"heart_rate": 0.0}, at, strap, flags=flags)
        return Observation.from_reading(r, site="hut7", gateway="gw-a", resident="r-001")

    assert e.observe(hr(T0, frozenset({"no_skin_contact"}))) == []
    assert [a.rule for a in e.observe(hr(T0 + timedelta(minutes=1), frozenset()))] == ["heart_rate_low"]


def test_spo2_from_a_sensor_off_the_finger_is_not_judged(tmp_path: Path) -> None:
    """An oximeter that reports its sensor off the finger or its measurement invalid (PLX
    status): an SpO2 of 80 % raises nothing; the same value without those flags is spo2_urgent;
    a questionable one is still judged."""
    ox = DeviceIdentity("0A:1B:2C:3D:4E:5F", "Nonin 3230", "oximeter")
    e = engine(tmp_path, Clock())

    def spo2(at: datetime, flags: frozenset[str], who: str = "r-001") -> Observation:
        r = Reading.of(Kind.SPO2, {"spo2": 80.0, "pulse": 70.0}, at, ox, flags=flags)
        return Observation.from_reading(r, site="hut7", gateway="gw-a", resident=who)

    assert e.observe(spo2(T0, frozenset({"sensor_off"}))) == []
    assert e.observe(spo2(T0 + timedelta(minutes=1), frozenset({"measurement_invalid"}))) == []
    assert [a.rule for a in e.observe(spo2(T0 + timedelta(minutes=2), frozenset()))] == ["spo2_urgent"]
    assert [a.rule for a in e.observe(spo2(T0, frozenset({"measurement_questionable"}), "r-002"))] == ["spo2_urgent"]


def test_glucose_from_a_control_solution_or_a_faulty_strip_is_not_judged(tmp_path: Path) -> None:
    """A meter's control-solution test and a result it marks invalid (strip insertion error)
    raise nothing at 2.5 mmol/L; the same value from the resident's blood is glucose_urgent_low,
    and one under the meter's range (``below_range``) is too."""
    meter = DeviceIdentity("0C:1D:2E:3F:40:51", "Accu-Chek Guide", "glucose")
    e = engine(tmp_path, Clock())

    def glucose(at: datetime, flags: frozenset[str], who: str = "r-001") -> Observation:
        r = Reading.of(Kind.GLUCOSE, {"glucose": 2.5}, at, meter, flags=flags)
        return Observation.from_reading(r, site="hut7", gateway="gw-a", resident=who)

    assert e.observe(glucose(T0, frozenset({"control_solution"}))) == []
    assert e.observe(glucose(T0 + timedelta(minutes=1), frozenset({"measurement_invalid"}))) == []
    assert [a.rule for a in e.observe(glucose(T0 + timedelta(minutes=2), frozenset()))] == ["glucose_urgent_low"]
    assert [a.rule for a in e.observe(glucose(T0, frozenset({"below_range"}), "r-002"))] == ["glucose_urgent_low"]
