"""``vitalgate replay READINGS.csv [--care-plan PLAN.toml] [--skip-bad]``: the stable contract."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from vitalgate.cli import app

HEADER = "resident,time,kind,value,unit,context\n"


def replay(tmp_path: Path, body: str, *extra: str, header: str = HEADER) -> tuple[int, list[dict], str]:  # type: ignore[type-arg]
    csv = tmp_path / "readings.csv"
    csv.write_text(header + body)
    r = CliRunner().invoke(app, ["replay", str(csv), *extra])
    alerts = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    return r.exit_code, alerts, r.stderr


def bp_rows(who: str, day: int, s: float, d: float, hh: str = "08:12") -> str:
    t = f"2026-03-{day:02d}T{hh}:00+08:00"
    return f"{who},{t},bp_systolic,{s},mmHg,\n{who},{t},bp_diastolic,{d},mmHg,\n"


def test_three_days_over_target_and_an_urgent_reading(tmp_path: Path) -> None:
    body = bp_rows("r-001", 1, 150, 92) + bp_rows("r-001", 2, 152, 95) + bp_rows("r-001", 3, 186, 104)
    code, alerts, _ = replay(tmp_path, body)
    assert code == 0
    assert [(a["resident"], a["rule"], a["severity"], a["time"]) for a in alerts] == [
        ("r-001", "bp_urgent", "urgent", "2026-03-03T08:12:00+08:00"),
        ("r-001", "bp_over_target_3d", "warning", "2026-03-03T08:12:00+08:00"),
    ]
    assert "SBP" in alerts[0]["reason"] or "BP 186/104" in alerts[0]["reason"]


def test_glucose_rules_and_units(tmp_path: Path) -> None:
    body = (
        "r-002,2026-03-01T07:00:00+08:00,glucose,133,mg/dL,fasting\n"  # 7.38 mmol/L
        "r-002,2026-03-09T07:00:00+08:00,glucose,7.1,mmol/L,fasting\n"
        "r-003,2026-03-09T12:00:00+08:00,glucose,3.5,mmol/L,random\n"
        "r-004,2026-03-09T12:00:00+08:00,spo2,84,%,\n"
        "r-005,2026-03-09T12:00:00+08:00,heart_rate,130,/min,\n"
    )
    code, alerts, _ = replay(tmp_path, body)
    assert code == 0
    assert {(a["resident"], a["rule"], a["severity"]) for a in alerts} == {
        ("r-002", "glucose_fasting_persistent", "warning"),
        ("r-003", "glucose_urgent_low", "urgent"),
        ("r-004", "spo2_urgent", "critical"),
        ("r-005", "heart_rate_high", "warning"),
    }


def test_care_plan_changes_the_target(tmp_path: Path) -> None:
    plan = tmp_path / "plan.toml"
    plan.write_text('[residents.r-dm]\nbp_target_sbp = 130\nbp_target_dbp = 80\n')
    body = "".join(bp_rows(who, d, 135, 82) for d in (1, 2, 3) for who in ("r-dm", "r-x"))
    code, alerts, _ = replay(tmp_path, body, "--care-plan", str(plan))
    assert code == 0
    assert [(a["resident"], a["rule"]) for a in alerts] == [("r-dm", "bp_over_target_3d")]
    code, alerts, _ = replay(tmp_path, body)
    assert alerts == []


def test_unsorted_rows_are_replayed_in_time_order(tmp_path: Path) -> None:
    body = bp_rows("r-001", 3, 150, 95) + bp_rows("r-001", 1, 150, 95) + bp_rows("r-001", 2, 150, 95)
    _, alerts, _ = replay(tmp_path, body)
    assert [(a["rule"], a["time"][:10]) for a in alerts] == [("bp_over_target_3d", "2026-03-03")]


def test_a_bad_row_names_line_and_column_and_prints_nothing(tmp_path: Path) -> None:
    body = bp_rows("r-001", 1, 186, 104) + "r-001,2026-03-02T08:00:00,bp_systolic,150,mmHg,\n"
    code, alerts, err = replay(tmp_path, body)
    assert code == 2
    assert alerts == []
    assert "line 4, column 'time'" in err
    assert "offset" in err


def test_skip_bad_reports_and_goes_on(tmp_path: Path) -> None:
    body = (
        "r-001,2026-03-02T08:00:00+08:00,glucose,abc,mmol/L,fasting\n"
        "r-001,2026-03-02T08:00:00+08:00,weight,70,kg,\n"
        "r-001,2026-03-02T08:00:00+08:00,glucose,17.2,mmol/L,random\n"
        "r-001,2026-03-02T08:00:00+08:00,spo2,95,mmHg,\n"
    )
    code, alerts, err = replay(tmp_path, body, "--skip-bad")
    assert code == 0
    assert [a["rule"] for a in alerts] == ["glucose_urgent_high"]
    assert "line 2, column 'value'" in err
    assert "line 3, column 'kind'" in err
    assert "line 5, column 'unit'" in err


def test_missing_columns_and_missing_file(tmp_path: Path) -> None:
    code, _, err = replay(tmp_path, "r-1,2026-03-01T08:00:00+08:00,spo2,95\n", header="resident,time,kind,value\n")
    assert code == 2
    assert "header lacks unit, context" in err
    r = CliRunner().invoke(app, ["replay", str(tmp_path / "none.csv")])
    assert r.exit_code == 2
    assert "no such file" in r.stderr


def test_bad_care_plan_is_a_clear_error(tmp_path: Path) -> None:
    plan = tmp_path / "plan.toml"
    plan.write_text("bp_urgent_sbp = 'high'\n")
    code, _, err = replay(tmp_path, bp_rows("r", 1, 120, 80), "--care-plan", str(plan))
    assert code == 2
    assert "bp_urgent_sbp" in err
