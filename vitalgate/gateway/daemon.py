"""The gateway daemon: device sources -> attribution -> screening -> durable outbox -> MQTT.

:class:`Gateway` is an async context manager owning one :class:`asyncio.TaskGroup` with named
tasks: one per device source, the publisher, the acknowledgement listener and the screeners'
clock. Leaving the context (or cancelling :meth:`Gateway.run`, e.g. on SIGTERM) cancels them all.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Protocol, Self

import aiomqtt

from vitalgate.cloud_bridge.connection import (
    V5,
    Backoff,
    StateLog,
    connect,
    honour_swallowed_cancel,
    raise_if_cancelling,
)
from vitalgate.cloud_bridge.publisher import Publisher
from vitalgate.cloud_bridge.topics import Topics
from vitalgate.cloud_bridge.wire import (
    Ack,
    Alert,
    AlertState,
    Observation,
    Severity,
    dump_payload,
    parse_payload,
)
from vitalgate.config import Settings
from vitalgate.errors import MalformedPayload, OutboxFull
from vitalgate.gateway.clock import CLOCK_CORRECTED, GATEWAY_TIME, GatewayClock
from vitalgate.gateway.outbox import Outbox
from vitalgate.gateway.ports import Attributed, Attributor, DeviceSource, Held, Screener
from vitalgate.readings import BeatIntervals, DeviceOutput, EcgSamples, Reading

log = logging.getLogger(__name__)

#: A subscriber's per-message callback: (client, protocol version, message).
MessageHandler = Callable[[aiomqtt.Client, object, aiomqtt.Message], Awaitable[None]]

#: Why a reading waits: it arrived before the gateway clock could be trusted.
UNTIMED = "waiting for the gateway clock to be set (no RTC, no NTP yet)"


class StreamScreener(Protocol):
    """Screens ECG samples / RR intervals (the ECG monitor); returns alert updates."""

    def feed(self, output: EcgSamples | BeatIntervals) -> list[Alert]: ...


@dataclass
class StaticAttributor:
    """Attribution by a fixed table: ``(address, user slot)`` first, then the address alone.

    A reading from an unknown device, or from a multi-user monitor whose slot is not in the
    table, is :class:`Held` — never given to a guessed resident.
    """

    devices: dict[str, str] = field(default_factory=dict)
    slots: dict[tuple[str, int], str] = field(default_factory=dict)

    @classmethod
    def from_config(cls, residents: dict[str, Any]) -> StaticAttributor:
        """From ``[residents.devices]`` (``"ADDRESS" = "resident"`` or
        ``"ADDRESS#SLOT" = "resident"``); other keys of ``[residents]`` belong to other parts."""
        devices: dict[str, str] = {}
        slots: dict[tuple[str, int], str] = {}
        for key, resident in dict(residents.get("devices", {})).items():
            address, _, slot = str(key).partition("#")
            if slot:
                slots[(address.upper(), int(slot))] = str(resident)
            else:
                devices[address.upper()] = str(resident)
        return cls(devices, slots)

    def attribute(self, reading: Reading) -> Attributed | Held:
        address = reading.device.address.upper()
        if reading.user_slot is not None:
            who = self.slots.get((address, reading.user_slot))
            if who is not None:
                return Attributed(who)
            if any(a == address for a, _ in self.slots):
                return Held(f"user slot {reading.user_slot} of {address} is not assigned")
        who = self.devices.get(address)
        if who is None:
            return Held(f"device {address} is not assigned to a resident")
        return Attributed(who)


def reading_json(r: Reading) -> str:
    """A held reading as JSON (the ``held`` table, ``vitalgate kit pending``): the whole reading,
    so a person's assignment re-creates it exactly (same ``reading_id``)."""
    from vitalgate.gateway.sources import reading_to_dict

    return json.dumps({
        **reading_to_dict(r), "reading_id": r.reading_id, "received_at": r.received_at.isoformat(),
        "stored": r.stored,
    })


def default_attributor(settings: Settings) -> Attributor:
    """Kit mode (``[kit] enabled``) in a health hut, else the static ``[residents]`` table; with
    ``[privacy] require_consent`` only residents who consented are relayed."""
    static = StaticAttributor.from_config(settings.residents)
    chosen: Attributor = static
    if settings.kit.get("enabled"):
        from vitalgate.gateway.kit import KitAttributor, KitStore, kit_settings

        ks = kit_settings(settings)
        assert ks.db is not None
        chosen = KitAttributor(ks, KitStore(ks.db), fallback=static)
    if settings.privacy.get("require_consent"):
        from vitalgate.gateway.privacy import ConsentGate, identity_table

        chosen = ConsentGate(chosen, identity_table(settings))
    return chosen


class Gateway:
    """The daemon. ``async with Gateway(settings, sources) as gw: await gw.wait()``.

    Parameters
    ----------
    settings:
        The whole configuration.
    sources:
        Device sources (the BLE connection manager, a replay, the demo's emulated devices).
    attributor:
        Who a reading belongs to; default :class:`StaticAttributor` from ``[residents]``.
    screeners:
        Vitals screeners (observations, acks, time -> alerts).
    ecg_screeners:
        Stream screeners fed ECG samples and RR intervals.
    """

    def __init__(
        self,
        settings: Settings,
        sources: Sequence[DeviceSource],
        *,
        attributor: Attributor | None = None,
        screeners: Sequence[Screener] = (),
        ecg_screeners: Sequence[StreamScreener] = (),
        tick_s: float = 1.0,
        clock: GatewayClock | None = None,
    ) -> None:
        self.settings = settings
        self.sources = list(sources)
        self.attributor = attributor or default_attributor(settings)
        self.screeners = list(screeners)
        self.ecg_screeners = list(ecg_screeners)
        self.tick_s = tick_s
        self.clock = clock or GatewayClock.from_settings(settings.clock)
        self._untimed: list[tuple[Reading, float]] = []  # (reading, clock offset when received)
        self.topics = Topics(settings.site.id, settings.site.gateway)
        o = settings.outbox
        self.outbox = Outbox(o.path, max_bytes=o.max_bytes, synchronous=o.synchronous)
        self.publisher = Publisher(settings.mqtt, self.outbox, self.topics, batch=o.batch)
        self.queued = 0
        self.held = 0
        self.refused = 0
        self.sources_done = 0
        self._task: asyncio.Task[None] | None = None
        self._source_tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Self:
        self.outbox.open()
        self._task = asyncio.create_task(self.run(), name="gateway")
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.outbox.close()

    async def wait(self) -> None:
        """Wait until the gateway stops (it runs until cancelled)."""
        if self._task is not None:
            await self._task

    async def run(self) -> None:
        """All tasks of the gateway; returns only when cancelled."""
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.publisher.run(), name="publisher")
            tg.create_task(self._ack_listener(), name="ack-listener")
            tg.create_task(self._clock(), name="clock")
            if self.settings.kit.get("enabled") or self.settings.kit.get("command_key_file"):
                tg.create_task(self._command_listener(), name="commands")
            self._source_tasks = [
                tg.create_task(self._run_source(s), name=f"source-{i}-{type(s).__name__}")
                for i, s in enumerate(self.sources)
            ]

    def stop_sources(self) -> None:
        """Stop reading devices; the publisher keeps draining the outbox."""
        for t in self._source_tasks:
            t.cancel()

    async def _run_source(self, source: DeviceSource) -> None:
        # A failing device source must not stop the relay of what is already in the outbox.
        try:
            await source.run(self.emit)
        except Exception:
            log.exception("device source %s failed; the gateway keeps relaying", type(source).__name__)
        else:
            log.info("device source %s finished", type(source).__name__)
        self.sources_done += 1

    # -- the data path ---------------------------------------------------------------------------

    async def emit(self, output: DeviceOutput) -> None:
        """Accept one device output (the :data:`vitalgate.gateway.ports.Emit` callback)."""
        if isinstance(output, Reading):
            self.accept_reading(output)
        else:
            for s in self.ecg_screeners:
                self.queue_alerts(s.feed(output))

    def accept_reading(self, reading: Reading) -> Observation | None:
        """Attribute, queue and screen one reading; the observation, or ``None`` if held.

        While the gateway clock is not trusted the reading waits (also kept in the held table,
        so a restart does not lose it) and is re-timed once the clock is set.
        """
        if not self.clock.trusted():
            if self._hold(reading, UNTIMED):  # a re-sent duplicate waits only once
                self._untimed.append((reading, self.clock.offset()))
            return None
        verdict = self.attributor.attribute(reading)
        if isinstance(verdict, Held):
            self._hold(reading, verdict.reason)
            return None
        obs = Observation.from_reading(
            reading, site=self.topics.site, gateway=self.topics.gateway, resident=verdict.resident
        )
        try:
            self.outbox.put(self.topics.obs(obs.resident, obs.kind.value), dump_payload(obs))
        except OutboxFull as err:
            self._hold(reading, f"outbox full: {err}")
            return None
        self.queued += 1
        for s in self.screeners:
            self.queue_alerts(s.observe(obs))
        return obs

    def _hold(self, reading: Reading, reason: str) -> bool:
        """Hold ``reading`` durably; ``True`` if it was not held before."""
        body = reading_json(reading)
        try:
            newly = self.outbox.hold(reading.reading_id, reason, body)
        except OutboxFull as err:
            # Refused loudly, with the whole reading, so the journal keeps what the disk cannot.
            self.refused += 1
            log.error("refused %s reading %s from %s (%s; %s): %s",
                      reading.kind.value, reading.reading_id, reading.device.address, reason, err, body)
            return False
        if newly:
            self.held += 1
            log.warning(
                "held %s reading %s from %s: %s",
                reading.kind.value, reading.reading_id, reading.device.address, reason,
            )
        return newly

    def queue_alerts(self, alerts: list[Alert]) -> None:
        """Queue alert updates for the clinician, the resident and (critical) the fast channel."""
        for a in alerts:
            body = dump_payload(a)
            self.outbox.put(self.topics.alert(a.resident), body, priority="alert")
            self.outbox.put(self.topics.notify(a.resident), body, priority="alert")
            if a.severity == Severity.CRITICAL:
                # Retained until acknowledged: an acknowledged or resolved alert clears it.
                done = a.state in (AlertState.ACKNOWLEDGED, AlertState.RESOLVED)
                self.outbox.put(self.topics.critical(a.resident), b"" if done else body, retain=True,
                                priority="alert")

    async def _clock(self) -> None:
        while True:
            await asyncio.sleep(self.tick_s)
            if self._untimed and self.clock.trusted():
                self.retime()
            self.outbox.poll_external()  # a person's assignment from the kit commands
            now = datetime.now(UTC)
            for s in self.screeners:
                self.queue_alerts(s.tick(now))

    def retime(self) -> None:
        """The clock is set: move the gateway-made time stamps of waiting readings by the jump."""
        waiting, self._untimed = self._untimed, []
        now_offset = self.clock.offset()
        for reading, offset in waiting:
            jump = timedelta(seconds=now_offset - offset)
            fixed = dataclasses.replace(
                reading,
                received_at=reading.received_at + jump,
                measured_at=reading.measured_at + jump if GATEWAY_TIME in reading.flags else reading.measured_at,
                flags=reading.flags | {CLOCK_CORRECTED},
            )
            log.info("re-timed reading %s by %.3f s now that the clock is set", reading.reading_id,
                     jump.total_seconds())
            self.outbox.release(reading.reading_id)
            self.held -= 1
            self.accept_reading(fixed)

    async def _listen(self, name: str, suffix: str, topic_filter: str, on_message: MessageHandler) -> None:
        """Subscribe to ``topic_filter`` and hand each message to ``on_message``; reconnect with
        capped jittered backoff for as long as the gateway runs."""
        m = self.settings.mqtt
        backoff = Backoff(m.reconnect_min_s, m.reconnect_max_s)
        state = StateLog(f"{name} {self.topics.base}")
        client_id = f"{m.client_id or f'vitalgate-{self.topics.site}-{self.topics.gateway}'}-{suffix}"
        while True:
            honour_swallowed_cancel()
            try:
                async with contextlib.AsyncExitStack() as stack:
                    client, proto = await connect(stack, m, client_id=client_id)
                    await client.subscribe(topic_filter, qos=1)
                    honour_swallowed_cancel()  # aiomqtt's wait_for may have eaten a stop
                    state.set("subscribed")
                    backoff.reset()
                    async for msg in client.messages:
                        await on_message(client, proto, msg)
            except aiomqtt.MqttError as err:
                raise_if_cancelling(err)
                state.set("disconnected", str(err) or type(err).__name__)
            await asyncio.sleep(backoff.next_delay())

    async def _ack_listener(self) -> None:
        """Pass acknowledgements from ``.../alert/+/ack`` to the screeners."""

        async def on_ack(_client: aiomqtt.Client, _proto: object, msg: aiomqtt.Message) -> None:
            self._on_ack(str(msg.topic), msg.payload)

        await self._listen("ack listener", "acks", self.topics.ack("+"), on_ack)

    async def _command_listener(self) -> None:
        """Commands over MQTT (:mod:`vitalgate.gateway.remote`), answered on the response topic."""
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        from vitalgate.gateway import remote

        key = remote.load_command_key(self.settings)

        async def on_command(client: aiomqtt.Client, proto: object, msg: aiomqtt.Message) -> None:
            topic = str(msg.topic)
            raw = msg.payload if isinstance(msg.payload, bytes) else str(msg.payload).encode()
            answer = remote.handle(self, key, "/".join(topic.split("/")[-2:]), raw)
            props = getattr(msg, "properties", None)
            reply_to = getattr(props, "ResponseTopic", None) or f"{topic}/response"
            out_props = None
            if proto == V5 and getattr(props, "CorrelationData", None) is not None:
                out_props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
                out_props.CorrelationData = props.CorrelationData  # type: ignore[union-attr]
            await client.publish(reply_to, json.dumps(answer), qos=1, properties=out_props)

        await self._listen("commands", "cmd", self.topics.cmd("+/+"), on_command)

    def _on_ack(self, topic: str, payload: object) -> None:
        raw = payload if isinstance(payload, bytes) else str(payload).encode()
        try:
            ack = parse_payload(raw, source=topic)
        except MalformedPayload as err:
            log.warning("ignored acknowledgement: %s", err)
            return
        if not isinstance(ack, Ack):
            log.warning("ignored a %s payload on ack topic %s", ack.type, topic)
            return
        for s in self.screeners:
            self.queue_alerts(s.acknowledge(ack))
