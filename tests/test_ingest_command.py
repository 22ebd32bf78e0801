"""``vitalgate ingest --config FILE``: the worker as a process, into the SQLite store."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import aiomqtt
from dataflow import readings, until

from vitalgate.cloud_bridge.topics import Topics
from vitalgate.cloud_bridge.wire import Observation, dump_payload


def start_ingest(cfg: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "vitalgate.cli", "ingest", "--config", str(cfg)])


def stored(db: Path) -> int:
    if not db.exists():
        return 0
    with contextlib.closing(sqlite3.connect(db, timeout=5)) as c:
        try:
            return int(c.execute("SELECT COUNT(*) FROM readings").fetchone()[0])
        except sqlite3.OperationalError:
            return 0


async def test_ingest_command_stores_and_stops_on_sigterm(tmp_path: Path, mosquitto) -> None:
    db = tmp_path / "store.sqlite"
    cfg = tmp_path / "ingest.toml"
    cfg.write_text(
        f'[mqtt]\nurl = "{mosquitto.url}"\n'
        f'[store]\nkind = "sqlite"\nsqlite_path = "{db}"\nflush_interval_s = 0.05\n'
        '[ingest]\nclient_id = "ingest-cli-test"\n'
    )
    proc = start_ingest(cfg)
    t = Topics("hut7", "gw-a")
    items = [
        Observation.from_reading(r, site="hut7", gateway="gw-a", resident="r-001") for r in readings(12)
    ]
    try:
        async with aiomqtt.Client("127.0.0.1", mosquitto.port, protocol=aiomqtt.ProtocolVersion.V5) as c:
            # Re-send the same readings until all are stored: the first round may reach the
            # broker before the worker subscribed; every later round is a duplicate.
            for _ in range(100):
                for o in items:
                    await c.publish(t.obs(o.resident, o.kind.value), dump_payload(o), qos=1)
                with contextlib.suppress(AssertionError):
                    await until(lambda: stored(db) == len(items), within=0.3, what="stored")
                    break
        await until(lambda: stored(db) == len(items), within=30, what="all readings stored")
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 20) == 0
        assert stored(db) == len(items)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
