"""Vitals rules: care-plan thresholds over a resident's history, one finding per episode.

Defaults follow Chinese primary care (national basic public health service follow-up of
hypertension and type 2 diabetes); every threshold is a field of :class:`RuleConfig`, settable
globally and per resident in a care plan (``[rules]`` in the gateway configuration, or the TOML
given to ``vitalgate replay --care-plan``). Sources (see ``docs/vitals-rules.md``):

* [NBPHS] 国家基本公共卫生服务规范（第三版）, 2017: hypertension and T2D follow-up — urgent
  referral at SBP >= 180 and/or DBP >= 110 mmHg, at glucose >= 16.7 or <= 3.9 mmol/L.
* [CHG2018] 中国高血压防治指南 2018: control target < 140/90 mmHg; < 130/80 with diabetes.
* [CDS2020] 中国2型糖尿病防治指南 2020: diabetes diagnosis at fasting plasma glucose >= 7.0
  mmol/L, confirmed on another day; hypoglycaemia alert value <= 3.9 mmol/L.
* [BTS2017] British Thoracic Society oxygen guideline 2017: SpO2 < 90 % hypoxaemia; < 85 %
  needs urgent assessment.
* [ESC2021] ESC pacing guideline 2021 / AHA: resting heart rate < 50 or > 120 /min abnormal.
* Leys C et al. 2013, J Exp Soc Psychol 49:764: median/MAD outlier detection (|z| > 3.5).

Each rule keeps an *episode* per resident: it raises once when the condition starts and stays
quiet while it lasts; the episode ends (hysteresis) when a reading is back inside the limit by
the rule's margin, so a reading hovering at the threshold does not raise again and again.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from vitalgate.errors import ConfigError

Severity = Literal["info", "warning", "urgent", "critical"]


class RuleConfig(BaseModel):
    """Every threshold of the vitals rules (mmHg, mmol/L, %, /min)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # bp_urgent [NBPHS]
    bp_urgent_sbp: float = Field(180.0, gt=0)
    bp_urgent_dbp: float = Field(110.0, gt=0)
    # bp_over_target_3d [CHG2018]: daily mean at or above target on N consecutive days
    bp_target_sbp: float = Field(140.0, gt=0)
    bp_target_dbp: float = Field(90.0, gt=0)
    bp_over_target_days: int = Field(3, ge=1, le=30)
    # glucose_fasting_persistent [CDS2020]: fasting >= 7.0 on N separate days within M days
    glucose_fasting_high: float = Field(7.0, gt=0)
    glucose_fasting_days: int = Field(2, ge=1, le=30)
    glucose_fasting_window_days: int = Field(14, ge=1, le=365)
    # glucose_urgent_high / _low [NBPHS]
    glucose_urgent_high: float = Field(16.7, gt=0)
    glucose_urgent_low: float = Field(3.9, gt=0)
    # spo2_low (sustained: N consecutive readings within M minutes) and spo2_urgent [BTS2017]
    spo2_low: float = Field(90.0, gt=0, le=100)
    spo2_low_readings: int = Field(2, ge=1, le=20)
    spo2_low_within_min: float = Field(15.0, gt=0)
    spo2_urgent: float = Field(85.0, gt=0, le=100)
    # heart_rate_low / _high at rest [ESC2021]
    heart_rate_low: float = Field(50.0, gt=0)
    heart_rate_high: float = Field(120.0, gt=0)
    # anomaly: robust z-score against the resident's own history [Leys 2013]
    anomaly_z: float = Field(3.5, gt=0)
    anomaly_min_history: int = Field(10, ge=3)
    anomaly_history_days: int = Field(90, ge=1)
    # hysteresis: an episode ends when a reading is back inside the limit by this margin
    margin_bp_mmhg: float = Field(5.0, ge=0)
    margin_glucose_mmol_l: float = Field(0.5, ge=0)
    margin_spo2_pct: float = Field(2.0, ge=0)
    margin_heart_rate: float = Field(5.0, ge=0)
    timezone: str | None = Field(None, description="IANA zone for 'days'; default: each reading's own offset")
    severity: dict[str, Severity] = Field(default_factory=dict, description="rule id -> severity override")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                ZoneInfo(v)
            except (ZoneInfoNotFoundError, ValueError) as err:
                raise ValueError(f"unknown time zone {v!r}; use an IANA name like 'Asia/Shanghai'") from err
        return v

    def zone(self) -> tzinfo | None:
        return ZoneInfo(self.timezone) if self.timezone else None


#: Default severity of each rule (overridable with ``severity = {rule = "..."}``).
SEVERITY: dict[str, Severity] = {
    "bp_urgent": "urgent",
    "bp_over_target_3d": "warning",
    "glucose_fasting_persistent": "warning",
    "glucose_urgent_high": "urgent",
    "glucose_urgent_low": "urgent",
    "spo2_low": "warning",
    "spo2_urgent": "critical",
    "heart_rate_low": "warning",
    "heart_rate_high": "warning",
    "anomaly": "info",
}
RULES = tuple(SEVERITY)


class CarePlan(BaseModel):
    """Global thresholds plus per-resident overrides (``[residents.ID]`` tables)."""

    model_config = ConfigDict(extra="forbid")

    defaults: RuleConfig = RuleConfig()
    residents: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "care plan") -> CarePlan:
        """``{threshold: value, ..., "residents": {id: {threshold: value}}}``; ConfigError on mistakes."""
        body = dict(data)
        residents = body.pop("residents", {}) or {}
        try:
            plan = cls(defaults=RuleConfig(**body), residents=residents)
            for rid in plan.residents:
                plan.for_resident(rid)
        except ValidationError as err:
            problems = [(".".join(str(p) for p in e["loc"]) or "(top)", e["msg"]) for e in err.errors()]
            lines = "\n".join(f"  {k}: {m}" for k, m in problems)
            raise ConfigError(f"{where}: {len(problems)} problem(s):\n{lines}", problems) from err
        return plan

    def for_resident(self, resident: str) -> RuleConfig:
        over = self.residents.get(resident)
        if not over:
            return self.defaults
        return RuleConfig(**{**self.defaults.model_dump(), **over})


@dataclass(frozen=True)
class Measurement:
    """One measurement of one resident (BP carries both pressures)."""

    resident: str
    time: datetime  # aware
    kind: Literal["bp", "glucose", "spo2", "heart_rate"]
    values: dict[str, float]
    context: str | None = None
    reading_id: str | None = None


@dataclass(frozen=True)
class Finding:
    """A rule fired: one per episode."""

    resident: str
    rule: str
    severity: Severity
    time: datetime
    reason: str
    kind: str
    reading_ids: tuple[str, ...] = ()
    values: dict[str, float] = field(default_factory=dict)


def _local_day(t: datetime, zone: tzinfo | None) -> date:
    return (t.astimezone(zone) if zone else t).date()


def _hm(t: datetime, zone: tzinfo | None) -> str:
    return (t.astimezone(zone) if zone else t).strftime("%Y-%m-%d %H:%M")


#: Most readings kept per resident and kind for the rules (days of spot checks; hours of a strap).
MAX_HISTORY = 5000


@dataclass
class _History:
    times: list[datetime] = field(default_factory=list)
    values: list[dict[str, float]] = field(default_factory=list)
    contexts: list[str | None] = field(default_factory=list)
    ids: list[str | None] = field(default_factory=list)

    def add(self, m: Measurement, keep: timedelta) -> None:
        self.times.append(m.time)
        self.values.append(m.values)
        self.contexts.append(m.context)
        self.ids.append(m.reading_id)
        horizon = m.time - keep
        drop = max(0, len(self.times) - MAX_HISTORY)  # bounded (a strap sends one a second)
        while drop < len(self.times) and self.times[drop] < horizon:
            drop += 1
        if drop:
            del self.times[:drop], self.values[:drop], self.contexts[:drop], self.ids[:drop]

    def array(self, name: str) -> np.ndarray:
        return np.array([v.get(name, math.nan) for v in self.values], dtype=np.float64)


class RuleEngine:
    """Feed measurements (in time order per resident); get findings, one per episode."""

    def __init__(self, plan: CarePlan | None = None) -> None:
        self.plan = plan or CarePlan()
        self.history: dict[tuple[str, str], _History] = {}
        self.open: dict[tuple[str, str], bool] = {}  # (resident, rule) -> episode open

    def feed_many(self, items: Iterable[Measurement]) -> list[Finding]:
        out: list[Finding] = []
        for m in items:
            out += self.feed(m)
        return out

    def feed(self, m: Measurement) -> list[Finding]:
        cfg = self.plan.for_resident(m.resident)
        h = self.history.setdefault((m.resident, m.kind), _History())
        keep = timedelta(days=max(cfg.anomaly_history_days, cfg.glucose_fasting_window_days, cfg.bp_over_target_days + 1))
        out: list[Finding] = []
        anomaly = self._anomaly(m, h, cfg)  # against the history *before* this reading
        h.add(m, keep)
        if m.kind == "bp":
            out += self._bp(m, h, cfg)
        elif m.kind == "glucose":
            out += self._glucose(m, h, cfg)
        elif m.kind == "spo2":
            out += self._spo2(m, h, cfg)
        elif m.kind == "heart_rate":
            out += self._heart_rate(m, cfg)
        if anomaly is not None and not any(f.resident == m.resident for f in out):
            out.append(anomaly)  # the fixed thresholds already speak when they fire
        return out

    # -- episodes ------------------------------------------------------------------------------

    def _episode(self, m: Measurement, rule: str, active: bool, cleared: bool, reason: str,
                 cfg: RuleConfig, ids: Iterable[str | None] = ()) -> list[Finding]:
        """Raise on the first active reading of an episode; end it when ``cleared``."""
        key = (m.resident, rule)
        if active and not self.open.get(key):
            self.open[key] = True
            sev = cfg.severity.get(rule, SEVERITY[rule])
            rid = tuple(i for i in ids if i) or ((m.reading_id,) if m.reading_id else ())
            return [Finding(m.resident, rule, sev, m.time, reason, m.kind, rid, dict(m.values))]
        if cleared and self.open.get(key):
            self.open[key] = False
        return []

    def is_open(self, resident: str, rule: str) -> bool:
        return bool(self.open.get((resident, rule)))

    # -- rules ---------------------------------------------------------------------------------

    def _bp(self, m: Measurement, h: _History, cfg: RuleConfig) -> list[Finding]:
        sbp, dbp = m.values.get("systolic", math.nan), m.values.get("diastolic", math.nan)
        zone = cfg.zone()
        at = _hm(m.time, zone)
        urgent = sbp >= cfg.bp_urgent_sbp or dbp >= cfg.bp_urgent_dbp
        calm = sbp < cfg.bp_urgent_sbp - cfg.margin_bp_mmhg and dbp < cfg.bp_urgent_dbp - cfg.margin_bp_mmhg
        out = self._episode(m, "bp_urgent", urgent, calm,
                            f"BP {sbp:.0f}/{dbp:.0f} mmHg at {at}: at or over {cfg.bp_urgent_sbp:.0f}/"
                            f"{cfg.bp_urgent_dbp:.0f}, urgent referral", cfg)
        # Daily means (vectorised over the history), consecutive days over target up to today.
        days = np.array([_local_day(t, zone).toordinal() for t in h.times])
        s, d = h.array("systolic"), h.array("diastolic")
        uniq, inv = np.unique(days, return_inverse=True)
        mean_s = np.bincount(inv, weights=np.nan_to_num(s)) / np.bincount(inv)
        mean_d = np.bincount(inv, weights=np.nan_to_num(d)) / np.bincount(inv)
        over = (mean_s >= cfg.bp_target_sbp) | (mean_d >= cfg.bp_target_dbp)
        today = _local_day(m.time, zone).toordinal()
        n = cfg.bp_over_target_days
        run = 0
        for k in range(len(uniq) - 1, -1, -1):  # count back over days (at most history length)
            if uniq[k] != today - run or not over[k]:
                break
            run += 1
        under_today = not over[-1] if len(over) and uniq[-1] == today else False
        ids = [i for i, dd in zip(h.ids, days, strict=True) if dd > today - n]
        out += self._episode(
            m, "bp_over_target_3d", run >= n, under_today,
            f"BP {sbp:.0f}/{dbp:.0f} mmHg at {at}: {run} days in a row over the target "
            f"{cfg.bp_target_sbp:.0f}/{cfg.bp_target_dbp:.0f} (daily mean "
            f"{mean_s[-1]:.0f}/{mean_d[-1]:.0f} today)", cfg, ids,
        )
        return out

    def _glucose(self, m: Measurement, h: _History, cfg: RuleConfig) -> list[Finding]:
        g = m.values.get("glucose", math.nan)
        zone = cfg.zone()
        at = _hm(m.time, zone)
        out = self._episode(m, "glucose_urgent_high", g >= cfg.glucose_urgent_high,
                            g < cfg.glucose_urgent_high - cfg.margin_glucose_mmol_l,
                            f"glucose {g:.1f} mmol/L at {at}: at or over {cfg.glucose_urgent_high:g}, urgent referral", cfg)
        out += self._episode(m, "glucose_urgent_low", g <= cfg.glucose_urgent_low,
                             g > cfg.glucose_urgent_low + cfg.margin_glucose_mmol_l,
                             f"glucose {g:.1f} mmol/L at {at}: at or under {cfg.glucose_urgent_low:g} (hypoglycaemia)", cfg)
        if m.context == "fasting":
            today = _local_day(m.time, zone).toordinal()
            fasting = np.array([c == "fasting" for c in h.contexts])
            days = np.array([_local_day(t, zone).toordinal() for t in h.times])
            high = fasting & (h.array("glucose") >= cfg.glucose_fasting_high) & (days > today - cfg.glucose_fasting_window_days)
            n_days = len(np.unique(days[high]))
            ids = [i for i, hi in zip(h.ids, high, strict=True) if hi]
            out += self._episode(
                m, "glucose_fasting_persistent", n_days >= cfg.glucose_fasting_days and g >= cfg.glucose_fasting_high,
                g < cfg.glucose_fasting_high - cfg.margin_glucose_mmol_l,
                f"fasting glucose {g:.1f} mmol/L at {at}: {n_days} days at or over "
                f"{cfg.glucose_fasting_high:g} within {cfg.glucose_fasting_window_days} days, refer to the doctor", cfg, ids,
            )
        return out

    def _spo2(self, m: Measurement, h: _History, cfg: RuleConfig) -> list[Finding]:
        s = m.values.get("spo2", math.nan)
        at = _hm(m.time, cfg.zone())
        out = self._episode(m, "spo2_urgent", s < cfg.spo2_urgent, s >= cfg.spo2_urgent + cfg.margin_spo2_pct,
                            f"SpO2 {s:.0f} % at {at}: under {cfg.spo2_urgent:g} %", cfg)
        n = cfg.spo2_low_readings
        recent = h.array("spo2")[-n:]
        times = h.times[-n:]
        sustained = (len(recent) == n and bool(np.all(recent < cfg.spo2_low))
                     and (times[-1] - times[0]) <= timedelta(minutes=cfg.spo2_low_within_min))
        out += self._episode(m, "spo2_low", sustained, s >= cfg.spo2_low + cfg.margin_spo2_pct,
                             f"SpO2 {s:.0f} % at {at}: {n} readings under {cfg.spo2_low:g} % within "
                             f"{cfg.spo2_low_within_min:g} min", cfg, h.ids[-n:])
        return out

    def _heart_rate(self, m: Measurement, cfg: RuleConfig) -> list[Finding]:
        hr = m.values.get("heart_rate", math.nan)
        at = _hm(m.time, cfg.zone())
        out = self._episode(m, "heart_rate_low", hr < cfg.heart_rate_low, hr >= cfg.heart_rate_low + cfg.margin_heart_rate,
                            f"heart rate {hr:.0f}/min at {at}: under {cfg.heart_rate_low:g}/min at rest", cfg)
        out += self._episode(m, "heart_rate_high", hr > cfg.heart_rate_high, hr <= cfg.heart_rate_high - cfg.margin_heart_rate,
                             f"heart rate {hr:.0f}/min at {at}: over {cfg.heart_rate_high:g}/min at rest", cfg)
        return out

    def _anomaly(self, m: Measurement, h: _History, cfg: RuleConfig) -> Finding | None:
        """A reading far from this person's own normal (median/MAD), even under the thresholds."""
        name = {"bp": "systolic", "glucose": "glucose", "spo2": "spo2", "heart_rate": "heart_rate"}[m.kind]
        past = h.array(name)
        past = past[np.isfinite(past)]
        x = m.values.get(name, math.nan)
        if len(past) < cfg.anomaly_min_history or not math.isfinite(x):
            return None
        med = float(np.median(past))
        mad = 1.4826 * float(np.median(np.abs(past - med)))
        floor = {"systolic": 3.0, "glucose": 0.3, "spo2": 1.0, "heart_rate": 3.0}[name]  # measurement noise
        z = (x - med) / max(mad, floor)
        key = (m.resident, f"anomaly_{m.kind}")
        if abs(z) <= cfg.anomaly_z:
            if abs(z) <= cfg.anomaly_z / 2:  # back near the usual: the episode ends
                self.open[key] = False
            return None
        if self.open.get(key):
            return None  # one alert per anomalous episode
        self.open[key] = True
        unit = {"systolic": "mmHg", "glucose": "mmol/L", "spo2": "%", "heart_rate": "/min"}[name]
        reason = (f"{name.replace('_', ' ')} {x:g} {unit} at {_hm(m.time, cfg.zone())}: far from this "
                  f"resident's usual {med:g} {unit} (robust z {z:+.1f} over {len(past)} readings)")
        sev = cfg.severity.get("anomaly", SEVERITY["anomaly"])
        return Finding(m.resident, "anomaly", sev, m.time, reason, m.kind,
                       (m.reading_id,) if m.reading_id else (), dict(m.values))
