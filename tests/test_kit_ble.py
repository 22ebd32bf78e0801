"""A health hut end to end on the real BLE path: an emulated kit BP monitor, the connection
manager over the bumble backend, the gateway in kit mode, a real mosquitto and store."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from dataflow import settings, until, worker

from vitalgate.cloud_bridge.sinks import SqliteSink
from vitalgate.config import BleSettings
from vitalgate.device_drivers.manager import ConnectionManager, RetryPolicy
from vitalgate.device_drivers.recognition import recognizer
from vitalgate.gateway.daemon import Gateway
from vitalgate.gateway.kit import KitStore
from vitalgate.simulator.devices import BloodPressureMonitor

pytestmark = pytest.mark.timeout(90)
LINK = "kit-ble-test"
ADDRESS = "C5:00:00:00:00:01"


async def test_kit_monitor_readings_go_to_the_checked_in_resident_or_wait(tmp_path: Path, mosquitto, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    cfg = settings(tmp_path, mosquitto.url, kit={"enabled": True, "kits": {"kit-1": [ADDRESS]}})
    bp = BloodPressureMonitor(ADDRESS, link=LINK, disconnect_after_measurement=False)
    ble = BleSettings(backend="bumble", bumble_link=LINK, allow=[ADDRESS], paired_file=tmp_path / "paired.json")
    manager = ConnectionManager.from_settings(ble, recognizer(), seed=5)
    manager.retry = RetryPolicy(attempts=3, connect_timeout_s=3.0, backoff_min_s=0.01, backoff_max_s=0.05, revisit_s=0.01)
    store = KitStore(tmp_path / "kit.sqlite")
    async with bp, SqliteSink(tmp_path / "store.sqlite") as sink, worker(cfg, sink), Gateway(cfg, [manager], tick_s=0.05) as gw:
        bp.measure(141, 88, 70)  # nobody is checked in at the kit
        await until(lambda: gw.held == 1, within=30, what="the first reading held")
        (held,) = gw.outbox.held()
        assert "no check-in at kit kit-1" in held[1]
        store.checkin("kit-1", "r-0042", "nurse-a", timedelta(minutes=15))
        bp.measure(143, 90, 72)
        await until(lambda: sink.count() == 1, within=30, what="the checked-in reading stored")
        (stored,) = sink.observations()
        assert stored.resident == "r-0042"
        assert stored.value("systolic") == 143
        assert gw.held == 1  # the earlier reading still waits for a person, never guessed
