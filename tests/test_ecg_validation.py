"""The ECG screening on real PhysioNet records, against the reference annotations.

Floors sit slightly under what the method reaches, so a regression fails; the measured figures
and the goals they are short of are in docs/ecg-screening.md.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import wfdb
from ecg_data import afdb, cinc2017, feed_all, mitdb, nsr2db, overlap_s
from wfdb import processing

from vitalgate.signal import EcgStream, QrsConfig, RhythmConfig, detect_qrs, screen_ecg, screen_rr


def test_qrs_gross_sensitivity_and_positive_predictivity(shared_data: Path) -> None:
    """All MITDB records in the data (24), as ``vitalgate evaluate qrs``."""
    tp = fn = fp = 0
    records = sorted(p.stem for p in (shared_data / "mitdb").glob("*.hea"))
    assert len(records) == 24
    for rec in records:
        x, fs, ref, _ = mitdb(shared_data, rec)
        det = detect_qrs(x, fs)
        assert det.dtype == np.int64
        assert np.all(np.diff(det) > 0)
        c = processing.compare_annotations(ref, det, int(0.15 * fs))
        tp, fn, fp = tp + c.tp, fn + c.fn, fp + c.fp
    se, ppv = tp / (tp + fn), tp / (tp + fp)
    # measured: Se 99.81 % (FN 97 of 52153), +P 99.91 % (FP 49): goals 99.8 / 99.9 % (203's
    # multiform AF/VT and 116's saturated stretches cost most beats, 105's noise most false ones)
    assert se >= 0.998
    assert ppv >= 0.9988


def _vf_reference(shared: Path, rec: str) -> list[tuple[float, float]]:
    ann = wfdb.rdann(str(shared / "mitdb" / rec), "atr")
    starts = [s / ann.fs for s, sym in zip(ann.sample, ann.symbol, strict=True) if sym == "["]
    ends = [s / ann.fs for s, sym in zip(ann.sample, ann.symbol, strict=True) if sym == "]"]
    return list(zip(starts, ends, strict=True))


def test_ventricular_flutter_is_reported_and_has_no_beats(shared_data: Path) -> None:
    """207's ventricular flutter: reported as VF inside the reference episodes, no beats (and no
    pause) there; no VF anywhere in the other records' rhythms (VT, bigeminy, AF, LBBB)."""
    x, fs, _, _ = mitdb(shared_data, "207")
    res = screen_ecg(x, fs)
    ref = _vf_reference(shared_data, "207")
    vf = [e for e in res.events if e.kind.value == "vf"]
    assert len(vf) >= 4  # measured 7, in 5 of the 6 reference episodes
    for e in vf:  # each inside a reference episode (4-s windows: 4 s of slack)
        assert any(a - 4.0 <= e.start_s and e.end_s <= b + 4.0 for a, b in ref), e
        beats = res.r_peaks / fs
        assert not ((beats >= e.start_s) & (beats < e.end_s)).any()
    found = sum(max(0.0, min(e.end_s, b) - max(e.start_s, a)) for e in vf for a, b in ref)
    assert found >= 0.45 * sum(b - a for a, b in ref)  # measured 0.52 of 143 s
    assert not [e for e in res.events if e.kind.value == "pause" and any(a <= e.start_s <= b for a, b in ref)]
    for rec in ["105", "119", "200", "201", "203", "205", "106", "109"]:
        y, fs2, _, _ = mitdb(shared_data, rec)
        assert not [e for e in screen_ecg(y, fs2).events if e.kind.value == "vf"], rec


def test_vf_needs_the_amplitude_of_vf(shared_data: Path) -> None:
    """MITDB 101's V1 lead, whose QRS all but vanishes for ten minutes, leaves a 0.07-0.14 mV
    ripple that the VF filter takes for VF (596 s of it, a critical alert, without the
    amplitude floor): no VF there, offline or streaming. 207's VF (0.7-2.2 mV) is still found on
    its V1 lead, and is no longer VF at a sixteenth of its size (0.04-0.14 mV: asystole or fine
    VF, under the floor of 0.2 mV)."""
    x, fs, _, _ = mitdb(shared_data, "101", channel=1)
    assert not [e for e in screen_ecg(x, fs).events if e.kind.value == "vf"]
    assert not [e for e in feed_all(EcgStream(fs), x) if e.kind.value == "vf"]
    y, fs2, _, _ = mitdb(shared_data, "207", channel=1)
    ref = _vf_reference(shared_data, "207")
    vf = [e for e in screen_ecg(y, fs2).events if e.kind.value == "vf"]
    assert sum(max(0.0, min(e.end_s, b) - max(e.start_s, a)) for e in vf for a, b in ref) >= 50.0  # measured 70 s
    assert not [e for e in screen_ecg(y / 16.0, fs2).events if e.kind.value == "vf"]
    lower = RhythmConfig(qrs=QrsConfig(vf_min_mv=0.05))  # the floor is the one thing that changed
    assert [e for e in screen_ecg(y / 16.0, fs2, lower).events if e.kind.value == "vf"]


@pytest.mark.parametrize(("rec", "channel"), [("116", 0), ("203", 0), ("200", 1)])
def test_no_pause_across_a_blocked_amplifier(shared_data: Path, rec: str, channel: int) -> None:
    """A baseline step blocks the recorder's amplifier for seconds (116 at 1354 s: 6 s without a
    QRS; 203 at 1489 s and 200's V1 at 259 s: the steps themselves detected as beats, then a
    slow decay). The interval across is no pause, offline or streaming: 116's segments are
    unreadable (it was reported as a 6.7-s pause when only an interval's two ends were judged),
    and the decay after a step is no quiet pause (its excursion exceeds the QRS; the "beats"
    bounding it do not match their template)."""
    x, fs, _, _ = mitdb(shared_data, rec, channel)
    res = screen_ecg(x, fs)
    assert not [e for e in res.events if e.kind.value == "pause"]
    assert not [e for e in feed_all(EcgStream(fs), x) if e.kind.value == "pause"]
    if rec == "116":
        assert any(e.kind.value == "unreadable" and e.start_s <= 1356 and e.end_s >= 1359 for e in res.events)


def test_real_pauses_are_reported(shared_data: Path) -> None:
    """The real sinus pauses of 201 (3.7 and 3.8 s) are reported, on either lead."""
    for channel in (0, 1):
        y, fs2, _, _ = mitdb(shared_data, "201", channel)
        pauses = [(e.start_s, e.end_s) for e in screen_ecg(y, fs2).events if e.kind.value == "pause"]
        assert len(pauses) == 2, pauses
        assert abs(pauses[0][0] - 378.5) < 1.0, pauses
        assert abs(pauses[1][0] - 1787.5) < 1.0, pauses


@pytest.mark.parametrize(("rec", "at"), [("100", 296.1), ("103", 1613.3), ("122", 316.9)])
def test_beats_the_lead_hardly_shows_are_no_pause(shared_data: Path, rec: str, at: float) -> None:
    """On MITDB's second lead the QRS of 2-3 beats in a row shrinks to 5-25 % of its
    neighbours' and the detector misses them (100's V5, 103's V2, 122's V1; the reference has
    no pause there). The gap holds a QRS-like wave at each place the rhythm puts a beat: missed
    beats, no pause (each was a 2.8-3.4 s pause, an urgent alert), offline and streaming. With
    the check off (``pause_beat_corr`` above 1), the pause is back."""
    x, fs, _, _ = mitdb(shared_data, rec, channel=1)

    def near(events: list) -> list:  # type: ignore[type-arg]
        return [e for e in events if e.kind.value == "pause" and abs(e.start_s - at) < 1.0]

    assert not near(screen_ecg(x, fs).events)
    assert not near(feed_all(EcgStream(fs), x))
    assert near(screen_ecg(x, fs, RhythmConfig(pause_beat_corr=2.0)).events)


@pytest.mark.parametrize("rec", ["201", "202", "203"])
def test_af_found_from_ecg_in_mitdb_af_records(shared_data: Path, rec: str) -> None:
    x, fs, _, ref = mitdb(shared_data, rec)
    det = np.zeros(len(x), dtype=bool)
    result = screen_ecg(x, fs)
    for a, b in result.af_episodes:
        det[a:b] = True
    se = (det & ref).sum() / ref.sum()
    assert result.af_episodes.dtype == np.int64
    assert result.af_episodes.shape[1] == 2
    assert se >= {"201": 0.98, "202": 0.93, "203": 0.95}[rec]  # measured 0.994, 0.943, 0.988


@pytest.mark.parametrize("rec", ["100", "109", "119", "112", "200", "207", "105", "108", "106"])
def test_no_af_on_sinus_lbbb_or_bigeminy(shared_data: Path, rec: str) -> None:
    """Sinus, LBBB, ventricular bigeminy (119, 200), VT and flutter (207), noise (105, 108)."""
    x, fs, _, _ = mitdb(shared_data, rec)
    assert screen_ecg(x, fs).af_episodes.shape == (0, 2)


def test_af_from_rr_only_on_afdb(shared_data: Path) -> None:
    tp = ref_total = detected = total = 0.0
    for rec in ["04126", "06995", "07879", "08455", "03665"]:
        t, eps = afdb(shared_data, rec)
        res = screen_rr(t)
        assert res.af_episodes.dtype == np.float64
        tp += sum(overlap_s(eps, a, b) for a, b in res.af_episodes)
        ref_total += sum(min(b, t[-1]) - max(a, t[0]) for a, b in eps)
        detected += float(np.sum(res.af_episodes[:, 1] - res.af_episodes[:, 0]))
        total += float(t[-1] - t[0])
    se = tp / ref_total
    sp = (total - ref_total - (detected - tp)) / (total - ref_total)
    assert se >= 0.98  # measured 0.993 on these five records
    assert sp >= 0.98  # measured 0.990


def test_a_day_of_sinus_rhythm_raises_no_af(shared_data: Path) -> None:
    t = nsr2db(shared_data, "nsr004")
    assert t[-1] > 20 * 3600
    assert len(screen_rr(t).af_episodes) == 0


def test_home_device_recordings(shared_data: Path) -> None:
    """cinc2017: all 600 short single-lead recordings; AF when episodes cover half the record."""
    calls: dict[tuple[str, str], int] = {}
    for name, label in cinc2017(shared_data):
        r = wfdb.rdrecord(str(shared_data / "cinc2017" / name))
        x, fs = r.p_signal[:, 0], float(r.fs)
        res = screen_ecg(x, fs)
        cover = float(np.sum(res.af_episodes[:, 1] - res.af_episodes[:, 0])) / len(x)
        call = "A" if cover >= 0.5 else ("~" if res.verdict == "unreadable" else "N")
        calls[label, call] = calls.get((label, call), 0) + 1
    n = {lab: sum(v for (l2, _), v in calls.items() if l2 == lab) for lab in "NAO~"}
    tp = calls.get(("A", "A"), 0)
    fp = sum(v for (lab, c), v in calls.items() if c == "A" and lab != "A")
    fn = n["A"] - tp
    f1 = 2 * tp / (2 * tp + fp + fn)
    # measured: F1 0.818 (0.834 before the RR-alternation check, which takes 5 AF and 2 other
    # rhythm recordings with alternating RR), normal called AF 0.7 %, other rhythm called AF
    # 1.7 % (3.3 % before), noisy called AF 2/30, unreadable: noisy 15/30 (11 before the
    # between-beats noise, 14 before the QRS beat tracking), normal 2 (3 before the beat
    # agreement's lag search), AF 1 — F1 and noisy short of the goals (0.90, none); see
    # docs/ecg-screening.md
    assert f1 >= 0.81
    assert calls.get(("N", "A"), 0) / n["N"] <= 0.01
    assert calls.get(("O", "A"), 0) / n["O"] <= 0.02
    assert calls.get(("~", "A"), 0) <= 2
    assert calls.get(("~", "~"), 0) >= 13
    assert calls.get(("N", "~"), 0) + calls.get(("A", "~"), 0) + calls.get(("O", "~"), 0) <= 4


@pytest.mark.parametrize("name", ["A00656", "A07636"])
def test_alternating_rr_is_not_af(shared_data: Path, name: str) -> None:
    """Two home recordings labelled "other rhythm" whose RR alternate short-long (A00656: about
    0.5 / 1.15 s, premature beats the QRS shape does not flag): irregular enough for every
    other short-record test, called AF without the alternation check and not with it (lag-1
    RR autocorrelation -0.56 and -0.69, under ``short_af_min_rr_autocorr``)."""
    from vitalgate.signal import RhythmConfig

    r = wfdb.rdrecord(str(shared_data / "cinc2017" / name))
    x, fs = r.p_signal[:, 0], float(r.fs)
    assert screen_ecg(x, fs).verdict == "no_af"
    off = screen_ecg(x, fs, RhythmConfig(short_af_min_rr_autocorr=-1.0))
    assert off.verdict == "af"
    assert float(np.sum(off.af_episodes[:, 1] - off.af_episodes[:, 0])) >= 0.5 * len(x)


def test_rr_autocorrelation() -> None:
    """Near -1 for a short-long alternation, near 0 for independent RR, ``nan`` under 8
    intervals; the intervals not ``clean`` are left out."""
    from vitalgate.signal.rhythm import rr_autocorrelation

    rng = np.random.default_rng(3)
    alternating = np.tile([0.55, 1.0], 20) + rng.normal(0, 0.02, 40)
    assert rr_autocorrelation(alternating, np.ones(40, dtype=bool)) < -0.9
    random = rng.uniform(0.5, 1.1, 400)
    assert abs(rr_autocorrelation(random, np.ones(400, dtype=bool))) < 0.15
    assert np.isnan(rr_autocorrelation(alternating[:7], np.ones(7, dtype=bool)))
    spoilt = alternating.copy()
    spoilt[5] = 3.0  # an interval across a ventricular beat, say: left out, not counted
    keep = np.ones(40, dtype=bool)
    keep[5] = False
    assert rr_autocorrelation(spoilt, keep) == rr_autocorrelation(np.delete(spoilt, 5), np.ones(39, dtype=bool))
    assert rr_autocorrelation(spoilt, keep) != rr_autocorrelation(spoilt, np.ones(40, dtype=bool))


@pytest.mark.parametrize("rec", ["105", "106", "113", "119"])
def test_mitdb_30s_pieces_without_af_are_neither_af_nor_unreadable(shared_data: Path, rec: str) -> None:
    """Every other 30-s piece of MITDB records without AF goes through the short-record path:
    none may be called AF (multiform PVCs 106, sinus arrhythmia 113, bigeminy 119) or
    unreadable (105's noise). Before the median P-wave agreement, two pieces of 106 and one of
    113 were called AF."""
    x, fs, _, af = mitdb(shared_data, rec)
    n = int(30 * fs)
    for i in range(0, len(x) // n, 2):
        res = screen_ecg(x[i * n : (i + 1) * n], fs)
        assert not af[i * n : (i + 1) * n].any()
        assert res.verdict == "no_af", (rec, i, res.verdict)


@pytest.mark.parametrize(("rec", "frequent"), [("119", True), ("200", True), ("106", True), ("117", False), ("114", False), ("108", False)])
def test_frequent_premature_beats_from_ecg(shared_data: Path, rec: str, frequent: bool) -> None:
    """Frequent ectopy from an ECG: ventricular bigeminy (119: 444 PVCs in 30 min; 200; 106)
    raises ``ectopy`` events, each over a stretch with at least 6 reference premature beats a
    minute (MITDB first leads: 25 of 25 events). Before, none was raised from an ECG: the PVCs'
    intervals, replaced for the AF screening, were counted instead. Records where the QRS-shape
    classifier flags many beats (117: 282, 114: 630, 108: 232, with 1, 55 and 21 premature beats)
    raise none: the shape flags are not counted. The stream agrees (119)."""
    x, fs, _, _ = mitdb(shared_data, rec)
    ann = wfdb.rdann(str(shared_data / "mitdb" / rec), "atr")
    premature = np.array([s for s, sym in zip(ann.sample, ann.symbol, strict=True) if sym in "VAaSJ"]) / fs
    events = [e for e in screen_ecg(x, fs).events if e.kind.value == "ectopy"]
    assert bool(events) is frequent
    for e in events:
        inside = ((premature >= e.start_s) & (premature < e.end_s)).sum()
        assert inside / ((e.end_s - e.start_s) / 60.0) >= 6.0, e
    if rec == "119":
        streamed = [e for e in feed_all(EcgStream(fs), x) if e.kind.value == "ectopy"]
        assert len(streamed) == len(events)  # measured: the same 7 stretches
        assert all(abs(a.start_s - b.start_s) < 2.0 for a, b in zip(streamed, events, strict=True))
