"""``vitalgate demo``: the whole data path in one process, no servers to install.

An embedded amqtt broker on a free loopback port (or ``--broker``), the gateway, the ingest
worker into a local SQLite store (or ``--store``: InfluxDB 2 / VictoriaMetrics) and emulated
devices. What is printed is what the ingest side stored, not what was sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vitalgate.cloud_bridge.ingest import IngestWorker
from vitalgate.cloud_bridge.sinks import InfluxSink, Sink, SqliteSink
from vitalgate.cloud_bridge.wire import Alert, Observation
from vitalgate.config import Settings
from vitalgate.gateway.daemon import Gateway, StreamScreener
from vitalgate.gateway.ports import DeviceSource, Screener
from vitalgate.gateway.sources import SyntheticDevice, SyntheticSource
from vitalgate.readings import DeviceIdentity
from vitalgate.vocabulary import Kind

log = logging.getLogger(__name__)

#: The demo's residents: pseudonym -> (device, what it measures). r-002's BP is over target.
_DEVICES = [
    ("r-001", SyntheticDevice(
        DeviceIdentity("D0:00:00:00:01:01", model="BP-Demo", manufacturer="vitalgate", serial="BP01"),
        Kind.BLOOD_PRESSURE,
        lambda g: {"systolic": g.gauss(126, 6), "diastolic": g.gauss(80, 4), "pulse": g.gauss(70, 5)},
    )),
    ("r-002", SyntheticDevice(
        DeviceIdentity("D0:00:00:00:02:01", model="BP-Demo", manufacturer="vitalgate", serial="BP02"),
        Kind.BLOOD_PRESSURE,
        lambda g: {"systolic": g.gauss(162, 5), "diastolic": g.gauss(98, 3), "pulse": g.gauss(84, 5)},
    )),
    ("r-003", SyntheticDevice(
        DeviceIdentity("D0:00:00:00:03:01", model="GL-Demo", manufacturer="vitalgate", serial="GL03"),
        Kind.GLUCOSE, lambda g: {"glucose": g.gauss(6.2, 0.6)}, context="fasting",
    )),
    ("r-004", SyntheticDevice(
        DeviceIdentity("D0:00:00:00:04:01", model="OX-Demo", manufacturer="vitalgate", serial="OX04"),
        Kind.SPO2, lambda g: {"spo2": min(100.0, g.gauss(95, 1.5)), "pulse": g.gauss(76, 4)},
    )),
    ("r-004", SyntheticDevice(
        DeviceIdentity("D0:00:00:00:04:02", model="HR-Demo", manufacturer="vitalgate", serial="HR04"),
        Kind.HEART_RATE, lambda g: {"heart_rate": g.gauss(74, 6)},
    )),
]


def demo_residents() -> dict[str, Any]:
    """The ``[residents]`` table attributing the demo devices (the emulated BLE world's)."""
    from vitalgate.simulator.demo_world import demo_residents as world_residents

    return world_residents()


def build_sources(interval_s: float = 1.0, ecg_record: Path | None = None) -> list[DeviceSource]:
    """The demo's device sources: emulated BLE devices behind the connection manager (bumble)."""
    from vitalgate.simulator.demo_world import demo_sources

    return list(demo_sources(interval_s=interval_s, ecg_record=ecg_record))


def build_synthetic_sources(interval_s: float = 1.0) -> list[DeviceSource]:
    """Synthetic readings without Bluetooth (the demo's sources before the BLE emulation)."""
    return [SyntheticSource([d for _, d in _DEVICES], interval_s=interval_s)]


def build_screeners(settings: Settings) -> tuple[list[Screener], list[StreamScreener]]:
    """The gateway's screeners: the vitals alert engine (care-plan rules from ``[rules]``) and
    the ECG monitor (``[ecg]``), sharing one alert store beside the outbox."""
    from vitalgate.gateway.alerts import AlertEngine
    from vitalgate.gateway.daemon import StaticAttributor
    from vitalgate.gateway.ecg_monitor import EcgMonitor

    engine = AlertEngine.from_settings(settings)
    monitor = EcgMonitor.from_settings(settings, engine, StaticAttributor.from_config(settings.residents))
    return [engine], [monitor]


@dataclass
class DemoOptions:
    """The demo's command-line options."""

    duration_s: float | None = None
    json: bool = False
    broker: str | None = None
    store: str | None = None
    org: str = "vitalgate"
    bucket: str = "vitalgate"
    token: str | None = None
    interval_s: float = 1.0
    ecg_record: Path | None = None  # MITDB record the emulated ECG strap plays
    console_port: int | None = None  # serve the care console on 127.0.0.1:PORT


@dataclass
class DemoSummary:
    observations: int = 0
    alerts: int = 0
    held: int = 0
    deadlettered: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def embedded_broker() -> AsyncIterator[str]:
    """An amqtt broker (MQTT 3.1.1) on a free loopback port; yields its ``mqtt://`` URL."""
    from amqtt.broker import Broker

    for name in ("amqtt", "transitions"):
        logging.getLogger(name).setLevel(logging.ERROR)
    port = free_port()
    broker = Broker(
        {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
    )
    await broker.start()
    try:
        yield f"mqtt://127.0.0.1:{port}"
    finally:
        await broker.shutdown()


def format_observation(o: Observation) -> str:
    values = "  ".join(f"{c.name}={c.value:g} {c.unit}" for c in o.components)
    return f"{o.measured_at:%H:%M:%S}  {o.resident:<6} {o.kind.value:<15} {values}"


def format_alert(a: Alert) -> str:
    return f"ALERT {a.severity.value.upper():<8} {a.resident:<6} {a.rule}: {a.reason} [{a.state.value}]"


def observation_json(o: Observation) -> str:
    return json.dumps({
        "type": "observation", "kind": o.kind.value, "resident": o.resident,
        "reading_id": o.reading_id, "measured_at": o.measured_at.isoformat(),
        "values": {c.name: c.value for c in o.components},
        "units": {c.name: c.unit for c in o.components},
        "device": o.device.model,
    })


def alert_json(a: Alert) -> str:
    return json.dumps({
        "type": "alert", "kind": a.kind.value if a.kind else None, "resident": a.resident,
        "alert_id": a.alert_id, "rule": a.rule, "severity": a.severity.value,
        "state": a.state.value, "reason": a.reason,
    })


async def run_demo(opts: DemoOptions, out: Callable[[str], None]) -> DemoSummary:
    """Run the demo until ``opts.duration_s`` elapses (or forever); returns the summary."""
    summary = DemoSummary()

    def stored(obs: list[Observation], alerts: list[Alert]) -> None:
        for o in obs:
            summary.observations += 1
            summary.by_kind[o.kind.value] = summary.by_kind.get(o.kind.value, 0) + 1
            out(observation_json(o) if opts.json else format_observation(o))
        for a in alerts:
            summary.alerts += 1
            out(alert_json(a) if opts.json else format_alert(a))

    with tempfile.TemporaryDirectory(prefix="vitalgate-demo-") as tmp:
        async with contextlib.AsyncExitStack() as stack:
            url = opts.broker or await stack.enter_async_context(embedded_broker())
            settings = Settings(
                site={"id": "demo", "gateway": "gw1"},
                mqtt={
                    "url": url, "reconnect_min_s": 0.1, "reconnect_max_s": 2.0,
                    "connect_timeout_s": 5,
                    # amqtt speaks 3.1.1 only; a user's broker is probed (MQTT 5 first)
                    "protocol": "auto" if opts.broker else "3.1.1",
                },
                outbox={"path": str(Path(tmp) / "outbox.sqlite")},
                ingest={"client_id": f"vitalgate-demo-ingest-{free_port()}"},
                residents=demo_residents(),
                # Shorter windows than on a real gateway, so AF is seen within the demo's minute.
                ecg={"window_beats": 41, "min_af_s": 20.0},
            )
            sink: Sink
            if opts.store:
                sink = InfluxSink(opts.store, token=opts.token, org=opts.org, bucket=opts.bucket)
            else:
                sink = SqliteSink(Path(tmp) / "store.sqlite")
            stack.push_async_callback(sink.aclose)
            worker = IngestWorker(
                settings.mqtt, settings.ingest, sink, batch_size=500, flush_interval_s=0.2,
                on_stored=stored,
            )
            async with asyncio.TaskGroup() as tg:
                wtask = tg.create_task(worker.run(), name="ingest-worker")
                await asyncio.wait_for(worker.subscribed.wait(), 30)
                ctask = None
                if opts.console_port is not None:
                    ctask = tg.create_task(_console(settings, Path(tmp) / "store.sqlite", opts.console_port),
                                           name="console")
                screeners, ecg = build_screeners(settings)
                gw = Gateway(
                    settings, build_sources(opts.interval_s, opts.ecg_record), screeners=screeners, ecg_screeners=ecg
                )
                async with gw:
                    if opts.duration_s is None:
                        await gw.wait()
                    await asyncio.sleep(opts.duration_s or 0)
                    gw.stop_sources()
                    await _drain(gw, worker)
                    summary.held = gw.held
                wtask.cancel()
                if ctask is not None:
                    ctask.cancel()
            summary.deadlettered = sum(worker.deadlettered.values())
    return summary


DEMO_CONSOLE_USER = "demo"


async def _console(settings: Settings, store: Path, port: int) -> None:
    """The care console inside the demo: user ``demo`` (all demo sites), a fresh password."""
    import secrets
    import sys

    import uvicorn

    from vitalgate.console.app import create_app
    from vitalgate.console.users import ConsoleConfig, User, hash_password

    password = secrets.token_urlsafe(12)
    cfg = ConsoleConfig(users=[User(name=DEMO_CONSOLE_USER, role="health_manager", sites=(settings.site.id,),
                                    password_hash=hash_password(password))],
                        outboxes=[settings.outbox.path], store=store)
    sys.stderr.write(f"care console: http://127.0.0.1:{port}/  user {DEMO_CONSOLE_USER}  password {password}\n")
    sys.stderr.flush()
    server = uvicorn.Server(uvicorn.Config(create_app(cfg, settings.mqtt, store=store), host="127.0.0.1",
                                           port=port, log_level="warning"))
    # The demo owns SIGTERM/SIGINT (a clean stop of everything); uvicorn must not take them over.
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    try:
        await server.serve()
    finally:
        server.should_exit = True


async def _drain(gw: Gateway, worker: IngestWorker, within_s: float = 10.0) -> None:
    """Wait (bounded) until the outbox is empty and the worker stored what was queued."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while loop.time() < deadline:
        if len(gw.outbox) == 0 and worker.stored_observations >= gw.queued:
            return
        await asyncio.sleep(0.05)
    log.warning("demo ended with %d message(s) still in the outbox", len(gw.outbox))
