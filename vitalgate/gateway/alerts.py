"""The alert lifecycle: findings become alerts that are deduplicated, escalated, acknowledged,
and survive restarts.

:class:`AlertEngine` is the gateway's vitals :class:`~vitalgate.gateway.ports.Screener`:

* ``observe`` runs the care-plan rules (:mod:`vitalgate.signal.rules`) on each observation; a
  finding (one per episode) becomes an :class:`~vitalgate.cloud_bridge.wire.Alert` with a
  reason a person reads and the readings behind it;
* ``tick`` escalates an alert nobody acknowledged within the severity's delay (each level
  republishes it, ``escalation_level`` + 1, state ``escalated``) up to ``max_level``;
* ``acknowledge`` records who acknowledged it and when (state ``acknowledged``).

Alerts, the rules' recent history and their open episodes live in SQLite (``alerts.sqlite``
beside the outbox), so a restart neither loses an open alert nor raises it twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from vitalgate.cloud_bridge.wire import Ack, Alert, AlertState, Observation, Severity
from vitalgate.signal.rules import CarePlan, Finding, Measurement, RuleEngine
from vitalgate.vocabulary import Kind

log = logging.getLogger(__name__)


class EscalationConfig(BaseModel):
    """Minutes an alert may stay unacknowledged before it goes to the next person, per severity
    (``None``: never escalates). Defaults follow the urgency of the NBPHS referral rules."""

    model_config = ConfigDict(extra="forbid")

    info: float | None = None
    warning: float | None = Field(24 * 60.0, gt=0)
    urgent: float | None = Field(60.0, gt=0)
    critical: float | None = Field(15.0, gt=0)
    max_level: int = Field(3, ge=0, le=16)

    def delay(self, severity: Severity) -> timedelta | None:
        minutes = getattr(self, severity.value)
        return None if minutes is None else timedelta(minutes=minutes)


_KIND = {Kind.BLOOD_PRESSURE: "bp", Kind.GLUCOSE: "glucose", Kind.SPO2: "spo2", Kind.HEART_RATE: "heart_rate"}
_VALUES = {"bp": ("systolic", "diastolic"), "glucose": ("glucose",), "spo2": ("spo2",), "heart_rate": ("heart_rate",)}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (alert_id TEXT PRIMARY KEY, resident TEXT NOT NULL,
    rule TEXT NOT NULL, state TEXT NOT NULL, payload TEXT NOT NULL, updated_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS history (resident TEXT NOT NULL, time TEXT NOT NULL, kind TEXT NOT NULL,
    measurement TEXT NOT NULL, reading_id TEXT, PRIMARY KEY (resident, kind, time, reading_id));
CREATE TABLE IF NOT EXISTS episodes (resident TEXT NOT NULL, rule TEXT NOT NULL,
    PRIMARY KEY (resident, rule));
"""


#: Flags that make a reading's values unfit to judge: a heart-rate strap without skin contact
#: (the Heart Rate Measurement's sensor contact status) reports a rate that is not the heart's
#: (often 0); a pulse oximeter that reports its measurement invalid or unavailable, its sensor
#: off the finger, displaced or faulty, or demonstration/test data (PLX status fields); a
#: glucose meter that reports its result invalid (strip, sample, temperature, device faults) or
#: the record a control-solution test. The reading is kept and relayed, flags and all; no rule
#: judges it. (``measurement_questionable`` and ``low_perfusion`` are carried but judged: a low
#: SpO2 with a poor signal may be real; so are ``above_range`` / ``below_range``: the true
#: glucose is past the value given.)
UNJUDGED_FLAGS = frozenset({"no_skin_contact", "measurement_invalid", "sensor_off", "sensor_fault", "demo_data",
                            "control_solution"})


def measurement_of(obs: Observation) -> Measurement | None:
    """The rules' view of an observation (``None`` for kinds the vitals rules do not screen and
    for readings flagged as unfit to judge, ``UNJUDGED_FLAGS``)."""
    kind = _KIND.get(obs.kind)
    if kind is None or UNJUDGED_FLAGS.intersection(obs.flags):
        return None
    values = {n: v for n in _VALUES[kind] if (v := obs.value(n)) is not None}
    if not values:
        return None
    return Measurement(obs.resident, obs.measured_at, kind, values, obs.context, obs.reading_id)  # type: ignore[arg-type]


def alert_id(site: str, gateway: str, f: Finding) -> str:
    key = f"{site}/{gateway}/{f.resident}/{f.rule}/{f.time.astimezone(UTC).isoformat()}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


class AlertEngine:
    """Care-plan rules + alert lifecycle, persisted in ``path`` (SQLite).

    Parameters
    ----------
    site, gateway:
        Where alerts come from (as on the wire).
    path:
        The SQLite file (created).
    plan:
        Thresholds and per-resident overrides.
    escalation:
        Delays before escalation, per severity.
    now:
        The clock (injectable for tests).
    """

    def __init__(self, site: str, gateway: str, path: Path, plan: CarePlan | None = None,
                 escalation: EscalationConfig | None = None,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.site, self.gateway = site, gateway
        self.plan = plan or CarePlan()
        self.escalation = escalation or EscalationConfig()
        self.now = now
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(_SCHEMA)
        self.rules = RuleEngine(self.plan)
        self._restore()

    @classmethod
    def from_settings(cls, settings: Any, **kw: Any) -> AlertEngine:
        """From the gateway settings: ``[rules]`` is the care plan (plus ``[rules.escalation]``)."""
        rules = dict(settings.rules)
        escalation = EscalationConfig(**rules.pop("escalation", {}))
        plan = CarePlan.from_dict(rules, where="[rules]")
        path = Path(settings.outbox.path).parent / "alerts.sqlite"
        return cls(settings.site.id, settings.site.gateway, path, plan, escalation, **kw)

    def close(self) -> None:
        self.db.close()

    def _restore(self) -> None:
        """Rebuild the rules' history and open episodes after a restart (raising nothing again)."""
        rows = self.db.execute("SELECT measurement FROM history ORDER BY time").fetchall()
        for (raw,) in rows:
            d = json.loads(raw)
            self.rules.feed(Measurement(d["resident"], datetime.fromisoformat(d["time"]), d["kind"],
                                        d["values"], d.get("context"), d.get("reading_id")))
        self.rules.open = dict.fromkeys(self.db.execute("SELECT resident, rule FROM episodes"), True)
        if rows:
            log.info("alert engine: restored %d reading(s) of history, %d open episode(s), %d open alert(s)",
                     len(rows), len(self.rules.open), len(self.open_alerts()))

    # -- Screener --------------------------------------------------------------------------------

    def observe(self, obs: Observation) -> list[Alert]:
        m = measurement_of(obs)
        if m is None:
            return []
        findings = self.rules.feed(m)
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.execute(
                "INSERT OR IGNORE INTO history VALUES (?,?,?,?,?)",
                (m.resident, m.time.isoformat(), m.kind, json.dumps({
                    "resident": m.resident, "time": m.time.isoformat(), "kind": m.kind, "values": m.values,
                    "context": m.context, "reading_id": m.reading_id}), m.reading_id),
            )
            horizon = (m.time - timedelta(days=self.plan.for_resident(m.resident).anomaly_history_days)).isoformat()
            self.db.execute("DELETE FROM history WHERE resident = ? AND kind = ? AND time < ?", (m.resident, m.kind, horizon))
            self.db.execute("DELETE FROM episodes WHERE resident = ?", (m.resident,))
            self.db.executemany("INSERT INTO episodes VALUES (?, ?)",
                                [k for k, is_open in self.rules.open.items() if is_open and k[0] == m.resident])
            alerts = [self._new_alert(f, obs) for f in findings]
            for a in alerts:
                self._store(a)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        for a in alerts:
            log.warning("alert %s for %s: %s (%s)", a.rule, a.resident, a.reason, a.severity.value)
        return alerts

    def tick(self, now: datetime) -> list[Alert]:
        out = []
        for a in self.open_alerts():
            if a.state not in (AlertState.OPEN, AlertState.ESCALATED) or a.escalation_level >= self.escalation.max_level:
                continue
            delay = self.escalation.delay(a.severity)
            if delay is None or now - a.raised_at < delay * (a.escalation_level + 1):
                continue
            up = a.model_copy(update={"escalation_level": a.escalation_level + 1, "state": AlertState.ESCALATED})
            self._store(up)
            log.warning("alert %s for %s not acknowledged after %s: escalated to level %d",
                        a.rule, a.resident, delay * (a.escalation_level + 1), up.escalation_level)
            out.append(up)
        return out

    def acknowledge(self, ack: Ack) -> list[Alert]:
        a = self.get(ack.alert_id)
        if a is None:
            log.warning("acknowledgement by %s for unknown alert %s ignored", ack.by, ack.alert_id)
            return []
        if a.state in (AlertState.ACKNOWLEDGED, AlertState.RESOLVED):
            return []  # a repeated ack changes nothing
        done = a.model_copy(update={"state": AlertState.ACKNOWLEDGED, "acknowledged_by": ack.by,
                                    "acknowledged_at": ack.at})
        self._store(done)
        log.info("alert %s for %s acknowledged by %s", a.rule, a.resident, ack.by)
        return [done]

    def escalate(self, alert_id: str, by: str, why: str) -> Alert | None:
        """A person sends an open alert to the next level now; ``None`` if it cannot be."""
        a = self.get(alert_id)
        if a is None or a.state not in (AlertState.OPEN, AlertState.ESCALATED):
            return None
        if a.escalation_level >= self.escalation.max_level:
            return None
        up = a.model_copy(update={"escalation_level": a.escalation_level + 1, "state": AlertState.ESCALATED})
        self._store(up)
        log.warning("alert %s for %s escalated to level %d by %s: %s", a.rule, a.resident, up.escalation_level, by, why)
        return up

    def record(self, alert: Alert) -> Alert:
        """Take over an alert raised elsewhere (the ECG monitor) for acks and escalation."""
        self._store(alert)
        log.warning("alert %s for %s: %s (%s)", alert.rule, alert.resident, alert.reason, alert.severity.value)
        return alert

    # -- storage ---------------------------------------------------------------------------------

    def _new_alert(self, f: Finding, obs: Observation) -> Alert:
        return Alert(
            alert_id=alert_id(self.site, self.gateway, f), site=self.site, gateway=self.gateway,
            resident=f.resident, rule=f.rule, kind=obs.kind, severity=Severity(f.severity),
            reason=f.reason[:1024], raised_at=self.now(), triggered_at=f.time,
            reading_ids=[i for i in f.reading_ids if i][-256:],
        )

    def _store(self, a: Alert) -> None:
        self.db.execute(
            "INSERT INTO alerts VALUES (?,?,?,?,?,?) ON CONFLICT(alert_id) DO UPDATE SET "
            "state = excluded.state, payload = excluded.payload, updated_at = excluded.updated_at",
            (a.alert_id, a.resident, a.rule, a.state.value, a.model_dump_json(), self.now().timestamp()),
        )

    def get(self, alert_id: str) -> Alert | None:
        row = self.db.execute("SELECT payload FROM alerts WHERE alert_id = ?", (alert_id,)).fetchone()
        return Alert.model_validate_json(row[0]) if row else None

    def open_alerts(self) -> list[Alert]:
        rows = self.db.execute("SELECT payload FROM alerts WHERE state IN ('open', 'escalated') ORDER BY updated_at")
        return [Alert.model_validate_json(p) for (p,) in rows]

    def open_alert_for(self, resident: str, rule: str) -> Alert | None:
        """The newest alert of ``rule`` for ``resident`` not yet acknowledged (open or escalated)."""
        row = self.db.execute(
            "SELECT payload FROM alerts WHERE resident = ? AND rule = ? AND state IN ('open', 'escalated')"
            " ORDER BY updated_at DESC, rowid DESC LIMIT 1", (resident, rule)).fetchone()
        return Alert.model_validate_json(row[0]) if row else None

    def all_alerts(self) -> list[Alert]:
        return [Alert.model_validate_json(p) for (p,) in self.db.execute("SELECT payload FROM alerts ORDER BY rowid")]
