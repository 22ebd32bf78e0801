"""Malformed and hostile messages: dead-lettered with a reason, counted; valid ones all stored."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import timedelta
from pathlib import Path

import aiomqtt
import pytest
from dataflow import T0, readings, settings, until

from vitalgate.cloud_bridge import topics
from vitalgate.cloud_bridge.ingest import IngestWorker, Rejected, check
from vitalgate.cloud_bridge.sinks import SqliteSink
from vitalgate.cloud_bridge.topics import Topics
from vitalgate.cloud_bridge.wire import Alert, AlertState, Observation, Severity, dump_payload

T = Topics("hut7", "gw-a")


def obs(i: int, resident: str = "r-001") -> Observation:
    return Observation.from_reading(readings(2 * i + 1)[-1], site="hut7", gateway="gw-a", resident=resident)


def good_dict() -> dict:
    return json.loads(dump_payload(obs(0)))


def hostile() -> list[tuple[str, str, bytes]]:
    """(expected category, topic, payload)."""
    o = obs(0)
    topic = T.obs("r-001", "blood_pressure")
    v2 = {**good_dict(), "schema_version": 2}
    wrong_type = good_dict()
    wrong_type["components"][0]["value"] = "high"
    unknown_kind = {**good_dict(), "kind": "blood_sugar"}
    extra = {**good_dict(), "resident_name": "Zhang San"}
    ack = {"schema_version": 1, "type": "ack", "alert_id": "a" * 16, "by": "dr", "at": T0.isoformat()}
    return [
        ("payload", topic, b"{not json"),
        ("payload", topic, b""),
        ("payload", topic, b"[1, 2, 3]"),
        ("payload", topic, json.dumps(v2).encode()),
        ("payload", topic, json.dumps(wrong_type).encode()),
        ("payload", T.obs("r-001", "blood_sugar"), json.dumps(unknown_kind).encode()),
        ("payload", topic, json.dumps(extra).encode()),
        ("payload", topic, b'{"schema_version": 1, "type": "observation", "pad": "' + b"x" * 300_000 + b'"}'),
        ("payload", topic, b"\xff\xfe\x00binary"),
        ("mismatch", T.obs("r-002", "blood_pressure"), dump_payload(o)),
        ("mismatch", T.obs("r-001", "glucose"), dump_payload(o)),
        ("mismatch", "vitalgate/v1/other-site/gw-a/obs/r-001/blood_pressure", dump_payload(o)),
        ("type", topic, json.dumps(ack).encode()),
    ]


@pytest.mark.parametrize(("category", "topic", "payload"), hostile())
def test_check_rejects_with_reason(category: str, topic: str, payload: bytes) -> None:
    result = check(topic, payload)
    assert isinstance(result, Rejected)
    assert result.category == category
    assert result.reason


def test_check_accepts_matching_observation_and_alert() -> None:
    o = obs(3)
    assert check(T.obs("r-001", "blood_pressure"), dump_payload(o)) == o
    a = make_alert()
    assert check(T.alert("r-002"), dump_payload(a)) == a
    assert isinstance(check(T.notify("r-002"), dump_payload(a)), Rejected)


def make_alert(state: AlertState = AlertState.OPEN) -> Alert:
    return Alert(
        alert_id="alert-0000001", site="hut7", gateway="gw-a", resident="r-002", rule="bp_urgent",
        severity=Severity.URGENT, state=state, reason="SBP 186 mmHg >= 180", raised_at=T0,
        triggered_at=T0,
    )


async def test_worker_dead_letters_hostile_messages_and_keeps_going(tmp_path: Path, mosquitto) -> None:
    cfg = settings(tmp_path, mosquitto.url)
    bad = hostile()
    good = [obs(i) for i in range(20)]
    sink = SqliteSink(tmp_path / "store.sqlite")
    worker = IngestWorker(cfg.mqtt, cfg.ingest, sink, batch_size=7, flush_interval_s=0.05)
    dead: list[dict] = []
    async with aiomqtt.Client("127.0.0.1", mosquitto.port, protocol=aiomqtt.ProtocolVersion.V5) as c:
        await c.subscribe(topics.INGEST_DEADLETTER, qos=1)
        task = asyncio.create_task(worker.run())
        try:
            await asyncio.wait_for(worker.subscribed.wait(), 10)
            for i, o in enumerate(good):  # interleave valid and hostile messages
                await c.publish(T.obs(o.resident, o.kind.value), dump_payload(o), qos=1)
                if i < len(bad):
                    await c.publish(bad[i][1], bad[i][2], qos=1)
            await c.publish(T.alert("r-002"), dump_payload(make_alert()), qos=1)
            acked = make_alert(AlertState.ACKNOWLEDGED).model_copy(
                update={"acknowledged_by": "dr-li", "acknowledged_at": T0 + timedelta(minutes=3)}
            )
            await c.publish(T.alert("r-002"), dump_payload(acked), qos=1)

            async def collect() -> None:
                async for m in c.messages:
                    dead.append(json.loads(m.payload))  # type: ignore[arg-type]
                    if len(dead) == len(bad):
                        return

            await asyncio.wait_for(collect(), 20)
            await until(lambda: sink.count() == len(good) and worker.stored_alerts == 2, what="valid stored")
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    assert sum(worker.deadlettered.values()) == len(bad)
    assert worker.deadlettered["mismatch"] == 3
    assert [d["topic"] for d in dead] == [b[1] for b in bad]
    assert [d["category"] for d in dead] == [b[0] for b in bad]
    assert all(d["reason"] for d in dead)
    assert "schema_version 2" in dead[3]["reason"]
    assert "r-002" in dead[9]["reason"]
    stored = sink.observations()
    assert {o.reading_id for o in stored} == {o.reading_id for o in good}
    assert all(o.resident == "r-001" for o in stored)
    alerts = sink.alerts()
    assert len(alerts) == 1
    assert alerts[0].state == AlertState.ACKNOWLEDGED
    await sink.aclose()
