"""Command-line commands of this part: ``gateway``, ``ingest``, ``config check``, ``demo``."""



from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import typer

from vitalgate.errors import ConfigError


def _load(path: Path) -> Any:
    """Settings from ``path``, or every problem printed and exit code 1 (never a traceback)."""
    from vitalgate.config import load_settings

    try:
        settings = load_settings(path)
    except ConfigError as err:
        _print_problems(path, err)
        raise typer.Exit(1) from None
    problems = extra_problems(settings)
    if problems:
        _print_problems(path, ConfigError("invalid", problems))
        raise typer.Exit(1)
    return settings


def _print_problems(path: Path, err: ConfigError) -> None:
    if not err.problems:
        typer.echo(f"{path}: {err}", err=True)
        return
    typer.echo(f"{path}: {len(err.problems)} problem(s):", err=True)
    for key, message in err.problems:
        typer.echo(f"  {key}: {message}", err=True)


def section_problems(settings: Any) -> list[tuple[str, str]]:
    """The free sections, checked by their owners' models: [rules], [ecg], [kit]."""
    from pydantic import ValidationError

    from vitalgate.gateway.alerts import EscalationConfig
    from vitalgate.gateway.kit import KitSettings
    from vitalgate.signal.rhythm import RhythmConfig
    from vitalgate.signal.rules import CarePlan

    out: list[tuple[str, str]] = []
    rules = dict(settings.rules)
    checks = (
        ("rules.escalation", lambda: EscalationConfig(**rules.pop("escalation", {}))),
        ("rules", lambda: CarePlan.from_dict(rules, where="[rules]")),
        ("ecg", lambda: RhythmConfig.from_dict(settings.ecg)),
        ("kit", lambda: KitSettings(**settings.kit)),
    )
    for key, check in checks:
        try:
            check()
        except ConfigError as err:
            out += [(f"{key}.{k}" if not k.startswith(key) else k, m) for k, m in err.problems] or [(key, str(err))]
        except ValidationError as err:
            out += [(".".join([key, *(str(p) for p in e["loc"])]), e["msg"]) for e in err.errors()]
    return out


def extra_problems(settings: Any) -> list[tuple[str, str]]:
    """Checks beyond the schema: files that must exist, the resident table's shape."""
    out: list[tuple[str, str]] = []
    tls = settings.mqtt.tls
    for key in ("ca_file", "cert_file", "key_file"):
        p = getattr(tls, key)
        if p is not None and not Path(p).is_file():
            out.append((f"mqtt.tls.{key}", f"no such file {str(p)!r}; fix: give an existing PEM file"))
    if tls.cert_file is not None and tls.key_file is None:
        out.append(("mqtt.tls.key_file", "cert_file is set without key_file; fix: add the key file"))
    pf = settings.mqtt.password_file
    if pf is not None and not Path(pf).is_file():
        out.append(("mqtt.password_file", f"no such file {str(pf)!r}; fix: create it or remove the key"))
    out += section_problems(settings)
    devices = settings.residents.get("devices", {})
    if not isinstance(devices, dict):
        out.append(("residents.devices", "must be a table of \"ADDRESS[#SLOT]\" = \"resident\""))
    else:
        import re

        from vitalgate.config import SEGMENT

        for k, v in devices.items():
            _, _, slot = str(k).partition("#")
            if slot and not slot.isdigit():
                out.append((f"residents.devices.{k}", f"slot {slot!r} is not a number; fix: ADDRESS#1"))
            if not isinstance(v, str) or not re.match(SEGMENT, v):
                out.append((f"residents.devices.{k}", f"resident {v!r} is not a pseudonymous id; fix: letters, digits, '_', '.', '-'"))
    return out


def _serve(main: Callable[[asyncio.Event], Coroutine[Any, Any, None]], name: str) -> None:
    """Run ``main(ready)`` until it ends or SIGTERM/SIGINT cancels it cleanly.

    Under systemd (``Type=notify``) READY=1 is sent when ``main`` sets ``ready`` and the
    watchdog is fed from the event loop (:mod:`vitalgate.service`).
    """
    from vitalgate.service import run_service

    async def runner() -> None:
        ready = asyncio.Event()
        task = asyncio.create_task(main(ready), name=name)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await run_service(task, ready, name)

    asyncio.run(runner())


def register(app: typer.Typer) -> None:
    """Add this part's commands to ``app``."""
    config_app = typer.Typer(help="Configuration files.", no_args_is_help=True)
    app.add_typer(config_app, name="config")

    @config_app.command("check")
    def config_check(file: Path = typer.Argument(..., help="The TOML configuration to validate.")) -> None:
        """Validate a configuration; print every problem with its key and a fix (exit 1)."""
        _load(file)
        typer.echo(f"{file}: OK")

    @app.command("gateway")
    def gateway(
        config: Path = typer.Option(..., "--config", "-c", help="Configuration file (TOML)."),
        replay: list[Path] = typer.Option([], "--replay", help="Replay readings from a JSON-lines file."),
        replay_interval: float = typer.Option(0.0, help="Seconds between replayed readings."),
    ) -> None:
        """Run the gateway daemon: devices -> screening -> durable outbox -> MQTT."""
        from vitalgate.gateway.daemon import Gateway
        from vitalgate.gateway.demo import build_screeners
        from vitalgate.gateway.ports import DeviceSource
        from vitalgate.gateway.sources import FileSource

        settings = _load(config)
        sources: list[DeviceSource] = [FileSource(p, replay_interval) for p in replay]
        from vitalgate.device_drivers.manager import ble_source

        if (ble := ble_source(settings.ble)) is not None:  # paired devices, over bleak
            sources.append(ble)
        screeners, ecg = build_screeners(settings)

        async def main(ready: asyncio.Event) -> None:
            async with Gateway(settings, sources, screeners=screeners, ecg_screeners=ecg) as gw:
                ready.set()
                await gw.wait()

        _serve(main, "gateway")

    @app.command("ingest")
    def ingest(config: Path = typer.Option(..., "--config", "-c", help="Configuration file (TOML).")) -> None:
        """Run the ingest worker: MQTT -> validation -> time-series store (or SQLite)."""
        from vitalgate.cloud_bridge.ingest import IngestWorker
        from vitalgate.cloud_bridge.sinks import InfluxSink, Sink, SqliteSink

        settings = _load(config)
        st = settings.store
        sink: Sink
        if st.kind == "influx":
            token = st.secret()
            sink = InfluxSink(st.url, token=token, org=st.org, bucket=st.bucket)
        else:
            sink = SqliteSink(st.sqlite_path)

        async def main(ready: asyncio.Event) -> None:
            worker = IngestWorker(
                settings.mqtt, settings.ingest, sink,
                batch_size=st.batch_size, flush_interval_s=st.flush_interval_s,
            )
            async def forward() -> None:
                await worker.subscribed.wait()
                ready.set()

            forwarding = asyncio.create_task(forward())
            try:
                await worker.run()
            finally:
                forwarding.cancel()
                await sink.aclose()

        _serve(main, "ingest")

    @app.command("demo")
    def demo(
        duration: float | None = typer.Option(None, "--duration", min=0.0, help="Stop after SECONDS with a summary."),
        as_json: bool = typer.Option(False, "--json", help="One JSON object per line per observation and alert."),
        broker: str | None = typer.Option(None, "--broker", help="Use this broker (mqtt://HOST:PORT) instead of the embedded one."),
        store: str | None = typer.Option(None, "--store", help="Write to InfluxDB 2 / VictoriaMetrics at http://HOST:PORT instead of SQLite."),
        org: str = typer.Option("vitalgate", "--org", help="Store organisation (with --store)."),
        bucket: str = typer.Option("vitalgate", "--bucket", help="Store bucket (with --store)."),
        interval: float = typer.Option(1.0, "--interval", min=0.01, help="Seconds between device rounds."),
        console_port: int | None = typer.Option(None, "--console-port", help="Also serve the care console on 127.0.0.1:PORT (user and password printed)."),
        ecg_record: Path | None = typer.Option(None, "--ecg-record", help="MITDB record (path without extension, e.g. .../mitdb/201) the emulated ECG strap plays; default: AF-like RR only."),
    ) -> None:
        """Run the whole data path in one process with emulated devices; no servers needed.

        The store token is read from the environment variable VITALGATE_STORE_TOKEN.
        """
        from pydantic import ValidationError

        from vitalgate.gateway.demo import DemoOptions, run_demo

        opts = DemoOptions(
            duration_s=duration, json=as_json, broker=broker, store=store, org=org, bucket=bucket,
            token=os.environ.get("VITALGATE_STORE_TOKEN"), interval_s=interval,
            ecg_record=ecg_record, console_port=console_port,
        )
        result: list[Any] = []

        async def main(ready: asyncio.Event) -> None:
            ready.set()
            result.append(await run_demo(opts, lambda line: typer.echo(line)))

        try:
            _serve(main, "demo")
        except ValidationError as err:
            typer.echo(f"demo: bad option: {err.errors()[0]['msg']} (--broker mqtt://HOST:PORT)", err=True)
            raise typer.Exit(2) from None
        if not result:
            return
        s = result[0]
        line = json.dumps({"type": "summary", **vars(s)}) if as_json else (
            f"demo: {s.observations} observation(s) stored {s.by_kind}, {s.alerts} alert(s), "
            f"{s.held} held, {s.deadlettered} dead-lettered"
        )
        typer.echo(line, err=as_json)
