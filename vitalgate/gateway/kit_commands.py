"""``vitalgate kit ...`` and ``vitalgate acl`` (registered by :mod:`vitalgate.cli`)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add this part's commands to ``app``."""

    @app.command("acl")
    def acl(
        access: Path = typer.Argument(..., help="Access file (TOML): [[gateways]], [[workers]], [[clinicians]]."),
        out: Path | None = typer.Option(None, "--out", "-o", help="Write the mosquitto acl_file here (default: stdout)."),
    ) -> None:
        """Generate a mosquitto ACL: each gateway writes only its own subtree, ingest workers read
        every site, clinicians read their own sites' alerts and acknowledge them."""
        from vitalgate.errors import ConfigError
        from vitalgate.gateway.acl import Access, mosquitto_acl

        try:
            text = mosquitto_acl(Access.load(access))
        except ConfigError as err:
            typer.echo(f"acl: {err}", err=True)
            raise typer.Exit(2) from None
        if out is None:
            typer.echo(text, nl=False)
        else:
            out.write_text(text, encoding="utf-8")
            typer.echo(f"{out}: written")

    from vitalgate.gateway.kit import register_kit_commands

    register_kit_commands(app)
