"""The systemd units: valid, hardened to the exposure budget, and the notify protocol works."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from vitalgate import service

UNITS = Path(__file__).resolve().parent.parent / "systemd"
BUDGET = {"vitalgate-gateway.service": 3.0, "vitalgate-ingest.service": 2.0}


def exposure(unit: Path) -> float:
    exe = shutil.which("systemd-analyze")
    assert exe is not None, "systemd-analyze is missing: install the 'systemd' package (scripts/setup --test)"
    out = subprocess.run(
        [exe, "security", "--offline=true", "--no-pager", str(unit)],
        capture_output=True, text=True, check=False, cwd=unit.parent,
    )
    m = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", out.stdout)
    assert m, f"no exposure level in systemd-analyze output:\n{out.stdout}\n{out.stderr}"
    return float(m.group(1))


@pytest.mark.parametrize("name", sorted(BUDGET))
def test_unit_exposure_within_budget(name: str) -> None:
    assert exposure(UNITS / name) <= BUDGET[name]


@pytest.mark.parametrize("name", sorted(BUDGET))
def test_unit_is_notify_with_watchdog_and_credentials(name: str) -> None:
    text = (UNITS / name).read_text()
    assert "Type=notify" in text
    assert re.search(r"^WatchdogSec=\d+", text, re.M)
    assert re.search(r"^LoadCredential=mqtt-password:", text, re.M)
    assert "--password" not in text  # secrets never on the command line


@pytest.fixture
def notify_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(5)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    yield sock
    sock.close()


def received(sock: socket.socket, n: int) -> list[str]:
    return [sock.recv(4096).decode() for _ in range(n)]


async def test_ready_after_main_is_ready_then_watchdog_then_stopping(
    notify_socket: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "40000")  # ping every 20 ms
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    ready = asyncio.Event()
    release = asyncio.Event()

    async def main() -> None:
        await asyncio.sleep(0.05)
        ready.set()
        await release.wait()

    task = asyncio.create_task(main())
    supervisor = asyncio.create_task(service.run_service(task, ready, "test"))
    msgs: list[str] = []
    while not any(m.startswith("READY=1") for m in msgs):
        msgs += await asyncio.to_thread(received, notify_socket, 1)
    before_ready = msgs[: next(i for i, m in enumerate(msgs) if m.startswith("READY=1"))]
    assert before_ready
    assert all(m == "WATCHDOG=1" for m in before_ready)
    pings = await asyncio.to_thread(received, notify_socket, 3)
    assert pings == ["WATCHDOG=1"] * 3
    release.set()
    await supervisor
    rest = [notify_socket.recv(4096).decode() for _ in range(10) if _select(notify_socket)]
    assert rest
    assert rest[-1] == "STOPPING=1"


def _select(sock: socket.socket) -> bool:
    import select

    return bool(select.select([sock], [], [], 0.2)[0])


async def test_a_blocked_event_loop_stops_the_watchdog(
    notify_socket: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    monkeypatch.setenv("WATCHDOG_USEC", "20000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    pinger = asyncio.create_task(service.feed_watchdog(service.watchdog_interval_s() or 1))
    await asyncio.sleep(0.05)
    while _select(notify_socket):
        notify_socket.recv(4096)
    time.sleep(0.3)  # noqa: ASYNC251 -- the point: a stuck loop must not ping
    assert not _select(notify_socket)
    await asyncio.sleep(0.05)  # the loop runs again: pings resume
    assert _select(notify_socket)
    pinger.cancel()


def test_watchdog_for_another_pid_is_not_ours(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))
    assert service.watchdog_interval_s() is None
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert service.watchdog_interval_s() == pytest.approx(0.5)


def test_outside_systemd_notify_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert service.notify("READY=1") is False


def test_secrets_come_from_systemd_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from vitalgate.config import MqttSettings, StoreSettings

    (tmp_path / "mqtt-password").write_text("s3cret\n")
    (tmp_path / "store-token").write_text("tok\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    monkeypatch.delenv("VITALGATE_STORE_TOKEN", raising=False)
    assert MqttSettings().secret() == "s3cret"
    assert StoreSettings().secret() == "tok"
    monkeypatch.delenv("CREDENTIALS_DIRECTORY")
    assert MqttSettings().secret() is None


def _start_ingest(cfg: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    import sys

    return subprocess.Popen([sys.executable, "-m", "vitalgate.cli", "ingest", "--config", str(cfg)], env=env)


async def test_ingest_service_reports_ready_once_subscribed(
    tmp_path: Path, mosquitto, notify_socket: socket.socket  # type: ignore[no-untyped-def]
) -> None:
    """As systemd runs it: READY=1 comes after the subscription, so a reading sent then is stored."""
    import sqlite3

    import aiomqtt
    from dataflow import readings, until

    from vitalgate.cloud_bridge.topics import Topics
    from vitalgate.cloud_bridge.wire import Observation, dump_payload

    db = tmp_path / "store.sqlite"
    cfg = tmp_path / "ingest.toml"
    cfg.write_text(
        f'[mqtt]\nurl = "{mosquitto.url}"\n'
        f'[store]\nkind = "sqlite"\nsqlite_path = "{db}"\nflush_interval_s = 0.05\n'
    )
    env = dict(os.environ, WATCHDOG_USEC="2000000")
    proc = _start_ingest(cfg, env)
    try:
        msgs = await asyncio.to_thread(received, notify_socket, 2)
        assert "WATCHDOG=1" in msgs
        assert any(m.startswith("READY=1\nSTATUS=ingest") for m in msgs)
        obs = Observation.from_reading(readings(1)[0], site="s1", gateway="g1", resident="r1")
        async with aiomqtt.Client("127.0.0.1", mosquitto.port) as c:
            await c.publish(Topics("s1", "g1").obs("r1", obs.kind.value), dump_payload(obs), qos=1)

        def count() -> int:
            try:
                with contextlib.closing(sqlite3.connect(db, timeout=5)) as con:
                    return int(con.execute("SELECT COUNT(*) FROM readings").fetchone()[0])
            except sqlite3.OperationalError:
                return 0

        await until(lambda: count() == 1, within=20, what="the reading stored")
        proc.terminate()
        assert await asyncio.to_thread(proc.wait, 20) == 0
        tail = [notify_socket.recv(4096).decode() for _ in range(50) if _select(notify_socket)]
        assert "STOPPING=1" in tail
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
