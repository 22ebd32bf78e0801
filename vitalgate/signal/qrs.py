"""QRS detection, vectorised: band-pass, slope energy, adaptive threshold over candidate peaks.

At 100-200 Hz after block-mean decimation: a QRS band from moving sums and a Pan–Tompkins-style
envelope (derivative, square, moving integrals) in whole-array numpy operations; candidate peaks
with a 250 ms refractory period; an adaptive threshold from the running 80th percentile of
candidate heights (a few seconds around each); search-back for missed beats; a floor under the
long-term QRS level (a slow rhythm, a pause or a saturated amplifier lets the running threshold
fall to the noise between beats); T-wave rejection; a detection moved to a steeper rival that
looks more like its neighbours' QRS within its refractory period (a large P
wave, a baseline step or a noise swing can have more envelope energy than the QRS beside it);
noise-beat rejection; the R peak placed on the full-rate ECG; no beats inside ventricular
flutter/fibrillation. Per-beat work is array operations over the beats, not a Python loop per
sample. Every threshold is a field of :class:`QrsConfig` (``[ecg.qrs]`` in the configuration);
the module constants are their defaults, with their sources.

References: Pan J, Tompkins WJ. A real-time QRS detection algorithm. IEEE Trans Biomed Eng
1985;32(3):230-236. Elgendi M et al. Frequency bands effects on QRS detection. BIOSIGNALS 2010.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import numpy.typing as npt
from pydantic import ConfigDict

from vitalgate.errors import SignalError
from vitalgate.signal import _numeric

MIN_FS, MAX_FS = 100.0, 1000.0
#: Fraction of the running level of candidate peaks a beat must reach.
THRESHOLD = 0.2
#: Minimum distance between two beats (s).
REFRACTORY_S = 0.25
#: Search back for a missed beat in RR intervals longer than this many local RRs (Pan and
#: Tompkins: 1.66); below 1.66 x, only for a premature beat: its coupling interval shorter than
#: ``PREMATURE`` x the pause after it.
SEARCH_BACK_RR = 1.4
PREMATURE = 0.8
#: Noise beats (:func:`_drop_noise`), all set on MITDB: a detection is dropped when the signal
#: around it is noisy (RMS of the QRS band outside the QRS windows, +-``NOISE_WINDOW_S``, over
#: the median R amplitude of the 9 beats around, above ``NOISE_LEVEL``; clean MITDB: ~0.05-0.1,
#: 105's noise 0.2-0.4), it is early or followed early (an RR under ``NOISE_EARLY`` x the local
#: median), its two RR intervals add up to the local RR within ``NOISE_SPLIT`` (it splits an
#: ordinary interval: no compensatory pause) and the rhythm around is regular (the four RR
#: intervals beyond these two within ``NOISE_REGULAR`` of the local RR, median deviation).
NOISE_LEVEL = 0.2
NOISE_WINDOW_S = 2.0
NOISE_EARLY = 0.7
NOISE_SPLIT = 0.2
NOISE_REGULAR = 0.15
#: Faint detections (:func:`_drop_faint`): under this fraction of the long-term QRS energy
#: level (``FAINT_SPAN`` candidates) a detection is dropped. The envelope is an energy: 0.03 is
#: 17 % of the slope of the QRS complexes around. Noise taken as beats in 207's slow escape
#: rhythm and in 116's amplifier saturation sits at 0.0001-0.007; a 4x gain drop puts true
#: beats at 0.06. At slow rates (2:1 AV block, a long pause) the running threshold falls to the
#: level of the T and P waves, and tall P waves pass it: at 0.03 and over P waves of 0.02-0.03
#: are dropped (MITDB 117 with every other QRST blanked: 124 detections for 74 beats at 0.01,
#: 77 at 0.03, and its 25/min bradycardia found; pauses spliced into 8 records' two leads with
#: noise or AV-block P waves: 2654 -> 2794 of 2872 reported). Cost on MITDB, first leads at
#: 360/250/128 Hz: one beat of 116 (FN 96 -> 97, 107 -> 108, 103 -> 104); second leads: FN +6,
#: FP -7. At 0.04 the second leads lose 26 (small normal beats among large PVCs: 106, 200,
#: whose V1 then shows a false 4.8-s pause streaming); 0.01 before.
FAINT = 0.03
FAINT_SPAN = 65
#: T waves taken for beats, one after every QRS (:func:`_drop_coupled_t_waves`): a T wave as
#: tall and as steep as its QRS (large T waves; a handheld device's lead I with a small QRS)
#: passes the threshold and the T-wave rule, 250-360 ms after its QRS (past the refractory
#: period; Pan and Tompkins' T-wave window is 360 ms). The detections then alternate short
#: (QRS to T) and long (T to the next QRS). Where ``T_RUN`` such short intervals or more follow
#: each other (every other interval, or ``T_GAP`` intervals apart at most: a T wave or two not
#: detected in between), each under ``T_COUPLED_S``, each between two intervals ``T_LONGER`` x
#: longer at least, and each within ``T_JITTER_S`` of the one before (a T wave keeps its
#: distance from its QRS), the second detection of each short interval is the T wave. A
#: ventricular bigeminy coupled that early (an R-on-T beat after every QRS) is not a rhythm a
#: heart sustains: neither the 24 MITDB records' reference beats nor our detections on either
#: lead hold such a run. On the 8528 CinC 2017 training recordings it changes 27 (normal 12,
#: whose heart rate was doubled: A08049, A06714, A01162; other 7; noisy 7; AF 1). At 0.4 s it
#: took real beats of a bigeminy coupled at 0.40-0.45 s (A02084, A01133); at 1.3 x instead of
#: 1.6 x, 4 reference beats of MITDB 203 (AF with multiform PVCs).
T_COUPLED_S = 0.36
T_RUN = 4
T_JITTER_S = 0.04
T_LONGER = 1.6
T_GAP = 4
#: Rival candidates (:func:`_prefer_qrs`): a detection gives way to another envelope maximum
#: within the refractory period (its R more than 80 ms off the detection's, the refractory period
#: still kept from the neighbouring detections) that is steeper, by ``STEEPER`` x (steepest slope
#: of the ECG within +-40 ms of each R), has ``RIVAL`` x the detection's envelope height or more,
#: and matches that median QRS better, with a correlation of ``RIVAL_SHAPE`` at least. All three
#: set on MITDB, the 24 records at 360 Hz and resampled to 250 and 128 Hz, by the errors
#: (FN + FP) summed over the three rates: 580 without the rule, 560 with it (P waves larger
#: than the QRS in 108, noise swings and baseline steps in 105 and 114 that won the window).
#: Plateaus (the other two at their defaults): ``STEEPER`` 1.1-1.2 (560; 1.3: 566),
#: ``RIVAL`` 0.3-0.5 (560; 0.2: 564), ``RIVAL_SHAPE`` 0.7-0.8 (560; 0.6: 570).
STEEPER = 1.2
RIVAL = 0.3
RIVAL_SHAPE = 0.7
#: Beat tracking in noisy stretches (:func:`_track`). Where the QRS band between the QRS
#: complexes is busy (RMS over the median R amplitude above ``TRACK_NOISE``; clean MITDB
#: ~0.05-0.15, 105's electrode noise 0.3-0.8) and the rhythm around is regular, the beats are
#: chosen again as the best sequence of candidates by shape, height and RR. All set on MITDB,
#: the 24 records at 360 Hz and resampled to 250 and 128 Hz, by the errors (FN + FP) summed over
#: the three rates: 560 without the tracking, 469 with it (105: FP 38 -> 14 at 360 Hz). Plateaus
#: (the others at their defaults): ``TRACK_NOISE`` 0.25-0.3 (472-483; 0.35: 511, 0.2 lets the
#: tracking into 114's tachycardia runs and 205's VT), ``TRACK_POINTS`` 4-8 (471-480; 12: 496),
#: ``TRACK_REGULAR`` 0.07-0.1 (469-475; 0.2: 487, 203's AF gets in and loses beats; without the
#: gate 203 FN 44 -> 67-190), ``TRACK_MIN_HEIGHT`` 0.2-0.5, ``TRACK_SHAPE0`` 0.3-0.5,
#: ``TRACK_HEIGHT`` 0-2 (all within 468-475), ``TRACK_CURRENT`` 2-3 (1: 481), ``TRACK_EARLY``
#: 0.4-0.6 (0.8: 478), ``TRACK_SIGMA`` 0.05-0.08 (0.03: 540), ``TRACK_CAP`` 5-20 (471-477),
#: ``TRACK_RR`` 0.4 with ``TRACK_SHAPE`` 2-8 (0.2: 485-520, 0.8: 480-487: more weight on the
#: RR takes 105's noise but drops the beats of short runs of tachycardia, 114).
TRACK_NOISE = 0.3
TRACK_POINTS = 4
TRACK_REGULAR = 0.1
TRACK_MIN_HEIGHT = 0.3
TRACK_SHAPE = 4.0
TRACK_SHAPE0 = 0.5
TRACK_HEIGHT = 1.0
TRACK_CURRENT = 3.0
TRACK_RR = 0.4
TRACK_EARLY = 0.6
TRACK_SIGMA = 0.05
TRACK_CAP = 10.0


def _validate(ecg: npt.ArrayLike, fs: float) -> npt.NDArray[np.float64]:
    if not MIN_FS <= float(fs) <= MAX_FS:
        raise SignalError(f"sampling rate {fs} Hz is outside {MIN_FS:g}-{MAX_FS:g} Hz; resample first")
    x = np.asarray(ecg, dtype=np.float64)
    if x.ndim != 1:
        raise SignalError(f"ecg must be a 1-D array of mV, got shape {x.shape}; pass one lead")
    if not np.isfinite(np.sum(x)) and not np.isfinite(x).all():  # a NaN or inf makes the sum one
        bad = ~np.isfinite(x)
        if bad.all():
            raise SignalError("ecg has no finite sample (all NaN/inf)")
        # Bridge gaps (electrode off, dropped packets) by interpolation; they read as flat line.
        idx = np.arange(len(x))
        x = x.copy()
        x[bad] = np.interp(idx[bad], idx[~bad], x[~bad])
    return x


def envelope(x: npt.NDArray[np.float64], fs: float) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """``(band-passed ECG, QRS energy envelope)``."""
    f = qrs_band(x, fs)
    d = np.empty(len(f))  # np.diff(f, prepend=f[0]) * fs, squared, without temporaries
    d[:1] = 0.0
    np.subtract(f[1:], f[:-1], out=d[1:])
    d *= fs
    d *= d
    w = max(1, round(0.12 * fs))
    # 120 ms integration (Pan-Tompkins), then 40 ms more: the box's ripple would otherwise
    # make several small maxima per beat.
    return f, moving_average(moving_average(d, w), max(1, round(0.04 * fs)))


def qrs_band(x: npt.NDArray[np.float64], fs: float) -> npt.NDArray[np.float64]:
    """The QRS band (about 3-13 Hz) from box filters, as Pan and Tompkins built theirs from
    moving sums: a 25 ms box applied twice (low-pass, null at 40 Hz) minus its 200 ms moving
    mean (baseline, P and T waves). A few cumulative sums: cheaper than any FFT or IIR pass."""
    w = max(1, round(0.025 * fs))
    y = _box_twice(x, w) if w > 1 else x
    base = moving_average(y, max(2, round(0.2 * fs)))
    return np.subtract(y, base, out=base)


def _box_twice(v: npt.NDArray[np.float64], w: int) -> npt.NDArray[np.float64]:
    """``moving_average(moving_average(v, w), w)``: inside, one convolution with the two boxes'
    triangle (a pass instead of four); the ``w`` samples at each edge, where the boxes are cut,
    from the two boxes on the few samples that reach them."""
    n = len(v)
    if n < 4 * w:
        return moving_average(moving_average(v, w), w)
    half = w // 2
    tri = np.convolve(np.ones(w), np.ones(w)) / float(w * w)
    lead = 2 * (w - 1 - half)  # each box's window is [i - half, i - half + w)
    out = np.convolve(v, tri)[lead : lead + n]
    e = 2 * w  # (the edge values depend on the first / last 2w samples only)
    out[:w] = moving_average(moving_average(v[: 2 * e], w), w)[:w]
    out[n - w :] = moving_average(moving_average(v[n - 2 * e :], w), w)[-w:]
    return out


def moving_average(v: npt.NDArray[np.float64], w: int) -> npt.NDArray[np.float64]:
    """Centred moving average over ``w`` samples, ``[i - w // 2, i - w // 2 + w)`` (edges:
    shorter windows): a direct sum for short windows, a cumulative sum for long ones."""
    n = len(v)
    if w <= 1 or n < w:
        return _numeric.running_mean(v, max(w, 1))
    half = w // 2
    if w <= 8:  # w multiply-adds per sample beat the cumulative sum's passes
        sums = np.convolve(v, np.ones(w))[w - 1 - half : w - 1 - half + n]
        out = sums / float(w)
        head = np.arange(half)  # windows cut by the start, then by the end
        out[:half] = sums[:half] / (head - half + w)
        tail = np.arange(n - (w - 1 - half), n)
        out[tail] = sums[tail] / (n - tail + half)
        return out
    c = np.empty(n + 1)
    c[0] = 0.0
    np.cumsum(v, out=c[1:])
    out = np.empty(n)
    mid = out[half : half + n - w + 1]
    np.subtract(c[w:], c[:-w], out=mid)
    mid /= w
    head = np.arange(half)  # windows cut by the start: [0, i - half + w)
    out[:half] = c[head - half + w] / (head - half + w)
    tail = np.arange(half + n - w + 1, n)  # cut by the end: [i - half, n)
    out[half + n - w + 1 :] = (c[n] - c[tail - half]) / (n - tail + half)
    return out


def moving_average_rows(v: npt.NDArray[np.float64], w: int, starts: npt.NDArray[np.int64],
                        width: int) -> npt.NDArray[np.float64]:
    """``moving_average(v, w)`` at ``starts[:, None] + np.arange(width)`` (inside ``v``), the
    same values, computed only there: one cumulative sum, then rows of it."""
    n = len(v)
    if w <= 8 or n < w:
        return np.asarray(moving_average(v, w)[starts[:, None] + np.arange(width)[None, :]], dtype=np.float64)
    half = w // 2
    c = np.empty(n + 1)
    c[0] = 0.0
    np.cumsum(v, out=c[1:])
    lo = starts - half  # the first sample's window [lo, lo + w)
    inner = (lo >= 0) & (lo + width - 1 + w <= n)  # every window of the row whole
    rows = np.lib.stride_tricks.sliding_window_view(c, width)
    whole = rows[lo[inner] + w] - rows[lo[inner]]
    whole /= w
    if len(whole) == len(starts):
        return whole
    out = np.empty((len(starts), width))
    out[inner] = whole
    i = starts[~inner, None] + np.arange(width)[None, :]  # windows cut by an edge
    a, b = np.clip(i - half, 0, n), np.clip(i - half + w, 0, n)
    out[~inner] = (c[b] - c[a]) / (b - a)
    return out


def _running_quantile(values: npt.NDArray[np.float64], width: int, q: float) -> npt.NDArray[np.float64]:
    """Quantile of ``values`` over a centred window of ``width`` items (edges: the nearest full window)."""
    n = len(values)
    if n <= width:
        return np.full(n, np.quantile(values, q)) if n else values
    win = np.lib.stride_tricks.sliding_window_view(values, width)
    at = (width - 1) * q  # np.quantile's "linear" method, its arithmetic, from two order statistics
    i = int(np.floor(at))
    if 0 <= i < width - 1:
        part = np.sort(win, axis=1)  # (cheaper than np.partition over short rows)
        a, b = part[:, i], part[:, i + 1]
        t = at - i
        qs = b - (b - a) * (1 - t) if t >= 0.5 else a + (b - a) * t
    else:
        qs = np.quantile(win, q, axis=1)
    half = width // 2
    return np.concatenate([np.full(half, qs[0]), qs, np.full(n - len(qs) - half, qs[-1])])


def decimation(fs: float) -> int:
    """Block length that brings ``fs`` down to 100-200 Hz, where the QRS envelope is computed."""
    return max(1, int(fs // 100))


def decimate(x: npt.NDArray[np.float64], k: int) -> npt.NDArray[np.float64]:
    """Means of consecutive blocks of ``k`` samples (the last block may be shorter).

    A box filter with nulls at multiples of ``fs / k``: what would alias onto the QRS band is
    attenuated, and the 5-18 Hz band loses under 5 %.
    """
    if k <= 1:
        return x
    n = len(x) // k * k
    out = x[0:n:k] + x[1:n:k]
    for i in range(2, k):  # k - 1 strided adds: cheaper than a reshape-mean over short rows
        out += x[i:n:k]
    if k & (k - 1) == 0:
        out *= 1.0 / k  # (exact for a power of two, and cheaper than a division)
    else:
        out /= k
    if n < len(x):
        out = np.concatenate([out, [float(np.mean(x[n:]))]])
    return np.asarray(out, dtype=np.float64)


def detect_qrs(ecg: npt.ArrayLike, fs: float, config: QrsConfig | None = None) -> npt.NDArray[np.int64]:
    """R-peak sample indices of one ECG lead. **Stable entry point.**

    Parameters
    ----------
    ecg:
        1-D array, in mV (any offset/baseline; NaN gaps are bridged).
    fs:
        Sampling rate in Hz, 100 to 1000.
    config:
        The detector's thresholds; default :data:`DEFAULT_QRS`.

    Returns
    -------
    numpy.ndarray
        int64 indices into ``ecg``, increasing; empty when no beat is found.

    Raises
    ------
    SignalError
        ``fs`` out of range, not 1-D, or no finite sample.
    """
    x, cfg = _validate(ecg, fs), config or DEFAULT_QRS
    parts = []
    for w0, a, b, w1 in blocks(len(x), fs):
        r = _detect(x[w0:w1], fs, cfg=cfg)[0] + w0
        parts.append(r[(r >= a) & (r < b)])
    if len(parts) == 1:
        return parts[0]
    r = np.concatenate(parts)
    return r[seam_duplicates(r, fs, cfg)]


#: Inputs longer than twice this are processed in blocks of this length, each with
#: ``BLOCK_MARGIN_S`` of signal either side for context (the detector's running levels look
#: 8-30 s around; the QRS templates near a block's edge come from the beats on its side):
#: numpy works fastest on arrays of 20-60 min. A day of 250 Hz ECG (MITDB 100 / 203 repeated)
#: in one array took screen_ecg 1.95 / 2.35 s; in blocks of 5, 10, 20, 30 min (203) 1.46,
#: 1.22, 1.11, 1.10 s; margins of 60 s instead of 30 s cost 5 %. Later, with more stages (100,
#: 203, 105, 207 repeated, best of 5): blocks of 20, 30, 40, 60, 90 min 1.28, 1.21, 1.16, 1.16,
#: 1.28 s (each block's fixed cost, ~2 ms, against arrays outgrowing the 4 MB cache).
BLOCK_S = 2400.0
BLOCK_MARGIN_S = 30.0


def blocks(n: int, fs: float, unit: int = 1) -> list[tuple[int, int, int, int]]:
    """``(w0, a, b, w1)`` per block of an ``n``-sample input: the core ``[a, b)`` (each sample
    in exactly one) and the window ``[w0, w1)`` it is processed with. Cores and margins are
    whole multiples of ``unit`` samples (the quality segments), so a window's segments are the
    input's. One block, the whole input, up to twice ``BLOCK_S``."""
    size = max(1, round(BLOCK_S * fs / unit)) * unit
    if n <= 2 * size:
        return [(0, 0, n, n)]
    margin = max(1, round(BLOCK_MARGIN_S * fs / unit)) * unit
    return [(max(0, a - margin), a, min(n, a + size), min(n, a + size + margin)) for a in range(0, n, size)]


def seam_duplicates(r: npt.NDArray[np.int64], fs: float, cfg: QrsConfig) -> npt.NDArray[np.bool_]:
    """Beats joined from blocks: ``False`` for one within the refractory period of the beat
    before it (the same QRS placed by both blocks at a seam)."""
    return np.concatenate([[True], np.diff(r) >= cfg.refractory_s * fs])


def join_ranges(ranges: list[npt.NDArray[np.int64]]) -> npt.NDArray[np.int64]:
    """``(n, 2)`` ranges from blocks, sorted, empty ones dropped, touching ones merged."""
    v = np.concatenate([np.zeros((0, 2), dtype=np.int64), *ranges]).astype(np.int64)
    v = v[v[:, 1] > v[:, 0]]
    if len(v) < 2:
        return v
    v = v[np.argsort(v[:, 0], kind="stable")]
    new = np.concatenate([[True], v[1:, 0] > np.maximum.accumulate(v[:-1, 1])])
    return np.stack([v[new, 0], np.maximum.reduceat(v[:, 1], np.flatnonzero(new))], axis=1).astype(np.int64)


#: Ventricular flutter/fibrillation: Kuo-Dillman "VF filter" leakage below this (4-s windows).
VF_LEAKAGE = 0.406
VF_WINDOW_S = 4.0
#: Windows start every two seconds; a VF episode is a run of windows that all look like VF on
#: weaker evidence (leakage and baseline fraction below these), one of them at least on the
#: published leakage threshold.
VF_HOP_S = 2.0
VF_WEAK_LEAKAGE = 0.7
VF_BASELINE = 0.5
#: Windows with fewer detections per second than this are not examined.
VF_MIN_RATE_HZ = 1.5
#: VF has amplitude: a window whose waves are smaller than this peak to peak (mV, twice the
#: 99th percentile of its |ECG| after a 1 Hz high-pass) is not VF. The AHA's recommendations for
#: arrhythmia analysis algorithms call VF of 200 uV or more "coarse" (the rhythm to detect; fine
#: VF, 100-200 uV, an intermediate one) and under 100 uV asystole (Kerber RE et al., Circulation
#: 1997;95:1677-1682). A lead whose QRS has all but vanished shows a ripple of mains, muscle or
#: respiration that the VF filter takes for VF: MITDB 101's V1 lead (QRS 0.05-0.1 mV for ten
#: minutes) was called VF for 596 s at 0.07-0.14 mV; the VF of 207 measures 0.7-2.2 mV on
#: either lead.
VF_MIN_MV = 0.2


@dataclass(frozen=True)
class QrsConfig:
    """The QRS and VF detector's thresholds (``[ecg.qrs]``); defaults and sources: the module
    constants of the same names."""

    __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(extra="forbid")

    threshold: float = THRESHOLD
    refractory_s: float = REFRACTORY_S
    search_back_rr: float = SEARCH_BACK_RR
    premature: float = PREMATURE
    noise_level: float = NOISE_LEVEL
    noise_window_s: float = NOISE_WINDOW_S
    noise_early: float = NOISE_EARLY
    noise_split: float = NOISE_SPLIT
    noise_regular: float = NOISE_REGULAR
    faint: float = FAINT
    steeper: float = STEEPER
    rival: float = RIVAL
    rival_shape: float = RIVAL_SHAPE
    vf_leakage: float = VF_LEAKAGE
    vf_weak_leakage: float = VF_WEAK_LEAKAGE
    vf_baseline: float = VF_BASELINE
    vf_min_rate_hz: float = VF_MIN_RATE_HZ
    vf_min_mv: float = VF_MIN_MV
    track_noise: float = TRACK_NOISE
    track_regular: float = TRACK_REGULAR
    track_min_height: float = TRACK_MIN_HEIGHT
    track_shape: float = TRACK_SHAPE
    track_shape0: float = TRACK_SHAPE0
    track_height: float = TRACK_HEIGHT
    track_current: float = TRACK_CURRENT
    track_rr: float = TRACK_RR
    track_early: float = TRACK_EARLY
    track_sigma: float = TRACK_SIGMA
    track_cap: float = TRACK_CAP
    t_coupled_s: float = T_COUPLED_S
    t_run: int = T_RUN
    t_jitter_s: float = T_JITTER_S
    t_longer: float = T_LONGER

DEFAULT_QRS = QrsConfig()


def vf_features(xd: npt.NDArray[np.float64], fsd: float, starts: npt.NDArray[np.int64],
                baseline: float = VF_BASELINE, min_mv: float = VF_MIN_MV,
                ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """``(leakage, baseline fraction)`` of the ``VF_WINDOW_S`` windows of ``xd`` at ``starts``;
    the leakage is only computed (else 1.0) where the baseline fraction is under ``baseline``
    and the waves measure ``min_mv`` peak to peak or more (``VF_MIN_MV``).

    Baseline fraction: the share of samples within 20 % of the window's amplitude (its 99th
    percentile) of the baseline. A rhythm with QRS complexes spends most of its time near the
    isoelectric line (~0.6-0.9 on MITDB); VF, a continuous oscillation, does not (~0.2-0.4).
    After the "count" features of Jekova I, Physiol Meas 2007;28:289-309.

    Leakage: Kuo and Dillman's VF filter. The signal is added to itself shifted by half its
    mean period, ``N = round(pi * sum|x| / sum|dx|)``; a sinusoid cancels (little leakage),
    QRS complexes do not. Kuo S, Dillman R. Computer detection of ventricular fibrillation.
    Computers in Cardiology 1978:347-349; Amann A et al., IEEE Trans Biomed Eng
    2005;52(5):797-810 (comparison on MITDB/CUDB).
    """
    w = round(VF_WINDOW_S * fsd)
    m = max(2, round(0.5 * fsd))  # baseline out (about 1 Hz high-pass), window by window
    pad = m // 2
    # Whole windows gathered as rows (of the edge-extended signal, as indices clipped to it,
    # when one reaches past an edge).
    if len(starts) and starts.min() >= pad and starts.max() - pad + w + m <= len(xd):
        g = np.lib.stride_tricks.sliding_window_view(xd, w + m)[starts - pad]
    else:
        g = np.lib.stride_tricks.sliding_window_view(_numeric.pad_edge(xd, pad, w + m), w + m)[starts]
    c = np.empty((len(starts), w + m + 1))
    c[:, 0] = 0.0
    np.cumsum(g, axis=1, out=c[:, 1:])
    y = c[:, m : m + w] - c[:, :w]
    y /= m
    np.subtract(g[:, pad : pad + w], y, out=y)
    del g, c
    a = np.abs(y)
    kth = int(0.99 * (w - 1))  # the 99th percentile: a spike does not set the scale
    a.sort(axis=1)  # (sorting short rows: cheaper than np.partition; in place, as the count
    top = a[:, kth]  # below does not depend on the order)
    base = np.count_nonzero(a < 0.2 * top[:, None], axis=1) / w
    leak = np.ones(len(starts))
    sel = np.flatnonzero((base < baseline) & (2.0 * top >= min_mv))
    if len(sel):
        y = y[sel]
        a = np.abs(y)
        period = np.pi * a.sum(axis=1) / np.maximum(np.abs(np.diff(y, axis=1)).sum(axis=1), 1e-12)
        half = np.clip(np.round(period), 1, w - 1).astype(np.int64)
        j = np.arange(w)[None, :]
        valid = j >= half[:, None]
        shifted = np.take_along_axis(y, np.maximum(j - half[:, None], 0), axis=1)
        num = np.where(valid, np.abs(y + shifted), 0.0).sum(axis=1)
        den = np.where(valid, a + np.abs(shifted), 0.0).sum(axis=1)
        leak[sel] = num / np.maximum(den, 1e-12)
    return np.asarray(leak, dtype=np.float64), np.asarray(base, dtype=np.float64)


def vf_windows(xd: npt.NDArray[np.float64], fsd: float, candidates: npt.NDArray[np.bool_] | None = None,
               cfg: QrsConfig = DEFAULT_QRS) -> npt.NDArray[np.bool_]:
    """Per ``VF_HOP_S`` slot of a (decimated) ECG: ``True`` where it is ventricular
    flutter/fibrillation, a quasi-sinusoid with no QRS complexes.

    ``VF_WINDOW_S`` windows start at every slot (``candidates``, per window start, limits the
    work to some windows: the others are not VF). A window is VF-like when its leakage is under
    ``VF_WEAK_LEAKAGE``, its baseline fraction under ``VF_BASELINE`` and its waves
    ``VF_MIN_MV`` peak to peak at least (see :func:`vf_features`); a run of VF-like windows is VF when one of them has the published
    leakage under ``VF_LEAKAGE`` (VF is a sustained state: the strong evidence of part of an
    episode carries its weaker stretches: coarser waves, changing period). A slot is VF when
    half the windows covering it are.
    """
    hop = max(1, round(VF_HOP_S * fsd))
    w = round(VF_WINDOW_S * fsd)
    per = max(1, w // hop)
    n = len(xd) // hop
    nwin = max(0, (len(xd) - w) // hop + 1)
    out = np.zeros(n, dtype=bool)
    if nwin == 0:
        return out
    rows = np.flatnonzero(candidates[:nwin]) if candidates is not None else np.arange(nwin)
    if len(rows) == 0:
        return out
    # VF lies at 3-8 Hz: the features are computed at half the rate (50-100 Hz), half the work.
    k2 = 2 if fsd >= 100 else 1
    leak, base = vf_features(decimate(xd, k2), fsd / k2, rows * hop // k2, cfg.vf_baseline, cfg.vf_min_mv)
    like = np.zeros(nwin + 2, dtype=bool)
    strong = np.zeros(nwin + 2, dtype=bool)
    like[rows + 1] = (leak < cfg.vf_weak_leakage) & (base < cfg.vf_baseline)
    strong[rows + 1] = leak < cfg.vf_leakage
    like |= strong
    # Runs of VF-like windows that hold a strong one.
    d = np.diff(like.astype(np.int8))
    a, b = np.flatnonzero(d == 1), np.flatnonzero(d == -1)  # window runs [a, b)
    cs = np.concatenate([[0], np.cumsum(strong[1:])])
    good = cs[b] - cs[a] > 0
    win = np.bincount(a[good], minlength=nwin + 1) - np.bincount(b[good], minlength=nwin + 1)
    vfwin = np.cumsum(win)[:nwin] > 0
    # Windows covering each slot: starts s - per + 1 .. s.
    cover = np.convolve(vfwin.astype(np.int64), np.ones(per, dtype=np.int64))[:n] if n else vfwin
    out[: len(cover)] = cover[:n] >= max(1, per // 2)
    return out


def _detect(x: npt.NDArray[np.float64], fs: float, xd: npt.NDArray[np.float64] | None = None,
            cfg: QrsConfig = DEFAULT_QRS) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """``(R peaks, (n, 2) [start, end) sample ranges of ventricular flutter/fibrillation)``;
    no beat is reported inside VF (it has none: its waves are not QRS complexes). ``xd``:
    ``decimate(x, decimation(fs))`` when the caller has it already."""
    none = np.zeros((0, 2), dtype=np.int64)
    if len(x) < int(0.5 * fs):
        return np.zeros(0, dtype=np.int64), none
    # The envelope and the beat decisions run at 100-200 Hz (a QRS has no energy the 5-18 Hz
    # band needs above that); the R peak is then placed on the full-rate signal.
    k = decimation(fs)
    fsd = fs / k
    if xd is None:
        xd = decimate(x, k)
    f, e = envelope(xd, fsd)
    refractory = max(1, round(cfg.refractory_s * fsd))
    pos = _numeric.maxima(e)
    cand, h = _numeric.peaks(e, refractory, pos)
    if len(cand) == 0:
        return np.zeros(0, dtype=np.int64), none
    if float(np.max(h)) <= 0.0:
        return np.zeros(0, dtype=np.int64), none
    # Adaptive threshold: a fraction of the running level of the larger candidates (~8 s).
    level = _running_quantile(h, 17, 0.8)
    keep = h >= cfg.threshold * level
    beats = cand[keep]
    beats = _search_back(beats, cand, h, level, fsd, cfg)
    beats = _drop_faint(beats, cand, h, cfg)
    beats = _drop_t_waves(beats, e, xd, fsd)
    beats = _prefer_qrs(beats, pos, e, f, xd, fsd, cfg)
    b0 = _drop_noise(_locate_r(f, beats, fsd), f, fsd, cfg)
    b1 = _track(b0, pos, e, f, fsd, cfg)
    # VF is looked for among the detector's beats before the tracking (VF is itself a noisy
    # stretch, and the tracking could thin the fast beats that point to it).
    r, r1 = _refine_pair(x, f, b0, b1, k, fs)  # (before, after the tracking)
    # A QRS and its T wave detected as two beats look fast; they are not VF either.
    r, r1 = _drop_coupled_t_waves(r, fs, cfg), _drop_coupled_t_waves(r1, fs, cfg)
    hop = max(1, round(VF_HOP_S * fsd))
    per = max(1, round(VF_WINDOW_S * fsd) // hop)
    w = hop * k
    # VF makes the detector fire at 90-300/min: only such windows are examined.
    counts = np.bincount(r // w, minlength=len(x) // w + per + 1)
    fast = np.convolve(counts, np.ones(per, dtype=np.int64))[per - 1 :] >= VF_WINDOW_S * cfg.vf_min_rate_hz
    vf = vf_windows(xd, fsd, fast, cfg) if fast.any() else np.zeros(0, dtype=bool)
    r = r1
    if not vf.any():
        return r, none
    ranges = _numeric.runs(vf) * w
    inside = vf[np.minimum(r // w, len(vf) - 1)] & (r < len(vf) * w)
    return np.asarray(r[~inside], dtype=np.int64), ranges


def _refine_each(x: npt.NDArray[np.float64], f: npt.NDArray[np.float64], r: npt.NDArray[np.int64],
                 k: int) -> npt.NDArray[np.int64]:
    """Full-rate R peak of each of ``r``: the extremum (of the QRS's polarity) of ``x`` within
    a block of it (none merged)."""
    offsets = np.arange(-k, 2 * k)
    idx = np.clip(r[:, None] * k + offsets[None, :], 0, len(x) - 1)
    seg = x[idx] * np.sign(f[r])[:, None]
    return np.asarray(idx[np.arange(len(r)), np.argmax(seg, axis=1)], dtype=np.int64)


def _apart(out: npt.NDArray[np.int64], fs: float) -> npt.NDArray[np.int64]:
    """``out`` without a peak within 200 ms after the one before it."""
    if len(out) > 1:
        out = out[np.concatenate([[True], np.diff(out) > round(0.2 * fs)])]
    return np.asarray(out, dtype=np.int64)


def _refine_pair(x: npt.NDArray[np.float64], f: npt.NDArray[np.float64], b0: npt.NDArray[np.int64],
                 b1: npt.NDArray[np.int64], k: int, fs: float) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The full-rate R peaks of ``b0`` and of ``b1`` (:func:`_refine_each`, then peaks within
    200 ms of the one before dropped), for ``b1`` that differs from ``b0`` in a few beats: the
    beats they share are refined once."""
    if k <= 1 or len(b0) == 0:
        return b0, b1
    q0 = _refine_each(x, f, b0, k)
    r0 = _apart(q0, fs)
    if b1 is b0:
        return r0, r0
    if len(b1) == 0:
        return r0, b1
    new = b1[~_member(b1, b0)]
    q1 = np.sort(np.concatenate([q0[_member(b0, b1)], _refine_each(x, f, new, k)]))
    return r0, _apart(q1, fs)


def _member(a: npt.NDArray[np.int64], b: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    """``np.isin(a, b)`` for ``b`` sorted and not empty."""
    return np.asarray(b[np.minimum(np.searchsorted(b, a), len(b) - 1)] == a, dtype=np.bool_)


def _search_back(beats: npt.NDArray[np.int64], cand: npt.NDArray[np.int64], h: npt.NDArray[np.float64],
                 level: npt.NDArray[np.float64], fs: float, cfg: QrsConfig = DEFAULT_QRS) -> npt.NDArray[np.int64]:
    """In gaps longer than 1.66 x the local RR (Pan and Tompkins), accept the largest candidate
    above half threshold. A premature beat too small for the threshold leaves a gap of only
    1.4-2 x (its coupling interval plus the pause after it): from ``SEARCH_BACK_RR`` x, a
    candidate that early in the gap is accepted too. (Not any candidate: AF has long intervals
    of its own, and a T or f wave halfway through one is no beat.)"""
    if len(beats) < 3:
        return beats
    rr = np.diff(beats)
    local = _numeric.running_median(rr.astype(np.float64), 9)
    gaps = np.flatnonzero(rr > cfg.search_back_rr * local)
    if len(gaps) == 0:
        return beats
    # Candidates strictly inside each gap (the gaps are disjoint), 300 ms off both beats.
    lo = beats[gaps] + round(0.3 * fs)
    hi = beats[gaps + 1] - round(0.3 * fs)
    gap_of = np.searchsorted(lo, cand, side="left") - 1  # the last gap starting before
    inside = (gap_of >= 0) & (cand > lo[np.maximum(gap_of, 0)]) & (cand < hi[np.maximum(gap_of, 0)])
    inside &= h >= 0.11 * level
    if not inside.any():
        return beats
    g, c, hv = gap_of[inside], cand[inside], h[inside]
    # Past 1.66 x any beat; in a shorter gap only a premature one (the pause after it longer).
    long_gap = rr[gaps[g]] > 1.66 * local[gaps[g]]
    premature = (c - beats[gaps[g]]) < cfg.premature * (beats[gaps[g] + 1] - c)
    ok = long_gap | premature
    g, c, hv = g[ok], c[ok], hv[ok]
    if len(g) == 0:
        return beats
    order = np.lexsort((hv, g))  # by gap, then height: the last of each gap is its largest
    last = np.concatenate([g[order][1:] != g[order][:-1], [True]])
    extra = c[order][last]
    return np.sort(np.concatenate([beats, extra.astype(beats.dtype)]))


def _drop_faint(beats: npt.NDArray[np.int64], cand: npt.NDArray[np.int64], h: npt.NDArray[np.float64],
                cfg: QrsConfig = DEFAULT_QRS) -> npt.NDArray[np.int64]:
    """Drop detections under ``FAINT`` x the long-term level of the beats: the median, over
    ``FAINT_SPAN`` candidates (~15-30 s), of the largest candidate within +-2 (a window of five
    candidates, 1.25 s at least, holds a QRS at any rate above ~25/min, so the level is that of
    the QRS complexes, not of the noise between them). The adaptive threshold follows the
    candidates of the last few seconds; in a long pause, a slow escape rhythm or a saturated
    amplifier most candidates are noise and it falls to their level."""
    if len(beats) == 0 or cfg.faint <= 0.0:
        return beats
    top = _numeric.running_median(_numeric.running_max(h, 2), FAINT_SPAN)
    j = np.searchsorted(cand, beats)  # beats are candidates
    return np.asarray(beats[h[j] >= cfg.faint * top[j]], dtype=np.int64)


def _drop_t_waves(beats: npt.NDArray[np.int64], e: npt.NDArray[np.float64], xd: npt.NDArray[np.float64],
                  fs: float) -> npt.NDArray[np.int64]:
    """A detection within 360 ms of the previous one is its T wave when its steepest slope is
    under half the previous QRS's (Pan and Tompkins' rule), or when it has under half its energy
    and comes before 0.6 x the local RR: a premature QRS is as steep as a sinus one or steeper,
    a T wave is not."""
    if len(beats) < 2:
        return beats
    rr = np.diff(beats)
    close = rr < round(0.36 * fs)
    if not close.any():
        return beats
    # Only the close pairs are judged: slopes |xd[i] - xd[i - 1]| (0 at i = 0) around their two
    # beats, and the local RR (median of the 9 around, edges repeated) at them.
    pair = np.flatnonzero(close)
    both = np.concatenate([beats[pair], beats[pair + 1]])
    offsets = np.arange(-round(0.1 * fs), round(0.05 * fs) + 1)
    i = np.clip(both[:, None] + offsets[None, :], 0, len(xd) - 1)
    slope = np.abs(xd[i] - xd[np.maximum(i - 1, 0)]).max(axis=1)
    flat = slope[len(pair):] < 0.5 * slope[: len(pair)]
    weak = e[beats[pair + 1]] < 0.5 * e[beats[pair]]
    rr_pad = _numeric.pad_edge(rr.astype(np.float64), 4, 4)
    local = np.sort(rr_pad[pair[:, None] + np.arange(9)[None, :]], axis=1)[:, 4]  # np.median of 9
    early = rr[pair] < 0.6 * local
    drop = np.zeros(len(beats), dtype=bool)
    drop[pair + 1] = flat | (weak & early)
    return np.asarray(beats[~drop], dtype=np.int64)


def _drop_coupled_t_waves(beats: npt.NDArray[np.int64], fs: float, cfg: QrsConfig = DEFAULT_QRS) -> npt.NDArray[np.int64]:
    """Drop the T waves detected after every QRS of a run (see ``T_COUPLED_S``): the second
    detection of each short interval in ``t_run`` or more consecutive short-long alternations
    (``t_run`` 0: the rule is off)."""
    k = cfg.t_run
    if k < 1 or len(beats) < 2 * k + 2:
        return beats
    rr = np.diff(beats) / fs
    n = len(rr)
    short = np.zeros(n, dtype=bool)  # between two intervals t_longer x longer at least
    long = cfg.t_longer * rr[1:-1]
    short[1:-1] = (rr[1:-1] < cfg.t_coupled_s) & (rr[:-2] >= long) & (rr[2:] >= long)
    if np.count_nonzero(short) < k:
        return beats
    # Consecutive short intervals linked when about as long and at most T_GAP intervals apart
    # (2: QRS, T, QRS, T; 3 or 4: a T wave or two not detected in between); a chain of k - 1
    # links or more holds k.
    i = np.flatnonzero(short)
    link = (np.diff(i) <= T_GAP) & (np.abs(np.diff(rr[i])) <= cfg.t_jitter_s)
    chains = _numeric.runs(link)
    chains = chains[chains[:, 1] - chains[:, 0] >= k - 1]
    t_wave = np.zeros(len(beats), dtype=bool)
    for a, b in chains:  # (a few per recording)
        t_wave[i[a : b + 1] + 1] = True  # short interval j's second beat is beats[j + 1]
    return np.asarray(beats[~t_wave], dtype=np.int64)


def _r_of(f: npt.NDArray[np.float64], p: npt.NDArray[np.int64], fs: float) -> npt.NDArray[np.int64]:
    """The largest |band-passed ECG| within [-120, +40] ms of each envelope peak ``p``."""
    before, after = round(0.12 * fs), round(0.04 * fs)
    if len(p) > 64 and p.min() >= before and p.max() + after < len(f):  # many rows of f, none cut
        rows = np.lib.stride_tricks.sliding_window_view(f, before + after + 1)[p - before]
        return np.asarray(p - before + np.argmax(np.abs(rows, out=rows), axis=1), dtype=np.int64)
    offsets = np.arange(-before, after + 1)
    idx = np.clip(p[:, None] + offsets[None, :], 0, len(f) - 1)
    return np.asarray(idx[np.arange(len(p)), np.argmax(np.abs(f[idx]), axis=1)], dtype=np.int64)


def _prefer_qrs(beats: npt.NDArray[np.int64], pos: npt.NDArray[np.int64], e: npt.NDArray[np.float64],
                f: npt.NDArray[np.float64], xd: npt.NDArray[np.float64], fs: float,
                cfg: QrsConfig = DEFAULT_QRS) -> npt.NDArray[np.int64]:
    """Move a detection to a rival envelope maximum ``pos`` within the refractory period when
    the rival looks more like a QRS (see ``STEEPER``).

    The envelope integrates slope energy over 120 ms, so a broad wave (a P wave larger than the
    QRS, a baseline step, a noise swing) can outscore the narrow QRS next to it and take the
    refractory window. A QRS is the steepest part of the beat (Pan and Tompkins' T-wave rule
    compares slopes too) and resembles its neighbours: the rival must be steeper, not much
    weaker, and closer to the median QRS of the 8 beats around (band-passed ECG, +-100 ms,
    correlation at the best lag within +-40 ms). Only the few detections with a strong rival
    are examined (whole-array operations over them)."""
    n = len(beats)
    if n < 3 or len(pos) < 2 or cfg.steeper <= 0.0:
        return beats
    refr = max(1, round(cfg.refractory_s * fs))
    lo = np.searchsorted(pos, beats - refr, side="right")
    cnt = np.searchsorted(pos, beats + refr, side="left") - lo
    b = np.repeat(np.arange(n), cnt)  # (detection, rival) pairs
    m = pos[np.arange(len(b)) - np.repeat(np.cumsum(cnt) - cnt - lo, cnt)]
    ok = (m != beats[b]) & (e[m] >= cfg.rival * e[beats[b]])
    # The refractory period holds against the neighbouring detections too.
    ok &= (b == 0) | (m - beats[np.maximum(b - 1, 0)] >= refr)
    ok &= (b == n - 1) | (beats[np.minimum(b + 1, n - 1)] - m >= refr)
    b, m = b[ok], m[ok]
    if len(b) == 0:
        return beats
    rb, rm = _r_of(f, beats[b], fs), _r_of(f, m, fs)
    ok = np.abs(rm - rb) > round(0.08 * fs)  # not the same QRS
    b, m, rb, rm = b[ok], m[ok], rb[ok], rm[ok]
    if len(b) == 0:
        return beats
    w = round(0.04 * fs)
    i = np.clip(np.concatenate([rb, rm])[:, None] + np.arange(-w, w + 1)[None, :], 1, len(xd) - 1)
    slope = np.abs(xd[i] - xd[i - 1]).max(axis=1)
    ok = slope[len(b):] > cfg.steeper * slope[: len(b)]
    b, m, sm = b[ok], m[ok], slope[len(b):][ok]
    if len(b) == 0:
        return beats
    # The median QRS of the 8 beats around each examined detection (edges: nearest beats).
    half, lag = round(0.1 * fs), round(0.04 * fs)
    seg = np.arange(-half, half + 1)
    nb = np.clip(b[:, None] + np.array([-4, -3, -2, -1, 1, 2, 3, 4])[None, :], 0, n - 1)
    tpl = np.sort(f[np.clip(beats[nb][:, :, None] + seg[None, None, :], 0, len(f) - 1)], axis=1)
    t = 0.5 * (tpl[:, 3] + tpl[:, 4])  # np.median of 8
    t -= t.mean(axis=1, keepdims=True)
    tn = np.sqrt((t * t).sum(axis=1))

    def corr(p: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        idx = p[:, None, None] + np.arange(-lag, lag + 1)[None, :, None] + seg[None, None, :]
        s = f[np.clip(idx, 0, len(f) - 1)]
        s -= s.mean(axis=2, keepdims=True)
        c = np.einsum("kls,ks->kl", s, t) / np.maximum(np.sqrt((s * s).sum(axis=2)) * tn[:, None], 1e-12)
        return np.asarray(c.max(axis=1), dtype=np.float64)

    cm, cb = corr(m), corr(beats[b])
    ok = (cm >= cfg.rival_shape) & (cm > cb)
    if not ok.any():
        return beats
    b, m, sm = b[ok], m[ok], sm[ok]
    order = np.lexsort((sm, b))  # by detection, then slope: the steepest rival is the last
    last = np.concatenate([b[order][1:] != b[order][:-1], [True]])
    out = beats.copy()
    out[b[order][last]] = m[order][last]
    return np.sort(out)  # (a moved detection may pass a neighbour; _locate_r merges duplicates)


def _locate_r(f: npt.NDArray[np.float64], beats: npt.NDArray[np.int64], fs: float) -> npt.NDArray[np.int64]:
    """Move each detection to the largest |band-passed ECG| within [-120, +40] ms of it."""
    if len(beats) == 0:
        return beats.astype(np.int64)
    r = np.sort(_r_of(f, beats, fs))
    if len(r) > 1:  # two detections landing on one QRS (or on one sample: a difference of 0)
        r = r[np.concatenate([[True], np.diff(r) > round(0.2 * fs)])]
    return np.asarray(r, dtype=np.int64)


def _drop_noise(beats: npt.NDArray[np.int64], f: npt.NDArray[np.float64], fs: float,
                cfg: QrsConfig = DEFAULT_QRS) -> npt.NDArray[np.int64]:
    """Drop detections that split a regular RR interval in noisy signal (see ``NOISE_LEVEL``).

    A premature beat is followed by a pause (the two intervals add up to more than the local
    RR); an interpolated one or a beat of AF or bigeminy does not sit in a regular rhythm in
    noise. What splits an ordinary interval of a regular rhythm where the signal between the
    QRS complexes is as busy as a fifth of the R wave is an artefact. ``beats`` on ``f``'s
    grid (R located)."""
    n = len(beats)
    if n < 7:
        return beats
    rr = np.diff(beats).astype(np.float64)
    rel = rr / np.maximum(_numeric.running_median(rr, 9), 1.0)
    rp = _numeric.pad_edge(rel, 3, 3)  # beat i: its intervals rp[i + 2], rp[i + 3]
    prev, nxt = rp[2 : n + 2], rp[3 : n + 3]
    cand = ((prev < cfg.noise_early) | (nxt < cfg.noise_early)) & (np.abs(prev + nxt - 1.0) < cfg.noise_split)
    cand[[0, -1]] = False
    if not cand.any():
        return beats
    i = np.flatnonzero(cand)
    around = np.stack([rp[i], rp[i + 1], rp[i + 4], rp[i + 5]], axis=1)
    i = i[np.sort(np.abs(around - 1.0), axis=1)[:, 1:3].mean(axis=1) < cfg.noise_regular]  # median of 4
    if len(i) == 0:
        return beats
    # Noise: RMS of f within NOISE_WINDOW_S of beat i, outside +-100 ms of every beat (only
    # the few candidates' windows are read).
    w = round(cfg.noise_window_s * fs)
    idx = beats[i, None] + np.arange(-w, w + 1)[None, :]
    inside = (idx >= 0) & (idx < len(f))
    idx = np.clip(idx, 0, len(f) - 1)
    j = np.clip(np.searchsorted(beats, idx), 1, n - 1)  # nearest beat: j - 1 or j
    near = np.minimum(np.abs(idx - beats[j - 1]), np.abs(beats[j] - idx)) <= round(0.1 * fs)
    use = inside & ~near
    v = f[idx]
    rms = np.sqrt(np.where(use, v * v, 0.0).sum(axis=1) / np.maximum(use.sum(axis=1), 1))
    amp = _numeric.window_medians(np.abs(f[beats]), 9, i)  # running_median(..., 9)[i]
    drop = i[rms > cfg.noise_level * amp]
    return np.asarray(np.delete(beats, drop), dtype=np.int64)


def _noisy_beats(beats: npt.NDArray[np.int64], f: npt.NDArray[np.float64], fs: float,
                 cfg: QrsConfig = DEFAULT_QRS) -> npt.NDArray[np.bool_]:
    """Per beat: ``True`` when an RR interval within two beats of it is noisy: the RMS of the QRS
    band at ``TRACK_POINTS`` points spread over the interval (100 ms off both beats) above
    ``TRACK_NOISE`` x the median R amplitude (|QRS band|) of its block of 16 beats."""
    n = len(beats)
    m, k = round(0.1 * fs), TRACK_POINTS
    lo = beats[:-1] + m
    step = np.maximum(beats[1:] - m - lo, 0) // k
    lo = np.where(step > 0, lo, (beats[:-1] + beats[1:]) // 2)  # (an interval under 200 ms: its middle)
    v = np.take(f, lo[:, None] + step[:, None] * np.arange(k)[None, :])
    ms = np.einsum("ij,ij->i", v, v)  # k x the mean square
    amp = np.abs(f[beats])
    w = 16
    nb = max(1, n // w)
    blk = np.sort(np.concatenate([amp[: (nb - 1) * w], amp[-w:]]).reshape(nb, -1), axis=1)  # the last: the last 16
    ref = 0.5 * (blk[:, w // 2 - 1] + blk[:, w // 2])
    ref = ref[np.minimum(np.arange(n - 1) // w, nb - 1)]
    i = np.flatnonzero(ms > (cfg.track_noise * cfg.track_noise * k) * (ref * ref))
    out = np.zeros(n, dtype=bool)
    if len(i):
        for s in range(-1, 3):  # interval i lies between beats i and i + 1
            out[np.clip(i + s, 0, n - 1)] = True
    return out


def _track(beats: npt.NDArray[np.int64], pos: npt.NDArray[np.int64], e: npt.NDArray[np.float64],
           f: npt.NDArray[np.float64], fs: float, cfg: QrsConfig = DEFAULT_QRS) -> npt.NDArray[np.int64]:
    """The beats of noisy stretches in a regular rhythm chosen again, jointly (see
    ``TRACK_NOISE``); ``beats`` on ``f``'s grid (R located). Elsewhere the beats stay as they are.

    A stretch is a run of noisy beats (:func:`_noisy_beats`) between two clean ones, its
    anchors. Its candidates are the envelope maxima ``pos`` inside it (R located, over
    ``TRACK_MIN_HEIGHT`` of the level) and its beats. Each has a score: ``TRACK_SHAPE`` x (its
    band-passed QRS's correlation with the median QRS of the 16 clean beats around the stretch,
    best lag within +-40 ms, minus ``TRACK_SHAPE0``), ``TRACK_HEIGHT`` x log(envelope / their
    envelope) (up to 0), and ``TRACK_CURRENT`` for a beat the detector took. Each RR interval
    costs ``TRACK_RR`` x |log(RR / local RR)| / sigma (capped at ``TRACK_CAP``; an early one
    ``TRACK_EARLY`` x that: premature beats are real), the local RR and sigma (robust spread of
    log RR, ``TRACK_SIGMA`` at least) from the clean beats around; stretches where sigma is over
    ``TRACK_REGULAR`` are left alone (AF, multiform ectopy: the intervals say little there). The
    beats are the sequence from anchor to anchor with the highest total, intervals 0.25-2 s (and
    the detector's own sequence, whatever its intervals): a Viterbi over the candidates, run in
    lockstep over all stretches (step k takes every stretch's k-th candidate, whose predecessors
    are all earlier ones), whole-array operations per step."""
    n = len(beats)
    if n < 20 or cfg.track_noise <= 0.0:
        return beats
    noisy = _noisy_beats(beats, f, fs, cfg)
    if not noisy.any():
        return beats
    s, t = _numeric.runs(noisy).T  # runs [s, t) of noisy beats
    inner = (s > 0) & (t < n)
    s, t = s[inner], t[inner]
    if len(s) == 0:
        return beats
    # The clean beats around each stretch (8 before, 8 after): rhythm, template, level.
    clean = np.flatnonzero(~noisy)
    near = clean[np.clip(np.searchsorted(clean, s)[:, None] + np.arange(-8, 8)[None, :], 0, len(clean) - 1)]
    nxt = np.minimum(near + 1, n - 1)
    lr = np.log(np.maximum(beats[nxt] - beats[near], 1).astype(np.float64))
    bad = (nxt == near) | noisy[nxt]  # intervals between two clean beats only
    valid = (~bad).sum(axis=1)
    lr[bad] = np.inf
    j = np.arange(len(s))
    m0, m1 = np.maximum(valid - 1, 0) // 2, valid // 2
    srt = np.sort(lr, axis=1)
    log_rr = 0.5 * (srt[j, m0] + srt[j, m1])  # medians of the valid ones (sorted first)
    log_rr[valid == 0] = 0.0  # (no interval: the stretch is left alone below)
    srt = np.sort(np.abs(lr - log_rr[:, None]), axis=1)
    sig = np.maximum(cfg.track_sigma, 1.4826 * 0.5 * (srt[j, m0] + srt[j, m1]))
    ok = (valid >= 4) & (sig <= cfg.track_regular)
    if not ok.any():
        return beats
    s, t, near, log_rr, sig = s[ok], t[ok], near[ok], log_rr[ok], sig[ok]
    nr = len(s)
    half = round(0.1 * fs)
    seg = np.arange(-half, half + 1)
    tpl = np.sort(np.take(f, beats[near][:, :, None] + seg[None, None, :], mode="clip"), axis=1)
    tpl = tpl[:, 7] + tpl[:, 8]  # twice the median of 16 (the scale does not matter)
    tpl -= tpl.mean(axis=1, keepdims=True)
    tpl /= np.maximum(np.sqrt(np.einsum("ij,ij->i", tpl, tpl)), 1e-12)[:, None]
    lev = np.sort(e[beats[near]], axis=1)
    lev = 0.5 * (lev[:, 7] + lev[:, 8])
    # Candidates, ordered by (stretch, sample): its anchors, its beats, the envelope maxima in it.
    refr = max(1, round(cfg.refractory_s * fs))
    dmax = round(2.0 * fs)
    a_l, a_r = beats[s - 1], beats[t]
    i0 = np.searchsorted(pos, a_l + refr, side="right")
    cnt = np.maximum(np.searchsorted(pos, a_r - refr, side="left") - i0, 0)
    pr = np.repeat(np.arange(nr), cnt)
    p = pos[np.arange(len(pr)) + np.repeat(i0 - (np.cumsum(cnt) - cnt), cnt)]
    ok = e[p] >= cfg.track_min_height * lev[pr]
    p, pr = _r_of(f, p[ok], fs), pr[ok]
    ok = (p > a_l[pr] + refr) & (p < a_r[pr] - refr)
    p, pr = p[ok], pr[ok]
    inrun = np.repeat(np.arange(nr), t - s)
    cur = beats[np.arange(len(inrun)) + np.repeat(s - (np.cumsum(t - s) - (t - s)), t - s)]
    big = len(f) + 2 * dmax + 1  # key = stretch x big + sample: stretches never within dmax
    key = np.concatenate([a_l + big * np.arange(nr), a_r + big * np.arange(nr), cur + big * inrun, p + big * pr])
    kind = np.concatenate([np.full(2 * nr, 2), np.ones(len(cur), dtype=np.int64), np.zeros(len(p), dtype=np.int64)])
    order = np.lexsort((-kind, key))  # on one sample: the anchor, then the beat
    key, kind = key[order], kind[order]
    first = np.concatenate([[True], key[1:] != key[:-1]])
    key, kind = key[first], kind[first]
    rid = key // big
    r = key - rid * big
    c = len(r)
    anchor, current = kind == 2, kind == 1
    # Scores: shape, height, the detector's choice.
    lag = round(0.04 * fs)
    ns = len(seg)
    rows = np.take(f, r[:, None] + np.arange(-lag - half, lag + half + 1)[None, :], mode="clip")
    sg = np.lib.stride_tricks.sliding_window_view(rows, ns, axis=1)[:, ::2]  # lags -40..40 ms, every 2nd
    # The templates have zero mean: the correlation needs no mean taken off the windows, only
    # their variance (from running sums along each row).
    cs = np.zeros((c, rows.shape[1] + 1))
    np.cumsum(rows, axis=1, out=cs[:, 1:])
    su = (cs[:, ns:] - cs[:, :-ns])[:, ::2]
    np.cumsum(rows * rows, axis=1, out=cs[:, 1:])
    var = (cs[:, ns:] - cs[:, :-ns])[:, ::2] - su * su / ns
    cc = np.einsum("kls,ks->kl", sg, tpl[rid]) / np.sqrt(np.maximum(var, 1e-24))
    hw = np.arange(-round(0.04 * fs), round(0.12 * fs) + 1)  # the envelope peak near the R
    hh = np.take(e, r[:, None] + hw[None, :], mode="clip").max(axis=1)
    node = (cfg.track_shape * (np.minimum(cc.max(axis=1), 1.0) - cfg.track_shape0)
            + cfg.track_height * np.clip(np.log(np.maximum(hh, 1e-300) / lev[rid]), -3.0, 0.0)
            + cfg.track_current * current)
    # Predecessors of each candidate: 0.25-2 s before it in its stretch, and the detector's
    # previous beat (or the first anchor) for a beat of the detector and the last anchor.
    ar = np.arange(c)
    start = np.concatenate([[True], rid[1:] != rid[:-1]])  # the stretch's first anchor
    first_c = np.maximum.accumulate(np.where(start, ar, 0))
    lo = np.maximum(np.searchsorted(key, key - dmax, side="left"), first_c)
    hi = np.maximum(np.searchsorted(key, key - refr, side="right"), lo)
    hi[start] = lo[start]
    keeper = anchor | current
    prev_k = np.concatenate([[0], np.maximum.accumulate(np.where(keeper, ar, 0))[:-1]])
    cnt = hi - lo
    dst = np.repeat(ar, cnt)
    src = np.arange(len(dst)) - np.repeat(np.cumsum(cnt) - cnt - lo, cnt)
    extra = keeper & ~start & ((prev_k < lo) | (prev_k >= hi))
    dst = np.concatenate([dst, ar[extra]])
    src = np.concatenate([src, prev_k[extra]])
    if len(dst) == 0:
        return beats
    u = np.log((r[dst] - r[src]).astype(np.float64)) - log_rr[rid[dst]]
    pen = cfg.track_rr * np.minimum(np.where(u < 0.0, -cfg.track_early * u, u) / sig[rid[dst]], cfg.track_cap)
    # Groups of predecessors, one per candidate, by the candidate's rank in its stretch: the
    # candidates of one rank (one per stretch) only have predecessors of lower rank.
    rank = ar - first_c
    o = np.lexsort((dst, rank[dst]))
    dst, src, pen = dst[o], src[o], pen[o]
    gs = np.flatnonzero(np.concatenate([[True], dst[1:] != dst[:-1]]))
    gd = dst[gs]
    gnode = node[gd]
    gb = np.searchsorted(rank[gd], np.arange(int(rank[gd].max()) + 2))
    score = np.where(anchor, 0.0, -np.inf)  # (a candidate with no predecessor: never reached)
    closing = anchor[gd]  # the last anchor: its best predecessor is kept, its score is not needed
    gnode[closing] = 0.0
    for k in range(1, len(gb) - 1):
        ga, gz = gb[k], gb[k + 1]
        if ga == gz:
            continue
        a, b = gs[ga], gs[gz] if gz < len(gs) else len(dst)
        best = np.maximum.reduceat(score[src[a:b]] - pen[a:b], gs[ga:gz] - a)
        score[gd[ga:gz]] = best + gnode[ga:gz]
    # Each candidate's best predecessor (the first, on ties), all at once; back from the last
    # anchors: the chosen beats.
    v = score[src] - pen
    best = np.maximum.reduceat(v, gs)
    hit = np.where(v >= np.repeat(best, np.diff(np.append(gs, len(v)))), np.arange(len(v)), len(v))
    back = np.full(c, -1, dtype=np.int64)
    back[gd] = src[np.minimum.reduceat(hit, gs)]
    chosen = np.zeros(c, dtype=bool)
    at = back[anchor & (back >= 0)]
    while len(at):
        at = at[~anchor[at]]
        chosen[at] = True
        at = back[at]
    gone = np.sort(r[current & ~chosen])
    drop = _member(beats, gone) if len(gone) else np.zeros(n, dtype=bool)
    return np.asarray(np.sort(np.concatenate([beats[~drop], r[(kind == 0) & chosen]])), dtype=np.int64)
