"""Health huts: shared kits, check-ins, and readings that wait for a person when unsure.

In kit mode (``[kit]``), a resident checks in at a kit (ID number, QR/NFC card string or from
the day's appointments — turned into the pseudonym beforehand) and the kit's devices' readings
measured inside the check-in window are theirs. A reading is **held** with the reason —
never guessed — when there is no check-in, when two check-ins overlap on the kit, when it was
measured before the check-in (a stored record), or when the device clock is far off. Multi-user
BP monitors map user slot -> resident (``[kit.slots]``, per household or hut). A person assigns
or discards a held reading; every decision is audited (who, when, why).

State lives in SQLite (``kit.sqlite`` beside the outbox), shared by the gateway and the
``vitalgate kit`` commands (WAL, several processes).
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import typer
from pydantic import BaseModel, ConfigDict, Field

from vitalgate.config import SEGMENT
from vitalgate.errors import AttributionError
from vitalgate.gateway.ports import Attributed, Held
from vitalgate.readings import Reading

_SCHEMA = """
CREATE TABLE IF NOT EXISTS checkins (id INTEGER PRIMARY KEY, kit TEXT NOT NULL, resident TEXT NOT NULL,
    at REAL NOT NULL, until REAL NOT NULL, by TEXT NOT NULL, closed_at REAL);
CREATE TABLE IF NOT EXISTS audit (id INTEGER PRIMARY KEY, at REAL NOT NULL, by TEXT NOT NULL,
    action TEXT NOT NULL, reading_id TEXT, resident TEXT, kit TEXT, why TEXT NOT NULL);
"""


class KitSettings(BaseModel):
    """``[kit]``: kits and their devices, user slots, windows."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    window_min: float = Field(15.0, gt=0, description="a check-in lasts this long unless checked out")
    max_clock_skew_min: float = Field(10.0, gt=0, description="live reading vs receipt; beyond: held")
    kits: dict[str, list[str]] = Field(default_factory=dict, description="kit id -> device addresses")
    slots: dict[str, str] = Field(default_factory=dict, description="'ADDRESS#SLOT' -> resident")
    db: Path | None = None
    command_key_file: Path | None = Field(None, description="signs kit commands over MQTT (or credential command-key)")

    def kit_of(self, address: str) -> str | None:
        a = address.upper()
        for kit, devices in self.kits.items():
            if a in {d.upper() for d in devices}:
                return kit
        return None


@dataclass(frozen=True)
class CheckIn:
    id: int
    kit: str
    resident: str
    at: datetime
    until: datetime
    by: str


class KitStore:
    """Check-ins and the audit trail."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    def audit(self, by: str, action: str, why: str, *, reading_id: str | None = None,
              resident: str | None = None, kit: str | None = None) -> None:
        self.db.execute("INSERT INTO audit (at, by, action, reading_id, resident, kit, why) VALUES (?,?,?,?,?,?,?)",
                        (time.time(), by, action, reading_id, resident, kit, why))

    def checkin(self, kit: str, resident: str, by: str, window: timedelta, at: datetime | None = None) -> CheckIn:
        at = at or datetime.now(UTC)
        cur = self.db.execute("INSERT INTO checkins (kit, resident, at, until, by) VALUES (?,?,?,?,?)",
                              (kit, resident, at.timestamp(), (at + window).timestamp(), by))
        self.audit(by, "checkin", f"checked in at kit {kit}", resident=resident, kit=kit)
        return CheckIn(int(cur.lastrowid or 0), kit, resident, at, at + window, by)

    def checkout(self, kit: str, by: str, resident: str | None = None, at: datetime | None = None) -> int:
        at = at or datetime.now(UTC)
        sql = "UPDATE checkins SET until = ?, closed_at = ? WHERE kit = ? AND until > ? AND at <= ?"
        args: list[Any] = [at.timestamp(), at.timestamp(), kit, at.timestamp(), at.timestamp()]
        if resident:
            sql += " AND resident = ?"
            args.append(resident)
        n = self.db.execute(sql, args).rowcount
        self.audit(by, "checkout", f"checked out at kit {kit}", resident=resident, kit=kit)
        return int(n)

    def covering(self, kit: str, at: datetime) -> list[CheckIn]:
        rows = self.db.execute(
            "SELECT id, kit, resident, at, until, by FROM checkins WHERE kit = ? AND at <= ? AND until > ? ORDER BY at",
            (kit, at.timestamp(), at.timestamp()),
        ).fetchall()
        return [CheckIn(i, k, r, datetime.fromtimestamp(a, UTC), datetime.fromtimestamp(u, UTC), b)
                for i, k, r, a, u, b in rows]

    def latest(self, kit: str, before: datetime) -> CheckIn | None:
        row = self.db.execute(
            "SELECT id, kit, resident, at, until, by FROM checkins WHERE kit = ? AND at > ? ORDER BY at LIMIT 1",
            (kit, before.timestamp()),
        ).fetchone()
        if row is None:
            return None
        i, k, r, a, u, b = row
        return CheckIn(i, k, r, datetime.fromtimestamp(a, UTC), datetime.fromtimestamp(u, UTC), b)

    def trail(self) -> list[dict[str, Any]]:
        cols = ("at", "by", "action", "reading_id", "resident", "kit", "why")
        rows = self.db.execute(f"SELECT {', '.join(cols)} FROM audit ORDER BY id").fetchall()
        return [dict(zip(cols, r, strict=True)) for r in rows]


class KitAttributor:
    """The :class:`~vitalgate.gateway.ports.Attributor` of a hut: check-ins and user slots.

    Devices in no kit fall back to ``fallback`` (the static ``[residents]`` table).
    """

    def __init__(self, settings: KitSettings, store: KitStore, fallback: Any = None) -> None:
        self.settings = settings
        self.store = store
        self.fallback = fallback

    def attribute(self, reading: Reading) -> Attributed | Held:
        address = reading.device.address.upper()
        if reading.user_slot is not None:
            who = self.settings.slots.get(f"{address}#{reading.user_slot}")
            if who is not None:
                return Attributed(who)
        kit = self.settings.kit_of(address)
        if kit is None:
            if self.fallback is not None:
                verdict: Attributed | Held = self.fallback.attribute(reading)
                return verdict
            return Held(f"device {address} belongs to no kit and no resident")
        skew = abs(reading.measured_at - reading.received_at)
        if not reading.stored and skew > timedelta(minutes=self.settings.max_clock_skew_min):
            return Held(f"the clock of {address} (kit {kit}) is off by {skew.total_seconds() / 60:.0f} min; "
                        "cannot tell whose check-in it belongs to")
        # A live reading belongs to the check-in it arrived in (the gateway's clock; device time
        # stamps have whole seconds and drift); a stored record to the one it was measured in.
        when = reading.measured_at if reading.stored else reading.received_at
        covering = self.store.covering(kit, when)
        if len(covering) > 1:
            who = " and ".join(c.resident for c in covering)
            return Held(f"check-ins of {who} overlap on kit {kit} at {reading.measured_at:%H:%M}")
        if len(covering) == 1:
            return Attributed(covering[0].resident)
        later = self.store.latest(kit, when)
        if later is not None and later.at - when < timedelta(hours=24):
            return Held(f"{'measured' if reading.stored else 'received'} at {when:%Y-%m-%d %H:%M}, before {later.resident}'s check-in "
                        f"at kit {kit} ({later.at:%H:%M}): a stored record of someone else?")
        return Held(f"no check-in at kit {kit} at {when:%Y-%m-%d %H:%M}")


def kit_settings(settings: Any) -> KitSettings:
    from pydantic import ValidationError

    from vitalgate.errors import ConfigError

    try:
        ks = KitSettings(**settings.kit)
    except ValidationError as err:
        problems = [("kit." + ".".join(str(p) for p in e["loc"]), e["msg"]) for e in err.errors()]
        raise ConfigError("[kit]: " + "; ".join(f"{k}: {m}" for k, m in problems), problems) from err
    if ks.db is None:
        ks = ks.model_copy(update={"db": Path(settings.outbox.path).parent / "kit.sqlite"})
    return ks


def assign(settings: Any, reading_id: str, resident: str, by: str, why: str) -> None:
    """Give a held reading to ``resident``: queued for MQTT under them, released, audited."""
    import re

    from vitalgate.cloud_bridge.topics import Topics
    from vitalgate.cloud_bridge.wire import Observation, dump_payload
    from vitalgate.gateway.outbox import Outbox
    from vitalgate.gateway.sources import reading_from_dict

    if not re.match(SEGMENT, resident):
        raise AttributionError(f"{resident!r} is not a pseudonymous resident id")
    if not why.strip():
        raise AttributionError("say why (--why): every assignment is audited")
    ks = kit_settings(settings)
    assert ks.db is not None
    store = KitStore(ks.db)
    topics = Topics(settings.site.id, settings.site.gateway)
    with Outbox(settings.outbox.path, max_bytes=settings.outbox.max_bytes) as box:
        row = next((h for h in box.held() if h[0] == reading_id), None)
        if row is None:
            raise AttributionError(f"no held reading {reading_id}; see 'vitalgate kit pending'")
        d = json.loads(row[2])
        reading = reading_from_dict(d)
        obs = Observation.from_reading(reading, site=topics.site, gateway=topics.gateway, resident=resident)
        box.put(topics.obs(resident, obs.kind.value), dump_payload(obs))
        box.release(reading_id)
    store.audit(by, "assign", why, reading_id=reading_id, resident=resident)
    store.close()


def discard(settings: Any, reading_id: str, by: str, why: str) -> None:
    """Drop a held reading a person judged not to be anyone's (audited, with the reading)."""
    from vitalgate.gateway.outbox import Outbox

    if not why.strip():
        raise AttributionError("say why (--why): every discard is audited")
    ks = kit_settings(settings)
    assert ks.db is not None
    store = KitStore(ks.db)
    with Outbox(settings.outbox.path, max_bytes=settings.outbox.max_bytes) as box:
        row = next((h for h in box.held() if h[0] == reading_id), None)
        if row is None:
            raise AttributionError(f"no held reading {reading_id}; see 'vitalgate kit pending'")
        box.release(reading_id)
    store.audit(by, "discard", f"{why} | reading: {row[2]}", reading_id=reading_id)
    store.close()


def register_kit_commands(app: typer.Typer) -> None:
    kit_app = typer.Typer(name="kit", help="Health-hut kits: check-in, check-out, held readings.",
                          no_args_is_help=True)

    def _settings(config: Path) -> Any:
        from vitalgate.config import load_settings
        from vitalgate.errors import ConfigError

        try:
            s = load_settings(config)
            kit_settings(s)
        except ConfigError as err:
            typer.echo(f"kit: {err}", err=True)
            raise typer.Exit(2) from None
        return s

    def _store(s: Any) -> KitStore:
        ks = kit_settings(s)
        assert ks.db is not None
        return KitStore(ks.db)

    config_opt = typer.Option(..., "--config", "-c", help="The gateway's configuration (TOML).")

    @kit_app.command("checkin")
    def checkin(kit: str, resident: str, config: Path = config_opt,
                by: str = typer.Option(..., "--by", help="Who checks the resident in (staff id)."),
                minutes: float | None = typer.Option(None, "--minutes", help="Window (default [kit] window_min).")) -> None:
        """Check RESIDENT (pseudonym) in at KIT: the kit's next readings are theirs."""
        s = _settings(config)
        ks = kit_settings(s)
        if kit not in ks.kits:
            typer.echo(f"kit: no kit {kit!r} in [kit.kits] (known: {', '.join(ks.kits) or 'none'})", err=True)
            raise typer.Exit(2)
        c = _store(s).checkin(kit, resident, by, timedelta(minutes=minutes or ks.window_min))
        typer.echo(f"{resident} checked in at {kit} until {c.until:%H:%M:%S} UTC")

    @kit_app.command("checkout")
    def checkout(kit: str, config: Path = config_opt, by: str = typer.Option(..., "--by"),
                 resident: str | None = typer.Option(None, "--resident")) -> None:
        """End the check-in(s) at KIT now."""
        n = _store(_settings(config)).checkout(kit, by, resident)
        typer.echo(f"{n} check-in(s) ended at {kit}")

    @kit_app.command("pending")
    def pending(config: Path = config_opt, as_json: bool = typer.Option(False, "--json")) -> None:
        """Readings held because nobody could be sure whose they are, with the reason."""
        from vitalgate.gateway.outbox import Outbox

        s = _settings(config)
        with Outbox(s.outbox.path, max_bytes=s.outbox.max_bytes) as box:
            for rid, reason, body in box.held():
                if as_json:
                    typer.echo(json.dumps({"reading_id": rid, "reason": reason, "reading": json.loads(body)}))
                else:
                    d = json.loads(body)
                    typer.echo(f"{rid}  {d.get('kind')}  {d.get('values')}  {d.get('measured_at')}  — {reason}")

    @kit_app.command("assign")
    def assign_(reading_id: str, resident: str, config: Path = config_opt,
                by: str = typer.Option(..., "--by"), why: str = typer.Option(..., "--why")) -> None:
        """Give a held reading to RESIDENT (audited: who, when, why)."""
        try:
            assign(_settings(config), reading_id, resident, by, why)
        except AttributionError as err:
            typer.echo(f"kit assign: {err}", err=True)
            raise typer.Exit(2) from None
        typer.echo(f"{reading_id} assigned to {resident}")

    @kit_app.command("discard")
    def discard_(reading_id: str, config: Path = config_opt,
                 by: str = typer.Option(..., "--by"), why: str = typer.Option(..., "--why")) -> None:
        """Discard a held reading that is nobody's (audited, the reading kept in the audit)."""
        try:
            discard(_settings(config), reading_id, by, why)
        except AttributionError as err:
            typer.echo(f"kit discard: {err}", err=True)
            raise typer.Exit(2) from None
        typer.echo(f"{reading_id} discarded")

    @kit_app.command("audit")
    def audit(config: Path = config_opt) -> None:
        """The audit trail: check-ins, assignments, discards (who, when, why)."""
        for row in _store(_settings(config)).trail():
            when = datetime.fromtimestamp(row["at"], UTC).isoformat(timespec="seconds")
            typer.echo(json.dumps({**row, "at": when}, ensure_ascii=False))

    app.add_typer(kit_app)
