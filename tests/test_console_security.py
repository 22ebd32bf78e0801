"""Console routes: no access without a session, no cross-site access, CSRF, password checks."""

from __future__ import annotations

from pathlib import Path

import pytest
from console_helpers import PASSWORD, alert, console_config, fill_store
from fastapi.testclient import TestClient

from vitalgate.config import MqttSettings
from vitalgate.console.app import create_app


@pytest.fixture
def client(tmp_path: Path, mosquitto):  # type: ignore[no-untyped-def]
    store = tmp_path / "store.sqlite"
    fill_store(store, "hut7", "r-0007")
    fill_store(store, "hut9", "r-0009")
    app = create_app(console_config(store), MqttSettings(url=mosquitto.url), store=store)
    with TestClient(app, base_url="http://127.0.0.1") as c:
        app.state.hub.update(alert("hut7", "r-0007"))
        app.state.hub.update(alert("hut9", "r-0009"))
        yield c


def login(c: TestClient, user: str = "nurse-wang", password: str = PASSWORD) -> int:
    return c.post("/login", data={"username": user, "password": password}, follow_redirects=False).status_code


@pytest.mark.parametrize("path", ["/", "/residents/r-0007", "/hut"])
def test_pages_need_a_session(client: TestClient, path: str) -> None:
    r = client.get(path, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login"


def test_events_need_a_session(client: TestClient) -> None:
    assert client.get("/events").status_code == 401


def test_wrong_password_and_unknown_user_are_refused(client: TestClient) -> None:
    assert login(client, password="guess") == 401
    assert login(client, user="nobody") == 401
    assert "vitalgate_session" not in client.cookies


def test_session_cookie_is_httponly_and_strict(client: TestClient) -> None:
    r = client.post("/login", data={"username": "nurse-wang", "password": PASSWORD}, follow_redirects=False)
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie


def test_inbox_shows_only_own_sites(client: TestClient) -> None:
    assert login(client) == 303
    page = client.get("/").text
    assert "r-0007" in page
    assert "r-0009" not in page


def test_no_cross_site_resident(client: TestClient) -> None:
    login(client)
    assert client.get("/residents/r-0007").status_code == 200
    assert client.get("/residents/r-0009").status_code == 403
    assert client.get("/residents/r-unknown").status_code == 403  # no existence leak


def test_ack_needs_the_csrf_token_and_own_site(client: TestClient) -> None:
    login(client)
    a7 = alert("hut7", "r-0007")
    assert client.post(f"/alerts/{a7.alert_id}/ack", data={"note": "x"}, follow_redirects=False).status_code == 403
    assert client.post(f"/alerts/{a7.alert_id}/ack", data={"csrf": "forged"}, follow_redirects=False).status_code == 403
    page = client.get("/").text
    token = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    cross = client.post(f"/alerts/{a7.alert_id}/ack", data={"csrf": token}, headers={"origin": "http://evil.example"},
                        follow_redirects=False)
    assert cross.status_code == 403
    a9 = alert("hut9", "r-0009")
    assert client.post(f"/alerts/{a9.alert_id}/ack", data={"csrf": token}, follow_redirects=False).status_code == 404
    ok = client.post(f"/alerts/{a7.alert_id}/ack", data={"csrf": token, "note": "called"}, follow_redirects=False)
    assert ok.status_code == 303


def test_logout_ends_the_session(client: TestClient) -> None:
    login(client)
    client.get("/logout")
    assert client.get("/", follow_redirects=False).status_code == 303


def test_resident_page_shows_ecg_strips_and_hut_page_checkins(tmp_path: Path, mosquitto) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime, timedelta

    from console_helpers import console_config

    from vitalgate.cloud_bridge.wire import EcgStrip
    from vitalgate.gateway.kit import KitStore
    from vitalgate.gateway.outbox import Outbox

    store = tmp_path / "store.sqlite"
    fill_store(store, "hut7", "r-0007")
    outbox = tmp_path / "gw" / "outbox.sqlite"
    with Outbox(outbox) as box:
        box.hold("f" * 32, "no check-in at kit kit-1", '{"kind": "spo2"}')
    KitStore(outbox.parent / "kit.sqlite").checkin("kit-1", "r-0007", "nurse-wang", timedelta(minutes=15))
    cfg = console_config(store).model_copy(update={"outboxes": [outbox]})
    app = create_app(cfg, MqttSettings(url=mosquitto.url), store=store)
    strip = EcgStrip(fs_hz=130.0, start=datetime.now(UTC), samples_uv=[int(800 * ((i % 100) < 5)) for i in range(1300)])
    with TestClient(app, base_url="http://127.0.0.1") as c:
        app.state.hub.update(alert("hut7", "r-0007").model_copy(update={"rule": "ecg_af", "ecg_strip": strip}))
        login(c)
        page = c.get("/residents/r-0007").text
        assert "<h2>ECG strips</h2>" in page
        assert 'alt="ECG strip ecg_af"' in page
        hut = c.get("/hut").text
        assert "no check-in at kit kit-1" in hut
        assert "<td>kit-1</td><td>r-0007</td>" in hut


async def test_escalate_from_the_console_reaches_the_gateway(tmp_path: Path, mosquitto) -> None:  # type: ignore[no-untyped-def]
    import asyncio
    from datetime import UTC, datetime

    from console_helpers import console_config
    from dataflow import BP_CUFF, settings, until

    from vitalgate.gateway.daemon import Gateway
    from vitalgate.gateway.demo import build_screeners
    from vitalgate.readings import Reading
    from vitalgate.vocabulary import Kind

    key = tmp_path / "command.key"
    key.write_bytes(b"c" * 32)
    cfg = settings(tmp_path, mosquitto.url, kit={"command_key_file": str(key)})
    screeners, ecg = build_screeners(cfg)
    app = create_app(console_config().model_copy(update={"command_key_file": key}), cfg.mqtt)
    with TestClient(app, base_url="http://127.0.0.1") as c:
        login(c)
        async with Gateway(cfg, [], screeners=screeners, ecg_screeners=ecg, tick_s=0.05) as gw:
            await asyncio.sleep(0.5)  # the gateway's command listener subscribes
            gw.accept_reading(Reading.of(Kind.BLOOD_PRESSURE, {"systolic": 191.0, "diastolic": 112.0}, datetime.now(UTC), BP_CUFF))
            hub = app.state.hub
            await until(lambda: any(a.rule == "bp_urgent" for a in hub.alerts.values()), within=20, what="alert in the console")
            a = next(a for a in hub.alerts.values() if a.rule == "bp_urgent")
            page = c.get("/").text
            token = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
            r = await asyncio.to_thread(c.post, f"/alerts/{a.alert_id}/escalate",
                                        data={"csrf": token, "why": "no answer by phone"}, follow_redirects=False)
            assert r.status_code == 303
            await until(lambda: hub.alerts[a.alert_id].escalation_level == 1, within=20, what="escalated alert back")
            assert hub.alerts[a.alert_id].state.value == "escalated"
