"""Resilience of the data path: the broker restarted mid-stream, the gateway killed with SIGKILL.

Every reading must arrive exactly once in VictoriaMetrics (the store de-duplicates re-sent points
with the same series and time stamp; nothing may be missing).
"""

from __future__ import annotations

import contextlib
import json
import signal
import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from dataflow import (
    SlowSource,
    assert_exactly_once,
    ingest,
    points_of,
    readings,
    settings,
    until,
    vm_count,
)
from servers import Mosquitto

from vitalgate.gateway.daemon import Gateway
from vitalgate.gateway.sources import reading_to_dict
from vitalgate.readings import Reading
from vitalgate.vocabulary import Kind


def persistent_broker(tmp: Path) -> Mosquitto:
    """A mosquitto that keeps sessions and queued messages across a restart (as in production)."""
    data = tmp / "mosquitto-data"
    data.mkdir(parents=True, exist_ok=True)
    return Mosquitto(tmp / "mosquitto", extra_conf=f"persistence true\npersistence_location {data}/\n")


async def test_broker_restart_mid_stream_loses_nothing(tmp_path: Path, victoria) -> None:
    broker = persistent_broker(tmp_path).start()
    try:
        cfg = settings(tmp_path, broker.url)
        items = readings(400)
        # The second half comes once the broker is down: the publisher may take a few seconds
        # (a PUBACK timeout) to notice, longer than a free-running source takes to finish.
        source = SlowSource(items, hold_at=200)
        async with ingest(cfg, victoria) as w, Gateway(cfg, [source]) as gw:
            await until(lambda: w.stored_observations >= 60, what="first readings stored")
            broker.stop()
            await until(lambda: not gw.publisher.connected.is_set(), what="publisher noticed")
            queued_at_stop = gw.queued
            source.go.set()
            await until(lambda: gw.queued >= queued_at_stop + 30, what="readings queued offline")
            assert len(gw.outbox) >= 30
            broker.start()
            await until(lambda: gw.queued == len(items) and len(gw.outbox) == 0, within=60,
                        what="outbox drained after the restart")
            with contextlib.suppress(AssertionError):
                await until(lambda: vm_count(victoria) >= points_of(items), within=10, what="all stored")
        assert_exactly_once(victoria, items)
    finally:
        broker.stop()


def _config(tmp: Path, url: str) -> Path:
    cfg = tmp / "gw.toml"
    cfg.write_text(
        '[site]\nid = "hut7"\ngateway = "gw-a"\n'
        f'[mqtt]\nurl = "{url}"\nreconnect_min_s = 0.05\nreconnect_max_s = 0.3\nconnect_timeout_s = 3\n'
        f'[outbox]\npath = "{tmp / "outbox.sqlite"}"\n'
        '[residents.devices]\n"AA:00:00:00:00:01" = "r-001"\n"AA:00:00:00:00:02" = "r-002"\n'
    )
    return cfg


def _replay_file(path: Path, items: list[Reading]) -> Path:
    path.write_text("".join(json.dumps(reading_to_dict(r)) + "\n" for r in items))
    return path


def _gateway(cfg: Path, *replay: Path) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "vitalgate.cli", "gateway", "--config", str(cfg),
            "--replay-interval", "0.01"]
    for p in replay:
        args += ["--replay", str(p)]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _outbox_len(path: Path) -> int:
    if not path.exists():
        return 0
    with contextlib.closing(sqlite3.connect(path, timeout=5)) as db:
        try:
            # readings only: the gateway's screeners add alerts of their own (SBP >= 180 here)
            return int(db.execute("SELECT COUNT(*) FROM outbox WHERE topic LIKE '%/obs/%'").fetchone()[0])
        except sqlite3.OperationalError:  # table not created yet
            return 0


def _kill(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)


async def test_gateway_sigkill_and_restart_loses_nothing(tmp_path: Path, victoria) -> None:
    broker = persistent_broker(tmp_path)  # not started: the first gateway queues offline
    cfg_path = _config(tmp_path, broker.url)
    cfg = settings(tmp_path, broker.url)
    first = readings(120)
    second = [
        Reading.of(r.kind, {c.name: c.value for c in r.components},
                   r.measured_at + timedelta(hours=1), r.device, context=r.context)
        for r in readings(300)
    ]
    file_a = _replay_file(tmp_path / "a.jsonl", first)
    file_b = _replay_file(tmp_path / "b.jsonl", second)
    outbox = tmp_path / "outbox.sqlite"
    procs: list[subprocess.Popen[bytes]] = []
    try:
        # 1. broker down: everything goes to the outbox; then kill -9.
        procs.append(_gateway(cfg_path, file_a))
        await until(lambda: _outbox_len(outbox) == len(first), within=60, what="outbox filled offline")
        _kill(procs[-1])
        broker.start()
        async with ingest(cfg, victoria) as w:
            # 2. restart: the outbox is sent; a second stream starts; kill -9 mid-stream.
            procs.append(_gateway(cfg_path, file_b))
            await until(lambda: w.stored_observations >= len(first) + 60, within=60,
                        what="outbox sent and part of the stream stored")
            _kill(procs[-1])
            assert w.stored_observations < len(first) + len(second)
            # 3. restart again: the device re-sends its records (same reading ids).
            procs.append(_gateway(cfg_path, file_b))
            total = points_of(first + second)
            await until(lambda: _outbox_len(outbox) == 0 and vm_count(victoria) >= total,
                        within=90, what="everything stored")
        assert_exactly_once(victoria, first + second)
        assert all(r.kind in {Kind.BLOOD_PRESSURE, Kind.GLUCOSE} for r in first + second)
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                p.wait(10)
        broker.stop()
