"""Rhythm screening from beat times: AF/flutter episodes, pauses, brady/tachycardia, ectopy.

AF is screened from RR intervals alone (so it works on heart-rate straps' RR intervals too), with
the low-complexity detector of Petrenas, Marozas and Sornmo (Comput Biol Med 2015;65:184-191):

* ectopic beats are filtered by a 3-beat median of the RR series ``rm``;
* irregularity ``M``: the share of RR pairs within an 8-beat window (``af_window_beats``) of
  ``rm`` that differ by at least ``af_rr_diff_s`` (30 ms); smoothed by an exponential averager
  (``af_smoothing``, alpha = 0.02; causal, its value read ``af_lookahead_beats`` later, which
  centres its lag) and divided by the smoothed RR (so it is relative to the heart rate): ``I``;
* bigeminy suppression ``B``: how much the median filter changed the 8-beat RR sum,
  ``(sum rm / sum r - 1)^2``, smoothed the same way. Bigeminy, trigeminy and sinus rhythm pass
  the median filter nearly unchanged (``B`` below ``af_bigeminy``, 2e-4): not AF, however
  irregular; AF does not;
* AF where ``B >= af_bigeminy`` and ``I > af_irregularity`` (0.725). Episodes shorter than
  ``min_af_s`` (30 s, the ESC definition of an AF episode; at most half the input) are dropped
  and gaps shorter than ``merge_gap_s`` merged.

``N``, 30 ms, alpha and delta are the published design; ``af_irregularity`` and the look-ahead
were set at the balance of sensitivity and specificity on the MIT-BIH AF Database
(``docs/ecg-screening.md`` has the sweep and the figures on records they were not set on).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import numpy.typing as npt
from pydantic import ConfigDict

from vitalgate.errors import SignalError
from vitalgate.signal import _numeric
from vitalgate.signal.events import RhythmEvent, RhythmKind
from vitalgate.signal.qrs import QrsConfig
from vitalgate.signal.quality import QualityConfig

Float = npt.NDArray[np.float64]
Bool = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class RhythmConfig:
    """Every threshold of the rhythm screening (``[ecg]`` in the configuration)."""

    # An unknown key is an error, never silently ignored (a misspelt threshold would not apply).
    __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(extra="forbid")

    window_beats: int = 121  # running median for premature beats; the stream's decision delay is half
    af_window_beats: int = 8  # Petrenas 2015: N, the irregularity window
    af_rr_diff_s: float = 0.03  # Petrenas 2015: gamma, RR pairs differing by this are irregular
    af_smoothing: float = 0.02  # Petrenas 2015: alpha of the exponential averager
    af_lookahead_beats: int = 25  # the averager's value is read this many beats later (its lag)
    af_bigeminy: float = 2e-4  # Petrenas 2015: delta, below it the rhythm is bigeminy/sinus, not AF
    af_irregularity: float = 0.725  # eta: the smoothed irregularity per second of RR above which it is AF
    qrs_shape_diff: float = 1.0  # ECG only: a QRS this different from its neighbours' is ventricular (set on MITDB)
    ventricular_max_rr: float = 1.1  # ECG only: ...unless later than this x the local RR (set on MITDB: 203's noisy AF beats)
    wide_qrs_diff: float = 0.5  # ECG only: a QRS this different that is also wide, premature and followed
    wide_qrs_ratio: float = 1.25  # by a pause is ventricular; wide: RMS duration this x the template's (set on MITDB)
    premature_rr: float = 0.9  # ECG only: RR before < this x the local median: premature (not in the QRS template)
    pause_rr: float = 1.0  # ECG only: RR after > this x the local median: a (compensatory) pause follows
    min_af_s: float = 30.0  # shortest AF episode reported (ESC 2020: >= 30 s)
    # ECG only: an irregular episode whose beats carry a P wave locked to the QRS is not AF
    # (no distinct P waves is part of the ESC definition of AF; frequent atrial ectopy and
    # marked sinus arrhythmia have them): the share of the pre-QRS energy that repeats beat
    # after beat (:func:`vitalgate.signal.ecg.episode_p_wave`) at least this vetoes the episode.
    # MITDB reference stretches: AFIB <= 0.13, AFL 0.01-0.47 (202's, locked flutter waves),
    # other rhythms 0.26-0.91; cinc2017 whole records: AF 3 of 149 >= 0.6 (6 >= 0.5), normal
    # 95 of 300, other rhythms 31 of 117. Above 1: off.
    af_p_wave_veto: float = 0.6
    # ECG only: waves locked to the QRS that repeat at a flutter cycle (150-300 ms) are flutter
    # waves, not P waves: no veto (long recordings) and no P wave (short ones) when their
    # periodicity (:func:`vitalgate.signal.ecg.flutter_waves`) is at least this. Without it,
    # flutter with varying conduction (2:1-4:1) was taken for sinus rhythm with ectopy.
    # Synthetic flutter (saw-tooth of 0.15 mV, cycles 170-280 ms, 2:1-4:1): 0.76-0.88.
    # MITDB 60-s pieces of every reference rhythm <= 0.67 (sinus), AFIB <= 0.14, the
    # flutter of 202/203 <= 0.07 (its waves not locked); cinc2017: normal <= 0.67, other
    # <= 0.62, AF 1 of 150 >= 0.7. Above 1: off.
    af_flutter_waves: float = 0.7
    # Short recordings (a handheld device's 9-60 s): one decision for the whole record, as the
    # averager (time constant 50 beats) does not settle on 10-60 beats. Set on the even-numbered
    # cinc2017 records (300 of 600; the odd ones held out), rounded inside the plateau:
    short_record_s: float = 120.0  # ECG only: recordings shorter than this get one AF decision
    short_rr_change: float = 0.06  # a successive RR change beyond this x the median RR is irregular
    short_af_share: float = 0.55  # AF needs at least this share of irregular successive RR changes
    short_af_irregularity: float = 0.5  # and the record's mean Petrenas irregularity above this (F1
    # plateau 0.3-0.5 with share 0.55: even F1 0.787-0.794, the lower values call one more noisy record AF)
    # ECG only: no P wave: the median correlation of the windows before the QRS with their median
    # under this (sinus P waves repeat: normal median 0.85, AF 0.4; plateau 0.7-0.75 with share 0.5-0.55).
    # A new name: short_p_wave was an energy share with another scale (0.4), so a configuration
    # that still sets it is refused rather than read on the wrong scale.
    short_p_agreement: float = 0.75
    short_af_no_p_check: float = 1.0  # mean irregularity above this: AF whatever the P wave (fast
    # irregular AF puts the previous T wave in the P window; plateau 0.9-1.1)
    # ...and successive RR not alternating: the lag-1 autocorrelation of the usable RR (the
    # intervals around ventricular beats left out) at or above this. AF's successive RR are
    # nearly uncorrelated (Bootsma et al. 1970, Circulation 41:783); a short-long alternation
    # (bigeminy of premature beats the QRS shape does not flag, grouped beating) is strongly
    # negative. Set on the odd-numbered held-out cinc2017 training records (not the 600):
    # plateau -0.525 to -0.425. -1 turns it off.
    short_af_min_rr_autocorr: float = -0.5
    merge_gap_s: float = 10.0  # AF episodes closer than this are one episode
    pause_s: float = 2.5  # an RR longer than this is a pause (sinus pause / AV block)
    # From an ECG: only noise since the last QRS complex for this long, the ECG quiet since (a
    # flat line, :func:`vitalgate.signal.ecg.silent_tail`, quiet as a pause's gap): a
    # pause still going on, reported at once (``ongoing=True``) rather than when a beat ends it,
    # which in asystole never comes. Bedside monitors alarm asystole after a few seconds without
    # a beat; 6 s is a choice against nuisance alarms, not measured. A flat line cannot be told
    # from asystole on the ECG alone (an electrode off with the amplifier's noise only reads
    # the same): it is reported as this pause too. From a strap (RR only), the ECG monitor raises
    # it on notifications in skin contact without an interval for this long after its last beat
    # (:meth:`vitalgate.gateway.ecg_monitor.EcgMonitor._silence`). 0 turns it off.
    asystole_alert_s: float = 6.0
    # ECG only: a pause whose gap holds a QRS-like wave at every place the rhythm before it puts
    # a beat is missed beats, not a pause (:func:`vitalgate.signal.ecg.undersensed_pauses`): a
    # lead whose QRS shrinks for a few beats (posture, a loose electrode) is the commonest false
    # pause of single-lead monitors (O'Shea et al. 2021: 77 % of implanted monitors' asystole
    # alerts false, most from undersensing; Medtronic's monitors reject such pauses). The wave
    # must peak within ``pause_beat_window_s`` of the beat's place (a P wave of an AV block lies a
    # PR interval, >= 120 ms, before it), match the QRS of the beats before it with a correlation
    # of ``pause_beat_corr`` and stand ``pause_beat_snr`` x above the gap's median. Set on the
    # second leads of MITDB (the false pauses of 100, 103 and 122 gone, 201's real ones kept;
    # missed waves measured 0.78-0.98 / 3.8-15.6 x, noise in 201's pauses up to 0.96 / 3.7 x,
    # whence two missed beats at least); pauses of a whole number of RR spliced into 8 records
    # (2872, with noise or P waves in the gap): 2 taken for missed beats. Above 1: off.
    pause_beat_window_s: float = 0.08
    pause_beat_corr: float = 0.8
    pause_beat_snr: float = 3.0
    # ...or, under an irregular rhythm (the RR before the gap varying by more than
    # ``pause_fill_rr_cv`` of their median: AF, frequent ectopy, where the places do not fit),
    # where the gap holds waves that pass those two tests wherever they lie, two or more,
    # leaving no interval over ``pause_s``, each matching the beats' QRS-T complex (-0.1 to
    # +0.45 s, trend out) by ``pause_beat_qrst_corr`` and followed by their S-T and T scaled to
    # its QRS (relative RMS difference within ``pause_fill_t_residual``): a lead whose gain
    # drops for a few seconds (a patch lifting). A P wave in an AV block's gap has no T wave
    # after it, but a sharp one (MITDB 108) can pass the first test; under a regular rhythm the
    # places judge. Spliced into 8 MITDB records, a gain drop to 5-30 % for 4-8 s gave 75 false
    # pauses in 256 (stream 55), now 49 (31) (without the rhythm condition 10 (9), but AV-block
    # pauses of 105 and 108 were lost); of 2688 pauses of a whole number of RR spliced into 10
    # records' two leads (noise, or P waves), none lost. Above 1: off.
    pause_beat_qrst_corr: float = 0.92
    pause_fill_rr_cv: float = 0.15
    pause_fill_t_residual: float = 0.5
    brady_bpm: float = 40.0  # sustained heart rate below this (at rest) is bradycardia
    tachy_bpm: float = 120.0  # sustained heart rate above this (at rest) is tachycardia
    sustained_s: float = 30.0  # how long brady/tachycardia must last
    ectopy_per_min: float = 6.0  # premature beats per minute that count as frequent ectopy
    # A premature beat (for ectopy events): RR under ``ectopy_early`` x the running median over
    # ``window_beats``, then one over ``ectopy_pause`` x (the compensatory pause). Set on MITDB,
    # near the 20 % prematurity of Malik et al. 1989 that hrv.py uses for NN intervals:
    ectopy_early: float = 0.87
    ectopy_pause: float = 1.1
    min_beats: int = 12  # fewer beats than this: no rhythm verdict
    # Streaming only: ECG unreadable this long without a break (electrode off, noise, clipping)
    # is reported once, while it lasts, so the monitoring does not go blind in silence. Patient
    # monitors raise a technical "leads off" alarm (IEC 60601-2-27); at home a few minutes of
    # bad signal while the resident moves is common, so 5 minutes (a choice, not measured).
    # 0: never reported.
    unreadable_alert_s: float = 300.0
    qrs: QrsConfig = field(default_factory=QrsConfig)  # ECG only: the QRS/VF detector ([ecg.qrs])
    quality: QualityConfig = field(default_factory=QualityConfig)  # ECG only: signal quality ([ecg.quality])

    @classmethod
    def from_dict(cls, d: dict[str, object] | None) -> RhythmConfig:
        from pydantic import TypeAdapter

        return TypeAdapter(cls).validate_python(d or {})


DEFAULT = RhythmConfig()


@dataclass(frozen=True)
class RrScreening:
    """Result of :func:`screen_rr`. ``af_episodes``: float (n, 2) ``[start, end)`` seconds."""

    af_episodes: Float
    events: list[RhythmEvent] = field(default_factory=list)
    beat_times_s: Float = field(default_factory=lambda: np.zeros(0))
    af_beats: Bool = field(default_factory=lambda: np.zeros(0, dtype=bool))
    heart_rate_bpm: float | None = None

    @property
    def verdict(self) -> str:
        """``"af"`` when AF was found, ``"too_short"`` with too few beats, else ``"no_af"``."""
        if len(self.af_episodes):
            return "af"
        return "too_short" if len(self.beat_times_s) < DEFAULT.min_beats else "no_af"


#: Frequent ectopy must last this long (s) to be an event: the premature-beat rate is a
#: running mean over 61 intervals, about a minute.
ECTOPY_S = 60.0


def _trailing_sum(v: Float, w: int) -> Float:
    """Sum over the last ``w`` (>= 1) items (fewer at the start)."""
    c = np.empty(len(v) + 1)
    c[0] = 0.0
    np.cumsum(v, out=c[1:])
    out = np.empty(len(v))
    w = min(w, len(v))
    np.subtract(c[1 : w + 1], c[0], out=out[:w])  # the first w: c[i + 1] - c[0]
    np.subtract(c[w + 1 :], c[1 : len(v) - w + 1], out=out[w:])
    return out


def _petrenas_terms(rr: Float, cfg: RhythmConfig) -> tuple[Float, Float, Float]:
    """``(rm, m, b)`` per RR interval: the 3-beat median RR (the ectopic filter), the share of
    RR pairs of the last ``af_window_beats`` of ``rm`` differing by ``af_rr_diff_s`` or more
    (over the first window, the pairs there are), and the bigeminy measure
    ``(sum rm / sum rr - 1)^2`` over the same window. Vectorised per lag, not per beat."""
    n = len(rr)
    padded = np.concatenate([rr[:1], rr, rr[-1:]])
    a, b, c = padded[:-2], padded[1:-1], padded[2:]
    rm = np.maximum(np.minimum(a, b), np.minimum(np.maximum(a, b), c))
    big_n = max(2, cfg.af_window_beats)
    # Counts (whole numbers, so in integers: the same values as sums of 0.0 and 1.0).
    differing = np.zeros(n, dtype=np.int32)
    for lag in range(1, big_n):  # pairs (i - lag, i) inside each window of N: N - lag of them
        differ = np.zeros(n, dtype=bool)
        differ[lag:] = np.abs(rm[lag:] - rm[:-lag]) >= cfg.af_rr_diff_s
        for shift in range(min(big_n - lag, n)):  # summed over the last N - lag items
            differing[shift:] += differ[: n - shift]
    # The pairs there are: N (N - 1) / 2 in a full window, i (i + 1) / 2 among the first i + 1.
    pairs = np.full(n, big_n * (big_n - 1) / 2)
    head = np.arange(min(n, big_n - 1))
    pairs[: len(head)] = head * (head + 1) / 2
    m = differing / np.maximum(pairs, 1.0)
    bigeminy = (_trailing_sum(rm, big_n) / _trailing_sum(rr, big_n) - 1.0) ** 2
    return rm, m, bigeminy


def irregular_beats(rr: Float, cfg: RhythmConfig = DEFAULT, median: Float | None = None) -> tuple[Bool, Bool]:
    """``(af, premature)`` per RR interval (vectorised; see the module's description).
    ``median``: the running median of ``rr`` over ``window_beats``, if already computed.
    ``premature`` as :func:`premature_beats` of ``rr``."""
    n = len(rr)
    rm, m, b = _petrenas_terms(rr, cfg)

    def smooth(v: Float) -> Float:  # causal averaging, read ``af_lookahead_beats`` later
        y = _numeric.exp_smooth(v, cfg.af_smoothing)
        ahead = min(max(cfg.af_lookahead_beats, 0), n - 1)
        return np.concatenate([y[ahead:], np.full(ahead, y[-1])]) if ahead else y

    irregularity = smooth(m) / np.maximum(smooth(rm), 1e-3)
    bigeminy = smooth(b)
    af = (bigeminy >= cfg.af_bigeminy) & (irregularity > cfg.af_irregularity)
    return np.asarray(af), premature_beats(rr, cfg, median)


def premature_beats(rr: Float, cfg: RhythmConfig = DEFAULT, median: Float | None = None) -> Bool:
    """Per RR interval: it ends in a premature beat (shorter than ``ectopy_early`` x the running
    median over ``window_beats``, ``median`` if already computed, and followed by one longer
    than ``ectopy_pause`` x: the compensatory pause)."""
    x = rr / (_numeric.running_median(rr, min(cfg.window_beats, len(rr) | 1)) if median is None else median)
    return np.asarray((x < cfg.ectopy_early) & (np.concatenate([x[1:], [1.0]]) > cfg.ectopy_pause))


def af_episodes_from_mask(t_start: Float, t_end: Float, af: Bool, total_s: float,
                          cfg: RhythmConfig = DEFAULT) -> Float:
    """Merge per-interval AF flags into ``[start, end)`` episodes in seconds."""
    runs = _numeric.runs(af)
    if len(runs) == 0:
        return np.zeros((0, 2))
    eps = np.stack([t_start[runs[:, 0]], t_end[runs[:, 1] - 1]], axis=1)
    if len(eps) > 1:  # merge close episodes
        gap = eps[1:, 0] - eps[:-1, 1]
        group = np.concatenate([[0], np.cumsum(gap >= cfg.merge_gap_s)])
        starts, _ = _numeric.group_extrema(eps[:, 0], group)
        _, ends = _numeric.group_extrema(eps[:, 1], group)
        eps = np.stack([starts, ends], axis=1)
    min_len = min(cfg.min_af_s, 0.5 * total_s)
    return np.asarray(eps[(eps[:, 1] - eps[:, 0]) >= min_len], dtype=np.float64).reshape(-1, 2)


def record_irregularity(rr: Float, ok: Bool, ectopic: Bool | None = None,
                        cfg: RhythmConfig = DEFAULT) -> tuple[float, float, float]:
    """One value per record, for short recordings (no averager, so no lag to wait out):
    ``(share, irregularity, bigeminy)`` over the usable RR intervals ``ok``: the share of
    successive RR changes beyond ``short_rr_change`` x the median RR (the intervals around
    ``ectopic`` beats left out), the mean Petrenas irregularity ``M / mean RR`` and the mean
    bigeminy measure ``B`` (both as in :func:`irregular_beats`; over the first window, the pairs
    there are). ``nan`` when fewer than 8 intervals are usable."""
    n = len(rr)
    if ok.sum() < 8:
        return float("nan"), float("nan"), float("nan")
    rm, m, b = _petrenas_terms(rr, cfg)
    irregularity = float(m[ok].mean() / max(float(rm[ok].mean()), 1e-3))
    bigeminy = float(b[ok].mean())
    clean = ok.copy()
    if ectopic is not None and len(ectopic) == n + 1:
        clean &= ~(ectopic[:-1] | ectopic[1:])
    both = clean[1:] & clean[:-1]
    if both.sum() < 6:
        return float("nan"), irregularity, bigeminy
    change = np.abs(np.diff(rr))[both]  # the replaced intervals are not among them
    share = float(np.mean(change > cfg.short_rr_change * float(np.median(rr[clean]))))
    return share, irregularity, bigeminy


def rr_autocorrelation(rr: Float, clean: Bool) -> float:
    """Lag-1 autocorrelation of the ``clean`` RR intervals (taken in order, the others left
    out): near 0 for AF, near -1 for a short-long alternation. ``nan`` under 8 intervals."""
    v = rr[clean]
    if len(v) < 8:
        return float("nan")
    d = v - v.mean()
    return float(d[1:] @ d[:-1] / max(float(d @ d), 1e-12))


def _sustained(t0: Float, t1: Float, mask: Bool, min_s: float) -> list[tuple[float, float]]:
    runs = _numeric.runs(mask)
    return [(float(t0[a]), float(t1[b - 1])) for a, b in runs if t1[b - 1] - t0[a] >= min_s]


def rr_for_af(rr: Float, ectopic: Bool | None, cfg: RhythmConfig = DEFAULT) -> tuple[Float, Float]:
    """``(rr for the AF screening, its running median over window_beats)``: RR clipped to
    0.2-3 s, and the two intervals around each ``ectopic`` (ventricular, per beat) beat
    replaced by that local median."""
    rr_af = np.clip(rr, 0.2, 3.0)
    median = _numeric.running_median(rr_af, min(cfg.window_beats, len(rr) | 1))
    if ectopic is not None and ectopic.any():
        around = ectopic[:-1] | ectopic[1:]  # the interval before and after a ventricular beat
        rr_af = np.where(around, median, rr_af)
    return rr_af, median


def screen_beats(beat_times_s: npt.ArrayLike, cfg: RhythmConfig = DEFAULT,
                 usable: Bool | None = None, ectopic: Bool | None = None,
                 p_wave: Callable[[int, int], float] | None = None) -> RrScreening:
    """Screen beat times (s); ``usable`` (per RR interval) masks intervals in unreadable signal;
    ``ectopic`` (per beat) marks beats known to be ventricular (from their QRS shape): the two
    intervals around each are replaced by the local median RR for the AF screening.
    ``p_wave(i, j)`` (ECG only): the P-wave share of beats ``i`` to ``j - 1``; an AF episode
    whose share is at least ``af_p_wave_veto`` is dropped (``nan``: no veto)."""
    t = np.asarray(beat_times_s, dtype=np.float64).ravel()
    if t.size and not np.isfinite(t).all():
        raise SignalError("beat times contain NaN or inf; pass finite times in seconds")
    if t.size > 1 and (np.diff(t) <= 0).any():
        raise SignalError("beat times must be strictly increasing (seconds)")
    if len(t) < cfg.min_beats:
        return RrScreening(np.zeros((0, 2)), [], t, np.zeros(max(len(t) - 1, 0), dtype=bool))
    rr = np.diff(t)
    t0, t1 = t[:-1], t[1:]
    ok = (rr > 0.2) & (rr < cfg.pause_s) if usable is None else usable & (rr > 0.2) & (rr < cfg.pause_s)
    rr_af, median = rr_for_af(rr, ectopic, cfg)
    af, _ = irregular_beats(rr_af, cfg, median)
    # Premature beats for the ectopy count: from the intervals as they are. rr_af has those
    # around ventricular beats replaced, which hid every PVC (MITDB 119's ventricular
    # bigeminy, 15 PVCs a minute, raised no ectopy event). The QRS-shape flags are not counted:
    # set to keep PVCs out of the AF screening, they flag far too many beats as ventricular on
    # some leads to count ectopy (MITDB 114: 630 of 1879 beats, 52 of them PVCs; the RR rule:
    # 37 of 55 premature beats found and none wrongly outside AF).
    premature = premature_beats(np.clip(rr, 0.2, 3.0), cfg, median)
    af &= ok
    total = float(t[-1] - t[0])
    episodes = af_episodes_from_mask(t0, t1, af, total, cfg)
    if p_wave is not None and len(episodes) and cfg.af_p_wave_veto <= 1.0:
        first = np.searchsorted(t, episodes[:, 0])
        last = np.searchsorted(t, episodes[:, 1], side="right")
        veto = np.array([p_wave(int(i), int(j)) >= cfg.af_p_wave_veto for i, j in zip(first, last, strict=True)])
        for i, j in zip(first[veto], last[veto], strict=True):  # per vetoed episode
            af[i : j - 1] = False
        episodes = episodes[~veto]
    events = [RhythmEvent(RhythmKind.AF, float(a), float(b), _confidence(af, t0, a, b)) for a, b in episodes]
    good = np.ones(len(rr), dtype=bool) if usable is None else usable  # readable signal
    events += [RhythmEvent(RhythmKind.PAUSE, float(a), float(b), 0.9, detail=f"RR {b - a:.1f} s")
               for a, b in zip(t0[(rr > cfg.pause_s) & good], t1[(rr > cfg.pause_s) & good], strict=True)]
    hr = 60.0 / _numeric.running_median(rr, min(9, len(rr) | 1))
    for kind, mask in ((RhythmKind.BRADYCARDIA, hr < cfg.brady_bpm), (RhythmKind.TACHYCARDIA, (hr > cfg.tachy_bpm) & ~af)):
        events += [RhythmEvent(kind, a, b, 0.8, detail=f"{kind.value}") for a, b in _sustained(t0, t1, mask & good, cfg.sustained_s)]
    per_min = _numeric.running_mean(premature.astype(float), min(len(rr), 61)) * (60.0 / np.maximum(rr, 0.2))
    events += [RhythmEvent(RhythmKind.ECTOPY, a, b, 0.7, detail="frequent premature beats")
               for a, b in _sustained(t0, t1, (per_min > cfg.ectopy_per_min) & ~af & good, ECTOPY_S)]
    events.sort(key=lambda e: e.start_s)
    return RrScreening(episodes, events, t, af, float(60.0 / np.median(rr)))


def _confidence(af: Bool, t0: Float, a: float, b: float) -> float:
    inside = slice(*np.searchsorted(t0, [a, b], side="left"))  # t0 >= a and t0 < b (t0 increasing)
    return float(np.clip(af[inside].mean() if len(af[inside]) else 0.0, 0.0, 1.0))


def screen_rr(beat_times_s: npt.ArrayLike, config: RhythmConfig | None = None) -> RrScreening:
    """Screen a rhythm from beat times alone. **Stable entry point.**

    Parameters
    ----------
    beat_times_s:
        Increasing beat (R-peak) times in seconds, e.g. accumulated RR intervals of a
        heart-rate strap (Heart Rate Measurement 0x2A37).
    config:
        Thresholds; default :data:`DEFAULT`.

    Returns
    -------
    RrScreening
        ``.af_episodes``: float array (n, 2) of ``[start, end)`` seconds of AF or flutter;
        ``.events``: all rhythm events (AF, pauses, brady/tachycardia, frequent ectopy).
    """
    return screen_beats(beat_times_s, config or DEFAULT)
