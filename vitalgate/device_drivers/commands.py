"""Command-line commands of this part (registered by :mod:`vitalgate.cli`)."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add this part's commands to ``app``."""
    from vitalgate.device_drivers.ble_commands import add_commands

    devices_app = typer.Typer(
        name="devices", help="Bluetooth devices: list supported models, scan, pair.", no_args_is_help=True
    )

    @devices_app.command("list")
    def list_(
        as_json: bool = typer.Option(False, "--json", help="One JSON object per firmware profile."),
        directory: Path | None = typer.Option(None, "--profiles", help="Load profiles from this folder instead."),
    ) -> None:
        """Print the device families vitalgate knows: model, kind, supported or why not, quirks."""
        from vitalgate.device_drivers.profiles import load_profiles
        from vitalgate.errors import ProfileError

        try:
            profiles = load_profiles(directory)
        except ProfileError as err:
            typer.echo(f"devices list: {err}", err=True)
            raise typer.Exit(2) from None
        for p in profiles:
            quirks = [k if v is True else f"{k}={v}"
                      for k, v in p.quirks.model_dump(exclude_defaults=True).items() if k != "firmware"]
            if as_json:
                typer.echo(json.dumps({
                    "id": p.id, "manufacturer": p.manufacturer, "models": p.models, "kind": p.kind,
                    "supported": p.supported, "reason": p.unsupported_reason, "services": p.match.services,
                    "name_patterns": p.match.name_patterns, "quirks": p.quirks.model_dump(exclude_defaults=True),
                }, ensure_ascii=False))
            else:
                state = "supported" if p.supported else f"NOT supported: {p.unsupported_reason}"
                typer.echo(f"{p.id:<28} {p.kind:<15} {p.manufacturer} {', '.join(p.models)} — {state}"
                           + (f"; quirks: {', '.join(quirks)}" if quirks else ""))

    add_commands(devices_app)  # scan, pair
    app.add_typer(devices_app)
