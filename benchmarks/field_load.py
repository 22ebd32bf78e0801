"""Load: many devices behind many gateways publishing at once into one ingest worker.

Starts a real mosquitto (and, with ``--store victoria``, a real VictoriaMetrics) on loopback,
``--gateways`` gateways (each with its own durable outbox) sharing ``--devices`` synthetic
devices, and one ingest worker. After ``--duration`` seconds the devices stop, everything is
drained, and the script prints: readings produced / stored (no loss allowed), p50/p99/max latency
from a reading's receipt at its gateway to the broker (a loopback subscriber) and to the store
(the worker's write), and the worker's throughput. Budget: reading-to-broker p99 < 100 ms.

Gateways and worker share one process and event loop here (a pessimistic set-up: on a site
they are separate machines), so latencies include their contention.

    python benchmarks/field_load.py --gateways 20 --devices 50 --duration 30
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import aiomqtt
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from servers import Mosquitto, VictoriaMetrics

from vitalgate.cloud_bridge.ingest import IngestWorker
from vitalgate.cloud_bridge.sinks import InfluxSink, Sink, SqliteSink
from vitalgate.cloud_bridge.topics import OBS_FILTER
from vitalgate.cloud_bridge.wire import Alert, Observation, parse_payload
from vitalgate.config import Settings
from vitalgate.gateway.daemon import Gateway
from vitalgate.gateway.sources import SyntheticDevice, SyntheticSource
from vitalgate.readings import DeviceIdentity
from vitalgate.vocabulary import Kind

KINDS = [
    (Kind.BLOOD_PRESSURE, lambda g: {"systolic": g.gauss(130, 10), "diastolic": g.gauss(82, 6)}),
    (Kind.GLUCOSE, lambda g: {"glucose": g.gauss(6.0, 0.8)}),
    (Kind.SPO2, lambda g: {"spo2": min(100.0, g.gauss(96, 1.5)), "pulse": g.gauss(75, 5)}),
    (Kind.HEART_RATE, lambda g: {"heart_rate": g.gauss(72, 6)}),
]


def layout(gateways: int, devices: int) -> list[tuple[str, list[SyntheticDevice], dict[str, str]]]:
    """Spread ``devices`` over ``gateways``: (gateway id, its devices, address -> resident)."""
    out: list[tuple[str, list[SyntheticDevice], dict[str, str]]] = [(f"gw-{g:02d}", [], {}) for g in range(gateways)]
    for d in range(devices):
        _, devs, table = out[d % gateways]
        kind, values = KINDS[d % len(KINDS)]
        address = f"C0:00:00:00:{d // 256:02X}:{d % 256:02X}"
        devs.append(SyntheticDevice(DeviceIdentity(address, model="Load", serial=f"L{d}"), kind, values))
        table[address] = f"r-{d:03d}"
    return out


def percentiles(ms: list[float]) -> str:
    if not ms:
        return "n/a"
    a = np.asarray(ms)
    return f"p50 {np.percentile(a, 50):7.1f} ms  p99 {np.percentile(a, 99):7.1f} ms  max {a.max():7.1f} ms"


async def run(args: argparse.Namespace, broker: Mosquitto, sink: Sink, tmp: Path) -> int:
    to_broker: list[float] = []
    to_store: list[float] = []
    stored_ids: set[str] = set()

    progress = asyncio.Event()

    def on_stored(obs: list[Observation], alerts: list[Alert]) -> None:
        now = datetime.now(UTC)
        for o in obs:
            stored_ids.add(o.reading_id)
            to_store.append((now - o.received_at).total_seconds() * 1000)
        progress.set()

    base = {"mqtt": {"url": broker.url, "reconnect_min_s": 0.05, "reconnect_max_s": 1.0}}
    worker_cfg = Settings(**base)
    worker = IngestWorker(worker_cfg.mqtt, worker_cfg.ingest, sink, batch_size=500, flush_interval_s=0.05,
                          on_stored=on_stored)
    worker_task = asyncio.create_task(worker.run())
    await asyncio.wait_for(worker.subscribed.wait(), 15)

    async def watch() -> None:
        async with aiomqtt.Client("127.0.0.1", broker.port, identifier="load-watch") as c:
            await c.subscribe(OBS_FILTER, qos=0)
            async for msg in c.messages:
                o = parse_payload(bytes(msg.payload), source=str(msg.topic))  # type: ignore[arg-type]
                if isinstance(o, Observation):
                    to_broker.append((datetime.now(UTC) - o.received_at).total_seconds() * 1000)

    watcher = asyncio.create_task(watch())
    await asyncio.sleep(0.5)
    gateways = []
    sources = []
    async with contextlib.AsyncExitStack() as stack:
        for gw_id, devs, table in layout(args.gateways, args.devices):
            cfg = Settings(
                **base, site={"id": "load", "gateway": gw_id},
                outbox={"path": str(tmp / f"{gw_id}.sqlite")}, residents={"devices": table},
            )
            src = SyntheticSource(devs, interval_s=1.0 / args.rate, rounds=int(args.duration * args.rate))
            sources.append(src)
            gateways.append(await stack.enter_async_context(Gateway(cfg, [src])))
        t0 = time.perf_counter()
        last = 0
        while any(g.sources_done == 0 for g in gateways):
            await asyncio.sleep(1)
            n = sum(g.queued for g in gateways)
            print(f"  {time.perf_counter() - t0:5.0f} s  produced {n:7d}  stored {len(stored_ids):7d}  "
                  f"({n - last} readings/s)", file=sys.stderr)
            last = n
        produced = sum(g.queued for g in gateways)
        deadline = time.monotonic() + 120
        while len(stored_ids) < produced and time.monotonic() < deadline:
            progress.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(progress.wait(), deadline - time.monotonic())
        elapsed = time.perf_counter() - t0
    watcher.cancel()
    worker_task.cancel()
    await asyncio.gather(watcher, worker_task, return_exceptions=True)

    held = sum(g.held for g in gateways)
    lost = produced - len(stored_ids)
    print(f"gateways {args.gateways}, devices {args.devices}, {args.rate:g} reading(s)/s per device, "
          f"{args.duration:g} s, store {args.store}")
    print(f"readings produced {produced}, stored {len(stored_ids)}, lost {lost}, held {held}")
    print(f"throughput        {len(stored_ids) / elapsed:9.0f} readings/s stored")
    print(f"received -> broker {percentiles(to_broker)}   (budget p99 < 100 ms)")
    print(f"received -> store  {percentiles(to_store)}")
    return 1 if lost else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gateways", type=int, default=20)
    ap.add_argument("--devices", type=int, default=50)
    ap.add_argument("--rate", type=float, default=1.0, help="readings per second per device")
    ap.add_argument("--duration", type=float, default=30.0, help="seconds the devices measure")
    ap.add_argument("--store", choices=["sqlite", "victoria"], default="sqlite")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        broker = Mosquitto(tmp / "mosquitto").start()
        vm = VictoriaMetrics(tmp / "vm").start() if args.store == "victoria" else None
        try:
            sink: Sink = InfluxSink(vm.url, token=None, org="o", bucket="load") if vm else SqliteSink(tmp / "store.sqlite")

            async def go() -> int:
                async with sink:
                    return await run(args, broker, sink, tmp)

            return asyncio.run(go())
        finally:
            broker.stop()
            if vm is not None:
                vm.stop()


if __name__ == "__main__":
    sys.exit(main())
