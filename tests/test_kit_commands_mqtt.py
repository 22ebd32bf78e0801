"""Kit commands over MQTT with responses, against a real mosquitto and a running gateway:
signed commands are carried out; a bad signature, unknown fields or out-of-range values are
refused with the reason on the response topic; a check-in made over MQTT attributes readings."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import aiomqtt
from dataflow import settings, until, worker
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from vitalgate.cloud_bridge.sinks import SqliteSink
from vitalgate.cloud_bridge.topics import Topics
from vitalgate.gateway.daemon import Gateway
from vitalgate.gateway.remote import sign
from vitalgate.readings import DeviceIdentity, Reading
from vitalgate.vocabulary import Kind

KEY = b"k" * 32
CUFF = DeviceIdentity("E1:00:00:00:00:01", model="BP5150")


async def ask(c: aiomqtt.Client, topics: Topics, name: str, body: object, corr: bytes) -> dict:  # type: ignore[type-arg]
    props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    props.ResponseTopic = "tablet/replies"
    props.CorrelationData = corr
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    await c.publish(topics.cmd(name if "/" in name else f"kit/{name}"), payload, qos=1, properties=props)
    async with asyncio.timeout(15):
        async for msg in c.messages:
            if msg.properties is not None and getattr(msg.properties, "CorrelationData", None) == corr:
                return dict(json.loads(msg.payload))  # type: ignore[arg-type]
    raise AssertionError("no response")


async def test_kit_commands_over_mqtt(tmp_path: Path, mosquitto) -> None:  # type: ignore[no-untyped-def]
    key_file = tmp_path / "command.key"
    key_file.write_bytes(KEY)
    cfg = settings(tmp_path, mosquitto.url, kit={"enabled": True, "kits": {"kit-1": [CUFF.address]},
                                                 "command_key_file": str(key_file)})
    topics = Topics("hut7", "gw-a")
    async with (
        SqliteSink(tmp_path / "store.sqlite") as sink, worker(cfg, sink),
        Gateway(cfg, [], tick_s=0.05) as gw,
        aiomqtt.Client("127.0.0.1", mosquitto.port, protocol=aiomqtt.ProtocolVersion.V5) as tablet,
    ):
        await tablet.subscribe("tablet/replies", qos=1)
        await asyncio.sleep(0.5)  # the gateway's command listener subscribes
        ok = await ask(tablet, topics, "checkin", sign(KEY, {"kit": "kit-1", "resident": "r-042", "by": "nurse-a"}), b"1")
        assert ok["ok"] is True
        assert ok["result"]["resident"] == "r-042"
        forged = sign(b"x" * 32, {"kit": "kit-1", "resident": "r-666", "by": "mallory"})
        assert await ask(tablet, topics, "checkin", forged, b"2") == {"ok": False, "error": "bad signature"}
        extra = await ask(tablet, topics, "checkin", sign(KEY, {"kit": "kit-1", "resident": "r-1", "by": "a", "admin": True}), b"3")
        assert extra["ok"] is False
        assert "admin" in extra["error"]
        too_long = await ask(tablet, topics, "checkin", sign(KEY, {"kit": "kit-1", "resident": "r-1", "by": "a", "minutes": 10_000}), b"4")
        assert too_long["ok"] is False
        assert "minutes" in too_long["error"]
        unknown = await ask(tablet, topics, "reboot", sign(KEY, {}), b"5")
        assert unknown["ok"] is False
        assert "unknown command" in unknown["error"]
        garbage = await ask(tablet, topics, "checkin", b"\xff\x00not json", b"6")
        assert garbage == {"ok": False, "error": "not JSON"}
        reading = Reading.of(Kind.BLOOD_PRESSURE, {"systolic": 128.0, "diastolic": 82.0}, datetime.now(UTC), CUFF)
        assert gw.accept_reading(reading) is not None  # r-042 is checked in
        await until(lambda: sink.count() == 1, within=20, what="the reading stored")
        assert sink.observations()[0].resident == "r-042"
        pending = await ask(tablet, topics, "pending", sign(KEY, {}), b"7")
        assert pending == {"ok": True, "result": []}


async def test_without_a_command_key_commands_are_refused(tmp_path: Path, mosquitto) -> None:  # type: ignore[no-untyped-def]
    cfg = settings(tmp_path, mosquitto.url, kit={"enabled": True, "kits": {"kit-1": [CUFF.address]}})
    async with Gateway(cfg, [], tick_s=0.05), aiomqtt.Client("127.0.0.1", mosquitto.port, protocol=aiomqtt.ProtocolVersion.V5) as tablet:
        await tablet.subscribe("tablet/replies", qos=1)
        await asyncio.sleep(0.5)
        answer = await ask(tablet, Topics("hut7", "gw-a"), "checkin", sign(KEY, {"kit": "kit-1", "resident": "r-1", "by": "a"}), b"1")
        assert answer["ok"] is False
        assert "disabled" in answer["error"]
