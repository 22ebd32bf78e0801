"""Connecting to the MQTT broker: client construction from settings, protocol fallback, backoff.

``mqtt.protocol = "auto"`` tries MQTT 5 first and falls back to 3.1.1 (the embedded amqtt broker
speaks only 3.1.1); the version that worked is remembered for the next reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
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
from vitalgate.service import honour_swallowed_cancel as honour_swallowed_cancel  # re-exported

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


class _PahoLog(logging.Logger):
    """paho's log for one client. Remembers the client's last error (e.g. the TLS alert a broker
    sends when it refuses a certificate, which aiomqtt reports only as an empty error) and
    demotes it to DEBUG: :func:`explain` turns it into one clear line instead."""

    def __init__(self) -> None:
        super().__init__("vitalgate.cloud_bridge.paho")
        self.parent = logging.getLogger("vitalgate.cloud_bridge.paho")
        self.last_error: str | None = None
        self.on_error: Callable[[], None] | None = None

    def handle(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR:
            message = record.getMessage()  # keep all: the first is often the informative one
            self.last_error = f"{self.last_error}; {message}" if self.last_error else message
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            if self.on_error is not None:
                self.on_error()
        super().handle(record)


_TLS_HINTS = (
    ("certificate expired", "the broker refused this gateway's client certificate: it has expired; "
     "install a renewed certificate at mqtt.tls.cert_file"),
    ("certificate revoked", "the broker refused this gateway's client certificate: it is revoked; "
     "ask the site administrator for a new one"),
    ("unknown ca", "the broker does not trust the CA that signed this gateway's client certificate; "
     "use a certificate issued by the site's CA (mqtt.tls.cert_file)"),
    ("certificate required", "the broker requires a client certificate; set mqtt.tls.cert_file and "
     "mqtt.tls.key_file"),
    ("bad certificate", "the broker refused this gateway's client certificate; check mqtt.tls.cert_file"),
    ("eof occurred in violation of protocol", "the broker closed the connection during the TLS "
     "handshake: it probably refused this gateway's client certificate (expired, revoked or not "
     "from the site's CA); check mqtt.tls.cert_file"),
    ("certificate_verify_failed", "cannot verify the broker's certificate; check mqtt.tls.ca_file "
     "(the CA that signed the broker's certificate) and the host name in mqtt.url"),
)


def _expire(deadline: asyncio.Timeout) -> None:
    deadline.reschedule(asyncio.get_running_loop().time())


def explain(err: BaseException, settings: MqttSettings, paho_error: str | None = None) -> str:
    """One line a person can act on for a failed connection. Never contains the password."""
    detail = str(err) or paho_error or type(err).__name__
    text = f"{detail} {paho_error or ''}".lower()
    for needle, hint in _TLS_HINTS:
        if needle in text:
            return f"{hint} ({detail if str(err) else paho_error})"
    if isinstance(err, aiomqtt.MqttCodeError) and err.rc in (4, 5, 134, 135):
        who = f"user {settings.username!r}" if settings.username else "anonymous clients"
        return (f"the broker refused {who} ({detail}); check mqtt.username and the password "
                "file or credential 'mqtt-password'")
    return detail


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
    logger: logging.Logger | None = None,
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
        logger=logger or _PahoLog(),
        **kwargs,  # type: ignore[arg-type]
    )
    client.pending_calls_threshold = 10 * max_inflight  # aiomqtt warns above this
    return client


def raise_if_cancelling(err: BaseException) -> None:
    """Re-raise a cancellation that aiomqtt reported as an ``MqttError`` (it can, when the task
    is cancelled in the middle of an operation), so a reconnect loop never swallows a shutdown."""
    honour_swallowed_cancel(err)


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
        paho_log = _PahoLog()
        client = make_client(settings, proto, client_id=client_id, will=will, clean=clean, logger=paho_log)
        if before_connect is not None:
            before_connect(client)
        try:
            async with asyncio.timeout(settings.connect_timeout_s) as deadline:
                # A socket error while connecting (e.g. the broker's TLS alert) ends the attempt
                # at once instead of waiting for a CONNACK that cannot come.
                paho_log.on_error = functools.partial(_expire, deadline)
                await stack.enter_async_context(client)
        except (aiomqtt.MqttError, TimeoutError, OSError) as err:
            last = aiomqtt.MqttError(explain(err, settings, paho_log.last_error))
            log.debug("MQTT %s connect to %s failed: %s", proto.name, settings.url, last)
            refused = isinstance(err, aiomqtt.MqttCodeError) and err.rc in (4, 5, 134, 135)
            tls = "ssl" in f"{err} {paho_log.last_error}".lower()
            if refused or tls:
                break  # credentials or certificates: another protocol version will not help
            continue
        finally:
            paho_log.on_error = None
        return client, proto
    assert last is not None
    raise last
