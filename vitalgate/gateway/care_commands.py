"""``vitalgate replay`` and ``vitalgate report`` (registered by :mod:`vitalgate.cli`)."""

from __future__ import annotations

import json
import sys
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import typer


def load_care_plan(path: Path | None) -> Any:
    """The care plan TOML (global thresholds + ``[residents.ID]``), or the defaults."""
    from vitalgate.errors import ConfigError
    from vitalgate.signal.rules import CarePlan

    if path is None:
        return CarePlan()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such care plan file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: not valid TOML ({err})") from None
    return CarePlan.from_dict(data, where=str(path))


def finding_json(f: Any) -> str:
    return json.dumps({
        "resident": f.resident, "rule": f.rule, "severity": f.severity, "time": f.time.isoformat(),
        "kind": f.kind, "reason": f.reason, "values": f.values, "reading_ids": list(f.reading_ids),
    }, ensure_ascii=False)


def register(app: typer.Typer) -> None:
    """Add this part's commands to ``app``."""

    @app.command("replay")
    def replay(
        readings: Path = typer.Argument(..., help="CSV with columns resident,time,kind,value,unit,context."),
        care_plan: Path | None = typer.Option(None, "--care-plan", help=r"TOML: thresholds, and \[residents.ID] overrides."),
        skip_bad: bool = typer.Option(False, "--skip-bad", help="Skip unreadable rows (reported on stderr) instead of stopping."),
    ) -> None:
        """Run the vitals rules over past readings; print one JSON object per alert raised.

        Each line has resident, rule, severity (info|warning|urgent|critical), time (of the
        reading that triggered it), kind, reason, values and reading_ids. Bad rows stop the
        replay with the line and column (exit 2) and nothing is printed, unless --skip-bad.
        """
        from vitalgate.errors import ConfigError, VitalgateError
        from vitalgate.signal.readings_csv import read_path
        from vitalgate.signal.rules import RuleEngine

        try:
            plan = load_care_plan(care_plan)
            parsed = read_path(readings, skip_bad=skip_bad)
        except ConfigError as err:
            typer.echo(f"replay: {err}", err=True)
            raise typer.Exit(2) from None
        except VitalgateError as err:
            typer.echo(f"replay: {readings}: {err}", err=True)
            raise typer.Exit(2) from None
        for bad in parsed.skipped:
            typer.echo(f"replay: skipped {readings}: {bad}", err=True)
        engine = RuleEngine(plan)
        out = [finding_json(f) for f in engine.feed_many(parsed.measurements)]
        sys.stdout.write("".join(line + "\n" for line in out))

    @app.command("report")
    def report(
        resident: str = typer.Argument(..., help="The resident's pseudonymous id."),
        start: datetime = typer.Option(..., "--from", help="First day (YYYY-MM-DD)."),
        end: datetime = typer.Option(..., "--to", help="Last day, included (YYYY-MM-DD)."),
        store: Path | None = typer.Option(None, "--store", help="The SQLite store (default: store.sqlite_path of --config)."),
        config: Path | None = typer.Option(None, "--config", "-c", help=r"Configuration (store path, \[rules] care plan)."),
        care_plan: Path | None = typer.Option(None, "--care-plan", help=r"Care plan TOML for the targets (overrides \[rules])."),
        out: Path = typer.Option(Path("report.html"), "--out", "-o", help="HTML file to write."),
        pdf: Path | None = typer.Option(None, "--pdf", help="Also write a PDF."),
        fhir: Path | None = typer.Option(None, "--fhir", help="Also write a FHIR R4 Bundle (JSON) of the readings and alerts."),
    ) -> None:
        """Render the follow-up report of RESIDENT: trend charts against targets, alerts, acks."""
        from vitalgate.cloud_bridge.sinks import SqliteSink
        from vitalgate.config import load_settings
        from vitalgate.errors import ConfigError
        from vitalgate.records import fhir as fhir_export
        from vitalgate.records.report import render_html, render_pdf
        from vitalgate.signal.rules import CarePlan

        try:
            settings = load_settings(config) if config else None
            if care_plan is not None:
                plan = load_care_plan(care_plan)
            elif settings is not None:
                rules = {k: v for k, v in settings.rules.items() if k != "escalation"}
                plan = CarePlan.from_dict(rules, where="[rules]")
            else:
                plan = CarePlan()
        except ConfigError as err:
            typer.echo(f"report: {err}", err=True)
            raise typer.Exit(2) from None
        path = store or (Path(settings.store.sqlite_path) if settings else None)
        if path is None or not path.exists():
            typer.echo(f"report: no SQLite store at {path}; pass --store PATH or --config FILE", err=True)
            raise typer.Exit(2)
        lo = start.replace(tzinfo=start.tzinfo or UTC)
        hi = end.replace(tzinfo=end.tzinfo or UTC) + timedelta(days=1)
        sink = SqliteSink(path)
        try:
            obs = [o for o in sink.observations() if o.resident == resident and lo <= o.measured_at < hi]
            alerts = [a for a in sink.alerts() if a.resident == resident and lo <= a.triggered_at < hi]
        finally:
            sink.close()
        cfg = plan.for_resident(resident)
        out.write_text(render_html(resident, lo, hi - timedelta(days=1), obs, alerts, cfg), encoding="utf-8")
        typer.echo(f"{out}: {len(obs)} reading(s), {len(alerts)} alert(s)")
        if pdf is not None:
            render_pdf(pdf, resident, lo, hi - timedelta(days=1), obs, alerts, cfg)
            typer.echo(f"{pdf}: written")
        if fhir is not None:
            fhir.write_text(json.dumps(fhir_export.bundle(obs, alerts), indent=1), encoding="utf-8")
            typer.echo(f"{fhir}: FHIR R4 Bundle, {len(obs)} Observation(s), {len(alerts)} Flag(s)")
