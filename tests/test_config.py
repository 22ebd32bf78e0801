"""``vitalgate config check``: every problem with its key and a fix, exit 1, no traceback."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from vitalgate.cli import app

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


def check(path: Path) -> tuple[int, str]:
    result = runner.invoke(app, ["config", "check", str(path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def test_example_file_is_valid() -> None:
    code, out = check(ROOT / "vitalgate.example.toml")
    assert code == 0, out
    assert "OK" in out


def test_every_problem_is_listed_with_key_and_fix(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(
        '[site]\nid = "bad site"\n'
        '[mqtt]\nurl = "http://broker"\nprotocol = "4"\nkeepalive_s = 1\n'
        '[outbox]\nsynchronos = "FULL"\n'
        '[store]\nkind = "influx"\n'
    )
    code, out = check(cfg)
    assert code == 1
    for key in ("site.id", "mqtt.url", "mqtt.protocol", "mqtt.keepalive_s", "outbox.synchronos", "store"):
        assert f"  {key}" in out, (key, out)
    assert "fix:" in out
    assert "Traceback" not in out


def test_files_and_resident_table_are_checked(tmp_path: Path) -> None:
    cfg = tmp_path / "files.toml"
    cfg.write_text(
        f'[mqtt.tls]\nca_file = "{tmp_path / "missing-ca.pem"}"\n'
        '[residents.devices]\n"AA:BB#x" = "r-1"\n"AA:CC" = "has space"\n'
    )
    code, out = check(cfg)
    assert code == 1
    assert "mqtt.tls.ca_file" in out
    assert "missing-ca.pem" in out
    assert "residents.devices.AA:BB#x" in out
    assert "residents.devices.AA:CC" in out


def test_not_toml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "x.toml"
    bad.write_text("[site\nid=")
    code, out = check(bad)
    assert code == 1
    assert "not valid TOML" in out or "(file)" in out
    code, out = check(tmp_path / "absent.toml")
    assert code == 1
    assert "no such file" in out


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch) -> None:
    from vitalgate.config import load_settings

    cfg = tmp_path / "c.toml"
    cfg.write_text('[mqtt]\nurl = "mqtt://127.0.0.1:1883"\n')
    monkeypatch.setenv("VITALGATE_MQTT__URL", "mqtts://broker.example:8883")
    assert load_settings(cfg).mqtt.url == "mqtts://broker.example:8883"


def test_config_check_validates_the_owned_sections(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from vitalgate.cli import app

    bad = tmp_path / "bad.toml"
    bad.write_text('[rules]\nbp_urgent_sbp = -1\n[rules.escalation]\nurgent = "soon"\n[ecg]\nwindow_beats = "x"\n'
                   'af_fraction = 0.4\n[ecg.qrs]\nvf_leak = 0.3\n[ecg.quality]\nflat_uv = 50\n[kit]\nwindow_min = 0\n')
    r = CliRunner().invoke(app, ["config", "check", str(bad)])
    assert r.exit_code == 1
    # af_fraction: a threshold of an earlier AF detector; unknown keys are refused, not ignored
    for key in ("rules.bp_urgent_sbp", "rules.escalation.urgent", "ecg.window_beats", "ecg.af_fraction",
                "ecg.qrs.vf_leak", "ecg.quality.flat_uv", "kit.window_min"):
        assert key in r.output
