"""The ingest worker: MQTT observations and alerts -> validated -> batched -> a sink.

Workers subscribe with a shared subscription (``$share/{group}/...``) on MQTT 5 brokers, so
several split the load; on a 3.1.1 broker (the embedded amqtt) they use a plain subscription.
Every message is validated with :func:`~vitalgate.cloud_bridge.wire.parse_payload` and checked
against its topic (site, gateway, resident, kind): a reading is never stored under another
resident than the one its topic names. Invalid messages go to
:data:`~vitalgate.cloud_bridge.topics.INGEST_DEADLETTER` with the reason and are counted.

A message is acknowledged (PUBACK) only after the sink has written its batch: paho's manual
acknowledgement (``manual_ack_set(True)`` + ``ack(mid, qos)``; aiomqtt 2.5 does not expose it, so
the paho client underneath is used). Until then the broker keeps the message in the worker's
persistent session and re-delivers it after a crash; the sinks are idempotent on reading_id.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import aiomqtt
from pydantic import ValidationError

from vitalgate.cloud_bridge import topics
from vitalgate.cloud_bridge.connection import (
    V5,
    Backoff,
    StateLog,
    connect,
    honour_swallowed_cancel,
    raise_if_cancelling,
)
from vitalgate.cloud_bridge.sinks import Sink, SinkError
from vitalgate.cloud_bridge.wire import (
    MAX_PAYLOAD_BYTES,
    Alert,
    Observation,
    Payload,
    parse_payload,
)
from vitalgate.config import IngestSettings, MqttSettings
from vitalgate.errors import MalformedPayload

log = logging.getLogger(__name__)

Stored = Callable[[list[Observation], list[Alert]], None]


@dataclass(frozen=True, slots=True)
class Rejected:
    """Why a message was dead-lettered: ``category`` (counted) and a readable ``reason``."""

    category: str
    reason: str


def check(topic: str, payload: bytes) -> Observation | Alert | Rejected:
    """Validate one message and its topic; a :class:`Rejected` says why it is not stored."""
    try:
        parts = topics.parse(topic)
    except ValueError as err:
        return Rejected("topic", str(err))
    channel = parts["channel"]
    p: Payload
    try:
        p = _fast_parse(channel, payload) or parse_payload(payload, source=topic)
    except MalformedPayload as err:
        return Rejected("payload", str(err))
    if isinstance(p, Observation) and channel == "obs":
        want = {"site": p.site, "gateway": p.gateway, "resident": p.resident, "kind": p.kind.value}
    elif isinstance(p, Alert) and channel == "alert":
        want = {"site": p.site, "gateway": p.gateway, "resident": p.resident}
    else:
        return Rejected("type", f"a {p.type} payload is not accepted on {channel} topic {topic}")
    wrong = [f"{k} {v!r} (topic says {parts.get(k)!r})" for k, v in want.items() if parts.get(k) != v]
    if wrong:
        return Rejected("mismatch", f"payload does not match its topic {topic}: " + ", ".join(wrong))
    return p


def _fast_parse(channel: str, payload: bytes) -> Observation | Alert | None:
    """Validate the expected model straight from JSON (pydantic's parser); ``None`` on any
    problem, so :func:`parse_payload` runs and explains it."""
    if channel not in ("obs", "alert") or len(payload) > MAX_PAYLOAD_BYTES:
        return None
    try:
        if channel == "obs":
            return Observation.model_validate_json(payload)
        return Alert.model_validate_json(payload)
    except ValidationError:
        return None


class IngestWorker:
    """Consumes observations and alerts into ``sink`` until cancelled. Run :meth:`run`.

    Parameters
    ----------
    mqtt, ingest:
        The ``[mqtt]`` and ``[ingest]`` sections.
    sink:
        Where batches go.
    batch_size, flush_interval_s, idle_flush_s:
        A batch is written when it has ``batch_size`` messages, when its oldest waited
        ``flush_interval_s``, or when no message came for ``idle_flush_s`` (the broker stops
        sending when its in-flight window of unacknowledged messages is full, so a batch can
        never be larger than the broker's ``max_inflight_messages``).
    on_stored:
        Called with what was written, after each successful write (the demo prints it).
    """

    def __init__(
        self,
        mqtt: MqttSettings,
        ingest: IngestSettings,
        sink: Sink,
        *,
        batch_size: int = 5000,
        flush_interval_s: float = 0.5,
        idle_flush_s: float = 0.02,
        on_stored: Stored | None = None,
    ) -> None:
        self.mqtt, self.ingest, self.sink = mqtt, ingest, sink
        self.batch_size, self.flush_interval_s = batch_size, flush_interval_s
        self.idle_flush_s = idle_flush_s
        self.on_stored = on_stored
        self.subscribed = asyncio.Event()
        self.deadlettered: Counter[str] = Counter()
        self.stored_observations = 0
        self.stored_alerts = 0
        self._state = StateLog(f"ingest worker ({ingest.group}) <- {mqtt.url}")
        self._protocol: aiomqtt.ProtocolVersion | None = None

    @property
    def client_id(self) -> str:
        return self.ingest.client_id or f"vitalgate-ingest-{self.ingest.group}-{socket.gethostname()}"

    async def run(self) -> None:
        """Connect, subscribe, consume; reconnect on failure; returns only when cancelled."""
        backoff = Backoff(self.mqtt.reconnect_min_s, self.mqtt.reconnect_max_s)
        while True:
            honour_swallowed_cancel()
            try:
                async with contextlib.AsyncExitStack() as stack:
                    client, self._protocol = await connect(
                        stack, self.mqtt, client_id=self.client_id, clean=False,
                        preferred=self._protocol,
                        before_connect=lambda c: c._client.manual_ack_set(True),  # paho manual ack
                    )
                    self._state.set("connected", f"MQTT {self._protocol.name}")
                    backoff.reset()
                    for f in (topics.OBS_FILTER, topics.ALERT_FILTER):
                        shared = self.ingest.shared and self._protocol == V5
                        filt = topics.shared(f, self.ingest.group) if shared else f
                        await client.subscribe(filt, qos=1)
                    honour_swallowed_cancel()  # aiomqtt's wait_for may have eaten a stop
                    self.subscribed.set()
                    await self._consume(client)
            except aiomqtt.MqttError as err:
                raise_if_cancelling(err)
                self._state.set("disconnected", str(err) or type(err).__name__)
            finally:
                self.subscribed.clear()
            await asyncio.sleep(backoff.next_delay())

    async def _consume(self, client: aiomqtt.Client) -> None:
        # The next-message task survives flush timeouts: cancelling aiomqtt's iterator can lose
        # a message it has already taken from its queue.
        messages = client.messages
        pending: list[tuple[aiomqtt.Message, Observation | Alert]] = []
        first_at = 0.0
        nxt: asyncio.Task[aiomqtt.Message] | None = None
        try:
            while True:
                if nxt is None:
                    nxt = asyncio.ensure_future(anext(messages))
                timeout = None
                if pending:  # flush when the batch is old, or the broker paused (its window)
                    age_left = first_at + self.flush_interval_s - time.monotonic()
                    timeout = max(0.0, min(age_left, self.idle_flush_s))
                done, _ = await asyncio.wait({nxt}, timeout=timeout)
                if not done:
                    await self._flush(client, pending)
                    pending = []
                    continue
                batch = [nxt.result()]
                nxt = None
                queue = client._queue  # take what is already waiting without a task per message
                while len(batch) < self.batch_size - len(pending) and not queue.empty():
                    batch.append(queue.get_nowait())
                for msg in batch:
                    result = check(str(msg.topic), _as_bytes(msg.payload))
                    if isinstance(result, Rejected):
                        await self._deadletter(client, msg, result)
                        continue
                    if not pending:
                        first_at = time.monotonic()
                    pending.append((msg, result))
                if len(pending) >= self.batch_size:
                    await self._flush(client, pending)
                    pending = []
        finally:
            if nxt is not None:
                nxt.cancel()  # an unacknowledged message is re-delivered by the broker

    async def _flush(
        self, client: aiomqtt.Client, pending: list[tuple[aiomqtt.Message, Observation | Alert]]
    ) -> None:
        obs = [p for _, p in pending if isinstance(p, Observation)]
        alerts = [p for _, p in pending if isinstance(p, Alert)]
        backoff = Backoff(0.2, 10.0)
        while True:
            try:
                await self.sink.write(obs, alerts)
                break
            except SinkError as err:
                delay = backoff.next_delay()
                log.error("store write failed, retrying in %.1f s: %s", delay, err)
                await asyncio.sleep(delay)
        for msg, _ in pending:
            _ack(client, msg)
        self.stored_observations += len(obs)
        self.stored_alerts += len(alerts)
        if self.on_stored is not None:
            self.on_stored(obs, alerts)

    async def _deadletter(self, client: aiomqtt.Client, msg: aiomqtt.Message, why: Rejected) -> None:
        self.deadlettered[why.category] += 1
        raw = _as_bytes(msg.payload)
        total = sum(self.deadlettered.values())
        log.warning("dead-lettered message %d (%s) from %s: %s", total, why.category, msg.topic, why.reason)
        body = json.dumps(
            {
                "topic": str(msg.topic),
                "category": why.category,
                "reason": why.reason,
                "size": len(raw),
                "payload_head": raw[:512].decode("utf-8", "replace"),
                "count": total,
            }
        )
        await client.publish(topics.INGEST_DEADLETTER, body, qos=1)
        _ack(client, msg)


def _as_bytes(payload: object) -> bytes:
    if isinstance(payload, bytes | bytearray):
        return bytes(payload)
    return b"" if payload is None else str(payload).encode()


def _ack(client: aiomqtt.Client, msg: aiomqtt.Message) -> None:
    if msg.qos > 0:
        client._client.ack(msg.mid, msg.qos)  # paho manual ack, see module docstring
