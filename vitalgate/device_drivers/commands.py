"""Command-line commands of this part (registered by :mod:`vitalgate.cli`)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this part's commands to ``app``."""
    from vitalgate.device_drivers.ble_commands import add_commands

    devices_app = typer.Typer(
        name="devices", help="Bluetooth devices: scan, pair.", no_args_is_help=True
    )
    add_commands(devices_app)  # scan, pair
    app.add_typer(devices_app)
