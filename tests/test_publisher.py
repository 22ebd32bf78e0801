"""The publisher: retained status and last will; readings kept while nobody subscribes."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path

import aiomqtt
from dataflow import ListSource, readings, settings, until

from vitalgate.cloud_bridge.connection import Backoff
from vitalgate.cloud_bridge.ingest import IngestWorker
from vitalgate.cloud_bridge.sinks import SqliteSink
from vitalgate.gateway.daemon import Gateway

STATUS = "vitalgate/v1/hut7/gw-a/status"


async def next_status(c: aiomqtt.Client) -> dict:
    async for m in c.messages:
        if str(m.topic) == STATUS:
            return json.loads(m.payload)  # type: ignore[arg-type]
    raise AssertionError("no status")


def start_gateway(cfg: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "vitalgate.cli", "gateway", "--config", str(cfg)])


async def test_retained_status_and_last_will_on_sigkill(tmp_path: Path, mosquitto) -> None:
    cfg = tmp_path / "gw.toml"
    cfg.write_text(
        f'[site]\nid = "hut7"\ngateway = "gw-a"\n[mqtt]\nurl = "{mosquitto.url}"\nkeepalive_s = 5\n'
        f'[outbox]\npath = "{tmp_path / "outbox.sqlite"}"\n'
    )
    proc = start_gateway(cfg)
    try:
        async with aiomqtt.Client("127.0.0.1", mosquitto.port) as c:
            await c.subscribe(STATUS, qos=1)
            online = await asyncio.wait_for(next_status(c), 30)
            assert online["online"] is True
            assert online["site"] == "hut7"
            assert online["outbox_pending"] == 0
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            will = await asyncio.wait_for(next_status(c), 30)  # sent when the socket closes
            assert will["online"] is False
        async with aiomqtt.Client("127.0.0.1", mosquitto.port) as late:  # retained for newcomers
            await late.subscribe(STATUS, qos=1)
            assert (await asyncio.wait_for(next_status(late), 10))["online"] is False
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def test_readings_stay_in_outbox_until_someone_subscribes(tmp_path: Path, mosquitto) -> None:
    """MQTT 5: a PUBACK with 'no matching subscribers' is not delivery for readings."""
    cfg = settings(tmp_path, mosquitto.url)
    items = readings(10)
    async with Gateway(cfg, [ListSource(items)]) as gw:
        await asyncio.wait_for(gw.publisher.connected.wait(), 10)
        await until(lambda: gw.queued == len(items), what="readings queued")
        await until(lambda: gw.publisher._state.state == "waiting", what="publisher waiting")
        assert len(gw.outbox) == len(items)
        async with SqliteSink(tmp_path / "store.sqlite") as sink:
            w = IngestWorker(cfg.mqtt, cfg.ingest, sink, batch_size=100, flush_interval_s=0.05)
            task = asyncio.create_task(w.run())
            try:
                await until(lambda: sink.count() == len(items), what="all stored after subscribing")
                await until(lambda: len(gw.outbox) == 0, what="outbox emptied")
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)


def test_backoff_is_capped_exponential_with_jitter() -> None:
    import random

    b = Backoff(0.5, 8.0, rng=random.Random(1))
    delays = [b.next_delay() for _ in range(12)]
    assert all(0.5 <= d <= 8.0 for d in delays)
    assert max(delays[6:]) > 4.0  # grows towards the cap
    assert len(set(delays)) == len(delays)  # jittered
    b.reset()
    assert b.next_delay() <= 1.0


async def test_sigterm_shuts_down_cleanly_with_offline_status(tmp_path: Path, mosquitto) -> None:
    cfg = tmp_path / "gw.toml"
    cfg.write_text(
        f'[site]\nid = "hut7"\ngateway = "gw-a"\n[mqtt]\nurl = "{mosquitto.url}"\n'
        f'[outbox]\npath = "{tmp_path / "outbox.sqlite"}"\n'
    )
    proc = start_gateway(cfg)
    try:
        async with aiomqtt.Client("127.0.0.1", mosquitto.port) as c:
            await c.subscribe(STATUS, qos=1)
            assert (await asyncio.wait_for(next_status(c), 30))["online"] is True
            proc.send_signal(signal.SIGTERM)
            assert (await asyncio.wait_for(next_status(c), 30))["online"] is False
        assert await asyncio.to_thread(proc.wait, 20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
