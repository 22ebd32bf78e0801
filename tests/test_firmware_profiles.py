"""Firmware profiles: every shipped profile loads and matches its sample advertisement; mistakes
name the file, the key and the fix; ``vitalgate devices list`` prints what is supported."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vitalgate.cli import app
from vitalgate.device_drivers.profiles import find, load_profiles
from vitalgate.errors import ProfileError

PROFILES = load_profiles()


def test_at_least_ten_real_models_across_the_four_kinds() -> None:
    real = [p for p in PROFILES if p.match.specific and p.supported]
    assert len(real) >= 10
    assert {p.kind for p in real} >= {"blood_pressure", "glucose", "pulse_oximeter", "ecg"}


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.id)
def test_profile_matches_its_sample_advertisement(profile) -> None:  # type: ignore[no-untyped-def]
    assert profile.samples, f"{profile.source_file}: add a [[samples]] advertisement"
    for s in profile.samples:
        assert find(s.local_name, s.services, s.manufacturer_ids) == profile


def test_every_quirk_has_a_source_comment() -> None:
    root = Path(__file__).resolve().parent.parent / "vitalgate" / "firmware_profiles"
    for f in root.glob("*.toml"):
        text = f.read_text()
        if "[quirks]" in text:
            body = text.split("[quirks]", 1)[1].split("[[samples]]")[0]
            assert "#" in body, f"{f.name}: state the source of each quirk in a comment"


def test_specific_profile_wins_over_generic_and_unknown_is_none() -> None:
    assert find("BLESmart_00000116", ["1810"]).id == "omron-bp5150"  # type: ignore[union-attr]
    assert find("SomeCuff", ["00001810-0000-1000-8000-00805f9b34fb"]).id == "sig-blood-pressure"  # type: ignore[union-attr]
    assert find("Thermo", ["1809"]) is None
    verio = find("OneTouch 4E2A", [])
    assert verio is not None
    assert not verio.supported


def _copy(tmp_path: Path) -> Path:
    d = tmp_path / "profiles"
    shutil.copytree(Path(__file__).resolve().parent.parent / "vitalgate" / "firmware_profiles", d,
                    ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return d


@pytest.mark.parametrize(("edit", "message"), [
    (lambda t: t.replace('kind = "blood_pressure"', 'kind = "toaster"'), "key 'kind'"),
    (lambda t: t.replace('services = ["1810"]', 'services = ["18"]'), "key 'match.services'.*16-bit UUID"),
    (lambda t: t.replace('id = "omron-bp5150"', 'id = "omron-x"'), "must equal the file name"),
    (lambda t: "colour = 'red'\n" + t, "key 'colour'"),
    (lambda t: t.replace("[match]", "[match"), "not valid TOML"),
])
def test_profile_errors_name_file_key_and_fix(tmp_path: Path, edit, message: str) -> None:  # type: ignore[no-untyped-def]
    d = _copy(tmp_path)
    f = d / "omron-bp5150.toml"
    f.write_text(edit(f.read_text()))
    with pytest.raises(ProfileError, match=message) as info:
        load_profiles(d)
    assert "omron-bp5150.toml" in str(info.value)


def test_devices_list(tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["devices", "list", "--json"])
    assert r.exit_code == 0
    rows = {x["id"]: x for x in map(json.loads, r.stdout.splitlines())}
    assert rows["polar-h10"]["kind"] == "ecg"
    assert rows["lifescan-onetouch-verio"]["supported"] is False
    assert "proprietary" in rows["lifescan-onetouch-verio"]["reason"]
    assert rows["omron-bp5150"]["quirks"]["needs_bonding"] is True
    d = _copy(tmp_path)
    (d / "broken.toml").write_text('id = "broken"\n')
    bad = CliRunner().invoke(app, ["devices", "list", "--profiles", str(d)])
    assert bad.exit_code == 2
    assert "broken.toml" in bad.stderr
