"""End to end: gateway -> durable outbox -> real mosquitto -> ingest worker -> real store."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from dataflow import ListSource, readings, settings, until, vm_export, vm_points, vm_wait_points

from vitalgate.cloud_bridge.ingest import IngestWorker
from vitalgate.cloud_bridge.sinks import InfluxSink, Sink, SqliteSink
from vitalgate.config import Settings
from vitalgate.gateway.daemon import Gateway
from vitalgate.vocabulary import Kind


@contextlib.asynccontextmanager
async def worker(cfg: Settings, sink: Sink) -> AsyncIterator[IngestWorker]:
    w = IngestWorker(cfg.mqtt, cfg.ingest, sink, batch_size=100, flush_interval_s=0.1)
    task = asyncio.create_task(w.run(), name="ingest")
    await asyncio.wait_for(w.subscribed.wait(), 10)
    try:
        yield w
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


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
