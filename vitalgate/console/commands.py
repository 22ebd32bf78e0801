"""``vitalgate console`` (registered by :mod:`vitalgate.cli`)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    console = typer.Typer(name="console", help="The care console (web).", no_args_is_help=True)

    @console.command("serve")
    def serve(
        config: Path = typer.Option(..., "--config", "-c", help="console.toml: users, roles, sites."),
        gateway_config: Path | None = typer.Option(None, "--mqtt-config", help="TOML with the [mqtt] section to follow."),
        host: str = typer.Option("127.0.0.1", "--host"),
        port: int = typer.Option(8080, "--port"),
    ) -> None:
        """Serve the console: live alerts from MQTT, acknowledgements, residents' trends."""
        import uvicorn

        from vitalgate.config import load_settings
        from vitalgate.console.app import create_app
        from vitalgate.console.users import ConsoleConfig
        from vitalgate.errors import ConfigError

        try:
            cfg = ConsoleConfig.load(config)
            mqtt = load_settings(gateway_config).mqtt
        except ConfigError as err:
            typer.echo(f"console: {err}", err=True)
            raise typer.Exit(2) from None
        uvicorn.run(create_app(cfg, mqtt, store=cfg.store), host=host, port=port, log_level="warning")

    @console.command("hash-password")
    def hash_password_() -> None:
        """Read a password (hidden) and print its argon2id hash for console.toml."""
        from vitalgate.console.users import hash_password

        pw = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        try:
            typer.echo(hash_password(pw))
        except ValueError as err:
            typer.echo(f"console: {err}", err=True)
            raise typer.Exit(2) from None

    app.add_typer(console)
