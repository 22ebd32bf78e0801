"""Health huts: every attribution path of the kit attributor, held readings assigned or
discarded by a person with an audit trail, end to end through a real mosquitto and store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from dataflow import settings, until, worker
from typer.testing import CliRunner

from vitalgate.cli import app
from vitalgate.cloud_bridge.sinks import SqliteSink
from vitalgate.gateway.daemon import Gateway, StaticAttributor
from vitalgate.gateway.kit import KitAttributor, KitSettings, KitStore
from vitalgate.gateway.ports import Attributed, Held
from vitalgate.readings import DeviceIdentity, Reading
from vitalgate.vocabulary import Kind

CUFF = DeviceIdentity("E0:00:00:00:00:01", model="BP5150")
METER = DeviceIdentity("E0:00:00:00:00:02", model="Accu-Chek Guide")
HOME_CUFF = DeviceIdentity("E0:00:00:00:00:09", model="BP5465")
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
KIT = KitSettings(enabled=True, kits={"kit-1": [CUFF.address, METER.address]},
                  slots={f"{HOME_CUFF.address}#1": "r-grandpa", f"{HOME_CUFF.address}#2": "r-grandma"})


def bp(at: datetime, *, received: datetime | None = None, slot: int | None = None, dev: DeviceIdentity = CUFF,
       stored: bool = False) -> Reading:
    return Reading.of(Kind.BLOOD_PRESSURE, {"systolic": 130.0, "diastolic": 85.0}, at, dev,
                      received_at=received or at, user_slot=slot, stored=stored)


@pytest.fixture
def kit(tmp_path: Path) -> tuple[KitAttributor, KitStore]:
    store = KitStore(tmp_path / "kit.sqlite")
    return KitAttributor(KIT, store, fallback=StaticAttributor.from_config({"devices": {"E0:00:00:00:00:07": "r-x"}})), store


def test_reading_inside_the_window_belongs_to_the_checked_in_resident(kit) -> None:  # type: ignore[no-untyped-def]
    att, store = kit
    store.checkin("kit-1", "r-001", "nurse-a", timedelta(minutes=15), at=NOW)
    assert att.attribute(bp(NOW + timedelta(minutes=3))) == Attributed("r-001")
    assert isinstance(att.attribute(bp(NOW + timedelta(minutes=16))), Held)  # the window ended


def test_checkout_ends_the_window(kit) -> None:  # type: ignore[no-untyped-def]
    att, store = kit
    store.checkin("kit-1", "r-001", "nurse-a", timedelta(minutes=15), at=NOW)
    store.checkout("kit-1", "nurse-a", at=NOW + timedelta(minutes=5))
    verdict = att.attribute(bp(NOW + timedelta(minutes=6)))
    assert isinstance(verdict, Held)
    assert "no check-in at kit kit-1" in verdict.reason


def test_no_check_in_is_held(kit) -> None:  # type: ignore[no-untyped-def]
    att, _ = kit
    verdict = att.attribute(bp(NOW))
    assert isinstance(verdict, Held)
    assert "no check-in" in verdict.reason


def test_overlapping_check_ins_are_held_never_guessed(kit) -> None:  # type: ignore[no-untyped-def]
    att, store = kit
    store.checkin("kit-1", "r-001", "nurse-a", timedelta(minutes=15), at=NOW)
    store.checkin("kit-1", "r-002", "nurse-b", timedelta(minutes=15), at=NOW + timedelta(minutes=2))
    verdict = att.attribute(bp(NOW + timedelta(minutes=4)))
    assert isinstance(verdict, Held)
    assert "r-001 and r-002 overlap" in verdict.reason


def test_stored_record_from_before_the_check_in_is_held(kit) -> None:  # type: ignore[no-untyped-def]
    att, store = kit
    store.checkin("kit-1", "r-001", "nurse-a", timedelta(minutes=15), at=NOW)
    old = bp(NOW - timedelta(hours=3), received=NOW + timedelta(minutes=1), stored=True)
    verdict = att.attribute(old)
    assert isinstance(verdict, Held)
    assert "before r-001's check-in" in verdict.reason


def test_device_clock_far_off_is_held(kit) -> None:  # type: ignore[no-untyped-def]
    att, store = kit
    store.checkin("kit-1", "r-001", "nurse-a", timedelta(minutes=15), at=NOW)
    skewed = bp(NOW + timedelta(minutes=2), received=NOW + timedelta(minutes=2) + timedelta(hours=2))
    verdict = att.attribute(skewed)
    assert isinstance(verdict, Held)
    assert "off by 120 min" in verdict.reason


def test_household_user_slots(kit) -> None:  # type: ignore[no-untyped-def]
    att, _ = kit
    assert att.attribute(bp(NOW, slot=1, dev=HOME_CUFF)) == Attributed("r-grandpa")
    assert att.attribute(bp(NOW, slot=2, dev=HOME_CUFF)) == Attributed("r-grandma")
    unknown = att.attribute(bp(NOW, slot=3, dev=HOME_CUFF))
    assert isinstance(unknown, Held)  # an unmapped slot of a device in no kit


def test_device_in_no_kit_falls_back_to_the_static_table(kit) -> None:  # type: ignore[no-untyped-def]
    att, _ = kit
    assert att.attribute(bp(NOW, dev=DeviceIdentity("E0:00:00:00:00:07"))) == Attributed("r-x")


async def test_held_reading_assigned_by_a_person_reaches_the_store_with_audit(tmp_path: Path, mosquitto) -> None:  # type: ignore[no-untyped-def]
    kit_cfg = {"enabled": True, "kits": {"kit-1": [CUFF.address]}}
    cfg = settings(tmp_path, mosquitto.url, kit=kit_cfg)
    toml = tmp_path / "gw.toml"
    toml.write_text(
        f'[site]\nid = "hut7"\ngateway = "gw-a"\n[mqtt]\nurl = "{mosquitto.url}"\n'
        f'[outbox]\npath = "{tmp_path / "outbox.sqlite"}"\n'
        f'[kit]\nenabled = true\n[kit.kits]\nkit-1 = ["{CUFF.address}"]\n'
    )
    now = datetime.now(UTC)
    orphan = bp(now)
    cli = CliRunner()
    async with SqliteSink(tmp_path / "store.sqlite") as sink, worker(cfg, sink), Gateway(cfg, [], tick_s=0.05) as gw:
        assert gw.accept_reading(orphan) is None  # nobody checked in: held
        pending = cli.invoke(app, ["kit", "pending", "--config", str(toml), "--json"])
        assert pending.exit_code == 0
        assert orphan.reading_id in pending.stdout
        assert "no check-in at kit kit-1" in pending.stdout
        refused = cli.invoke(app, ["kit", "assign", orphan.reading_id, "r-001", "--config", str(toml), "--by", "nurse-a", "--why", " "])
        assert refused.exit_code == 2  # no reason given: refused
        ok = cli.invoke(app, ["kit", "assign", orphan.reading_id, "r-001", "--config", str(toml), "--by", "nurse-a",
                              "--why", "resident confirmed the 08:59 measurement at the desk"])
        assert ok.exit_code == 0, ok.output
        await until(lambda: sink.count() == 1, within=20, what="the assigned reading stored")
        (stored,) = sink.observations()
        assert (stored.reading_id, stored.resident) == (orphan.reading_id, "r-001")
        assert gw.outbox.held() == []
        checked = cli.invoke(app, ["kit", "checkin", "kit-1", "r-002", "--config", str(toml), "--by", "nurse-a"])
        assert checked.exit_code == 0
        later = bp(datetime.now(UTC) + timedelta(seconds=1))
        assert gw.accept_reading(later) is not None  # r-002 is checked in now
        await until(lambda: sink.count() == 2, within=20, what="the checked-in reading stored")
    trail = cli.invoke(app, ["kit", "audit", "--config", str(toml)])
    actions = trail.stdout.splitlines()
    assert any('"action": "assign"' in a and "nurse-a" in a and "confirmed" in a for a in actions)
    assert any('"action": "checkin"' in a for a in actions)


def test_discard_is_audited_with_the_reading(tmp_path: Path) -> None:
    from vitalgate.gateway.outbox import Outbox

    toml = tmp_path / "gw.toml"
    toml.write_text(f'[outbox]\npath = "{tmp_path / "outbox.sqlite"}"\n[kit]\nenabled = true\n')
    with Outbox(tmp_path / "outbox.sqlite") as box:
        box.hold("rid-1", "no check-in", '{"kind": "glucose", "values": {"glucose": 5.5}}')
    r = CliRunner().invoke(app, ["kit", "discard", "rid-1", "--config", str(toml), "--by", "nurse-b", "--why", "test strip"])
    assert r.exit_code == 0, r.output
    trail = CliRunner().invoke(app, ["kit", "audit", "--config", str(toml)]).stdout
    assert '"action": "discard"' in trail
    assert "glucose" in trail  # the discarded reading itself is kept in the audit
    missing = CliRunner().invoke(app, ["kit", "discard", "rid-1", "--config", str(toml), "--by", "x", "--why", "y"])
    assert missing.exit_code == 2
