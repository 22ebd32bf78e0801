"""The ECG monitor: streams from patches and straps -> rhythm events -> alerts with the strip.

One :class:`~vitalgate.signal.EcgStream` per ECG device (or :class:`~vitalgate.signal.RrStream`
per strap sending only RR intervals). An AF episode becomes an alert as soon as the screening is
sure of it (30 s of AF, half a window behind the newest beat); pauses, brady/tachycardia and
frequent ectopy become alerts when they are complete, a pause still going on (asystole) at once;
ECG unreadable for minutes (electrode off) becomes an informational alert while it lasts. Each carries the ECG strip it came from.
The alerts go through the :class:`~vitalgate.gateway.alerts.AlertEngine` so they are
acknowledged and escalated like the vitals alerts. A finding seen again while its alert is still
unacknowledged re-publishes that alert (saying when) rather than raising a second one.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from vitalgate.cloud_bridge.wire import Alert, EcgStrip, Severity
from vitalgate.gateway.alerts import AlertEngine
from vitalgate.gateway.ports import Attributed, Attributor
from vitalgate.readings import BeatIntervals, DeviceIdentity, EcgSamples, Reading
from vitalgate.signal.events import RhythmEvent, RhythmKind
from vitalgate.vocabulary import Kind

log = logging.getLogger(__name__)

#: rule id and default severity per rhythm event (AF: referral to the family doctor, ESC 2020).
RULES: dict[RhythmKind, tuple[str, Severity]] = {
    RhythmKind.AF: ("ecg_af", Severity.URGENT),
    RhythmKind.PAUSE: ("ecg_pause", Severity.URGENT),
    RhythmKind.BRADYCARDIA: ("ecg_bradycardia", Severity.WARNING),
    RhythmKind.TACHYCARDIA: ("ecg_tachycardia", Severity.WARNING),
    RhythmKind.ECTOPY: ("ecg_ectopy", Severity.INFO),
    # VF: no cardiac output; ERC 2021 resuscitation guideline: call the emergency number at once.
    RhythmKind.VF: ("ecg_vf", Severity.CRITICAL),
    # No readable ECG for [ecg] unreadable_alert_s (electrode off, noise): the screening is
    # blind, so someone should check the patch (a technical alarm, as IEC 60601-2-27's leads off).
    RhythmKind.UNREADABLE: ("ecg_unreadable", Severity.INFO),
}
#: A pause still going on (only noise for ``[ecg] asystole_alert_s`` after the last QRS
#: complex, the ECG flat since; from a strap, its notifications without an interval for that
#: long after its last beat, in skin contact): asystole, a cardiac arrest with no shockable
#: rhythm; ERC 2021 resuscitation guideline: call the emergency number at once. (Its end, when a beat comes,
#: is an ``ecg_pause``.)
ASYSTOLE: tuple[str, Severity] = ("ecg_asystole", Severity.CRITICAL)
MAX_STRIP_SAMPLES = 60_000


def rule_of(e: RhythmEvent) -> tuple[str, Severity]:
    """The alert rule and severity of a rhythm event."""
    return ASYSTOLE if e.kind is RhythmKind.PAUSE and e.ongoing else RULES[e.kind]


#: What an open alert's reason gains when its finding is seen again (:meth:`EcgMonitor._again`).
AGAIN = "; seen again from "
#: An ECG frame that starts later than the previous one ended (device timestamps) by more than
#: this (or 2 samples) follows lost frames: the lost samples are bridged, so the stream's clock
#: stays the device's and an RR interval across them is no pause.
GAP_TOLERANCE_S = 0.1
#: Longer losses (a dropped link), or a clock that jumps back this far, start a new stream.
MAX_BRIDGE_S = 30.0
#: RR intervals arriving this much later than the strap's intervals add up to (gateway clock)
#: follow lost notifications or a lost link: the stream's clock is moved on, so later events
#: keep their wall time. Notifications come about once a second and a strap's clock drifts
#: from the gateway's by well under a second a day, so 3 s is a loss, not jitter.
RR_GAP_S = 3.0
#: A strap notifies about once a second, with or without intervals: a longer wait between two
#: notifications (or the gateway's clock stepping back) is a break, notifications lost or a link
#: re-established, after which whether beats came meanwhile is unknown.
NOTIFY_GAP_S = 2.0
#: After a break or lost skin contact a strap locks on to the beats again, sending no intervals
#: for a few seconds: a silence from then is a pause going on only ``LOCK_ON_S`` later than
#: ``asystole_alert_s``, until ``LOCK_BEATS`` intervals have come (a choice, not measured:
#: chest straps report beats within a few seconds of contact).
LOCK_ON_S = 10.0
LOCK_BEATS = 3


@dataclass
class _Stream:
    screen: Any  # EcgStream | RrStream (scipy is imported with the first ECG device)
    started: datetime  # wall time of the stream's t = 0
    next_at: datetime | None = None  # ECG: where the next frame should start (device clock)
    heard: datetime | None = None  # RR: when the strap's latest notification came (gateway clock)
    quiet_from: datetime | None = None  # RR: no beat heard since (None: a break since, see _silence)
    locked: int = 0  # RR: intervals heard since the last break
    silence_reported: bool = False  # RR: the pause going on since quiet_from was reported


class EcgMonitor:
    """A :class:`~vitalgate.gateway.daemon.StreamScreener` for ECG samples and RR intervals."""

    def __init__(self, engine: AlertEngine, attributor: Attributor, config: Any = None) -> None:
        self.engine = engine
        self.attributor = attributor
        self.config = config  # RhythmConfig, a dict of [ecg] settings, or None for the defaults
        self.streams: dict[tuple[str, str], _Stream] = {}

    @classmethod
    def from_settings(cls, settings: Any, engine: AlertEngine, attributor: Attributor) -> EcgMonitor:
        return cls(engine, attributor, dict(settings.ecg))  # validated on the first ECG (scipy loads then)

    def _resident(self, device: DeviceIdentity, at: datetime) -> str | None:
        probe = Reading.of(Kind.ECG_RHYTHM, {"heart_rate": 0.0}, at, device)
        verdict = self.attributor.attribute(probe)
        if isinstance(verdict, Attributed):
            return verdict.resident
        log.warning("ECG from %s not screened for alerts: %s", device.address, getattr(verdict, "reason", verdict))
        return None

    def feed(self, output: EcgSamples | BeatIntervals) -> list[Alert]:
        from vitalgate.signal.rhythm import RhythmConfig
        from vitalgate.signal.stream import EcgStream, RrStream

        if not isinstance(self.config, RhythmConfig):
            self.config = RhythmConfig.from_dict(self.config)
        out: list[Alert] = []
        if isinstance(output, EcgSamples):
            key = (output.device.address, "ecg")
            s = self.streams.get(key)
            mv = np.asarray(output.samples_uv, dtype=np.float64) / 1000.0
            if s is not None and s.next_at is not None:
                gap = (output.first_sample_at - s.next_at).total_seconds()
                tolerance = max(GAP_TOLERANCE_S, 2.0 / output.fs_hz)
                if abs(gap) > MAX_BRIDGE_S:  # a lost link or a reset clock: start again
                    log.info("ECG from %s: %.0f s %s, screening restarts", output.device.address, abs(gap),
                             "lost" if gap > 0 else "back in time")
                    out += self._alerts(s.screen.flush(), s, output.device, output.first_sample_at)
                    s = None
                elif gap > tolerance:  # lost frames: bridged, the clock kept
                    mv = np.concatenate([np.full(round(gap * output.fs_hz), np.nan), mv])
                elif gap < -tolerance:  # a frame sent again: what was screened already is dropped
                    mv = mv[min(len(mv), round(-gap * output.fs_hz)):]
            if s is None:
                s = self.streams[key] = _Stream(EcgStream(output.fs_hz, self.config), output.first_sample_at)
            end = output.first_sample_at + timedelta(seconds=len(output.samples_uv) / output.fs_hz)
            s.next_at = end if s.next_at is None else max(s.next_at, end)  # (an old frame again: kept)
            events = s.screen.feed(mv)
            at = output.first_sample_at
        else:
            key = (output.device.address, "rr")
            s = self.streams.get(key)
            if s is None and (not output.rr_s or output.skin_contact is False):
                return out  # no interval from this strap yet (some send none at all)
            at = output.received_at
            if s is not None:
                if output.new_link or s.heard is None or not 0.0 <= (at - s.heard).total_seconds() <= NOTIFY_GAP_S:
                    s.quiet_from, s.locked = None, 0  # a break: whether beats came meanwhile is unknown
                s.heard = at
            if output.skin_contact is False:
                # A strap that reports no skin contact: its intervals are not the heart's (the
                # Heart Rate Service's sensor contact status). Not screened; the time they span
                # is a gap, so the interval across it is neither a pause nor part of an AF episode
                # (and a notification without intervals is no sign of a pause).
                log.debug("RR from %s without skin contact: not screened", output.device.address)
                assert s is not None
                s.quiet_from, s.locked = None, 0
                s.screen.skip(sum(output.rr_s))
                return out
            if s is None:
                s = self.streams[key] = _Stream(RrStream(self.config), at - timedelta(seconds=sum(output.rr_s)), heard=at)
            elif not output.rr_s:
                return out + self._alerts(self._silence(s, at), s, output.device, at)
            else:
                lag = (at - s.started).total_seconds() - (s.screen.now_s + sum(output.rr_s))
                if lag > RR_GAP_S:
                    s.screen.skip(lag)
            events = s.screen.feed(np.asarray(output.rr_s, dtype=np.float64))
            s.quiet_from, s.locked, s.silence_reported = at, s.locked + len(output.rr_s), False
        return out + self._alerts(events, s, output.device, at)

    def _silence(self, s: _Stream, at: datetime) -> list[RhythmEvent]:
        """A strap heard in skin contact without intervals: no beat detected since ``s.quiet_from``
        (the notification of its last beat, or the first heard in contact after a break). From
        ``asystole_alert_s`` on, a pause going on (``ongoing``), once until a beat comes: in
        asystole no beat comes to end the pause, and a strap's silence raised nothing while it
        lasted. After a break the strap may be locking on to the beats again, sending no
        intervals for a few seconds: until ``LOCK_BEATS`` intervals have come, ``LOCK_ON_S`` more.
        Timed and placed on the gateway's clock (the intervals' sum drifts from it)."""
        if s.quiet_from is None:
            s.quiet_from = at
        cfg = self.config
        need = cfg.asystole_alert_s + (0.0 if s.locked >= LOCK_BEATS else LOCK_ON_S)
        silent = (at - s.quiet_from).total_seconds()
        if cfg.asystole_alert_s <= 0 or silent < need or s.silence_reported:
            return []
        s.silence_reported = True
        start = (s.quiet_from - s.started).total_seconds()
        return [RhythmEvent(RhythmKind.PAUSE, start, start + silent, 0.9, ongoing=True,
                            detail="no beat from the strap since: asystole or sinus arrest")]

    def _alerts(self, events: list[RhythmEvent], s: _Stream, device: DeviceIdentity, at: datetime) -> list[Alert]:
        out = []
        for e in events:
            if e.kind not in RULES or (e.kind is RhythmKind.AF and not e.ongoing):
                continue  # AF is alerted when it starts; its end is logged
            who = self._resident(device, at)
            if who is None:
                continue
            alert = self._alert(who, e, s.started, device)
            before = self.engine.open_alert_for(who, alert.rule)
            if before is not None and before.alert_id != alert.alert_id:
                alert = self._again(before, alert)
            out.append(self.engine.record(alert))
        for e in events:
            if e.kind is RhythmKind.AF and not e.ongoing:
                log.info("AF episode from %s ended after %.0f s", device.address, e.end_s - e.start_s)
        return out

    @staticmethod
    def _again(before: Alert, new: Alert) -> Alert:
        """A new episode while the alert of the previous one is still unacknowledged: that alert
        is re-published (same id, state, escalation clock and strip), its reason saying when the
        rhythm was seen again, rather than a second alert for one resident and one finding (a
        link lost for minutes during AF restarts the screening, which then reports it again)."""
        base = before.reason.split(AGAIN)[0]
        local = new.triggered_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        log.info("%s for %s seen again from %s: alert %s is still open, re-published", new.rule, new.resident,
                 local, before.alert_id)
        return before.model_copy(update={"reason": base[: 1024 - len(AGAIN + local)] + AGAIN + local})

    def _alert(self, resident: str, e: RhythmEvent, started: datetime, device: DeviceIdentity) -> Alert:
        rule, severity = rule_of(e)
        start = started + timedelta(seconds=e.start_s)
        local = start.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        what = {"af": "atrial fibrillation/flutter",
                "pause": "no beat (asystole or sinus arrest, going on)" if e.ongoing else f"a pause ({e.detail})",
                "bradycardia": "sustained bradycardia", "tachycardia": "sustained tachycardia",
                "ectopy": "frequent premature beats", "vf": "ventricular flutter/fibrillation",
                "unreadable": "no readable ECG"}[e.kind.value]
        reason = (f"ECG from {device.model or device.address} shows {what} from {local}"
                  f" ({e.end_s - e.start_s:.0f} s so far, confidence {e.confidence:.0%}); review the strip")
        if e.kind is RhythmKind.UNREADABLE:
            reason = (f"ECG from {device.model or device.address} unreadable since {local}"
                      f" ({e.end_s - e.start_s:.0f} s so far: electrode off, noise or clipping); rhythm is"
                      " not being screened: check the patch and its contact with the skin")
        strip = None
        if e.strip_mv is not None and e.fs_hz:
            uv = np.round(e.strip_mv[:MAX_STRIP_SAMPLES] * 1000.0).astype(int).tolist()
            strip = EcgStrip(fs_hz=e.fs_hz, start=started + timedelta(seconds=e.strip_start_s), samples_uv=uv)
        key = f"{self.engine.site}/{self.engine.gateway}/{resident}/{rule}/{start.isoformat()}"
        return Alert(
            alert_id=hashlib.sha256(key.encode()).hexdigest()[:32], site=self.engine.site,
            gateway=self.engine.gateway, resident=resident, rule=rule, kind=Kind.ECG_RHYTHM,
            severity=severity, reason=reason, raised_at=self.engine.now(), triggered_at=start, ecg_strip=strip,
        )
