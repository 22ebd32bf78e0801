"""The durable outbox: order, bound policy, held readings, survival of SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from vitalgate.errors import OutboxFull
from vitalgate.gateway.outbox import Outbox

MB = 1024 * 1024


async def test_alerts_first_then_oldest_and_delete_only_acked(tmp_path: Path) -> None:
    async with Outbox(tmp_path / "o.sqlite") as box:
        r1 = box.put("t/r1", b"r1")
        r2 = box.put("t/r2", b"r2")
        a1 = box.put("t/a1", b"a1", priority="alert", retain=True)
        assert [e.id for e in box.peek()] == [a1, r1, r2]
        assert box.peek()[0].retain is True
        assert box.peek()[0].priority == "alert"
        box.delete([a1, r2])
        assert [e.topic for e in box.peek()] == ["t/r1"]
        assert len(box) == 1
        assert box.pending_bytes == 2


async def test_contents_survive_reopen(tmp_path: Path) -> None:
    async with Outbox(tmp_path / "o.sqlite") as box:
        box.put("t/x", b"payload-x")
        box.put("t/y", b"payload-y")
        box.delete([box.peek()[0].id])
    async with Outbox(tmp_path / "o.sqlite") as box:
        assert [(e.topic, e.payload) for e in box.peek()] == [("t/y", b"payload-y")]
        assert box.changed.is_set()
        assert box.pending_bytes == len(b"payload-y")


async def test_full_outbox_refuses_readings_never_alerts(tmp_path: Path) -> None:
    async with Outbox(tmp_path / "o.sqlite", max_bytes=1 * MB) as box:
        chunk = b"x" * (256 * 1024)
        for _ in range(4):
            box.put("t/r", chunk)
        with pytest.raises(OutboxFull, match="max_bytes"):
            box.put("t/r", b"one more reading")
        assert box.refused == 1
        box.put("t/a", chunk, priority="alert")
        assert len(box) == 5
        assert box.pending_bytes > box.max_bytes
        box.delete([e.id for e in box.peek() if e.priority == "reading"][:2])
        box.put("t/r", b"fits again")


async def test_bad_arguments_are_value_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="synchronous"):
        Outbox(tmp_path / "o.sqlite", synchronous="OFF")
    async with Outbox(tmp_path / "o.sqlite") as box:
        with pytest.raises(ValueError, match="priority"):
            box.put("t", b"x", priority="urgent")  # type: ignore[arg-type]


async def test_held_readings_are_kept_once(tmp_path: Path) -> None:
    async with Outbox(tmp_path / "o.sqlite") as box:
        assert box.hold("rid-00000001", "slot 3 unassigned", "{}") is True
        assert box.hold("rid-00000001", "slot 3 unassigned", "{}") is False
        assert box.held() == [("rid-00000001", "slot 3 unassigned", "{}")]
        box.release("rid-00000001")
        assert box.held() == []


_WRITER = """
import sys
from vitalgate.gateway.outbox import Outbox
box = Outbox(sys.argv[1]); box.open()
i = 0
while True:
    box.put(f"t/{i}", f"reading {i}".encode())
    print(i, flush=True)  # only after put() returned, i.e. committed
    i += 1
"""


def test_every_committed_put_survives_sigkill(tmp_path: Path) -> None:
    db = tmp_path / "o.sqlite"
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(db)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    confirmed = []
    for line in proc.stdout:
        confirmed.append(int(line))
        if len(confirmed) >= 200:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    box = Outbox(db)
    box.open()
    try:
        topics = {e.topic for e in box.peek(100_000)}
    finally:
        box.close()
    assert {f"t/{i}" for i in confirmed} <= topics


def test_gateway_holds_readings_the_full_outbox_refused(tmp_path: Path) -> None:
    from dataflow import readings, settings

    from vitalgate.gateway.daemon import Gateway

    cfg = settings(tmp_path, "mqtt://127.0.0.1:9", outbox={"max_bytes": MB})
    gw = Gateway(cfg, [])
    gw.outbox.open()
    try:
        items = readings(2000)
        accepted = [gw.accept_reading(r) for r in items]
        refused = [r for r, o in zip(items, accepted, strict=True) if o is None]
        assert refused
        assert gw.held == len(refused)
        assert gw.queued + gw.held == len(items)
        held = gw.outbox.held()
        assert [h[0] for h in held] == [r.reading_id for r in refused]
        assert all(h[1].startswith("outbox full") for h in held)
        assert gw.outbox.pending_bytes <= MB
    finally:
        gw.outbox.close()
