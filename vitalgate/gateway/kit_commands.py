"""``vitalgate kit ...`` and ``vitalgate acl`` (registered by :mod:`vitalgate.cli`)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add this part's commands to ``app``."""

    @app.command("acl")
    def acl(
        access: Path = typer.Argument(..., help="Access file (TOML): tables gateways, workers, clinicians (arrays of tables)."),
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
    _register_privacy(app)


def _register_privacy(app: typer.Typer) -> None:
    priv = typer.Typer(name="privacy", help="Pseudonyms, consent, erasure, de-identified export.",
                       no_args_is_help=True)
    config_opt = typer.Option(..., "--config", "-c", help="The gateway's configuration (TOML).")

    def _table(config: Path):  # type: ignore[no-untyped-def]
        from vitalgate.config import load_settings
        from vitalgate.errors import ConfigError
        from vitalgate.gateway.privacy import identity_table

        try:
            s = load_settings(config)
            return s, identity_table(s)
        except ConfigError as err:
            typer.echo(f"privacy: {err}", err=True)
            raise typer.Exit(2) from None

    @priv.command("enroll")
    def enroll(id_number: str = typer.Argument(..., help="ID number, QR or NFC card string."),
               name: str = typer.Option(..., "--name"), config: Path = config_opt) -> None:
        """Enrol a resident: prints the pseudonym used on the wire (the identity stays here, encrypted)."""
        _, table = _table(config)
        typer.echo(table.enroll(id_number, name))

    @priv.command("consent")
    def consent(resident: str, config: Path = config_opt, by: str = typer.Option(..., "--by"),
                withdraw: bool = typer.Option(False, "--withdraw", help="Withdraw instead of grant.")) -> None:
        """Record a resident's consent to relaying (or its withdrawal)."""
        _, table = _table(config)
        table.set_consent(resident, not withdraw, by)
        typer.echo(f"{resident}: consent {'withdrawn' if withdraw else 'granted'} by {by}")

    @priv.command("erase")
    def erase(resident: str, config: Path = config_opt, by: str = typer.Option(..., "--by"),
              store: bool = typer.Option(True, help="Also delete from the configured store.")) -> None:
        """Erase a resident: identity, consent and held readings here; their data in the store."""
        from vitalgate.gateway.outbox import Outbox
        from vitalgate.gateway.privacy import erase_sqlite_store, erase_victoria

        s, table = _table(config)
        table.erase(resident)
        with Outbox(s.outbox.path, max_bytes=s.outbox.max_bytes) as box:
            for rid, reason, _ in box.held():
                if resident in reason:
                    box.release(rid)
        done = [f"local identity and consent of {resident} erased by {by}"]
        if store:
            st = s.store
            if st.kind == "sqlite" and Path(st.sqlite_path).exists():
                done.append(f"{erase_sqlite_store(Path(st.sqlite_path), resident)} reading(s) deleted from {st.sqlite_path}")
            elif st.kind == "influx" and st.url:
                erase_victoria(st.url, resident)
                done.append(f"series of {resident} deleted from {st.url} (delete_series)")
        typer.echo("; ".join(done))

    @priv.command("export")
    def export(out: Path, store: Path = typer.Option(..., "--store", help="The SQLite store."),
               k: int = typer.Option(5, "--k", help="Suppress aggregate cells with fewer subjects.")) -> None:
        """De-identified research export: subject numbers, shifted dates, small counts suppressed."""
        from vitalgate.gateway.privacy import deidentified_export

        summary = deidentified_export(store, out, k=k)
        typer.echo(f"{out}: {summary['rows']} value(s) of {summary['subjects']} subject(s); "
                   f"{summary['aggregate']}: {summary['suppressed']} of {summary['cells']} cell(s) suppressed")

    app.add_typer(priv)
