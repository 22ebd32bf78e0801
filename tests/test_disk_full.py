"""The gateway's disk fills up: readings are refused loudly, alerts still go out, nothing is
published twice, and readings flow again once there is space.

A full disk is produced with SQLite's ``max_page_count``: SQLite then fails exactly as on a full
disk (``SQLITE_FULL``, "database or disk is full").
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest
from dataflow import BP_CUFF, T0, settings, until, worker

from vitalgate.cloud_bridge.sinks import SqliteSink
from vitalgate.cloud_bridge.wire import Alert, Severity
from vitalgate.gateway.daemon import Gateway
from vitalgate.readings import Reading
from vitalgate.vocabulary import Kind


def bp(i: int) -> Reading:
    return Reading.of(Kind.BLOOD_PRESSURE, {"systolic": 120.0 + i % 40, "diastolic": 80.0},
                      T0 + timedelta(minutes=i), BP_CUFF)


async def test_disk_full_refuses_readings_loudly_and_alerts_still_go_out(
    tmp_path: Path, mosquitto, caplog: pytest.LogCaptureFixture  # type: ignore[no-untyped-def]
) -> None:
    cfg = settings(tmp_path, mosquitto.url)
    async with SqliteSink(tmp_path / "store.sqlite") as sink, Gateway(cfg, []) as gw:
        db = gw.outbox.db
        pages = int(db.execute("PRAGMA page_count").fetchone()[0])
        db.execute(f"PRAGMA max_page_count = {pages + 3}")  # the disk is almost full
        i = 0
        with caplog.at_level(logging.INFO):
            while gw.refused == 0 and i < 5000:  # no subscriber yet (MQTT 5): nothing is sent
                gw.accept_reading(bp(i))
                i += 1
            assert gw.refused == 1, "the disk never filled"
            refused = bp(i - 1)
            lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
            assert any(refused.reading_id in m and '"systolic"' in m for m in lines)  # whole reading in the log
            alert = Alert(
                alert_id="a-disk-full", site="hut7", gateway="gw-a", resident="r-001",
                rule="bp_urgent", kind=Kind.BLOOD_PRESSURE, severity=Severity.CRITICAL,
                reason="SBP 190 mmHg", raised_at=T0, triggered_at=T0,
            )
            gw.queue_alerts([alert])
            assert any("kept in memory" in r.getMessage() for r in caplog.records)
        queued = gw.queued
        assert queued > 0
        async with worker(cfg, sink) as w:
            await until(lambda: w.stored_alerts >= 1 and sink.count() == queued, within=30,
                        what="the alert and every accepted reading stored")
            db.execute("PRAGMA max_page_count = 1000000")  # space again
            gw.accept_reading(bp(i + 1))
            await until(lambda: sink.count() == queued + 1, within=30, what="readings flow again")
        assert [a.alert_id for a in sink.alerts()] == ["a-disk-full"]
        assert len(gw.outbox) == 0
