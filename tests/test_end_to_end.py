"""End to end: gateway -> durable outbox -> real mosquitto -> ingest worker -> real store."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import datetime
from pathlib import Path

import aiomqtt
from dataflow import (
    BP_CUFF,
    T0,
    ListSource,
    readings,
    settings,
    until,
    vm_export,
    vm_points,
    vm_wait_points,
    worker,
)

from vitalgate.cloud_bridge.sinks import InfluxSink, SqliteSink
from vitalgate.cloud_bridge.topics import Topics
from vitalgate.cloud_bridge.wire import Ack, Alert, AlertState, Observation, Severity, dump_payload
from vitalgate.gateway.daemon import Gateway
from vitalgate.readings import BeatIntervals, EcgSamples, Reading
from vitalgate.vocabulary import Kind


async def test_readings_reach_victoriametrics_exactly(tmp_path: Path, mosquitto, victoria) -> None:
    cfg = settings(tmp_path, mosquitto.url)
    items = readings(40)
    async with (
        InfluxSink(victoria.url, token=None, org="o", bucket="b") as sink,
        worker(cfg, sink) as w,
        Gateway(cfg, [ListSource(items)]) as gw,
    ):
        await until(lambda: w.stored_observations >= len(items), what="40 observations ingested")
        assert len(gw.outbox) == 0
    bp = [r for r in items if r.kind == Kind.BLOOD_PRESSURE]
    assert vm_wait_points(victoria, 3 * len(bp) + len(items) - len(bp)) == 3 * len(bp) + len(items) - len(bp)
    series = {s["metric"]["__name__"]: s for s in vm_export(victoria.url, '{__name__=~"blood_pressure_.*"}')}
    assert set(series) == {"blood_pressure_systolic", "blood_pressure_diastolic", "blood_pressure_pulse"}
    sys_ = series["blood_pressure_systolic"]
    labels = sys_["metric"]
    assert labels["site"] == "hut7"
    assert labels["gateway"] == "gw-a"
    assert labels["resident"] == "r-001"
    assert labels["device_model"] == "BP-X1"
    assert labels["device_serial"] == "SN1"
    assert labels["unit_systolic"] == "mm[Hg]"
    assert labels["unit_pulse"] == "/min"
    assert sys_["timestamps"] == [int(r.measured_at.timestamp() * 1000) for r in bp]
    assert sys_["values"] == [r.value("systolic") for r in bp]
    assert series["blood_pressure_diastolic"]["values"] == [r.value("diastolic") for r in bp]
    glu = vm_export(victoria.url, '{__name__="glucose_glucose"}')
    assert len(glu) == 1
    assert glu[0]["metric"]["resident"] == "r-002"
    assert glu[0]["metric"]["unit_glucose"] == "mmol/L"
    assert glu[0]["metric"]["context"] == "fasting"
    gl = [r for r in items if r.kind == Kind.GLUCOSE]
    assert glu[0]["values"] == [r.value("glucose") for r in gl]
    assert glu[0]["timestamps"] == [int(r.measured_at.timestamp() * 1000) for r in gl]
    assert vm_points(victoria.url) == 3 * len(bp) + len(gl)


async def test_readings_reach_sqlite_store_once(tmp_path: Path, mosquitto) -> None:
    cfg = settings(tmp_path, mosquitto.url)
    items = readings(30)
    async with SqliteSink(tmp_path / "store.sqlite") as sink, worker(cfg, sink) as w:
        async with Gateway(cfg, [ListSource(items), ListSource(items)]) as gw:
            await until(lambda: w.stored_observations >= 2 * len(items), what="both copies ingested")
            assert gw.queued == 2 * len(items)
        stored = sink.observations()
    assert [o.reading_id for o in stored] == [r.reading_id for r in items]
    assert sink.duplicates == len(items)
    first = stored[0]
    assert first.resident == "r-001"
    assert first.value("systolic") == 120.0
    assert first.components[0].unit == "mm[Hg]"
    assert first.measured_at == items[0].measured_at


async def test_unattributed_reading_is_held_not_published(tmp_path: Path, mosquitto) -> None:
    from dataflow import T0

    from vitalgate.readings import DeviceIdentity, Reading

    stranger = DeviceIdentity("CC:00:00:00:00:09", model="BP-X1")
    held = Reading.of(Kind.BLOOD_PRESSURE, {"systolic": 190.0, "diastolic": 100.0}, T0, stranger)
    cfg = settings(tmp_path, mosquitto.url)
    items = readings(4)
    async with SqliteSink(tmp_path / "store.sqlite") as sink, worker(cfg, sink) as w:
        async with Gateway(cfg, [ListSource([held, *items])]) as gw:
            await until(lambda: w.stored_observations >= len(items), what="attributed readings")
            assert gw.held == 1
            rows = gw.outbox.held()
        assert [r[0] for r in rows] == [held.reading_id]
        assert "CC:00:00:00:00:09" in rows[0][1]
        assert held.reading_id not in {o.reading_id for o in sink.observations()}


class ThresholdScreener:
    """A minimal screener for wiring tests: SBP >= 180 -> critical; acks close the alert."""

    def __init__(self) -> None:
        self.open: dict[str, Alert] = {}
        self.ticks = 0

    def observe(self, obs: Observation) -> list[Alert]:
        sbp = obs.value("systolic")
        if sbp is None or sbp < 180:
            return []
        a = Alert(
            alert_id=f"bp-{obs.reading_id[:12]}", site=obs.site, gateway=obs.gateway,
            resident=obs.resident, rule="bp_critical", kind=obs.kind, severity=Severity.CRITICAL,
            reason=f"SBP {sbp:g} mmHg >= 180", raised_at=obs.received_at,
            triggered_at=obs.measured_at, reading_ids=[obs.reading_id],
        )
        self.open[a.alert_id] = a
        return [a]

    def tick(self, now: datetime) -> list[Alert]:
        self.ticks += 1
        return []

    def acknowledge(self, ack: Ack) -> list[Alert]:
        a = self.open.pop(ack.alert_id, None)
        if a is None:
            return []
        return [a.model_copy(update={"state": AlertState.ACKNOWLEDGED, "acknowledged_by": ack.by,
                                     "acknowledged_at": ack.at})]


class RrScreener:
    def __init__(self) -> None:
        self.fed: list[BeatIntervals] = []

    def feed(self, output: EcgSamples | BeatIntervals) -> list[Alert]:
        assert isinstance(output, BeatIntervals)
        self.fed.append(output)
        return []


async def test_alerts_flow_to_store_critical_channel_and_acks_back(tmp_path: Path, mosquitto) -> None:
    cfg = settings(tmp_path, mosquitto.url)
    high = Reading.of(Kind.BLOOD_PRESSURE, {"systolic": 186.0, "diastolic": 112.0}, T0, BP_CUFF)
    rr = BeatIntervals(BP_CUFF, (0.8, 0.82, 0.79), T0)
    screener, rr_screener = ThresholdScreener(), RrScreener()
    topics = Topics("hut7", "gw-a")
    async with (
        SqliteSink(tmp_path / "store.sqlite") as sink,
        worker(cfg, sink) as w,
        Gateway(cfg, [ListSource([*readings(4), high, rr])], screeners=[screener],
                ecg_screeners=[rr_screener], tick_s=0.05) as gw,
    ):
        await until(lambda: w.stored_alerts >= 1, what="alert stored")
        alert_id = sink.alerts()[0].alert_id
        async with aiomqtt.Client("127.0.0.1", mosquitto.port) as c:
            await c.subscribe(topics.critical("r-001"), qos=1)
            retained = await asyncio.wait_for(anext(c.messages), 10)
            assert json.loads(retained.payload)["alert_id"] == alert_id  # type: ignore[arg-type]
            ack = Ack(alert_id=alert_id, by="dr-li", role="doctor", at=T0)
            await c.publish(topics.ack("r-001"), dump_payload(ack), qos=1)
        await until(lambda: sink.alerts()[0].state == AlertState.ACKNOWLEDGED, what="ack stored")
        assert sink.alerts()[0].acknowledged_by == "dr-li"
        await until(lambda: len(gw.outbox) == 0, what="the clearing of the critical channel sent")
        async with aiomqtt.Client("127.0.0.1", mosquitto.port) as c:  # retained only until acknowledged
            await c.subscribe(topics.critical("r-001"), qos=1)
            with contextlib.suppress(TimeoutError):
                msg = await asyncio.wait_for(anext(c.messages), 1.5)
                raise AssertionError(f"critical value still retained after the ack: {msg.payload!r}")
        assert len(sink.alerts()) == 1
        assert rr_screener.fed == [rr]
        await until(lambda: screener.ticks > 0, what="screener clock")
        assert gw.held == 0
