"""The care console in a real browser (Playwright driving Debian's chromium): sign in, a new
alert appears live after a high reading, acknowledge it and see the Ack on MQTT, open a
resident's chart, and be refused another site's resident."""

from __future__ import annotations

import asyncio
import io
import json
import shutil
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import aiomqtt
import pytest
import uvicorn
from console_helpers import PASSWORD, console_config, fill_store
from dataflow import BP_CUFF, settings
from servers import free_port

from vitalgate.console.app import create_app
from vitalgate.gateway.daemon import Gateway
from vitalgate.gateway.demo import build_screeners
from vitalgate.readings import Reading
from vitalgate.vocabulary import Kind


def chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.fail("Debian's chromium is missing: scripts/setup --test installs it")
    return exe


@pytest.fixture
def console(tmp_path: Path, mosquitto) -> Iterator[str]:  # type: ignore[no-untyped-def]
    store = tmp_path / "store.sqlite"
    fill_store(store, "hut7", "r-001")
    fill_store(store, "hut9", "r-0009")
    app = create_app(console_config(store), settings(tmp_path, mosquitto.url).mqtt, store=store)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        threading.Event().wait(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


async def test_live_alert_acknowledged_in_the_browser(tmp_path: Path, mosquitto, console: str) -> None:  # type: ignore[no-untyped-def]
    from playwright.async_api import async_playwright

    cfg = settings(tmp_path, mosquitto.url)
    screeners, ecg = build_screeners(cfg)
    async with async_playwright() as p, aiomqtt.Client("127.0.0.1", mosquitto.port) as watcher:
        await watcher.subscribe("vitalgate/v1/hut7/gw-a/alert/r-001/ack", qos=1)
        browser = await p.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        page = await browser.new_page()
        await page.goto(f"{console}/login")
        await page.fill("input[name=username]", "nurse-wang")
        await page.fill("input[name=password]", PASSWORD)
        await page.click("button")
        await page.wait_for_selector("#inbox", state="attached")
        await asyncio.sleep(0.5)  # the page's event stream is open
        async with Gateway(cfg, [], screeners=screeners, ecg_screeners=ecg, tick_s=0.05) as gw:
            high = Reading.of(Kind.BLOOD_PRESSURE, {"systolic": 192.0, "diastolic": 114.0}, datetime.now(UTC), BP_CUFF)
            gw.accept_reading(high)
            row = page.locator("tr.urgent", has_text="bp_urgent")
            await row.wait_for(timeout=20_000)  # appeared live, without a reload
            assert "r-001" in await row.inner_text()
            await row.locator("input[name=note]").fill("called, appointment tomorrow")
            await row.locator("button", has_text="Acknowledge").click()
            async with asyncio.timeout(20):
                msg = await anext(watcher.messages)
            ack = json.loads(msg.payload)  # type: ignore[arg-type]
            assert ack["by"] == "nurse-wang"
            assert ack["note"] == "called, appointment tomorrow"
            await page.locator("tr.acknowledged", has_text="bp_urgent").wait_for(timeout=20_000)
        await page.goto(f"{console}/residents/r-001")
        await page.wait_for_selector("img")
        shot = await page.screenshot(full_page=True)
        import matplotlib.image as mpimg

        pixels = mpimg.imread(io.BytesIO(shot), format="png")
        assert pixels.std() > 0.05  # a chart, not a blank page
        assert await page.locator("img[alt^='Blood pressure']").count() == 1
        refused = await page.goto(f"{console}/residents/r-0009")
        assert refused is not None
        assert refused.status == 403
        await browser.close()
