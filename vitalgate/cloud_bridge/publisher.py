"""The publisher: drains the durable outbox to the broker at QoS 1.

An entry is deleted from the outbox only after its PUBACK: :meth:`aiomqtt.Client.publish` at
QoS 1 waits for paho's ``on_publish`` callback, which paho calls on PUBACK for QoS 1 messages.
On connect it publishes the retained ``status`` (online) and registers the same topic as its last
will with ``online = false``. A lost connection is retried with capped, jittered exponential
backoff; each attempt has a timeout; the state is logged once per change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import aiomqtt

from vitalgate import __version__
from vitalgate.cloud_bridge.connection import (
    Backoff,
    StateLog,
    connect,
    honour_swallowed_cancel,
    raise_if_cancelling,
)
from vitalgate.cloud_bridge.topics import Topics
from vitalgate.cloud_bridge.wire import Status, dump_payload
from vitalgate.config import MqttSettings

log = logging.getLogger(__name__)


class Source(Protocol):
    """What the publisher drains (implemented by :class:`vitalgate.gateway.outbox.Outbox`)."""

    changed: asyncio.Event

    def __len__(self) -> int: ...

    def peek(self, limit: int = 200) -> Sequence[_Entry]: ...

    def delete(self, ids: list[int]) -> None: ...


class _Entry(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def topic(self) -> str: ...
    @property
    def payload(self) -> bytes: ...
    @property
    def qos(self) -> int: ...
    @property
    def retain(self) -> bool: ...


class Publisher:
    """Relays an outbox to MQTT until cancelled. Run :meth:`run` in a task.

    Parameters
    ----------
    settings:
        The ``[mqtt]`` section.
    outbox:
        The durable outbox to drain.
    topics:
        This gateway's topics (for the status and last will).
    batch:
        How many messages are in flight at once.
    """

    def __init__(
        self, settings: MqttSettings, outbox: Source, topics: Topics, *, batch: int = 200
    ) -> None:
        self.settings = settings
        self.outbox = outbox
        self.topics = topics
        self.batch = batch
        self.connected = asyncio.Event()
        self.published = 0
        self.client: aiomqtt.Client | None = None
        self._state = StateLog(f"publisher {topics.base} -> {settings.url}")
        self._protocol: aiomqtt.ProtocolVersion | None = None
        self._since = datetime.now(UTC)

    def _status(self, online: bool) -> bytes:
        return dump_payload(
            Status(
                site=self.topics.site,
                gateway=self.topics.gateway,
                online=online,
                version=__version__,
                since=self._since,
                outbox_pending=len(self.outbox) if online else None,
            )
        )

    async def run(self) -> None:
        """Connect, drain, reconnect on failure; returns only when cancelled."""
        backoff = Backoff(self.settings.reconnect_min_s, self.settings.reconnect_max_s)
        client_id = self.settings.client_id or f"vitalgate-{self.topics.site}-{self.topics.gateway}"
        will = aiomqtt.Will(self.topics.status, self._status(False), qos=1, retain=True)
        while True:
            honour_swallowed_cancel()
            try:
                async with contextlib.AsyncExitStack() as stack:
                    client, self._protocol = await connect(
                        stack, self.settings, client_id=client_id, will=will,
                        preferred=self._protocol,
                    )
                    self.client = client
                    self._state.set("connected", f"MQTT {self._protocol.name}")
                    backoff.reset()
                    try:
                        await client.publish(self.topics.status, self._status(True), qos=1, retain=True)
                        self.connected.set()
                        await self._drain(client)
                    except asyncio.CancelledError:  # clean shutdown: a normal DISCONNECT
                        await self._say_offline(client)  # discards the will, so say it
                        raise
            except aiomqtt.MqttError as err:
                raise_if_cancelling(err)
                self._state.set("disconnected", str(err) or type(err).__name__)
            finally:
                self.connected.clear()
                self.client = None
            await asyncio.sleep(backoff.next_delay())

    async def _say_offline(self, client: aiomqtt.Client) -> None:
        try:
            async with asyncio.timeout(2.0):
                await client.publish(self.topics.status, self._status(False), qos=1, retain=True)
        except (aiomqtt.MqttError, TimeoutError) as err:
            log.warning("could not publish offline status on shutdown: %s", err)

    async def _drain(self, client: aiomqtt.Client) -> None:
        acks = _AckTracker(client)
        unrouted = Backoff(0.2, 5.0)
        while True:
            honour_swallowed_cancel()
            self.outbox.changed.clear()
            entries = self.outbox.peek(self.batch)
            if not entries:
                await _wait_change_or_loss(self.outbox.changed, client)
                continue
            results = await asyncio.gather(
                *(acks.publish(e, self.settings.connect_timeout_s) for e in entries),
                return_exceptions=True,
            )
            done = [e.id for e, r in zip(entries, results, strict=True) if r is True]
            self.outbox.delete(done)
            self.published += len(done)
            failed = [r for r in results if isinstance(r, BaseException)]
            if any(not isinstance(r, Exception) for r in failed):
                raise next(r for r in failed if not isinstance(r, Exception))
            if failed:
                raise aiomqtt.MqttError(f"{len(failed)} publish(es) failed: {failed[0]!r}")
            if len(done) < len(entries):  # acknowledged, but nobody subscribed: keep and retry
                self._state.set("waiting", "no subscriber for readings; kept in the outbox")
                await asyncio.sleep(unrouted.next_delay())
            else:
                unrouted.reset()
                self._state.set("connected")

    async def publish_now(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """Publish outside the outbox (status updates); raises if not connected."""
        if self.client is None:
            raise aiomqtt.MqttError("not connected")
        await self.client.publish(topic, payload, qos=1, retain=retain)


async def _wait_change_or_loss(changed: asyncio.Event, client: aiomqtt.Client) -> None:
    """Wait for new outbox entries; raise :class:`aiomqtt.MqttError` if the connection drops.

    Polls the connection once a second rather than waiting on aiomqtt's internal future
    together with the event: a cancellation (shutdown) then always lands in a plain wait.
    """
    lost: asyncio.Future[None] = client._disconnected  # aiomqtt has no public hook
    while not lost.done():
        # Python 3.11's wait_for can swallow a cancellation that races with its inner wait;
        # the task still counts it as pending: honour it here, at the latest a second later.
        honour_swallowed_cancel()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(changed.wait(), 1.0)
            return
    raise aiomqtt.MqttError("connection lost")


#: PUBACK reason code 0x10 (MQTT 5): the broker accepted the message but no one subscribed.
NO_MATCHING_SUBSCRIBERS = 16
#: Channels whose messages must reach the ingest worker (a PUBACK with 0x10 is not delivery).
_MUST_ROUTE = frozenset({"obs", "alert"})


class _AckTracker:
    """QoS 1 publishing that sees the PUBACK's reason code (aiomqtt discards it).

    Wraps the paho client's ``on_publish`` callback; paho calls it from the event loop when the
    PUBACK arrives, so registering the waiter right after ``publish`` returns is race-free.
    """

    def __init__(self, client: aiomqtt.Client) -> None:
        self._paho = client._client
        self._waiters: dict[int, asyncio.Future[int]] = {}
        inner = self._paho.on_publish

        def on_publish(c: Any, userdata: Any, mid: int, rc: Any, props: Any) -> None:
            fut = self._waiters.pop(mid, None)
            if fut is not None and not fut.done():
                fut.set_result(int(getattr(rc, "value", rc) or 0))
            if inner is not None:
                inner(c, userdata, mid, rc, props)  # type: ignore[call-arg]  # paho v2 callback

        self._paho.on_publish = on_publish

    async def publish(self, e: _Entry, timeout_s: float) -> bool:
        """``True`` once acknowledged and routed; ``False`` if acknowledged with 0x10."""
        info = self._paho.publish(e.topic, e.payload, e.qos, e.retain)
        if info.rc != 0:
            raise aiomqtt.MqttError(f"could not publish to {e.topic} (paho rc {info.rc})")
        if e.qos == 0:
            return True
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiters[info.mid] = fut
        try:
            async with asyncio.timeout(timeout_s):
                reason = await fut
        except TimeoutError as err:
            raise aiomqtt.MqttError(f"no PUBACK for {e.topic} within {timeout_s} s") from err
        finally:
            self._waiters.pop(info.mid, None)
        channel = e.topic.split("/")[4] if e.topic.count("/") >= 4 else ""
        return not (reason == NO_MATCHING_SUBSCRIBERS and channel in _MUST_ROUTE)
