"""Helpers shared by the data-path tests: settings, readings, sources, store queries."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from vitalgate.cloud_bridge.ingest import IngestWorker
from vitalgate.cloud_bridge.sinks import InfluxSink, Sink
from vitalgate.config import Settings
from vitalgate.gateway.ports import Emit
from vitalgate.readings import DeviceIdentity, Reading
from vitalgate.vocabulary import Kind

BP_CUFF = DeviceIdentity("AA:00:00:00:00:01", model="BP-X1", manufacturer="Acme", serial="SN1", firmware="1.0")
GLUCO = DeviceIdentity("AA:00:00:00:00:02", model="GL-2", manufacturer="Acme", serial="SN2")
RESIDENTS = {"devices": {BP_CUFF.address: "r-001", GLUCO.address: "r-002"}}
T0 = datetime(2026, 3, 1, 8, 0, 0, 123_000, tzinfo=UTC)


def settings(tmp: Path, broker_url: str, **extra: Any) -> Settings:
    data: dict[str, Any] = {
        "site": {"id": "hut7", "gateway": "gw-a"},
        "mqtt": {
            "url": broker_url, "reconnect_min_s": 0.05, "reconnect_max_s": 0.5,
            "connect_timeout_s": 3,
        },
        "outbox": {"path": str(tmp / "outbox.sqlite")},
        "store": {"kind": "sqlite", "sqlite_path": str(tmp / "store.sqlite")},
        "residents": RESIDENTS,
    }
    for k, v in extra.items():
        data[k] = {**data.get(k, {}), **v}
    return Settings(**data)


def readings(n: int) -> list[Reading]:
    """``n`` readings alternating BP (r-001) and glucose (r-002), one second apart."""
    out = []
    for i in range(n):
        at = T0 + timedelta(seconds=i)
        if i % 2 == 0:
            out.append(Reading.of(
                Kind.BLOOD_PRESSURE,
                {"systolic": 120.0 + i, "diastolic": 80.0 + i / 2, "pulse": 60.0 + i % 7},
                at, BP_CUFF, user_slot=None,
            ))
        else:
            out.append(Reading.of(Kind.GLUCOSE, {"glucose": 5.0 + i / 100}, at, GLUCO, context="fasting"))
    return out


@dataclass
class ListSource:
    """A device source that emits a fixed list of readings, then returns."""

    items: list[Reading]
    done: asyncio.Event | None = None

    async def run(self, emit: Emit) -> None:
        for r in self.items:
            await emit(r)
        if self.done is not None:
            self.done.set()


def vm_export(base_url: str, match: str) -> list[dict[str, Any]]:
    q = urllib.parse.urlencode({"match[]": match})
    with urllib.request.urlopen(f"{base_url}/api/v1/export?{q}", timeout=10) as resp:
        return [json.loads(line) for line in resp.read().decode().splitlines() if line.strip()]


def vm_points(base_url: str) -> int:
    return sum(len(s["values"]) for s in vm_export(base_url, '{__name__=~"blood_pressure_.*|glucose_.*"}'))


async def until(pred: Callable[[], bool], within: float = 30.0, what: str = "condition") -> None:
    """Poll ``pred`` until true, with a deadline (the store has no change notification)."""
    deadline = time.monotonic() + within
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what}")
        await asyncio.sleep(0.05)


def vm_wait_points(vm: Any, expected: int, match: str | None = None, within: float = 20.0) -> int:
    """Poll VictoriaMetrics (flushing) until it holds ``expected`` points or the deadline passes."""
    match = match or '{__name__=~"blood_pressure_.*|glucose_.*"}'
    deadline = time.monotonic() + within
    while True:
        vm.flush()
        n = sum(len(s["values"]) for s in vm_export(vm.url, match))
        if n >= expected or time.monotonic() > deadline:
            return n
        time.sleep(0.2)


@contextlib.asynccontextmanager
async def worker(cfg: Settings, sink: Sink) -> AsyncIterator[IngestWorker]:
    """A running ingest worker, subscribed, for the duration of the block."""
    w = IngestWorker(cfg.mqtt, cfg.ingest, sink, batch_size=100, flush_interval_s=0.1)
    task = asyncio.create_task(w.run(), name="ingest")
    await asyncio.wait_for(w.subscribed.wait(), 10)
    try:
        yield w
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


MATCH = '{__name__=~"blood_pressure_.*|glucose_.*"}'


def vm_count(vm) -> int:  # type: ignore[no-untyped-def]
    vm.flush()
    return sum(len(s["values"]) for s in vm_export(vm.url, MATCH))


def points_of(items: list[Reading]) -> int:
    return sum(len(r.components) for r in items)


def assert_exactly_once(vm, items: list[Reading]) -> None:  # type: ignore[no-untyped-def]
    vm_wait_points(vm, points_of(items), MATCH)
    stamps = {
        (s["metric"]["__name__"], ts)
        for s in vm_export(vm.url, MATCH)
        for ts in s["timestamps"]
    }
    want = {
        (f"{r.kind.value}_{c.name}", int(r.measured_at.timestamp() * 1000))
        for r in items
        for c in r.components
    }
    missing = sorted(i for i, r in enumerate(items) if (f"{r.kind.value}_{r.components[0].name}", int(r.measured_at.timestamp() * 1000)) not in stamps)
    assert not missing, f"readings missing from the store: {missing}"
    assert stamps == want
    assert sum(len(s["values"]) for s in vm_export(vm.url, MATCH)) == points_of(items)


@contextlib.asynccontextmanager
async def ingest(cfg: Settings, vm) -> AsyncIterator[IngestWorker]:  # type: ignore[no-untyped-def]
    async with InfluxSink(vm.url, token=None, org="o", bucket="b") as sink:
        w = IngestWorker(cfg.mqtt, cfg.ingest, sink, batch_size=50, flush_interval_s=0.05)
        task = asyncio.create_task(w.run(), name="ingest")
        try:
            await asyncio.wait_for(w.subscribed.wait(), 15)
            yield w
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


@dataclass
class SlowSource(ListSource):
    """Emits its readings 5 ms apart (a stream, not a burst); with ``hold_at``, waits for ``go``
    before the reading of that index (so a test knows which readings come after an event)."""

    hold_at: int | None = None
    go: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, emit) -> None:  # type: ignore[no-untyped-def]
        for i, r in enumerate(self.items):
            if i == self.hold_at:
                await self.go.wait()
            await emit(r)
            await asyncio.sleep(0.005)
