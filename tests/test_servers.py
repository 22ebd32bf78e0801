"""The real servers the other tests rely on start and answer."""

from __future__ import annotations

import json
import urllib.request

import paho.mqtt.client as mqtt


def test_mosquitto_round_trip(mosquitto) -> None:  # type: ignore[no-untyped-def]
    got: list[bytes] = []
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    c.on_message = lambda _c, _u, m: got.append(m.payload)
    c.connect("127.0.0.1", mosquitto.port)
    c.subscribe("t/#", qos=1)
    c.loop_start()
    try:
        c.publish("t/x", b"hello", qos=1, retain=True).wait_for_publish(5)
        import time

        deadline = time.monotonic() + 5
        while not got and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        c.loop_stop()
        c.disconnect()
    assert got == [b"hello"]


def test_victoria_metrics_accepts_influx_line_protocol(victoria) -> None:  # type: ignore[no-untyped-def]
    body = b"bp,resident=r1 systolic=142 1767225600000000000\n"
    req = urllib.request.Request(f"{victoria.url}/api/v2/write?org=o&bucket=b", data=body, method="POST")
    assert urllib.request.urlopen(req, timeout=5).status == 204
    victoria.flush()
    q = f"{victoria.url}/api/v1/export?match[]=bp_systolic"
    lines = urllib.request.urlopen(q, timeout=5).read().decode().splitlines()
    rec = json.loads(lines[0])
    assert rec["values"] == [142]
    assert rec["metric"]["resident"] == "r1"
