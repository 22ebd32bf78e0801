"""``vitalgate acl`` against a real mosquitto with its ACL and password files: a gateway cannot
publish as another, a clinician cannot read another site, the ingest worker reads every site."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt
import pytest
from servers import Mosquitto, _which
from typer.testing import CliRunner

from vitalgate.cli import app

ACCESS = """
[[gateways]]
site = "hut7"
id = "gw-a"
[[gateways]]
site = "hut7"
id = "gw-b"
[[gateways]]
site = "hut9"
id = "gw-c"
[[workers]]
user = "ingest-1"
[[clinicians]]
user = "dr-li"
role = "doctor"
sites = ["hut7"]
[[clinicians]]
user = "dr-wu"
role = "doctor"
sites = ["hut9"]
"""
USERS = ["gw-a", "gw-b", "gw-c", "ingest-1", "dr-li", "dr-wu"]


@pytest.fixture
def broker(tmp_path: Path):  # type: ignore[no-untyped-def]
    access = tmp_path / "access.toml"
    access.write_text(ACCESS)
    acl = tmp_path / "acl"
    r = CliRunner().invoke(app, ["acl", str(access), "--out", str(acl)])
    assert r.exit_code == 0, r.output
    pw = tmp_path / "passwd"
    exe = _which("mosquitto_passwd", "/usr/bin/mosquitto_passwd")
    for i, u in enumerate(USERS):
        subprocess.run([exe, "-b", *(["-c"] if i == 0 else []), str(pw), u, f"pw-{u}"], check=True)
    m = Mosquitto(tmp_path / "mq", allow_anonymous=False, extra_conf=f"password_file {pw}\nacl_file {acl}\n").start()
    yield m
    m.stop()


@contextlib.asynccontextmanager
async def client(m: Mosquitto, user: str) -> AsyncIterator[aiomqtt.Client]:
    async with aiomqtt.Client("127.0.0.1", m.port, username=user, password=f"pw-{user}", identifier=user) as c:
        yield c


async def first(c: aiomqtt.Client) -> tuple[str, bytes]:
    async with asyncio.timeout(10):
        async for msg in c.messages:
            return str(msg.topic), bytes(msg.payload)  # type: ignore[arg-type]
    raise AssertionError("no message")


async def test_a_gateway_cannot_publish_as_another(broker: Mosquitto) -> None:
    async with client(broker, "ingest-1") as ingest, client(broker, "gw-a") as gw:
        await ingest.subscribe("vitalgate/v1/+/+/obs/#", qos=1)
        await gw.publish("vitalgate/v1/hut7/gw-b/obs/r-1/spo2", b"forged", qos=1)  # as gw-b: denied
        await gw.publish("vitalgate/v1/hut9/gw-c/obs/r-1/spo2", b"forged", qos=1)  # other site: denied
        await gw.publish("vitalgate/v1/hut7/gw-a/obs/r-1/spo2", b"mine", qos=1)
        assert await first(ingest) == ("vitalgate/v1/hut7/gw-a/obs/r-1/spo2", b"mine")


async def test_a_clinician_cannot_read_another_site(broker: Mosquitto) -> None:
    async with client(broker, "dr-wu") as wu, client(broker, "gw-a") as a, client(broker, "gw-c") as c:
        await wu.subscribe("vitalgate/v1/+/+/alert/+", qos=1)  # asks for every site
        await a.publish("vitalgate/v1/hut7/gw-a/alert/r-1", b"hut7 alert", qos=1)
        await c.publish("vitalgate/v1/hut9/gw-c/alert/r-9", b"hut9 alert", qos=1)
        assert await first(wu) == ("vitalgate/v1/hut9/gw-c/alert/r-9", b"hut9 alert")


async def test_clinician_acknowledges_own_site_and_gateway_hears_it(broker: Mosquitto) -> None:
    async with client(broker, "gw-a") as gw, client(broker, "dr-li") as li, client(broker, "dr-wu") as wu:
        await gw.subscribe("vitalgate/v1/hut7/gw-a/alert/+/ack", qos=1)
        await wu.publish("vitalgate/v1/hut7/gw-a/alert/r-1/ack", b"not my site", qos=1)  # denied
        await li.publish("vitalgate/v1/hut7/gw-a/alert/r-1/ack", b"ack by dr-li", qos=1)
        assert await first(gw) == ("vitalgate/v1/hut7/gw-a/alert/r-1/ack", b"ack by dr-li")


def test_bad_access_file_is_a_clear_error(tmp_path: Path) -> None:
    f = tmp_path / "a.toml"
    f.write_text('[[clinicians]]\nuser = "x"\nrole = "janitor"\nsites = ["hut7"]\n')
    r = CliRunner().invoke(app, ["acl", str(f)])
    assert r.exit_code == 2
    assert "clinicians.0.role" in r.stderr
