"""Rhythm screening from beat times: AF/flutter episodes, pauses, brady/tachycardia, ectopy.

AF is screened from RR irregularity alone (so it works on heart-rate straps' RR intervals too):
each RR interval is normalised by the running median of its ~2-minute neighbourhood; a beat is
*irregular* when it differs from the previous one by more than ``rr_step`` **and** from both the
previous and the one before by more than ``rr_step2`` (so bigeminy and trigeminy, which repeat,
do not count), and beats in a premature-then-compensatory pair are left out (isolated ectopics).
Where the share of irregular beats in the running window exceeds ``af_fraction`` the rhythm is
AF; episodes shorter than ``min_af_s`` (30 s, the ESC definition of an AF episode; at most half
the input) are dropped and gaps shorter than ``merge_gap_s`` merged.

Thresholds were set on the MIT-BIH AF Database (AFDB) beat annotations and the nsr2db day-long
sinus recordings (see ``docs/ecg-screening.md`` for the measured figures).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from vitalgate.errors import SignalError
from vitalgate.signal import _numeric
from vitalgate.signal.events import RhythmEvent, RhythmKind

Float = npt.NDArray[np.float64]
Bool = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class RhythmConfig:
    """Every threshold of the rhythm screening (``[ecg]`` in the configuration)."""

    window_beats: int = 121  # running window for RR normalisation and irregularity share
    rr_step: float = 0.08  # |x_i - x_{i-1}| of median-normalised RR
    rr_step2: float = 0.04  # min(|x_i - x_{i-1}|, |x_i - x_{i-2}|): not a repeating pattern
    af_fraction: float = 0.40  # share of irregular beats in the window
    min_af_s: float = 30.0  # shortest AF episode reported (ESC 2020: >= 30 s)
    merge_gap_s: float = 10.0  # AF episodes closer than this are one episode
    pause_s: float = 2.5  # an RR longer than this is a pause (sinus pause / AV block)
    brady_bpm: float = 40.0  # sustained heart rate below this (at rest) is bradycardia
    tachy_bpm: float = 120.0  # sustained heart rate above this (at rest) is tachycardia
    sustained_s: float = 30.0  # how long brady/tachycardia must last
    ectopy_per_min: float = 6.0  # premature beats per minute that count as frequent ectopy
    min_beats: int = 12  # fewer beats than this: no rhythm verdict

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


def _runs(mask: Bool) -> npt.NDArray[np.int64]:
    """``(n, 2)`` index ranges ``[start, stop)`` of the True runs of ``mask``."""
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return np.stack([np.flatnonzero(d == 1), np.flatnonzero(d == -1)], axis=1).astype(np.int64)


def irregular_beats(rr: Float, cfg: RhythmConfig = DEFAULT) -> tuple[Bool, Bool]:
    """``(af, ectopic)`` per RR interval (vectorised)."""
    w = min(cfg.window_beats, len(rr) | 1)
    med = _numeric.running_median(rr, w)
    x = rr / med
    prev1 = np.abs(x - np.concatenate([[x[0]], x[:-1]]))
    prev2 = np.abs(x - np.concatenate([x[:2], x[:-2]]))
    premature = (x < 0.87) & (np.concatenate([x[1:], [1.0]]) > 1.1)
    ectopic = premature | np.concatenate([[False], premature[:-1]]) | np.concatenate([[False, False], premature[:-2]])
    irregular = (prev1 > cfg.rr_step) & (np.minimum(prev1, prev2) > cfg.rr_step2) & ~ectopic
    valid = _numeric.running_mean((~ectopic).astype(float), w)
    share = _numeric.running_mean(irregular.astype(float), w) / np.maximum(valid, 1e-3)
    # Mostly premature/compensatory pairs is bigeminy or frequent ectopy, not AF.
    return (share > cfg.af_fraction) & (valid > 0.5), premature


def af_episodes_from_mask(t_start: Float, t_end: Float, af: Bool, total_s: float,
                          cfg: RhythmConfig = DEFAULT) -> Float:
    """Merge per-interval AF flags into ``[start, end)`` episodes in seconds."""
    runs = _runs(af)
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


def _sustained(t0: Float, t1: Float, mask: Bool, min_s: float) -> list[tuple[float, float]]:
    runs = _runs(mask)
    return [(float(t0[a]), float(t1[b - 1])) for a, b in runs if t1[b - 1] - t0[a] >= min_s]


def screen_beats(beat_times_s: npt.ArrayLike, cfg: RhythmConfig = DEFAULT,
                 usable: Bool | None = None) -> RrScreening:
    """Screen beat times (s); ``usable`` (per RR interval) masks intervals in unreadable signal."""
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
    af, premature = irregular_beats(np.clip(rr, 0.2, 3.0), cfg)
    af &= ok
    total = float(t[-1] - t[0])
    episodes = af_episodes_from_mask(t0, t1, af, total, cfg)
    events = [RhythmEvent(RhythmKind.AF, float(a), float(b), _confidence(af, t0, a, b)) for a, b in episodes]
    good = np.ones(len(rr), dtype=bool) if usable is None else usable  # readable signal
    events += [RhythmEvent(RhythmKind.PAUSE, float(a), float(b), 0.9, detail=f"RR {b - a:.1f} s")
               for a, b in zip(t0[(rr > cfg.pause_s) & good], t1[(rr > cfg.pause_s) & good], strict=True)]
    hr = 60.0 / _numeric.running_median(rr, min(9, len(rr) | 1))
    for kind, mask in ((RhythmKind.BRADYCARDIA, hr < cfg.brady_bpm), (RhythmKind.TACHYCARDIA, (hr > cfg.tachy_bpm) & ~af)):
        events += [RhythmEvent(kind, a, b, 0.8, detail=f"{kind.value}") for a, b in _sustained(t0, t1, mask & good, cfg.sustained_s)]
    per_min = _numeric.running_mean(premature.astype(float), min(len(rr), 61)) * (60.0 / np.maximum(rr, 0.2))
    events += [RhythmEvent(RhythmKind.ECTOPY, a, b, 0.7, detail="frequent premature beats")
               for a, b in _sustained(t0, t1, (per_min > cfg.ectopy_per_min) & ~af & good, 60.0)]
    events.sort(key=lambda e: e.start_s)
    return RrScreening(episodes, events, t, af, float(60.0 / np.median(rr)))


def _confidence(af: Bool, t0: Float, a: float, b: float) -> float:
    inside = (t0 >= a) & (t0 < b)
    return float(np.clip(af[inside].mean() if inside.any() else 0.0, 0.0, 1.0))


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
