"""Every vitals rule at, just under and just over its threshold; windows across midnight and
time zones; one finding per episode (hysteresis); per-resident care plans."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from vitalgate.errors import ConfigError
from vitalgate.signal.rules import CarePlan, Measurement, RuleEngine

CST = timezone(timedelta(hours=8))
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=CST)


def bp(s: float, d: float, t: datetime = T0, who: str = "r1") -> Measurement:
    return Measurement(who, t, "bp", {"systolic": s, "diastolic": d})


def glu(g: float, t: datetime = T0, ctx: str | None = "random", who: str = "r1") -> Measurement:
    return Measurement(who, t, "glucose", {"glucose": g}, ctx)


def one(kind: str, name: str, v: float, t: datetime = T0) -> Measurement:
    return Measurement("r1", t, kind, {name: v})  # type: ignore[arg-type]


def rules_of(findings: list) -> list[str]:  # type: ignore[type-arg]
    return [f.rule for f in findings]


@pytest.mark.parametrize(("s", "d", "fires"), [
    (180, 80, True), (179, 109, False), (181, 80, True), (120, 110, True), (120, 109, False), (120, 111, True),
])
def test_bp_urgent_threshold(s: float, d: float, fires: bool) -> None:
    assert ("bp_urgent" in rules_of(RuleEngine().feed(bp(s, d)))) is fires


def test_bp_urgent_once_per_episode_with_hysteresis() -> None:
    e = RuleEngine()
    seq = [186, 182, 177, 181, 170, 184]  # 177 is within the 5 mmHg margin: same episode
    fired = [bool(rules_of(e.feed(bp(s, 80, T0 + timedelta(hours=i))))) for i, s in enumerate(seq)]
    assert fired == [True, False, False, False, False, True]  # 170 ended it; 184 is a new one


@pytest.mark.parametrize(("s", "d", "fires"), [(140, 80, True), (139, 89, False), (141, 80, True), (130, 90, True), (130, 89, False)])
def test_bp_over_target_on_the_third_day(s: float, d: float, fires: bool) -> None:
    e = RuleEngine()
    out = []
    for day in range(3):
        out += e.feed(bp(s, d, T0 + timedelta(days=day)))
    assert ("bp_over_target_3d" in rules_of(out)) is fires
    if fires:
        f = next(f for f in out if f.rule == "bp_over_target_3d")
        assert f.time == T0 + timedelta(days=2)  # on the third day, not before
        assert "3 days in a row over the target 140/90" in f.reason
        assert f.severity == "warning"


def test_bp_over_target_needs_consecutive_days() -> None:
    e = RuleEngine()
    days = [0, 1, 3]  # a gap on day 2
    out = [f for d in days for f in e.feed(bp(150, 95, T0 + timedelta(days=d)))]
    assert "bp_over_target_3d" not in rules_of(out)


def test_bp_daily_mean_decides_not_one_reading() -> None:
    e = RuleEngine()
    out = []
    for day in range(3):
        t = T0 + timedelta(days=day)
        out += e.feed(bp(150, 95, t))
        out += e.feed(bp(120, 75, t + timedelta(hours=10)))  # evening reading brings the mean under
    assert "bp_over_target_3d" not in rules_of(out)


def test_days_are_local_days_across_midnight_and_zones() -> None:
    # 23:30 and 00:30 local (Beijing) are different days, though 1 h apart.
    t = datetime(2026, 3, 1, 23, 30, tzinfo=CST)
    e = RuleEngine()
    out = e.feed(bp(150, 95, t)) + e.feed(bp(150, 95, t + timedelta(hours=1))) + e.feed(bp(150, 95, t + timedelta(hours=25)))
    assert "bp_over_target_3d" in rules_of(out)
    # The same instants written in UTC are 15:30, 16:30 (one UTC day) and 17:30 the next day:
    # with the care plan's time zone the local days still count.
    plan = CarePlan.from_dict({"timezone": "Asia/Shanghai"})
    e2 = RuleEngine(plan)
    out2 = [f for dt in (0, 1, 25) for f in e2.feed(bp(150, 95, (t + timedelta(hours=dt)).astimezone(UTC)))]
    assert "bp_over_target_3d" in rules_of(out2)
    e3 = RuleEngine()  # without it, UTC days: only 2 days
    out3 = [f for dt in (0, 1, 25) for f in e3.feed(bp(150, 95, (t + timedelta(hours=dt)).astimezone(UTC)))]
    assert "bp_over_target_3d" not in rules_of(out3)


def test_per_resident_target_from_the_care_plan() -> None:
    plan = CarePlan.from_dict({"residents": {"r-dm": {"bp_target_sbp": 130, "bp_target_dbp": 80}}})
    e = RuleEngine(plan)
    out = [f for d in range(3) for who in ("r-dm", "r-x") for f in e.feed(bp(135, 82, T0 + timedelta(days=d), who))]
    assert [(f.resident, f.rule) for f in out] == [("r-dm", "bp_over_target_3d")]


@pytest.mark.parametrize(("g", "fires"), [(7.0, True), (6.9, False), (7.1, True)])
def test_glucose_fasting_on_two_days_within_14(g: float, fires: bool) -> None:
    e = RuleEngine()
    out = e.feed(glu(g, T0, "fasting")) + e.feed(glu(g, T0 + timedelta(days=13), "fasting"))
    assert ("glucose_fasting_persistent" in rules_of(out)) is fires


def test_glucose_fasting_window_and_context() -> None:
    e = RuleEngine()
    out = e.feed(glu(7.5, T0, "fasting")) + e.feed(glu(7.5, T0 + timedelta(days=14), "fasting"))
    assert "glucose_fasting_persistent" not in rules_of(out)  # 14 days apart: outside the window
    e = RuleEngine()
    out = e.feed(glu(7.5, T0, "fasting")) + e.feed(glu(7.5, T0 + timedelta(hours=3), "fasting"))
    assert "glucose_fasting_persistent" not in rules_of(out)  # same day twice is one day
    e = RuleEngine()
    out = e.feed(glu(9.0, T0, "postprandial")) + e.feed(glu(9.0, T0 + timedelta(days=1), "postprandial"))
    assert "glucose_fasting_persistent" not in rules_of(out)  # not fasting


@pytest.mark.parametrize(("g", "rule", "fires"), [
    (16.7, "glucose_urgent_high", True), (16.6, "glucose_urgent_high", False), (16.8, "glucose_urgent_high", True),
    (3.9, "glucose_urgent_low", True), (4.0, "glucose_urgent_low", False), (3.8, "glucose_urgent_low", True),
])
def test_glucose_urgent(g: float, rule: str, fires: bool) -> None:
    out = RuleEngine().feed(glu(g))
    assert (rule in rules_of(out)) is fires
    if fires:
        assert out[0].severity == "urgent"


@pytest.mark.parametrize(("v", "fires"), [(85, False), (84.9, True), (86, False)])
def test_spo2_urgent(v: float, fires: bool) -> None:
    out = RuleEngine().feed(one("spo2", "spo2", v))
    assert ("spo2_urgent" in rules_of(out)) is fires
    if fires:
        assert out[0].severity == "critical"


@pytest.mark.parametrize(("v", "fires"), [(90, False), (89.9, True), (91, False)])
def test_spo2_low_sustained(v: float, fires: bool) -> None:
    e = RuleEngine()
    first = e.feed(one("spo2", "spo2", v))
    second = e.feed(one("spo2", "spo2", v, T0 + timedelta(minutes=5)))
    assert "spo2_low" not in rules_of(first)  # one reading is not sustained
    assert ("spo2_low" in rules_of(second)) is fires


def test_spo2_low_readings_too_far_apart_are_not_sustained() -> None:
    e = RuleEngine()
    out = e.feed(one("spo2", "spo2", 88)) + e.feed(one("spo2", "spo2", 88, T0 + timedelta(minutes=30)))
    assert "spo2_low" not in rules_of(out)


@pytest.mark.parametrize(("v", "rule", "fires"), [
    (50, "heart_rate_low", False), (49, "heart_rate_low", True), (51, "heart_rate_low", False),
    (120, "heart_rate_high", False), (121, "heart_rate_high", True), (119, "heart_rate_high", False),
])
def test_heart_rate_at_rest(v: float, rule: str, fires: bool) -> None:
    assert (rule in rules_of(RuleEngine().feed(one("heart_rate", "heart_rate", v)))) is fires


def test_anomaly_from_the_residents_own_baseline() -> None:
    e = RuleEngine()
    for i in range(12):  # a resident whose SBP sits at 112-116
        assert e.feed(bp(112 + i % 5, 70, T0 + timedelta(days=i))) == []
    out = e.feed(bp(135, 80, T0 + timedelta(days=12)))  # under every fixed threshold
    assert rules_of(out) == ["anomaly"]
    assert "usual 113.5 mmHg" in out[0].reason
    assert out[0].severity == "info"


def test_anomaly_needs_history() -> None:
    e = RuleEngine()
    out = [f for i in range(5) for f in e.feed(bp(110 + 20 * (i == 4), 70, T0 + timedelta(days=i)))]
    assert out == []


def test_severity_override_and_bad_care_plan() -> None:
    plan = CarePlan.from_dict({"severity": {"bp_over_target_3d": "urgent"}})
    e = RuleEngine(plan)
    out = [f for d in range(3) for f in e.feed(bp(150, 95, T0 + timedelta(days=d)))]
    assert out[0].severity == "urgent"
    with pytest.raises(ConfigError, match="bp_urgent_sbp"):
        CarePlan.from_dict({"bp_urgent_sbp": -3})
    with pytest.raises(ConfigError, match="nope"):
        CarePlan.from_dict({"nope": 1})
    with pytest.raises(ConfigError, match="time zone"):
        CarePlan.from_dict({"residents": {"r1": {"timezone": "Mars/Olympus"}}})
