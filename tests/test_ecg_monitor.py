"""The ECG monitor's mapping from rhythm events to alerts, with a scripted rhythm stream.

The screening itself is tested on real records elsewhere (test_alerts.py uses mitdb 201); here
a stream that returns given events checks every rule id, severity, the AF start/end handling,
the strip's units and cap, and the wall-clock placement of the event; record 100 as frames
checks lost, repeated and late frames against the real stream.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import pytest
from dataflow import T0

from vitalgate.cloud_bridge.wire import Ack, Alert, Severity
from vitalgate.gateway.alerts import AlertEngine
from vitalgate.gateway.daemon import StaticAttributor
from vitalgate.gateway.ecg_monitor import MAX_STRIP_SAMPLES, EcgMonitor, _Stream
from vitalgate.readings import BeatIntervals, DeviceIdentity, EcgSamples
from vitalgate.signal.events import RhythmEvent, RhythmKind

STRAP = DeviceIdentity("D1:00:00:00:00:05", model="Polar H10")


class ScriptedStream:
    """A RhythmStream that returns the scripted events once, whatever it is fed."""

    def __init__(self, events: list[RhythmEvent]) -> None:
        self.events = events
        self.fed: list[npt.NDArray[np.float64]] = []
        self.now_s = 0.0  # (as RrStream: the time its intervals add up to, and lost time)

    def skip(self, seconds: float) -> None:
        self.now_s += seconds

    def feed(self, chunk: npt.NDArray[np.float64]) -> list[RhythmEvent]:
        self.fed.append(chunk)
        out, self.events = self.events, []
        return out


def monitor_with(tmp: Path, events: list[RhythmEvent], key: str = "ecg",
                 residents: dict[str, str] | None = None) -> tuple[EcgMonitor, ScriptedStream]:
    engine = AlertEngine("hut7", "gw-a", tmp / "alerts.sqlite", now=lambda: T0 + timedelta(minutes=5))
    m = EcgMonitor(engine, StaticAttributor({STRAP.address: "r-005"} if residents is None else residents))
    stream = ScriptedStream(events)
    m.streams[(STRAP.address, key)] = _Stream(stream, T0)
    return m, stream


def samples(at: datetime = T0) -> EcgSamples:
    return EcgSamples(STRAP, 130.0, (1000, -500, 250), at)


@pytest.mark.parametrize(("kind", "rule", "severity"), [
    (RhythmKind.AF, "ecg_af", Severity.URGENT),
    (RhythmKind.PAUSE, "ecg_pause", Severity.URGENT),
    (RhythmKind.BRADYCARDIA, "ecg_bradycardia", Severity.WARNING),
    (RhythmKind.TACHYCARDIA, "ecg_tachycardia", Severity.WARNING),
    (RhythmKind.ECTOPY, "ecg_ectopy", Severity.INFO),
    (RhythmKind.VF, "ecg_vf", Severity.CRITICAL),
    (RhythmKind.UNREADABLE, "ecg_unreadable", Severity.INFO),
])
def test_each_rhythm_event_becomes_its_alert(tmp_path: Path, kind: RhythmKind, rule: str,
                                             severity: Severity) -> None:
    strip = np.array([0.5, -0.25, 1.0])
    e = RhythmEvent(kind, 40.0, 70.0, 0.9, ongoing=kind is RhythmKind.AF, strip_mv=strip,
                    strip_start_s=35.0, fs_hz=130.0, detail="3.2 s")
    m, stream = monitor_with(tmp_path, [e])
    (alert,) = m.feed(samples())
    assert (alert.rule, alert.severity, alert.resident) == (rule, severity, "r-005")
    assert alert.triggered_at == T0 + timedelta(seconds=40)
    assert alert.ecg_strip is not None
    assert alert.ecg_strip.samples_uv == [500, -250, 1000]  # mV -> µV
    assert alert.ecg_strip.start == T0 + timedelta(seconds=35)
    assert "30 s" in alert.reason
    assert m.engine.get(alert.alert_id) is not None
    np.testing.assert_allclose(stream.fed[0], [1.0, -0.5, 0.25])  # µV -> mV into the screening


def test_a_pause_going_on_is_a_critical_asystole_alert(tmp_path: Path) -> None:
    """A pause the stream reports while it lasts (no beat since, ``ongoing``) is asystole: a
    critical ``ecg_asystole`` alert; the same pause reported whole when a beat ends it is the
    urgent ``ecg_pause``."""
    going = RhythmEvent(RhythmKind.PAUSE, 40.0, 48.0, 0.9, ongoing=True, strip_mv=np.zeros(3), fs_hz=130.0,
                        detail="no beat since: asystole or sinus arrest")
    m, stream = monitor_with(tmp_path, [going])
    (alert,) = m.feed(samples())
    assert (alert.rule, alert.severity) == ("ecg_asystole", Severity.CRITICAL)
    assert "asystole" in alert.reason
    assert "8 s so far" in alert.reason
    stream.events = [RhythmEvent(RhythmKind.PAUSE, 40.0, 52.0, 0.9, detail="RR 12.0 s")]
    (ended,) = m.feed(samples())
    assert (ended.rule, ended.severity) == ("ecg_pause", Severity.URGENT)


def test_af_end_is_logged_not_alerted_again(tmp_path: Path) -> None:
    end = RhythmEvent(RhythmKind.AF, 40.0, 400.0, 0.95, ongoing=False)
    m, _ = monitor_with(tmp_path, [end])
    assert m.feed(samples()) == []


def test_strip_is_capped(tmp_path: Path) -> None:
    long = np.zeros(MAX_STRIP_SAMPLES + 500)
    e = RhythmEvent(RhythmKind.TACHYCARDIA, 1.0, 61.0, 0.8, strip_mv=long, fs_hz=250.0)
    m, _ = monitor_with(tmp_path, [e])
    (alert,) = m.feed(samples())
    assert alert.ecg_strip is not None
    assert len(alert.ecg_strip.samples_uv) == MAX_STRIP_SAMPLES


def test_rr_only_strap_alerts_without_strip(tmp_path: Path) -> None:
    e = RhythmEvent(RhythmKind.BRADYCARDIA, 5.0, 65.0, 0.7)
    m, stream = monitor_with(tmp_path, [e], key="rr")
    (alert,) = m.feed(BeatIntervals(STRAP, (1.5, 1.6), T0 + timedelta(seconds=70)))
    assert alert.rule == "ecg_bradycardia"
    assert alert.ecg_strip is None
    np.testing.assert_allclose(stream.fed[0], [1.5, 1.6])


def test_unassigned_device_raises_nothing(tmp_path: Path) -> None:
    e = RhythmEvent(RhythmKind.PAUSE, 12.0, 15.5, 0.99)
    m, _ = monitor_with(tmp_path, [e], residents={})
    assert m.feed(samples()) == []


def test_af_seen_again_while_its_alert_is_open_updates_that_alert(tmp_path: Path) -> None:
    """One resident, AF again (a new episode) while its alert is open or escalated: the same
    alert is re-published, saying when, its state, escalation and strip kept; once acknowledged,
    AF seen again raises a new alert. Another rule, or another resident, is its own alert."""
    af = RhythmEvent(RhythmKind.AF, 40.0, 70.0, 0.9, ongoing=True, strip_mv=np.ones(3), fs_hz=130.0)
    m, stream = monitor_with(tmp_path, [af])
    (first,) = m.feed(samples())
    m.engine.escalate(first.alert_id, "test", "no answer")
    stream.events = [RhythmEvent(RhythmKind.AF, 400.0, 430.0, 0.9, ongoing=True)]
    (again,) = m.feed(samples())
    assert again.alert_id == first.alert_id
    assert (again.state, again.escalation_level, again.ecg_strip) == ("escalated", 1, first.ecg_strip)
    assert again.reason.startswith(first.reason)
    assert again.reason.endswith("seen again from " + (T0 + timedelta(seconds=400)).strftime("%Y-%m-%d %H:%M UTC"))
    stream.events = [RhythmEvent(RhythmKind.AF, 900.0, 930.0, 0.9, ongoing=True)]
    (third,) = m.feed(samples())
    assert third.alert_id == first.alert_id
    assert third.reason.count("seen again") == 1  # the latest recurrence, not a growing list
    assert [a.alert_id for a in m.engine.open_alerts()] == [first.alert_id]
    stream.events = [RhythmEvent(RhythmKind.PAUSE, 950.0, 953.5, 0.99, detail="3.5 s")]
    (pause,) = m.feed(samples())
    assert pause.rule == "ecg_pause"
    assert pause.alert_id != first.alert_id
    other = DeviceIdentity("D1:00:00:00:00:06", model="Polar H10")
    m.attributor = StaticAttributor({STRAP.address: "r-005", other.address: "r-006"})
    m.streams[(other.address, "ecg")] = _Stream(ScriptedStream([af]), T0)
    (theirs,) = m.feed(EcgSamples(other, 130.0, (1, 2, 3), T0))
    assert (theirs.resident, theirs.rule) == ("r-006", "ecg_af")
    assert theirs.alert_id != first.alert_id
    m.engine.acknowledge(Ack(alert_id=first.alert_id, by="hm-1", at=T0 + timedelta(minutes=20)))
    stream.events = [RhythmEvent(RhythmKind.AF, 2000.0, 2030.0, 0.9, ongoing=True)]
    (new,) = m.feed(samples())
    assert new.alert_id != first.alert_id
    assert "seen again" not in new.reason


def test_a_link_lost_during_af_raises_one_alert(tmp_path: Path, shared_data: Path) -> None:
    """Record 201 (AF from its start to 378 s) from a patch whose link drops for a minute at
    150 s: the screening restarts after the loss and finds the AF again, which updates the open
    alert instead of raising a second one for the same resident."""
    engine = AlertEngine("hut7", "gw-a", tmp_path / "alerts.sqlite", now=lambda: T0 + timedelta(minutes=5))
    m = EcgMonitor(engine, StaticAttributor({STRAP.address: "r-005"}))
    frames = _frames(shared_data, 360.0, record="201")
    lost = 60.0
    alerts = []
    for f in frames:
        offset = (f.first_sample_at - T0).total_seconds()
        if 150.0 <= offset < 150.0 + lost:
            continue  # the link is down; the patch's buffer is lost
        alerts += m.feed(f)
    af = [a for a in alerts if a.rule == "ecg_af"]
    assert len(af) == 2  # raised, then re-published once the new stream saw the AF
    assert af[0].alert_id == af[1].alert_id
    assert "seen again from" in af[1].reason
    assert len([a for a in engine.all_alerts() if a.rule == "ecg_af"]) == 1


def _frames(shared_data: Path, seconds: float, per: int = 73, record: str = "100") -> list[EcgSamples]:
    """A MITDB record (360 Hz) as ECG frames of ``per`` samples with device timestamps from T0."""
    from ecg_data import mitdb

    x, fs, _, _ = mitdb(shared_data, record)
    uv = np.round(x[: int(seconds * fs)] * 1000).astype(int)
    return [EcgSamples(STRAP, fs, tuple(uv[i : i + per]), T0 + timedelta(seconds=i / fs))
            for i in range(0, len(uv) - per + 1, per)]


def test_lost_and_repeated_frames_keep_the_device_clock(tmp_path: Path, shared_data: Path) -> None:
    """Frames lost on the way (2.4 s) are bridged, so the stream's clock stays the device's
    (events land at their wall time) and the interval across them raises no pause; a frame
    sent twice is screened once; a loss of a minute starts a new stream at the frame after it."""
    engine = AlertEngine("hut7", "gw-a", tmp_path / "alerts.sqlite", now=lambda: T0 + timedelta(minutes=5))
    m = EcgMonitor(engine, StaticAttributor({STRAP.address: "r-005"}))
    frames = _frames(shared_data, 120.0)
    lost = frames[300:312]  # 12 x 73 samples at 360 Hz: 2.4 s, around 61-63 s
    alerts = []
    for i, f in enumerate(frames):
        if f in lost:
            continue
        alerts += m.feed(f)
        if i == 400:
            alerts += m.feed(f)  # sent again
            alerts += m.feed(frames[397])  # an older one again
    s = m.streams[(STRAP.address, "ecg")]
    end = frames[-1].first_sample_at + timedelta(seconds=73 / 360)
    assert s.screen.samples_seen == round((end - T0).total_seconds() * 360)
    assert not [a for a in alerts if a.rule == "ecg_pause"]
    later = EcgSamples(STRAP, 360.0, frames[0].samples_uv, end + timedelta(seconds=60))
    m.feed(later)
    s2 = m.streams[(STRAP.address, "ecg")]
    assert s2 is not s
    assert s2.started == later.first_sample_at
    assert s2.screen.samples_seen == 73


def test_a_strap_silent_for_minutes_keeps_the_wall_clock(tmp_path: Path) -> None:
    """A strap's RR intervals, one notification a second: 5 min of sinus rhythm, 10 min of
    silence (a lost link), then AF. The stream's clock is moved on by the silence, so the AF
    alert is placed after it, not 10 min early; the interval across the silence is no pause."""
    from vitalgate.readings import BeatIntervals

    engine = AlertEngine("hut7", "gw-a", tmp_path / "alerts.sqlite", now=lambda: T0 + timedelta(minutes=30))
    m = EcgMonitor(engine, StaticAttributor({STRAP.address: "r-005"}))
    rng = np.random.default_rng(4)
    rr = np.concatenate([0.8 + 0.01 * rng.standard_normal(375), rng.uniform(0.45, 1.1, 900)])
    t = np.cumsum(rr)
    silence = 600.0  # the link is down from 300 s (strap time) for 10 min of wall time
    alerts = []
    for second in range(int(t[-1])):
        beats = rr[(t >= second) & (t < second + 1)]
        at = T0 + timedelta(seconds=second + 1 + (silence if second >= 300 else 0.0))
        if len(beats):
            alerts += m.feed(BeatIntervals(STRAP, tuple(beats), at))
    stream = m.streams[(STRAP.address, "rr")]
    assert abs((at - stream.started).total_seconds() - stream.screen.now_s) < 2.0
    assert not [a for a in alerts if a.rule == "ecg_pause"]
    (af,) = [a for a in alerts if a.rule == "ecg_af"]
    assert af.triggered_at >= T0 + timedelta(seconds=300 + silence)


@pytest.mark.parametrize("contact", [False, True])
def test_rr_without_skin_contact_is_not_screened(tmp_path: Path, contact: bool) -> None:
    """A strap that reports no skin contact (0x2A37's sensor contact status) while its RR
    intervals go irregular: they are not the heart's, so no AF alert, and the stretch they
    span is a gap (no pause across it). The same intervals with contact raise ecg_af."""
    engine = AlertEngine("hut7", "gw-a", tmp_path / "alerts.sqlite", now=lambda: T0 + timedelta(minutes=30))
    m = EcgMonitor(engine, StaticAttributor({STRAP.address: "r-005"}))
    rng = np.random.default_rng(6)
    sinus = 0.8 + 0.01 * rng.standard_normal(300)
    rr = np.concatenate([sinus, rng.uniform(0.45, 1.1, 400), sinus])
    off = np.zeros(len(rr), dtype=bool)
    off[300:700] = True
    t = np.cumsum(rr)
    alerts = []
    for second in range(int(t[-1])):
        now = (t >= second) & (t < second + 1)
        if now.any():
            flag = None if not off[now].any() else contact
            alerts += m.feed(BeatIntervals(STRAP, tuple(rr[now]), T0 + timedelta(seconds=second + 1), flag))
    assert not [a for a in alerts if a.rule == "ecg_pause"]
    assert bool([a for a in alerts if a.rule == "ecg_af"]) is contact


class Note(NamedTuple):
    """A strap's notification without intervals ``after`` s after its last beat (unless ``rr``)."""

    after: float
    contact: bool | None = True
    new_link: bool = False
    rr: tuple[float, ...] = ()


def strap_session(m: EcgMonitor, rr: list[float], silence: list[Note], tail: tuple[float, ...] = (),
                  wall: float = 1.0) -> list[Alert]:
    """Feed ``m`` a strap's notifications as they come: one per beat for ``rr`` (wall clock =
    the beats x ``wall``), then the ``silence`` notes, then the beats of ``tail`` (the first one
    ends the silence)."""
    alerts = []
    t = 0.0
    for v in rr:
        t += v * wall
        alerts += m.feed(BeatIntervals(STRAP, (v,), T0 + timedelta(seconds=t)))
    last = t
    for n in silence:
        alerts += m.feed(BeatIntervals(STRAP, n.rr, T0 + timedelta(seconds=last + n.after), n.contact, n.new_link))
    for v in tail:
        t += v
        alerts += m.feed(BeatIntervals(STRAP, (v,), T0 + timedelta(seconds=t)))
    return alerts


def rr_monitor(tmp: Path, config: dict[str, object] | None = None) -> EcgMonitor:
    engine = AlertEngine("hut7", "gw-a", tmp / "alerts.sqlite", now=lambda: T0 + timedelta(minutes=30))
    return EcgMonitor(engine, StaticAttributor({STRAP.address: "r-005"}), config)


SINUS = [0.8] * 60
EVERY_SECOND = [Note(float(s)) for s in range(1, 21)]  # 20 s of notifications without a beat


def asystoles(alerts: list[Alert]) -> list[Alert]:
    return [a for a in alerts if a.rule == "ecg_asystole"]


def test_a_strap_that_detects_no_beat_raises_asystole_while_it_lasts(tmp_path: Path) -> None:
    """A strap in skin contact whose notifications keep coming without RR intervals detects no
    beat: from ``asystole_alert_s`` (6 s) on, one critical ``ecg_asystole`` alert, placed at the
    last beat, while the pause goes on (before, nothing until a beat ended it: never, in
    asystole). The beat that ends it makes the whole interval an urgent ``ecg_pause``."""
    m = rr_monitor(tmp_path)
    alerts = strap_session(m, SINUS, EVERY_SECOND, tail=(20.5, 0.8, 0.8))
    (asystole,) = asystoles(alerts)
    assert asystole.severity == Severity.CRITICAL
    assert asystole.triggered_at == T0 + timedelta(seconds=48)  # the last beat
    assert "6 s so far" in asystole.reason  # raised at the 6th silent notification
    assert "asystole" in asystole.reason
    (pause,) = [a for a in alerts if a.rule == "ecg_pause"]
    assert pause.severity == Severity.URGENT
    assert "20.5" in pause.reason
    assert alerts.index(asystole) < alerts.index(pause)  # (the alerts come in the order fed)


def test_strap_asystole_is_timed_and_placed_on_the_gateway_clock(tmp_path: Path) -> None:
    """A strap whose intervals add up to more than the time that passes (its clock runs slow
    against the gateway's, or it counts a beat twice now and then): here 2.5 % over 10 min,
    15 s ahead. The silence is timed and placed from the notification of the last beat, so the
    alert comes 6 s into it, not 15 s later, and is not placed after the moment it is raised."""
    alerts = strap_session(rr_monitor(tmp_path), [0.8] * 750, EVERY_SECOND, wall=0.975)
    (asystole,) = asystoles(alerts)
    assert "6 s so far" in asystole.reason
    assert asystole.triggered_at == T0 + timedelta(seconds=750 * 0.8 * 0.975)


@pytest.mark.parametrize(("name", "silence", "within"), [
    ("notifications lost for 3.5 s, 2 s into it", [Note(1.0), Note(2.0)] + [Note(5.5 + s) for s in range(120)], 22.0),
    ("the link re-established 1.5 s into it", [Note(1.0), Note(2.5, new_link=True)] + [Note(3.5 + s) for s in range(120)], 20.0),
    ("skin contact lost for a moment", [Note(1.0), Note(2.0, False)] + [Note(3.0 + s) for s in range(120)], 20.0),
    ("the gateway clock stepped back an hour", [Note(1.0), Note(2.0)] + [Note(3.0 - 3600 + s) for s in range(120)], 20.0 - 3600),
])
def test_a_break_during_an_asystole_does_not_disarm_its_alert(tmp_path: Path, name: str, silence: list[Note],
                                                              within: float) -> None:
    """After a break (notifications lost, a new link, contact lost, the clock stepping back)
    whether beats came is unknown, so the silence counts again from the first notification
    heard in contact, with ``LOCK_ON_S`` (10 s) more for the strap to lock on. Before (found in
    review), a break disarmed the alert until a beat came: in asystole, never."""
    alerts = strap_session(rr_monitor(tmp_path), SINUS, silence)
    (asystole,) = asystoles(alerts)
    so_far = float(asystole.reason.split(" s so far")[0].rsplit("(", 1)[1])
    assert so_far == 16.0, name  # asystole_alert_s + LOCK_ON_S after the first note after the break
    assert (asystole.triggered_at - T0).total_seconds() - 48.0 + 16.0 <= within, name


@pytest.mark.parametrize(("name", "silence", "config"), [
    ("no skin contact", [Note(s.after, False) for s in EVERY_SECOND], None),
    ("contact not reported, then none", [Note(s.after, None if s.after < 4 else False) for s in EVERY_SECOND], None),
    ("a slow rhythm: some notifications carry no beat", [Note(1.0), Note(2.0)], None),
    ("a pause shorter than the alert", [Note(float(s)) for s in range(1, 6)], None),
    ("notifications lost, then a short silence", [Note(float(s)) for s in range(12, 27)], None),
    ("a quick reconnection, the strap locking on",
     [Note(1.0)] + [Note(1.5 + s, new_link=s == 0) for s in range(7)] + [Note(8.5, rr=(0.8,))], None),
    ("contact back, one stray interval, the strap locking on",
     [Note(1.0, False), Note(2.0, False), Note(3.0, rr=(0.4,))] + [Note(4.0 + s) for s in range(8)], None),
    ("turned off", EVERY_SECOND, {"asystole_alert_s": 0}),
])
def test_no_asystole_alert_without_a_silence_in_contact(tmp_path: Path, name: str, silence: list[Note],
                                                       config: dict[str, object] | None) -> None:
    """No beat reported is asystole only while the strap is heard, in contact, for the whole
    ``asystole_alert_s`` since a beat: not without skin contact (an electrode off), not for
    notifications without a beat between slow beats or in a short pause, not across a break
    until ``LOCK_ON_S`` more (12 s without any notification, then 15 s of silence; a link
    re-established, then 7 s before the intervals come again; contact back with one stray
    interval, then 8 s: found in review), and not when the key is 0."""
    alerts = strap_session(rr_monitor(tmp_path, config), SINUS, silence)
    assert not asystoles(alerts), name


def test_a_strap_that_never_sends_intervals_raises_nothing(tmp_path: Path) -> None:
    """Some straps send the heart rate only: their notifications carry no interval from the
    start, which says nothing about the beats."""
    m = rr_monitor(tmp_path)
    assert strap_session(m, [], [Note(float(s)) for s in range(1, 60)]) == []
    assert not m.streams
