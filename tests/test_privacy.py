"""Privacy: keyed pseudonyms (stable, unlinkable across sites), the identity table encrypted at
rest, consent gating, erasure (SQLite store and a real VictoriaMetrics), and a de-identified
export checked by a scanner for identifiers."""

from __future__ import annotations

import asyncio
import csv
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from dataflow import BP_CUFF, vm_export
from typer.testing import CliRunner

from vitalgate.cli import app
from vitalgate.cloud_bridge.sinks import InfluxSink, SqliteSink
from vitalgate.cloud_bridge.wire import Observation
from vitalgate.gateway.daemon import StaticAttributor
from vitalgate.gateway.ports import Attributed, Held
from vitalgate.gateway.privacy import (
    ConsentGate,
    IdentityTable,
    deidentified_export,
    erase_sqlite_store,
    erase_victoria,
    pseudonym,
)
from vitalgate.readings import Reading
from vitalgate.vocabulary import Kind

SECRET_A = b"a" * 32
SECRET_B = b"b" * 32
ID = "110101 19490101 123X"
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def test_pseudonyms_are_stable_and_unlinkable_across_sites() -> None:
    p = pseudonym(SECRET_A, "hut7", ID)
    assert p == pseudonym(SECRET_A, "hut7", "110101-19490101-123x")  # typed differently: same person
    assert re.fullmatch(r"r-[0-9a-f]{16}", p)
    assert pseudonym(SECRET_A, "hut9", ID) != p  # another site
    assert pseudonym(SECRET_B, "hut7", ID) != p  # another secret
    assert ID.replace(" ", "") not in p


def test_identity_table_is_encrypted_at_rest(tmp_path: Path) -> None:
    t = IdentityTable(tmp_path / "ids.sqlite", SECRET_A, "hut7")
    p = t.enroll(ID, "张三 Zhang San")
    assert t.lookup(p) == {"id_number": "11010119490101123X", "name": "张三 Zhang San"}
    t.close()
    raw = (tmp_path / "ids.sqlite").read_bytes() + b"".join(f.read_bytes() for f in tmp_path.glob("ids.sqlite-*"))
    assert b"Zhang" not in raw
    assert b"11010119490101123X" not in raw
    assert "张三".encode() not in raw
    other = IdentityTable(tmp_path / "ids.sqlite", SECRET_B, "hut7")
    with pytest.raises(Exception, match="another site secret"):
        other.lookup(p)


def test_consent_gates_relaying(tmp_path: Path) -> None:
    t = IdentityTable(tmp_path / "ids.sqlite", SECRET_A, "hut7")
    p = t.enroll(ID, "x")
    gate = ConsentGate(StaticAttributor({BP_CUFF.address: p}), t)
    r = Reading.of(Kind.BLOOD_PRESSURE, {"systolic": 120.0, "diastolic": 80.0}, T0, BP_CUFF)
    held = gate.attribute(r)
    assert isinstance(held, Held)  # never asked
    assert "not consented" in held.reason
    t.set_consent(p, True, "nurse-a")
    assert gate.attribute(r) == Attributed(p)
    t.set_consent(p, False, "nurse-a")
    assert isinstance(gate.attribute(r), Held)  # withdrawn


def obs_of(resident: str, n: int, start: datetime = T0) -> list[Observation]:
    return [Observation.from_reading(
        Reading.of(Kind.BLOOD_PRESSURE, {"systolic": 120.0 + i, "diastolic": 80.0}, start + timedelta(hours=i), BP_CUFF),
        site="hut7", gateway="gw-a", resident=resident) for i in range(n)]


def test_erasure_from_the_sqlite_store(tmp_path: Path) -> None:
    async def fill() -> None:
        async with SqliteSink(tmp_path / "store.sqlite") as s:
            await s.write(obs_of("r-aaaa", 3) + obs_of("r-bbbb", 2, T0 + timedelta(days=10)), [])

    asyncio.run(fill())
    assert erase_sqlite_store(tmp_path / "store.sqlite", "r-aaaa") == 3
    sink = SqliteSink(tmp_path / "store.sqlite")
    assert {o.resident for o in sink.observations()} == {"r-bbbb"}
    sink.close()


async def test_erasure_from_victoriametrics(victoria) -> None:  # type: ignore[no-untyped-def]
    async with InfluxSink(victoria.url, token=None, org="o", bucket="b") as s:
        await s.write(obs_of("r-aaaa", 3) + obs_of("r-bbbb", 2, T0 + timedelta(days=10)), [])
    victoria.flush()
    assert {x["metric"]["resident"] for x in vm_export(victoria.url, '{__name__=~"blood_pressure_.*"}')} == {"r-aaaa", "r-bbbb"}
    erase_victoria(victoria.url, "r-aaaa")
    victoria.flush()
    assert {x["metric"]["resident"] for x in vm_export(victoria.url, '{__name__=~"blood_pressure_.*"}')} == {"r-bbbb"}


def test_deidentified_export_has_no_identifier(tmp_path: Path) -> None:
    residents = [f"r-{i:016x}" for i in range(7)]

    async def fill() -> None:
        async with SqliteSink(tmp_path / "store.sqlite") as s:
            for i, r in enumerate(residents):
                await s.write(obs_of(r, 2 + i % 3, T0 + timedelta(days=i)), [])

    asyncio.run(fill())
    out = tmp_path / "export.csv"
    summary = deidentified_export(tmp_path / "store.sqlite", out, k=5)
    text = out.read_text() + Path(summary["aggregate"]).read_text()
    # The scanner: no pseudonym, no device address/serial/model, no gateway or site, no original dates.
    assert not re.search(r"r-[0-9a-f]{16}", text)
    assert BP_CUFF.address not in text
    assert (BP_CUFF.serial or "SN1") not in text
    assert "hut7" not in text
    assert "gw-a" not in text
    rows = list(csv.DictReader(out.read_text().splitlines()))
    assert {r["subject"] for r in rows} == {f"S{i:04d}" for i in range(1, 8)}
    assert set(rows[0]) == {"subject", "day", "time", "kind", "component", "value", "unit", "context"}
    original_days = {(T0 + timedelta(days=i)).date().isoformat() for i in range(7)}
    assert {r["day"] for r in rows} != original_days  # dates shifted
    agg = list(csv.DictReader(Path(summary["aggregate"]).read_text().splitlines()))
    assert all(a["subjects"] == "<5" or int(a["subjects"]) >= 5 for a in agg)


def test_privacy_commands(tmp_path: Path) -> None:
    secret = tmp_path / "site.secret"
    secret.write_bytes(SECRET_A)
    cfg = tmp_path / "gw.toml"
    cfg.write_text(f'[site]\nid = "hut7"\n[outbox]\npath = "{tmp_path / "outbox.sqlite"}"\n'
                   f'[store]\nsqlite_path = "{tmp_path / "store.sqlite"}"\n[privacy]\nsecret_file = "{secret}"\n')
    cli = CliRunner()
    r = cli.invoke(app, ["privacy", "enroll", ID, "--name", "Zhang San", "-c", str(cfg)])
    assert r.exit_code == 0, r.output
    p = r.stdout.strip()
    assert p == pseudonym(SECRET_A, "hut7", ID)
    assert cli.invoke(app, ["privacy", "consent", p, "-c", str(cfg), "--by", "nurse-a"]).exit_code == 0
    erased = cli.invoke(app, ["privacy", "erase", p, "-c", str(cfg), "--by", "nurse-a"])
    assert erased.exit_code == 0, erased.output
    assert "erased" in erased.stdout
    short = tmp_path / "short.secret"
    short.write_bytes(b"x" * 8)
    cfg.write_text(cfg.read_text().replace(str(secret), str(short)))
    bad = cli.invoke(app, ["privacy", "enroll", ID, "--name", "x", "-c", str(cfg)])
    assert bad.exit_code == 2
    assert "at least 32" in bad.stderr
