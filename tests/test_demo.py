"""``vitalgate demo``: one command, prints what the ingest side stored, ends cleanly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from dataflow import vm_export


def run_demo(*args: str, env: dict[str, str] | None = None) -> tuple[list[dict], dict]:
    proc = subprocess.run(
        [sys.executable, "-m", "vitalgate.cli", "demo", "--json", "--interval", "0.2", *args],
        capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})},
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    summary = json.loads(proc.stderr.strip().splitlines()[-1])
    return lines, summary


def test_embedded_demo_prints_stored_observations() -> None:
    lines, summary = run_demo("--duration", "2")
    obs = [x for x in lines if x["type"] == "observation"]
    assert all(x["type"] in {"observation", "alert"} and "kind" in x for x in lines)
    assert len(obs) >= 10
    assert summary["observations"] == len(obs)
    kinds = {x["kind"] for x in obs}
    assert kinds == {"blood_pressure", "glucose", "spo2", "heart_rate"}
    assert len({x["reading_id"] for x in obs}) == len(obs)
    high = [x for x in obs if x["kind"] == "blood_pressure" and x["resident"] == "r-002"]
    assert high
    assert all(x["values"]["systolic"] > 140 for x in high)
    assert obs[0]["units"]


def test_demo_raises_the_alerts_its_residents_call_for() -> None:
    """r-002's third day over target, r-003's fasting glucose and r-005's AF (irregular RR from
    the strap) reach the store."""
    lines, summary = run_demo("--duration", "45")
    alerts = [x for x in lines if x["type"] == "alert"]
    assert summary["alerts"] == len(alerts)
    rules = {(a["resident"], a["rule"]) for a in alerts}
    assert ("r-002", "bp_over_target_3d") in rules
    assert ("r-005", "ecg_af") in rules
    assert ("r-003", "glucose_fasting_persistent") in rules  # fasting records with meal context
    assert not any(a["resident"] in {"r-001", "r-006"} and a["rule"] == "ecg_af" for a in alerts)
    af = next(a for a in alerts if a["rule"] == "ecg_af")
    assert af["severity"] == "urgent"
    assert "atrial fibrillation" in af["reason"]


def test_demo_against_real_broker_and_store(mosquitto, victoria) -> None:
    lines, summary = run_demo(
        "--duration", "1.5", "--broker", mosquitto.url, "--store", victoria.url,
        "--org", "o", "--bucket", "b", env={"VITALGATE_STORE_TOKEN": "unused-by-vm"},
    )
    obs = [x for x in lines if x["type"] == "observation"]
    assert obs
    expected = sum(len(x["values"]) for x in obs)
    deadline = time.monotonic() + 20
    while True:  # the store has no change notification: poll it with a deadline
        victoria.flush()
        stored = vm_export(victoria.url, '{__name__=~"(blood_pressure|glucose|spo2|heart_rate)_.*"}')
        points = sum(len(s["values"]) for s in stored)
        if points >= expected or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert points == expected
    assert summary["observations"] == len(obs)


def test_bad_broker_option_is_a_clear_error() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "vitalgate.cli", "demo", "--duration", "1", "--broker", "http://x"],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2
    assert "--broker" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_demo_serves_the_care_console() -> None:
    import re

    import httpx
    from servers import free_port

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "vitalgate.cli", "demo", "--duration", "20", "--interval", "0.2",
         "--console-port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stderr is not None
        line = ""
        for line in proc.stderr:
            if line.startswith("care console:"):
                break
        m = re.search(r"user (\S+)\s+password (\S+)", line)
        assert m, line
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as c:
            for _ in range(100):
                try:
                    c.get("/login")
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            r = c.post("/login", data={"username": m[1], "password": m[2]}, follow_redirects=True)
            assert r.status_code == 200
            assert "<h1>Alerts</h1>" in r.text
    finally:
        proc.terminate()
        proc.wait(30)
