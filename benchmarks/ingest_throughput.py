"""Ingest throughput: the worker (mosquitto -> validation -> VictoriaMetrics) vs direct writes.

Starts a real mosquitto and VictoriaMetrics on loopback. The same observations are
1. written directly with influxdb-client (line protocol, batches of ``--batch``) — the peer;
2. queued in mosquitto for the worker's persistent session while it is offline, then drained by
   the ingest worker (parse, validate, topic check, batch write, PUBACK after the write).
Prints points/s of both and their ratio. Goal: worker >= 0.5 x direct and >= 20,000 points/s.

    python benchmarks/ingest_throughput.py --readings 20000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiomqtt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from servers import Mosquitto, VictoriaMetrics

from vitalgate.cloud_bridge.ingest import IngestWorker
from vitalgate.cloud_bridge.sinks import InfluxSink, observation_line
from vitalgate.cloud_bridge.topics import Topics
from vitalgate.cloud_bridge.wire import Observation, dump_payload
from vitalgate.config import IngestSettings, MqttSettings
from vitalgate.readings import DeviceIdentity, Reading
from vitalgate.vocabulary import Kind


def make_observations(n: int, site: str) -> list[Observation]:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    out = []
    for i in range(n):
        dev = DeviceIdentity(f"AA:00:00:00:{i % 100 // 10:02d}:{i % 10:02d}", model="BP-X1", serial=f"S{i % 100}")
        r = Reading.of(
            Kind.BLOOD_PRESSURE,
            {"systolic": 110.0 + i % 50, "diastolic": 70.0 + i % 30, "pulse": 60.0 + i % 40},
            t0 + timedelta(seconds=i), dev,
        )
        out.append(Observation.from_reading(r, site=site, gateway="gw1", resident=f"r-{i % 100:03d}"))
    return out


def direct(vm: VictoriaMetrics, obs: list[Observation], batch: int) -> float:
    sink = InfluxSink(vm.url, token=None, org="o", bucket="direct")
    t = time.perf_counter()
    lines = [observation_line(o) for o in obs]
    for i in range(0, len(lines), batch):
        sink.write_lines(lines[i : i + batch])
    elapsed = time.perf_counter() - t
    asyncio.run(sink.aclose())
    return elapsed


async def via_worker(
    broker: Mosquitto, vm: VictoriaMetrics, obs: list[Observation], batch: int, protocol: str
) -> float:
    mqtt = MqttSettings(url=broker.url, protocol=protocol)  # type: ignore[arg-type]
    ingest = IngestSettings(client_id="bench-ingest", shared=False)
    sink = InfluxSink(vm.url, token=None, org="o", bucket="worker")
    # 1. create the worker's persistent session, then take it offline
    w = IngestWorker(mqtt, ingest, sink, batch_size=batch)
    task = asyncio.create_task(w.run())
    await asyncio.wait_for(w.subscribed.wait(), 10)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    # 2. queue every message in the broker for that session
    topics = Topics(obs[0].site, obs[0].gateway)
    async with aiomqtt.Client("127.0.0.1", broker.port, protocol=aiomqtt.ProtocolVersion.V5,
                              max_inflight_messages=1000) as c:
        c.pending_calls_threshold = 10**6
        for i in range(0, len(obs), 1000):
            await asyncio.gather(*(
                c.publish(topics.obs(o.resident, o.kind.value), dump_payload(o), qos=1)
                for o in obs[i : i + 1000]
            ))
    # 3. time the drain
    all_stored = asyncio.Event()
    count = [0]

    def stored(o: list[Observation], _alerts: object) -> None:
        count[0] += len(o)
        if count[0] >= len(obs):
            all_stored.set()

    w = IngestWorker(mqtt, ingest, sink, batch_size=batch, on_stored=stored)
    t = time.perf_counter()
    task = asyncio.create_task(w.run())
    await all_stored.wait()
    elapsed = time.perf_counter() - t
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await sink.aclose()
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--readings", type=int, default=20_000)
    ap.add_argument("--protocol", choices=["5", "3.1.1"], default="5", help="worker's MQTT version")
    ap.add_argument("--batch", type=int, default=5000, help="points lines per write / worker batch")
    args = ap.parse_args()
    obs = make_observations(args.readings, "bench")
    points = sum(len(o.components) for o in obs)
    with tempfile.TemporaryDirectory() as tmp:
        # a broker-side in-flight window as large as the batch (the worker acks after each write)
        broker = Mosquitto(Path(tmp) / "mq", extra_conf=f"max_inflight_messages {args.batch}\n").start()
        vm = VictoriaMetrics(Path(tmp) / "vm").start()
        try:
            t_direct = direct(vm, obs, args.batch)
            t_worker = asyncio.run(via_worker(broker, vm, obs, args.batch, args.protocol))
        finally:
            broker.stop()
            vm.stop()
    d, w = points / t_direct, points / t_worker
    print(f"readings: {len(obs)}  points: {points}  batch: {args.batch}")
    print(f"direct influxdb-client write  : {d:10.0f} points/s  ({t_direct:.2f} s)")
    print(f"ingest worker (MQTT {args.protocol:5})  : {w:10.0f} points/s  ({t_worker:.2f} s)")
    print(f"ratio worker/direct           : {w / d:10.2f}   (goal >= 0.5; worker goal >= 20000 points/s)")


if __name__ == "__main__":
    main()
