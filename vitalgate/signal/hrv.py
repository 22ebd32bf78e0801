"""Heart rate and time-domain heart-rate variability from RR intervals, in numpy alone.

Definitions follow the Task Force of the ESC and NASPE, "Heart rate variability: standards of
measurement, physiological interpretation and clinical use", Circulation 93:1043-1065 (1996):
SDNN is the standard deviation of normal-to-normal (NN) intervals, RMSSD the root mean square of
successive NN differences, pNN50 the share of successive NN differences above 50 ms.

Ectopic (non-NN) intervals are found with Malik's criterion (Malik M et al., Pacing Clin
Electrophysiol 12:1177-1186, 1989): an interval differing from the median of its neighbourhood by
more than 20 % (:attr:`HrvConfig.ectopic_tolerance`) is excluded, together with the interval that
follows it (the compensatory pause). A successive difference counts only when both of its
intervals are NN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from vitalgate.errors import SignalError

Float = npt.NDArray[np.float64]
Bool = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class HrvConfig:
    """Thresholds of :func:`hrv` (sources in the module docstring)."""

    #: Relative deviation from the local median RR that marks an interval ectopic (Malik 1989).
    ectopic_tolerance: float = 0.20
    #: Beats in the centred running median the deviation is measured against (odd).
    median_beats: int = 9
    #: Successive-difference threshold of pNNx, in seconds (pNN50: 0.050).
    pnn_threshold_s: float = 0.050
    #: RR intervals outside this range (s) are artefacts, never NN (30-300 beats/min).
    rr_range_s: tuple[float, float] = (0.2, 2.0)


@dataclass(frozen=True, slots=True)
class HrvSummary:
    """Heart rate and time-domain HRV of one RR series (NaN where too few NN intervals)."""

    mean_hr_bpm: float
    sdnn_ms: float
    rmssd_ms: float
    pnn50_pct: float
    n_intervals: int
    n_nn: int
    ectopic: Bool


def _running_median(v: Float, w: int) -> Float:
    """Centred running median over ``w`` (odd) samples, edges padded with the end values."""
    h = w // 2
    padded = np.concatenate([np.full(h, v[0]), v, np.full(h, v[-1])])
    windows = np.lib.stride_tricks.sliding_window_view(padded, w)
    return np.asarray(np.median(windows, axis=1), dtype=np.float64)


def ectopic_intervals(rr_s: Float, cfg: HrvConfig | None = None) -> Bool:
    """Mark RR intervals that are not normal-to-normal (vectorised).

    Parameters
    ----------
    rr_s : ndarray of float
        RR intervals in seconds.
    cfg : HrvConfig, optional
        Thresholds; defaults to :class:`HrvConfig`.

    Returns
    -------
    ndarray of bool
        True for an ectopic or artefact interval, or one that follows an ectopic interval.
    """
    cfg = cfg or HrvConfig()
    rr = np.asarray(rr_s, dtype=np.float64)
    if len(rr) == 0:
        return np.zeros(0, dtype=bool)
    lo, hi = cfg.rr_range_s
    bad = ~np.isfinite(rr) | (rr < lo) | (rr > hi)
    ref = np.where(bad, np.nan, rr)
    fill = np.nanmedian(ref) if not bad.all() else 1.0
    ref = np.where(bad, fill, rr)
    w = max(3, min(cfg.median_beats, len(rr)) | 1)
    med = _running_median(ref, w)
    odd = bad | (np.abs(rr - med) > cfg.ectopic_tolerance * med)
    return np.asarray(odd | np.concatenate([[False], odd[:-1]]), dtype=bool)


def hrv(rr_s: npt.ArrayLike, cfg: HrvConfig | None = None) -> HrvSummary:
    """Heart rate, SDNN, RMSSD and pNN50 of an RR series.

    Parameters
    ----------
    rr_s : array_like of float
        RR intervals in seconds (e.g. ``numpy.diff(beat_times_s)`` or Heart Rate Measurement
        RR values).
    cfg : HrvConfig, optional
        Thresholds; defaults to :class:`HrvConfig`.

    Returns
    -------
    HrvSummary
        Mean heart rate over NN intervals, SDNN and RMSSD in ms, pNN50 in percent. Values are
        NaN when fewer than two NN intervals (or NN pairs) remain.

    Raises
    ------
    SignalError
        If ``rr_s`` is not one-dimensional (also a ValueError).
    """
    cfg = cfg or HrvConfig()
    rr = np.asarray(rr_s, dtype=np.float64)
    if rr.ndim != 1:
        raise SignalError(f"RR intervals must be a 1-D array of seconds, got shape {rr.shape}")
    ectopic = ectopic_intervals(rr, cfg)
    nn = rr[~ectopic]
    pairs = ~ectopic[1:] & ~ectopic[:-1]
    diffs = np.diff(rr)[pairs]
    nan = float("nan")
    mean_hr = 60.0 / float(np.mean(nn)) if len(nn) else nan
    sdnn = 1e3 * float(np.std(nn, ddof=1)) if len(nn) >= 2 else nan
    rmssd = 1e3 * float(np.sqrt(np.mean(diffs**2))) if len(diffs) else nan
    pnn = 100.0 * float(np.mean(np.abs(diffs) > cfg.pnn_threshold_s)) if len(diffs) else nan
    return HrvSummary(mean_hr, sdnn, rmssd, pnn, len(rr), len(nn), ectopic)
