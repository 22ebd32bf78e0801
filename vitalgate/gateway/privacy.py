"""Privacy by design: pseudonyms, an encrypted identity table, consent, erasure, de-identified export.

Data grading (what each place carries):

=====================  ===========================================================  =================
grade                  what                                                          where
=====================  ===========================================================  =================
identifiable           ID number, name (encrypted at rest)                           the gateway only
pseudonymous           keyed pseudonym ``r-…`` + readings, alerts                    MQTT, the store
de-identified          export ids, shifted dates, suppressed small counts            research export
=====================  ===========================================================  =================

A pseudonym is ``HMAC-SHA256(site secret, site ‖ normalised ID number)``: stable for one person
at one site (re-enrolment gives the same id), unlinkable across sites (another site, another
secret, another pseudonym), and not reversible without the secret, which stays on the gateway
(``privacy.secret_file`` or the systemd credential ``site-secret``).
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
import random
import re
import secrets
import sqlite3
import time
import urllib.parse
import urllib.request
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from vitalgate.errors import ConfigError, VitalgateError
from vitalgate.gateway.ports import Attributed, Attributor, Held
from vitalgate.readings import Reading

MIN_SECRET_BYTES = 32


def load_secret(path: Path | None) -> bytes:
    """The site secret: ``path``, else the systemd credential ``site-secret``."""
    from vitalgate.service import credential

    path = path or credential("site-secret")
    if path is None:
        raise ConfigError("no site secret: set privacy.secret_file or the systemd credential 'site-secret' "
                          "(32+ random bytes, e.g. `head -c 32 /dev/urandom > site.secret`)")
    try:
        secret = path.read_bytes()
    except OSError as err:
        raise ConfigError(f"cannot read the site secret {path}: {err.strerror}") from err
    if len(secret) < MIN_SECRET_BYTES:
        raise ConfigError(f"the site secret {path} has {len(secret)} bytes; use at least {MIN_SECRET_BYTES} random bytes")
    return secret


def normalise_id(id_number: str) -> str:
    """ID numbers as typed, scanned or read from a card: no spaces/hyphens, upper case."""
    out = re.sub(r"[\s\-]", "", id_number).upper()
    if not out:
        raise ValueError("empty ID number")
    return out


def pseudonym(secret: bytes, site: str, id_number: str) -> str:
    """The resident's pseudonymous id at ``site`` (``r-`` + 16 hex digits)."""
    msg = f"vitalgate-pseudonym/v1\x1f{site}\x1f{normalise_id(id_number)}".encode()
    return "r-" + hmac.new(secret, msg, hashlib.sha256).hexdigest()[:16]


def _fernet(secret: bytes) -> Fernet:
    import base64

    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"vitalgate identity table v1").derive(secret)
    return Fernet(base64.urlsafe_b64encode(key))


class IdentityTable:
    """Pseudonym -> identity (encrypted), consent state. SQLite beside the outbox."""

    def __init__(self, path: Path, secret: bytes, site: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.secret, self.site = secret, site
        self.fernet = _fernet(secret)
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(
            "CREATE TABLE IF NOT EXISTS identities (pseudonym TEXT PRIMARY KEY, sealed BLOB NOT NULL, at REAL NOT NULL);"
            "CREATE TABLE IF NOT EXISTS consent (pseudonym TEXT PRIMARY KEY, granted INTEGER NOT NULL,"
            " at REAL NOT NULL, by TEXT NOT NULL);"
        )

    def close(self) -> None:
        self.db.close()

    def enroll(self, id_number: str, name: str) -> str:
        p = pseudonym(self.secret, self.site, id_number)
        sealed = self.fernet.encrypt(json.dumps({"id_number": normalise_id(id_number), "name": name}).encode())
        self.db.execute("INSERT INTO identities VALUES (?,?,?) ON CONFLICT(pseudonym) DO UPDATE SET sealed = excluded.sealed",
                        (p, sealed, time.time()))
        return p

    def lookup(self, p: str) -> dict[str, str] | None:
        row = self.db.execute("SELECT sealed FROM identities WHERE pseudonym = ?", (p,)).fetchone()
        if row is None:
            return None
        try:
            return dict(json.loads(self.fernet.decrypt(row[0])))
        except InvalidToken as err:
            raise VitalgateError("the identity table was sealed with another site secret") from err

    def set_consent(self, p: str, granted: bool, by: str) -> None:
        self.db.execute("INSERT INTO consent VALUES (?,?,?,?) ON CONFLICT(pseudonym) DO UPDATE SET "
                        "granted = excluded.granted, at = excluded.at, by = excluded.by", (p, int(granted), time.time(), by))

    def consent(self, p: str) -> bool | None:
        row = self.db.execute("SELECT granted FROM consent WHERE pseudonym = ?", (p,)).fetchone()
        return None if row is None else bool(row[0])

    def erase(self, p: str) -> int:
        n = self.db.execute("DELETE FROM identities WHERE pseudonym = ?", (p,)).rowcount
        self.db.execute("DELETE FROM consent WHERE pseudonym = ?", (p,))
        return int(n)


@dataclass
class ConsentGate:
    """An attributor that relays only residents who consented; others are held with the reason."""

    inner: Attributor
    table: IdentityTable

    def attribute(self, reading: Reading) -> Attributed | Held:
        verdict = self.inner.attribute(reading)
        if isinstance(verdict, Attributed) and self.table.consent(verdict.resident) is not True:
            return Held(f"{verdict.resident} has not consented to relaying (or withdrew consent)")
        return verdict


def identity_table(settings: Any) -> IdentityTable:
    """The gateway's identity table (``[privacy] secret_file``, ``identities`` path)."""
    priv = dict(settings.privacy)
    unknown = set(priv) - {"require_consent", "secret_file", "identities"}
    if unknown:
        raise ConfigError(f"[privacy]: unknown key(s) {sorted(unknown)}; use require_consent, secret_file, identities")
    secret = load_secret(Path(priv["secret_file"]) if priv.get("secret_file") else None)
    path = Path(priv.get("identities") or Path(settings.outbox.path).parent / "identities.sqlite")
    return IdentityTable(path, secret, settings.site.id)


# -- erasure in the stores ---------------------------------------------------------------------


def erase_sqlite_store(path: Path, resident: str) -> int:
    """Delete a resident's readings and alerts from the SQLite store; the number of readings."""
    db = sqlite3.connect(path, timeout=10)
    try:
        with db:
            db.execute("DELETE FROM components WHERE reading_id IN (SELECT reading_id FROM readings WHERE resident = ?)", (resident,))
            n = db.execute("DELETE FROM readings WHERE resident = ?", (resident,)).rowcount
            db.execute("DELETE FROM alerts WHERE resident = ?", (resident,))
    finally:
        db.close()
    return int(n)


def erase_victoria(url: str, resident: str) -> None:
    """VictoriaMetrics: delete every series tagged with the resident (its documented admin API)."""
    q = urllib.parse.urlencode({"match[]": f'{{resident="{resident}"}}'})
    req = urllib.request.Request(f"{url.rstrip('/')}/api/v1/admin/tsdb/delete_series?{q}", method="POST")
    with urllib.request.urlopen(req, timeout=30) as resp:
        if resp.status not in (200, 204):
            raise VitalgateError(f"delete_series answered {resp.status}")


# -- de-identified export ----------------------------------------------------------------------

#: Fields a de-identified export may carry; everything else (pseudonyms, devices, ids) is dropped.
EXPORT_COLUMNS = ("subject", "day", "time", "kind", "component", "value", "unit", "context")


def deidentified_export(store: Path, out: Path, *, k: int = 5, max_shift_days: int = 30,
                        rng: random.Random | None = None) -> dict[str, Any]:
    """Write a research export: random subject numbers per export, each subject's dates shifted
    by a random number of days (intervals within a subject kept), and an aggregate table where
    cells with fewer than ``k`` subjects are suppressed. Returns a summary."""
    rng = rng or random.Random(secrets.randbits(64))
    db = sqlite3.connect(store, timeout=10)
    try:
        rows = db.execute(
            "SELECT r.resident, r.measured_at, r.kind, c.name, c.value, c.unit, json_extract(r.payload, '$.context') "
            "FROM readings r JOIN components c ON c.reading_id = r.reading_id ORDER BY r.resident, r.measured_at"
        ).fetchall()
    finally:
        db.close()
    from datetime import datetime

    subjects: dict[str, str] = {}
    shifts: dict[str, timedelta] = {}
    order = sorted({r[0] for r in rows}, key=lambda _: rng.random())
    for i, resident in enumerate(order, start=1):
        subjects[resident] = f"S{i:04d}"
        shifts[resident] = timedelta(days=rng.randint(-max_shift_days, max_shift_days))
    cells: Counter[tuple[str, str]] = Counter()
    seen: set[tuple[str, str, str]] = set()
    with out.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(EXPORT_COLUMNS)
        for resident, measured, kind, comp, value, unit, context in rows:
            t = datetime.fromisoformat(measured) + shifts[resident]
            w.writerow([subjects[resident], t.date().isoformat(), t.strftime("%H:%M"), kind, comp, value, unit,
                        context or ""])
            key = (resident, kind, t.strftime("%Y-%m"))
            if key not in seen:
                seen.add(key)
                cells[(kind, t.strftime("%Y-%m"))] += 1
    agg = out.with_name(out.stem + "-aggregate.csv")
    suppressed = 0
    with agg.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(("kind", "month", "subjects"))
        for (kind, month), n in sorted(cells.items()):
            if n < k:
                suppressed += 1
            w.writerow((kind, month, n if n >= k else f"<{k}"))
    return {"subjects": len(subjects), "rows": len(rows), "cells": len(cells), "suppressed": suppressed,
            "aggregate": str(agg)}
