"""Connecting to the MQTT broker: client construction from settings, protocol fallback, backoff.

``mqtt.protocol = "auto"`` tries MQTT 5 first and falls back to 3.1.1 (the embedded amqtt broker
speaks only 3.1.1); the version that worked is remembered for the next reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from vitalgate.config import MqttSettings
from vitalgate.errors import ConfigError

log = logging.getLogger(__name__)

V5 = aiomqtt.ProtocolVersion.V5
V311 = aiomqtt.ProtocolVersion.V311


def broker_address(url: str) -> tuple[str, int, bool]:
    """``(host, port, tls)`` of an ``mqtt://`` or ``mqtts://`` URL."""
    parts = urlsplit(url)
    if parts.scheme not in {"mqtt", "mqtts"} or not parts.hostname:
        raise ConfigError(
            f"mqtt.url {url!r} is not mqtt://HOST[:PORT] or mqtts://HOST[:PORT]",
            [("mqtt.url", "use mqtt://HOST:PORT or mqtts://HOST:PORT")],
        )
    tls = parts.scheme == "mqtts"
    return parts.hostname, parts.port or (8883 if tls else 1883), tls


def tls_context(settings: MqttSettings) -> ssl.SSLContext:
    """A client TLS context from ``mqtt.tls`` (CA file, client certificate and key)."""
    t = settings.tls
    try:
        ctx = ssl.create_default_context(cafile=str(t.ca_file) if t.ca_file else None)
        if t.cert_file is not None:
            ctx.load_cert_chain(str(t.cert_file), str(t.key_file) if t.key_file else None)
    except (OSError, ssl.SSLError) as err:
        raise ConfigError(
            f"mqtt.tls: cannot load CA/certificate/key ({err}); check the file paths",
            [("mqtt.tls", str(err))],
        ) from err
    if t.insecure_skip_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def protocols(settings: MqttSettings) -> list[aiomqtt.ProtocolVersion]:
    """The protocol versions to try, in order."""
    return {"5": [V5], "3.1.1": [V311]}.get(settings.protocol, [V5, V311])


def make_client(
    settings: MqttSettings,
    protocol: aiomqtt.ProtocolVersion,
    *,
    client_id: str | None,
    will: aiomqtt.Will | None = None,
    clean: bool = True,
    max_inflight: int = 100,
) -> aiomqtt.Client:
    """An :class:`aiomqtt.Client` for ``settings`` (not connected yet)."""
    host, port, tls = broker_address(settings.url)
    kwargs: dict[str, object] = {}
    if protocol == V5:
        kwargs["clean_start"] = clean
        if not clean:  # keep the session (unacknowledged messages) for an hour
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = 3600
            kwargs["properties"] = props
    else:
        kwargs["clean_session"] = clean
    client = aiomqtt.Client(
        host,
        port,
        username=settings.username,
        password=settings.secret(),
        identifier=client_id,
        protocol=protocol,
        will=will,
        timeout=settings.connect_timeout_s,
        keepalive=settings.keepalive_s,
        tls_context=tls_context(settings) if tls else None,
        max_inflight_messages=max_inflight,
        **kwargs,  # type: ignore[arg-type]
    )
    client.pending_calls_threshold = 10 * max_inflight  # aiomqtt warns above this
    return client


@dataclass
class Backoff:
    """Capped exponential backoff with full jitter."""

    min_s: float
    max_s: float
    attempt: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def next_delay(self) -> float:
        cap = min(self.max_s, self.min_s * (2 ** min(self.attempt, 30)))
        self.attempt += 1
        return self.rng.uniform(self.min_s, cap)

    def reset(self) -> None:
        self.attempt = 0


class StateLog:
    """Logs a connection's state only when it changes (not once per retry)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.state: str | None = None

    def set(self, state: str, detail: str = "") -> None:
        if state != self.state:
            self.state = state
            level = logging.WARNING if state == "disconnected" else logging.INFO
            log.log(level, "%s: %s%s", self.name, state, f" ({detail})" if detail else "")


async def connect(
    stack: contextlib.AsyncExitStack,
    settings: MqttSettings,
    *,
    client_id: str | None,
    will: aiomqtt.Will | None = None,
    clean: bool = True,
    preferred: aiomqtt.ProtocolVersion | None = None,
    before_connect: Callable[[aiomqtt.Client], None] | None = None,
) -> tuple[aiomqtt.Client, aiomqtt.ProtocolVersion]:
    """Connect (inside ``stack``) trying each allowed protocol; the one that worked is returned.

    Each attempt is bounded by ``mqtt.connect_timeout_s``. Raises the last
    :class:`aiomqtt.MqttError` when every protocol failed.
    """
    order = protocols(settings)
    if preferred in order:
        order = [preferred] + [p for p in order if p != preferred]
    last: Exception | None = None
    for proto in order:
        client = make_client(settings, proto, client_id=client_id, will=will, clean=clean)
        if before_connect is not None:
            before_connect(client)
        try:
            async with asyncio.timeout(settings.connect_timeout_s):
                await stack.enter_async_context(client)
        except (aiomqtt.MqttError, TimeoutError, OSError) as err:
            last = err
            log.debug("MQTT %s connect to %s failed: %r", proto.name, settings.url, err)
            continue
        return client, proto
    assert last is not None
    raise last if isinstance(last, aiomqtt.MqttError) else aiomqtt.MqttError(str(last))
