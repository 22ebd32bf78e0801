"""The ``vitalgate`` command line.

Each part of the product registers its own commands (``register(app)``) so this file stays a
table of contents. Heavy imports happen inside the commands, so ``--help`` is quick on a Pi.
"""

from __future__ import annotations

import importlib
import logging
import sys

import typer

from vitalgate import __version__

app = typer.Typer(
    name="vitalgate",
    help="Open telemonitoring gateway: BLE health devices -> local screening -> MQTT -> store.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_COMMAND_MODULES = (
    "vitalgate.gateway.commands",  # gateway, ingest, config, demo
    "vitalgate.device_drivers.commands",  # devices list|scan|pair
    "vitalgate.signal.commands",  # evaluate
    "vitalgate.gateway.care_commands",  # replay, report
    "vitalgate.gateway.kit_commands",  # kit, acl, privacy
    "vitalgate.console.commands",  # console serve|hash-password
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"vitalgate {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="More log output (-vv for debug)."),
) -> None:
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )


for _name in _COMMAND_MODULES:
    importlib.import_module(_name).register(app)


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
