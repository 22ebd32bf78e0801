"""Resident trends read back from a real VictoriaMetrics (export API) and drawn on the resident page."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from console_helpers import PASSWORD, console_config
from dataflow import BP_CUFF, vm_wait_points
from fastapi.testclient import TestClient

from vitalgate.cloud_bridge.sinks import InfluxSink
from vitalgate.cloud_bridge.wire import Observation
from vitalgate.config import MqttSettings
from vitalgate.console.app import create_app
from vitalgate.console.vmstore import TrendStoreError, resident_points
from vitalgate.readings import Reading
from vitalgate.vocabulary import Kind

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=5)


def _bp(site: str, resident: str, i: int) -> Observation:
    r = Reading.of(Kind.BLOOD_PRESSURE, {"systolic": 150.0 + i, "diastolic": 95.0 - i}, T0 + timedelta(days=i), BP_CUFF)
    return Observation.from_reading(r, site=site, gateway="gw-a", resident=resident)


@pytest.fixture
def filled(victoria):  # type: ignore[no-untyped-def]
    obs = [_bp("hut7", "r-0007", i) for i in range(4)] + [_bp("hut9", "r-0009", i) for i in range(2)]

    async def go() -> None:
        async with InfluxSink(victoria.url, token=None, org="o", bucket="b") as sink:
            await sink.write(obs, [])

    asyncio.run(go())
    vm_wait_points(victoria, 2 * len(obs))
    return victoria


def test_points_come_back_exactly(filled) -> None:  # type: ignore[no-untyped-def]
    pts = resident_points(filled.url, "r-0007")
    assert [p.measured_at for p in pts] == [T0 + timedelta(days=i) for i in range(4)]
    assert [(p.value("systolic"), p.value("diastolic")) for p in pts] == [(150.0 + i, 95.0 - i) for i in range(4)]
    assert {p.kind for p in pts} == {Kind.BLOOD_PRESSURE}
    assert {p.site for p in pts} == {"hut7"}
    assert resident_points(filled.url, "r-0404") == []


def test_unreachable_store_names_the_url() -> None:
    with pytest.raises(TrendStoreError, match=r"127\.0\.0\.1:9"):
        resident_points("http://127.0.0.1:9", "r-0007", timeout=2)


def test_resident_page_draws_victoria_trends_and_keeps_sites_apart(filled, mosquitto) -> None:  # type: ignore[no-untyped-def]
    cfg = console_config(None).model_copy(update={"victoria_url": filled.url})
    with TestClient(create_app(cfg, MqttSettings(url=mosquitto.url)), base_url="http://127.0.0.1") as c:
        assert c.post("/login", data={"username": "nurse-wang", "password": PASSWORD},
                      follow_redirects=False).status_code == 303
        page = c.get("/residents/r-0007")
        assert page.status_code == 200
        assert "4 reading(s)" in page.text
        assert 'alt="Blood pressure (mmHg)" src="data:image/png;base64,' in page.text
        assert c.get("/residents/r-0009").status_code == 403


def test_resident_page_says_when_the_store_is_down(mosquitto) -> None:  # type: ignore[no-untyped-def]
    cfg = console_config(None).model_copy(update={"victoria_url": "http://127.0.0.1:9"})
    with TestClient(create_app(cfg, MqttSettings(url=mosquitto.url)), base_url="http://127.0.0.1") as c:
        c.post("/login", data={"username": "nurse-wang", "password": PASSWORD}, follow_redirects=False)
        page = c.get("/residents/r-0007")
        assert page.status_code == 503
        assert "127.0.0.1:9" not in page.text
