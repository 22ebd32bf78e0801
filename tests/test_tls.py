"""MQTT over TLS with per-gateway client certificates, against a real mosquitto.

The broker requires a certificate and takes the gateway's identity from it
(``use_identity_as_username``); refused certificates produce one clear log line.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiomqtt
import pytest
from certs import Authority
from servers import Mosquitto, _which

from vitalgate.cloud_bridge.connection import connect
from vitalgate.config import MqttSettings


@dataclass
class Site:
    ca: Authority
    rogue: Authority
    broker: Mosquitto
    certs: dict[str, tuple[Path, Path]]


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    ca, rogue = Authority.create(tmp_path / "pki", "site"), Authority.create(tmp_path / "pki", "rogue")
    server_cert, server_key, _ = ca.issue("broker", server=True)
    certs: dict[str, tuple[Path, Path]] = {}
    for cn in ("gw-a", "ingest-1"):
        certs[cn] = ca.issue(cn)[:2]
    certs["expired"] = ca.issue("gw-old", expired=True)[:2]
    stolen = ca.issue("gw-stolen")
    certs["revoked"] = stolen[:2]
    certs["foreign"] = rogue.issue("gw-x")[:2]
    crl = ca.crl([stolen[2]])
    acl = tmp_path / "acl"
    # Each gateway writes only below its own name; the ingest worker reads everything.
    acl.write_text("pattern readwrite vitalgate/v1/+/%u/#\n\nuser ingest-1\ntopic read vitalgate/v1/#\n")
    broker = Mosquitto(
        tmp_path / "mosquitto",
        allow_anonymous=False,
        listener_conf=(
            f"cafile {ca.ca_file}\ncertfile {server_cert}\nkeyfile {server_key}\n"
            f"require_certificate true\nuse_identity_as_username true\ncrlfile {crl}\n"
        ),
        extra_conf=f"acl_file {acl}\n",
    ).start()
    yield Site(ca, rogue, broker, certs)
    broker.stop()


def settings(site: Site, who: str, *, ca_file: Path | None = None) -> MqttSettings:
    cert, key = site.certs[who]
    return MqttSettings(
        url=f"mqtts://127.0.0.1:{site.broker.port}",
        tls={"ca_file": ca_file or site.ca.ca_file, "cert_file": cert, "key_file": key},
        connect_timeout_s=5,
    )


async def test_gateway_certificate_is_its_identity(site: Site) -> None:
    own, other = "vitalgate/v1/s1/gw-a/obs/r1/spo2", "vitalgate/v1/s1/gw-b/obs/r1/spo2"
    async with contextlib.AsyncExitStack() as stack:
        ingest, _ = await connect(stack, settings(site, "ingest-1"), client_id="ingest-1")
        await ingest.subscribe("vitalgate/v1/#", qos=1)
        gw, _ = await connect(stack, settings(site, "gw-a"), client_id="gw-a")
        await gw.publish(other, b"posing as gw-b", qos=1)  # denied by the ACL for identity gw-a
        await gw.publish(own, b"mine", qos=1)
        async for msg in ingest.messages:  # in order: if gw-b's had passed, it would come first
            assert (str(msg.topic), msg.payload) == (own, b"mine")
            break


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("expired", "client certificate: it has expired"),
        ("revoked", "client certificate: it is revoked"),
        ("foreign", "does not trust the CA that signed this gateway's client certificate"),
    ],
)
async def test_refused_certificates_are_explained(
    site: Site, who: str, expected: str, caplog: pytest.LogCaptureFixture
) -> None:
    # With TLS 1.3 the broker's alert sometimes loses the race with its closing the socket: then
    # the explanation is the generic one.
    generic = "it probably refused this gateway's client certificate"
    with pytest.raises(aiomqtt.MqttError, match=f"{expected}|{generic}"):
        async with contextlib.AsyncExitStack() as stack:
            await connect(stack, settings(site, who), client_id=who)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []  # paho's raw socket error is demoted; the explained error is raised


async def test_broker_not_signed_by_our_ca_is_refused(site: Site) -> None:
    with pytest.raises(aiomqtt.MqttError, match=r"cannot verify the broker's certificate; check mqtt\.tls\.ca_file"):
        async with contextlib.AsyncExitStack() as stack:
            await connect(stack, settings(site, "gw-a", ca_file=site.rogue.ca_file), client_id="gw-a")


def test_publisher_logs_one_clear_line_when_refused(site: Site, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The gateway's own log, as an operator reads it, while it keeps retrying."""
    import asyncio

    from vitalgate.cloud_bridge.publisher import Publisher
    from vitalgate.cloud_bridge.topics import Topics
    from vitalgate.gateway.outbox import Outbox

    async def run() -> None:
        outbox = Outbox(tmp_path / "outbox.sqlite")
        outbox.open()
        s = settings(site, "expired").model_copy(update={"reconnect_min_s": 0.05, "reconnect_max_s": 0.1})
        pub = Publisher(s, outbox, Topics("s1", "gw-old"))
        task = asyncio.create_task(pub.run())
        try:
            for _ in range(200):
                if any("certificate" in r.getMessage() for r in caplog.records):
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)  # several more retries happen meanwhile
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            outbox.close()

    with caplog.at_level(logging.INFO):
        asyncio.run(run())
    lines = [r.getMessage() for r in caplog.records if "certificate" in r.getMessage()]
    assert len(lines) == 1, lines  # logged once, not once per retry
    assert "publisher vitalgate/v1/s1/gw-old" in lines[0]
    assert "this gateway's client certificate" in lines[0]
    assert "mqtt.tls.cert_file" in lines[0]


def password_file(path: Path, user: str, password: str) -> Path:
    exe = _which("mosquitto_passwd", "/usr/bin/mosquitto_passwd")
    subprocess.run([exe, "-b", "-c", str(path), user, password], check=True)
    return path


async def test_refused_password_is_explained_and_never_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pw_file = password_file(tmp_path / "passwd", "gw-a", "correct horse")
    broker = Mosquitto(tmp_path / "mq", allow_anonymous=False, extra_conf=f"password_file {pw_file}\n").start()
    secret = tmp_path / "mqtt-password"
    secret.write_text("Tr0ub4dor&3\n")
    try:
        s = MqttSettings(url=broker.url, username="gw-a", password_file=secret, connect_timeout_s=5)
        with caplog.at_level(logging.DEBUG), pytest.raises(aiomqtt.MqttError, match="refused user 'gw-a'"):
            async with contextlib.AsyncExitStack() as stack:
                await connect(stack, s, client_id="gw-a")
        secret.write_text("correct horse\n")
        async with contextlib.AsyncExitStack() as stack:
            await connect(stack, s, client_id="gw-a")
    finally:
        broker.stop()
    assert caplog.records
    assert not any("Tr0ub4dor" in r.getMessage() or "correct horse" in r.getMessage() for r in caplog.records)
