"""``vitalgate replay`` and ``vitalgate report`` (registered by :mod:`vitalgate.cli`)."""

from __future__ import annotations

import json
import sys
import tomllib
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
        care_plan: Path | None = typer.Option(None, "--care-plan", help="TOML: thresholds, and [residents.ID] overrides."),
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
