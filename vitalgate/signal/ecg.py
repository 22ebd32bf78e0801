"""ECG screening: QRS detection, signal quality, rhythm events with the strip they came from.

No rhythm verdict is given on unusable signal: 5-second segments that are flat (electrode off),
clipped, or dominated by noise are reported as ``unreadable`` and the RR intervals that touch
them are left out of the AF screening, so electrode noise does not raise AF alarms.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from vitalgate.signal import _numeric
from vitalgate.signal.events import RhythmEvent, RhythmKind
from vitalgate.signal.qrs import (
    _detect,
    _validate,
    blocks,
    decimate,
    decimation,
    join_ranges,
    moving_average_rows,
    qrs_band,
    seam_duplicates,
)
from vitalgate.signal.quality import QualityConfig
from vitalgate.signal.rhythm import (
    DEFAULT,
    RhythmConfig,
    record_irregularity,
    rr_autocorrelation,
    rr_for_af,
    screen_beats,
)

SEGMENT_S = 5.0
#: The end of a recording judged for an asystole going on (:func:`silent_tail`): one that began
#: earlier than this before the end is not reported as a pause (it is unreadable signal).
TAIL_S = 600.0
TEMPLATE_BLOCK = 64  # beats per QRS template (the median shape of the on-time beats around them)
MAX_STRIP_S = 30.0
# The beat agreement's lag search: a QRS's correlation with its template is taken at the best
# lag within +-30 ms (beat_agreement), so a beat placed a few ms off its template's alignment
# still agrees. 114's V5 lead (QRS shape and alignment jittering beat to beat) lost 44 of 362
# segments without it, 0 with it; 20 / 40 ms: 114 0 / 0 at min_beat_corr 0.3, but 114 8 / 0
# at 0.5 (20 ms too little), 118 1 / 0 (40 ms: more of the window's 160 ms searched, noise too).
BEAT_LAG_S = 0.03


@dataclass(frozen=True)
class EcgScreening:
    """Result of :func:`screen_ecg`."""

    r_peaks: npt.NDArray[np.int64]
    af_episodes: npt.NDArray[np.int64]  # (n, 2) [start, end) samples of AF or flutter
    events: list[RhythmEvent] = field(default_factory=list)
    unreadable: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros((0, 2), dtype=np.int64))
    fs: float = 0.0
    n_samples: int = 0
    # Signal quality index per 5-s segment (``SEGMENT_S``), 0-1: the beat agreement (median
    # |correlation| of the segment's QRS complexes with their template, each at its best lag
    # within +-30 ms, after the bSQI of Li, Mark & Clifford 2008) of a readable segment, 0 for an unreadable one, ``nan`` for a
    # readable one with too few beats in the recording (< 8) for a template; a segment read as
    # part of a pause (no beats or too few, :func:`quiet_pauses`) has the agreement of the beat before it.
    sqi: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))

    @property
    def readable_fraction(self) -> float:
        if self.n_samples == 0:
            return 0.0
        return 1.0 - float(np.sum(self.unreadable[:, 1] - self.unreadable[:, 0])) / self.n_samples

    @property
    def verdict(self) -> str:
        """``"af"``, ``"unreadable"`` (under half the signal usable), or ``"no_af"``."""
        if len(self.af_episodes):
            return "af"
        return "unreadable" if self.readable_fraction < 0.5 else "no_af"


def segment_quality(x: npt.NDArray[np.float64], fs: float, r_peaks: npt.NDArray[np.int64],
                    q: QualityConfig | None = None, xd: npt.NDArray[np.float64] | None = None,
                    beat_corr: npt.NDArray[np.float64] | None = None,
                    qrs_slope: npt.NDArray[np.float64] | None = None,
                    ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Per 5-s segment: ``(readable, quality index, noise)`` (vectorised over segments; the
    index as :attr:`EcgScreening.sqi`; noise: the RMS slope of the ECG between the beats over
    the steepest slope of their QRS template, ``nan`` without beats). ``xd``: ``decimate(x, decimation(fs))`` when the caller has it
    already; ``beat_corr``: per beat, the correlation of its QRS with its template
    (:func:`beat_agreement`), ``qrs_slope``: per beat, the steepest slope of its template
    (:func:`template_slope`); both computed when not given."""
    q = q or QualityConfig()
    if beat_corr is None or qrs_slope is None:
        shapes = _beat_shapes(x, fs, r_peaks, DEFAULT, xd)
        beat_corr = beat_agreement(shapes) if shapes is not None else np.full(len(r_peaks), np.nan)
        qrs_slope = template_slope(shapes) if shapes is not None else np.full(len(r_peaks), np.nan)
    seg = int(SEGMENT_S * fs)
    n_seg = max(1, int(np.ceil(len(x) / seg)))
    # Judged at 100-200 Hz, as the QRS detection: block means of the signal, the segment of each
    # block by its first sample (segment edges fall inside a block for odd rates).
    k = decimation(fs)
    xd = decimate(x, k) if xd is None else xd
    # Block i is in segment min(i * k // seg, n_seg - 1): segment j starts at ceil(j * seg / k).
    starts = np.minimum(-(-np.arange(n_seg) * seg // k), len(xd))
    counts = np.diff(np.concatenate([starts, [len(xd)]]))
    n_in = counts.astype(np.float64)
    fd = _numeric.bandpass(xd, fs / k, 0.5, 40.0) if len(xd) > 3 * 13 else xd - np.median(xd)
    lo_f, hi_f = np.minimum.reduceat(fd, starts), np.maximum.reduceat(fd, starts)
    p2p = hi_f - lo_f
    lo, hi = np.minimum.reduceat(xd, starts), np.maximum.reduceat(xd, starts)
    tol = 1e-3 * np.maximum(hi - lo, 1e-9)
    # Per-segment values spread over its blocks by np.repeat (cheaper than an index gather).
    at_edge = xd >= np.repeat(hi - tol, counts)
    at_edge |= xd <= np.repeat(lo + tol, counts)
    buf = at_edge.astype(np.float64)
    clipped = np.add.reduceat(buf, starts) / n_in > q.clip_fraction
    d2 = np.subtract(fd, np.repeat(np.add.reduceat(fd, starts) / n_in, counts), out=buf)
    d2 *= d2
    var = np.add.reduceat(d2, starts) / n_in
    d2 *= d2
    with np.errstate(all="ignore"):
        kurt = (np.add.reduceat(d2, starts) / n_in) / (var * var)
    pad = n_seg * seg - len(x)
    lengths = np.full(n_seg, seg, dtype=float)
    lengths[-1] = seg - pad
    beats = np.bincount(np.minimum(r_peaks // seg, n_seg - 1), minlength=n_seg)
    bpm = beats / (lengths / fs) * 60.0
    # |r|: a run of beats of the opposite polarity (ventricular bigeminy, 200; 203's multiform
    # beats) repeats as well; the signed correlation made 74 of 200's segments unreadable
    agree = _segment_medians(np.abs(beat_corr), np.minimum(r_peaks // seg, n_seg - 1), n_seg)
    spiky = np.nan_to_num(kurt) >= q.min_kurtosis
    if np.isfinite(beat_corr).any():  # judged when there were beats enough for a template
        spiky |= agree >= q.kurtosis_rescue_corr
        spiky &= agree >= q.min_beat_corr  # (nan, a segment without beats: unreadable)
    ok = (p2p >= q.flat_mv) & ~clipped & spiky
    with np.errstate(all="ignore"):
        noise = (_between_beats_slope(fd, r_peaks // k, round(0.1 * fs / k), starts, n_in, out=buf)
                 / _segment_first(qrs_slope, r_peaks, seg, n_seg))
    ok &= ~(noise > q.max_noise_slope)  # (nan: not judged)
    ok &= (bpm >= q.min_bpm) & (bpm <= q.max_bpm)
    short_last = lengths[-1] < 2 * fs  # too little to judge: inherit its neighbour
    if short_last and n_seg > 1:
        ok[-1] = ok[-2]
        agree[-1] = agree[-2]
        noise[-1] = noise[-2]
    return np.asarray(ok), np.where(ok, agree, 0.0), np.asarray(noise, dtype=np.float64)


def _between_beats_slope(fd: npt.NDArray[np.float64], rd: npt.NDArray[np.int64], h: int,
                         starts: npt.NDArray[np.int64], n_in: npt.NDArray[np.float64],
                         out: npt.NDArray[np.float64] | None = None) -> npt.NDArray[np.float64]:
    """Per segment (``starts``, ``n_in`` samples each): the RMS slope (per sample) of ``fd``
    outside +-``h`` samples of the beats ``rd`` (sorted samples of ``fd``), ``0`` where none is.
    Between beats an ECG changes slowly (P and T waves, baseline); noise changes as fast as a
    QRS. Each segment's squared slopes less those of its beats' windows (gathered as rows; the
    few windows cut short or across a segment edge handled apart). ``out``: a scratch array of
    ``len(fd)`` (a fresh one costs its page faults)."""
    n, w = len(fd), 2 * h + 1
    if n < max(2, w):
        return np.zeros(len(starts))
    s = np.empty(n) if out is None else out  # s[j]: (fd[j] - fd[j - 1]) ** 2
    s[0] = 0.0
    np.subtract(fd[1:], fd[:-1], out=s[1:])
    np.square(s, out=s)
    energy = np.add.reduceat(s, starts)
    if len(rd):
        a, b = np.clip(rd - h, 0, n), np.clip(rd + h + 1, 0, n)
        if len(a) > 1 and np.diff(rd).min() < w:  # (beats closer than 2 h: windows not counted twice)
            a[1:] = np.maximum(a[1:], b[:-1])
            b = np.maximum(a, b)
        sa = np.searchsorted(starts, a, side="right") - 1  # the segment a window starts in
        ra = np.minimum(a, n - w)  # each window's row of w samples (the last ones end at n)
        rows = np.lib.stride_tricks.sliding_window_view(s, w)[ra]
        inside = rows @ np.ones(w)
        n_seg = len(starts)
        ends = np.append(starts[1:], n)
        cut = np.flatnonzero((b - a < w) | (b > ends[sa]))  # cut short, or across a segment edge
        if len(cut):
            col = np.arange(w)[None, :]
            lo, hi = (a - ra)[cut, None], (b - ra)[cut, None]
            inside[cut] = (rows[cut] * ((col >= lo) & (col < hi))).sum(axis=1)
            over = np.flatnonzero(b[cut] > ends[sa[cut]])
            if len(over):  # the part past the edge belongs to the next segment
                c = cut[over]
                edge = ends[sa[c]]
                past = (rows[c] * ((col >= (edge - ra[c])[:, None]) & (col < hi[over]))).sum(axis=1)
                np.add.at(energy, sa[c], past)
                np.subtract.at(energy, sa[c] + 1, past)
                moved = np.bincount(sa[c], b[c] - edge, minlength=n_seg)
                n_in = n_in + moved - np.roll(moved, 1)
        energy -= np.bincount(sa, inside, minlength=n_seg)
        n_in = n_in - np.bincount(sa, b - a, minlength=n_seg)
    return np.asarray(np.sqrt(np.maximum(energy, 0.0) / np.maximum(n_in, 1.0)), dtype=np.float64)


def _segment_first(v: npt.NDArray[np.float64], r_peaks: npt.NDArray[np.int64], seg: int, n_seg: int) -> npt.NDArray[np.float64]:
    """Per segment of ``seg`` samples (the last one to the end): ``v`` of its first beat
    (``r_peaks`` sorted), ``nan`` for a segment without beats."""
    if not len(r_peaks):
        return np.full(n_seg, np.nan)
    first = np.searchsorted(r_peaks, np.arange(n_seg) * seg)
    has = np.append(first[1:], len(r_peaks)) > first
    return np.where(has, v[np.minimum(first, len(v) - 1)], np.nan)


def _segment_medians(v: npt.NDArray[np.float64], seg_of: npt.NDArray[np.int64], n_seg: int) -> npt.NDArray[np.float64]:
    """``np.median`` of the finite ``v`` of each segment (``nan`` for none), vectorised."""
    keep = np.isfinite(v)
    v, seg_of = v[keep], seg_of[keep]
    order = np.argsort(seg_of, kind="stable")  # (the beats of a recording are in order already)
    v, seg_of = v[order], seg_of[order]
    counts = np.bincount(seg_of, minlength=n_seg)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    # A row per segment, +inf past its values, sorted: the middle items (cheaper than one
    # lexicographic sort of all the values).
    rows = np.full((n_seg, max(1, int(counts.max()))), np.inf)
    rows[seg_of, np.arange(len(v)) - first[seg_of]] = v
    rows.sort(axis=1)
    out = _sorted_median(rows, np.maximum(counts, 1))
    out[counts == 0] = np.nan
    return out


Shapes = tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]


def _beat_shapes(x: npt.NDArray[np.float64], fs: float, r: npt.NDArray[np.int64], cfg: RhythmConfig = DEFAULT,
                 xd: npt.NDArray[np.float64] | None = None) -> Shapes | None:
    """``(qrs, template, rr_before, local_rr)`` per beat: the QRS (160 ms around the R peak,
    baseline and mean removed, at 100-200 Hz), the median shape of the on-time beats of its
    neighbourhood (:func:`_block_templates`), the RR before it and the neighbourhood's median
    RR (samples). ``None`` with fewer than 8 beats."""
    if len(r) < 8:
        return None
    k = decimation(fs)
    xd = decimate(x, k) if xd is None else xd
    fsd = fs / k
    h = max(2, round(0.08 * fsd))
    rd = np.clip(r // k, h, len(xd) - h - 1)
    w = np.lib.stride_tricks.sliding_window_view(xd, 2 * h + 1)[rd - h]  # (a copy, row by row)
    w -= moving_average_rows(xd, round(0.2 * fsd), rd - h, 2 * h + 1)  # the baseline out
    w -= w.mean(axis=1, keepdims=True)
    # The template is the median shape of the beats that did not come early: in bigeminy half
    # the beats are premature ventricular ones, and they must not shape the template.
    rr_before = np.diff(r, prepend=r[0] - np.median(np.diff(r))).astype(np.float64)
    blocks, block_rr = _block_templates(w, rr_before, cfg.premature_rr, TEMPLATE_BLOCK)
    template = np.repeat(blocks, TEMPLATE_BLOCK, axis=0)[: len(w)]
    local_rr = np.repeat(block_rr, TEMPLATE_BLOCK)[: len(w)]
    return w, template, rr_before, local_rr


def beat_agreement(shapes: Shapes, max_lag_s: float = BEAT_LAG_S) -> npt.NDArray[np.float64]:
    """Per beat: the correlation of its QRS with its template (``nan`` for a flat one); with
    ``max_lag_s``, the correlation (over the samples the two share) at the lag within
    +-``max_lag_s`` where it is largest in size, so a QRS placed a few ms off its template's
    alignment still agrees (``nan`` where no lag gives a correlation)."""
    w, template = shapes[0], shapes[1]
    m = w.shape[1]
    h = m // 2
    lag = min(round(max_lag_s / 0.08 * h), h) if h else 0  # (the window is +-80 ms: h samples)
    if lag <= 0:
        norm = np.sqrt((w * w).sum(axis=1) * (template * template).sum(axis=1))
        with np.errstate(all="ignore"):
            return np.asarray(np.where(norm > 1e-12, (w * template).sum(axis=1) / norm, np.nan), dtype=np.float64)
    # One template per block of TEMPLATE_BLOCK beats (as template_slope): each block's template
    # shifted by every lag d as (block, sample, lag), zero outside the samples it shares with the
    # beat, so the dot products at all lags are one matmul, the beats' sums over the shared
    # samples another two; the correlation taken at the lag of the largest cov^2 / var.
    n, nb, d = len(w), -(-len(w) // TEMPLATE_BLOCK), np.arange(-lag, lag + 1)
    wp = np.zeros((nb * TEMPLATE_BLOCK, m))  # the beats, padded to whole blocks
    wp[:n] = w
    tb = template[::TEMPLATE_BLOCK]
    src = np.arange(m)[:, None] - d[None, :]  # (sample, lag): the template's sample under it
    shared = (src >= 0) & (src < m)
    shifted = np.where(shared, tb[:, np.clip(src, 0, m - 1)], 0.0)
    mask = shared.astype(np.float64)
    k = mask.sum(axis=0)
    sw = (wp @ mask).reshape(nb, TEMPLATE_BLOCK, -1)
    var = ((wp * wp) @ mask).reshape(nb, TEMPLATE_BLOCK, -1)
    st, stt = shifted.sum(axis=1)[:, None, :], (shifted * shifted).sum(axis=1)[:, None, :]
    cov = wp.reshape(nb, TEMPLATE_BLOCK, m) @ shifted
    cov -= sw * (st / k)
    var -= sw * sw / k
    var *= stt - st * st / k
    var, cov = var.reshape(-1, len(d))[:n], cov.reshape(-1, len(d))[:n]
    with np.errstate(all="ignore"):
        best = np.where(var > 1e-24, cov * cov / var, -1.0).argmax(axis=1)
        i = np.arange(n)
        v = var[i, best]
        return np.asarray(np.where(v > 1e-24, cov[i, best] / np.sqrt(v), np.nan), dtype=np.float64)


def template_slope(shapes: Shapes) -> npt.NDArray[np.float64]:
    """Per beat: the steepest slope (per sample, at 100-200 Hz) of its template, the median
    shape of the on-time beats around it: how fast the ECG changes in a QRS."""
    t = shapes[1][::TEMPLATE_BLOCK]  # (one template per block of beats, repeated)
    if t.shape[1] < 2:
        return np.full(len(shapes[1]), np.nan)
    return np.repeat(np.abs(np.diff(t, axis=1)).max(axis=1), TEMPLATE_BLOCK)[: len(shapes[1])]


def ventricular_beats(x: npt.NDArray[np.float64], fs: float, r: npt.NDArray[np.int64],
                      cfg: RhythmConfig = DEFAULT, xd: npt.NDArray[np.float64] | None = None,
                      shapes: Shapes | None = None) -> npt.NDArray[np.bool_]:
    """Per beat: ``True`` where the beat is ventricular (or aberrant), judged from its QRS (160 ms
    around the R peak, baseline removed) against the median shape of the on-time beats of its
    neighbourhood (the 128 beats around it) and from its timing against the local median RR:

    * a QRS differing from that template by more than ``qrs_shape_diff`` of its size (RMS of the
      difference / RMS of the template) and not late (RR before <= ``ventricular_max_rr`` x the
      median): ventricular beats come early, and late deviant beats in AF are noisy conducted ones;
    * or a QRS differing by more than ``wide_qrs_diff``, wider than the template (RMS duration
      ratio > ``wide_qrs_ratio``), premature (RR before < ``premature_rr`` x the median) and
      followed by a pause (RR after > ``pause_rr`` x the median): the textbook premature
      ventricular complex — early, wide, then a compensatory pause. Conducted beats, in sinus
      rhythm and in AF alike, share the dominant shape and width."""
    if len(r) < 8 or cfg.qrs_shape_diff <= 0.0:
        return np.zeros(len(r), dtype=bool)
    shapes = shapes or _beat_shapes(x, fs, r, cfg, xd)
    if shapes is None:
        return np.zeros(len(r), dtype=bool)
    w, template, rr_before, local_rr = shapes
    fsd = fs / decimation(fs)
    h = w.shape[1] // 2
    et = template * template
    diff = ((w - template) ** 2).sum(axis=1)
    size = np.maximum(et.sum(axis=1), 1e-12)
    before = rr_before / local_rr
    after = np.concatenate([rr_before[1:], [np.median(rr_before)]]) / local_rr
    odd = (diff > cfg.qrs_shape_diff**2 * size) & (before <= cfg.ventricular_max_rr)
    t2 = np.square(np.arange(-h, h + 1) / fsd)
    e = w * w
    duration2 = (e @ t2) / np.maximum(e.sum(axis=1), 1e-12)  # squared RMS durations
    wide = duration2 > cfg.wide_qrs_ratio**2 * (et @ t2) / size
    pvc = (diff > cfg.wide_qrs_diff**2 * size) & wide & (before < cfg.premature_rr) & (after > cfg.pause_rr)
    return np.asarray(odd | pvc)


def _sorted_median(s: npt.NDArray[np.float64], m: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """``np.median`` of the first ``m[b]`` items of each row ``b`` of ``s`` (sorted along its
    last axis; the items past ``m[b]`` are ``+inf``): the same middle items, the same mean."""
    lo = np.take_along_axis(s, np.broadcast_to(((m - 1) // 2)[..., None], (*s.shape[:-1], 1)), axis=-1)[..., 0]
    hi = np.take_along_axis(s, np.broadcast_to((m // 2)[..., None], (*s.shape[:-1], 1)), axis=-1)[..., 0]
    return np.asarray((lo + hi) / 2, dtype=np.float64)


def _block_templates(w: npt.NDArray[np.float64], rr_before: npt.NDArray[np.float64], premature: float,
                     block: int = 64, chunk: int = 256) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Per block of ``block`` beats: ``(median shape, median RR)``. The shape is the median of
    the rows of ``w`` of the beats of its neighbourhood ``[i - block // 2, i + block + block // 2)``
    (cut at the ends, not padded) that did not come early (RR before them at least
    ``premature`` x the neighbourhood's median RR; all of them when fewer than 4 did), exactly
    as ``np.median`` per block. Vectorised over the blocks: the items outside a neighbourhood
    are ``+inf`` and sort last; ``chunk`` blocks at a time (bounded memory on day-long records)."""
    n = len(w)
    n_blocks = -(-n // block)
    out = np.empty((n_blocks, w.shape[1]))
    rr_med = np.empty(n_blocks)
    # The shapes, one row per sample of the QRS, with room either side (outside every
    # neighbourhood: +inf below), so each block's neighbourhood is a slice of them.
    wt = np.zeros((w.shape[1], n + 3 * block))
    wt[:, block : block + n] = w.T
    for b0 in range(0, n_blocks, chunk):  # per chunk of blocks, not per sample
        b = np.arange(b0, min(n_blocks, b0 + chunk))
        j = (b * block - block // 2)[:, None] + np.arange(2 * block)[None, :]
        inside = (j >= 0) & (j < n)
        jc = np.clip(j, 0, n - 1)
        rr = np.where(inside, rr_before[jc], np.inf)
        n_in = inside.sum(axis=1)
        med = _sorted_median(np.sort(rr, axis=1), n_in)
        rr_med[b] = med
        on_time = inside & (rr >= premature * med[:, None])
        n_on = on_time.sum(axis=1)
        pool = np.where((n_on >= 4)[:, None], on_time, inside)
        # (shape sample, block, beat): the rows of the neighbourhoods, the items outside the pool +inf
        shapes = np.lib.stride_tricks.sliding_window_view(wt, 2 * block, axis=1)[:, b * block + block // 2]
        np.copyto(shapes, np.inf, where=~pool[None, :, :])
        shapes.sort(axis=-1)
        out[b] = _sorted_median(shapes, np.broadcast_to(np.where(n_on >= 4, n_on, n_in), shapes.shape[:-1])).T
    return out, rr_med


@dataclass(frozen=True)
class _Stages:
    """What the signal tells, before the rhythm screening: beats, VF ranges, each beat's
    ventricular flag, per 5-s segment whether it is readable and its quality index."""

    r: npt.NDArray[np.int64]
    vf: npt.NDArray[np.int64]
    ectopic: npt.NDArray[np.bool_]
    readable: npt.NDArray[np.bool_]
    sqi: npt.NDArray[np.float64]
    noise: npt.NDArray[np.float64]  # per segment, the between-beats slope ratio (segment_quality)
    undersensed: npt.NDArray[np.int64]  # (n, 2) [start, end) inside gaps of missed beats, no pauses
    quiet: npt.NDArray[np.int64]  # (n, 2) [start, end) inside pauses the signal shows (quiet_pauses)
    clean: npt.NDArray[np.bool_]  # per beat: clearly a QRS (its template agreement, quiet_pauses)
    silent: int = -1  # the last beat, when no beat follows it and the ECG after it is quiet (silent_tail); -1: none


def _beat_measures(x: npt.NDArray[np.float64], fs: float, r: npt.NDArray[np.int64], cfg: RhythmConfig,
                   quality: QualityConfig, xd: npt.NDArray[np.float64]) -> tuple[
        Shapes | None, npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64],
        npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """``(shapes, agreement, template slope, template QRS size, clean, ventricular)`` per beat
    of ``r`` (``nan`` / ``False`` with too few beats for templates)."""
    shapes = _beat_shapes(x, fs, r, cfg, xd)
    none = np.full(len(r), np.nan)
    corr = beat_agreement(shapes) if shapes is not None else none
    slope = template_slope(shapes) if shapes is not None else none
    size = np.ptp(shapes[1], axis=1) if shapes is not None else none  # each beat's template QRS
    # (both bars of the agreement; nan, too few beats to tell: not clean)
    clean = np.abs(corr) >= max(quality.kurtosis_rescue_corr, quality.min_beat_corr)
    return shapes, corr, slope, size, clean, ventricular_beats(x, fs, r, cfg, xd, shapes)


def _signal_stages(x: npt.NDArray[np.float64], fs: float, cfg: RhythmConfig, quality: QualityConfig) -> _Stages:
    k = decimation(fs)
    xd = decimate(x, k)  # once, for the detector, the quality and the QRS shapes
    r, vf = _detect(x, fs, xd, cfg.qrs)
    shapes, corr, slope, size, clean, ventricular = _beat_measures(x, fs, r, cfg, quality, xd)
    readable, sqi, noise = segment_quality(x, fs, r, quality, xd, corr, slope) if len(x) else (np.zeros(0, dtype=bool), np.zeros(0), np.zeros(0))
    inner = round(0.1 * fs)  # (inside the gap: only the interval across it is touched)

    def inside(i: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        return np.stack([r[i] + inner, r[i + 1] - inner], axis=1).astype(np.int64).reshape(-1, 2)

    # Each bounding beat judged by its own QRS too: a stream's buffer filling with an asystole's
    # noise makes the templates noise (30 s of record 100: 13 beats, 44 noise detections, a
    # template QRS of 0.025 mV), and the pause was not reported when the asystole ended
    own_size = np.ptp(shapes[0], axis=1) if shapes is not None else np.full(len(r), np.nan)
    own_slope = np.abs(np.diff(shapes[0], axis=1)).max(axis=1) if shapes is not None else own_size
    not_beats = noise_in_pauses(xd, fs, r, clean, np.fmax(slope, own_slope), np.fmax(size, own_size), cfg, quality)
    if not_beats.any():  # noise taken for beats in an asystole: the templates again, without it
        r = r[~not_beats]
        shapes, corr, slope, size, clean, ventricular = _beat_measures(x, fs, r, cfg, quality, xd)
    silent = silent_tail(xd, fs, r, len(x), cfg, quality)
    if silent >= 0:  # the detections after it are noise in an asystole still going on
        last = np.flatnonzero(r == silent)[0] + 1
        r, corr, slope, size, clean, ventricular = r[:last], corr[:last], slope[:last], size[:last], clean[:last], ventricular[:last]
    undersensed = inside(np.flatnonzero(undersensed_pauses(xd, fs / k, r // k, cfg)))
    shown = np.flatnonzero(quiet_pauses(xd, fs, r, clean, slope, size, cfg, quality))
    quiet = inside(shown)
    seg = int(SEGMENT_S * fs)
    for i, (a, b) in zip(shown, quiet // seg, strict=True):  # a pause explains the few beats of its
        part = slice(a, b + 1)  # segments: read (unless noisy), with the agreement of the beat before it
        newly = ~readable[part] & ~(noise[part] > quality.max_noise_slope)
        readable[part] |= newly
        sqi[part] = np.where(newly, abs(float(corr[i])), sqi[part])
    return _Stages(r, vf, ventricular, readable, sqi, noise, undersensed, quiet, clean, silent)


def silent_tail(xd: npt.NDArray[np.float64], fs: float, r: npt.NDArray[np.int64], n: int,
                cfg: RhythmConfig = DEFAULT, quality: QualityConfig | None = None) -> int:
    """The sample of the last detection that is no noise in an ``n``-sample input (``xd``: it
    decimated by ``decimation(fs)``; ``r``: the detections) when only noise follows it for
    ``asystole_alert_s`` up to the end (detections each under ``PAUSE_NOISE_MAX`` x the QRS size
    and ``PAUSE_NOISE_SNR`` x the noise level of that stretch) and the ECG after it is quiet (as
    :func:`quiet_pauses` judges a pause); else -1. An
    asystole still going on: without it, a flat line after the last beat was reported as
    nothing (streaming) or as unreadable signal (offline) for as long as it lasted.

    Sizes are measured on the ECG itself, not on the QRS templates: the QRS size and steepest
    slope are the 95th percentiles over the detections (peak to peak and steepest step within
    +-60 ms), which are QRS complexes while at most 19 in 20 detections are noise. A template
    of a buffer filling with noise detections comes to agree with them, and the last beat
    before an asystole is often a premature ventricular one that agrees with no template."""
    q = quality or cfg.quality
    if cfg.asystole_alert_s <= 0 or not len(r):
        return -1
    k = decimation(fs)
    fsd = fs / k
    h = max(2, round(0.06 * fsd))
    rd = r // k
    inside = (rd >= h) & (rd < len(xd) - h)
    if not inside.any():
        return -1
    windows = np.lib.stride_tricks.sliding_window_view(xd, 2 * h + 1)
    rows = windows[rd[inside] - h]
    amp = np.ptp(rows, axis=1)
    size = float(np.percentile(amp, 95))
    slope = float(np.percentile(np.abs(np.diff(rows, axis=1)).max(axis=1), 95))
    at = np.flatnonzero(inside)
    # The noise of the last asystole_alert_s (its standard deviation if white, from the median
    # step between samples): noise detections in a flat line hardly stand out from it, a QRS
    # complex does (the ECG between beats is smooth)
    level = noise_level(xd[-round(cfg.asystole_alert_s * fsd) :], size)
    beat = (amp > PAUSE_NOISE_MAX * size) | (amp > PAUSE_NOISE_SNR * level)
    big = at[beat]
    if not len(big) or n - int(r[big[-1]]) < cfg.asystole_alert_s * fs:
        return -1
    i = int(big[-1])
    if (~inside[i + 1 :]).any():  # (a detection at the very end, not measured: not judged)
        return -1
    # ...and noise next to the beats just before it too: on a lead whose small normal beats
    # measure a few per cent of its large PVCs (MITDB 200's V1), those beats are not noise
    recent = amp[(r[at] >= r[i] - 10 * fs) & (r[at] <= r[i])]
    ref = min(size, float(np.median(recent)))
    tail = amp[at > i]
    if ((tail > PAUSE_NOISE_MAX * ref) | (tail > PAUSE_NOISE_SNR * level)).any():
        return -1
    # ...and unlike each other: noise in a flat line taken for beats has no shape in common, a
    # lead whose QRS all but vanishes (200's V1 at 882 s: 1-3 % of the beats before, their
    # rhythm kept) still repeats one
    after = rows[at > i]
    if len(after) >= 4:
        shape = _detrended(after)
        if float(np.median(_correlation(shape, np.median(shape, axis=0)))) >= PAUSE_NOISE_ALIKE:
            return -1
    # ...and, over 5 % of the QRS, not the QRS of the beats before, faint: a lead whose gain
    # drops keeps its beats' shape under the noise
    faint = after[tail > PAUSE_NOISE_SIZE * ref]
    if len(faint):
        qrs = np.median(_detrended(rows[beat & (at <= i)][-8:]), axis=0)
        if float(np.median(_correlation(_detrended(faint), qrs))) >= PAUSE_NOISE_QRS_CORR:
            return -1
    end = len(xd) - 2 * h - 1  # (the gap judged up to the last samples, with a little after it)
    if end - int(rd[i]) < cfg.pause_s * fsd:
        return -1
    return int(r[i]) if _quiet_gap(xd, fsd, int(rd[i]), end, slope, size, q) else -1


def usable_intervals(t: npt.NDArray[np.int64] | npt.NDArray[np.float64], readable: npt.NDArray[np.bool_],
                     hard: npt.NDArray[np.int64] | npt.NDArray[np.float64],
                     shown: npt.NDArray[np.int64] | npt.NDArray[np.float64], pause: float) -> npt.NDArray[np.bool_]:
    """Per RR interval of the beats ``t`` (sorted): usable for the rhythm screening. Never one
    across a ``hard`` range (samples lost, VF, beats the detector missed); one longer than
    ``pause`` where it holds a pause the ECG shows (a range of ``shown``, :func:`quiet_pauses`),
    whatever the quality around; any other where ``readable``. The offline call and the stream
    both decide by it."""
    long = np.diff(t) > pause
    holds = np.zeros(len(long), dtype=bool)
    holds[spanning(t, shown)] = True
    return np.where(long, holds, readable) & ~crossing(t, hard)


def crossing(t: npt.NDArray[np.int64] | npt.NDArray[np.float64],
             ranges: npt.NDArray[np.int64] | npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    """Per interval of the beats ``t`` (sorted): it overlaps one of the ``(n, 2)`` ``ranges``
    (``[start, end)``, in any order; per range, vectorised over the intervals)."""
    out = np.zeros(max(len(t) - 1, 0), dtype=bool)
    for a, b in np.asarray(ranges).reshape(-1, 2):
        out |= (t[1:] > a) & (t[:-1] < b)
    return out


def spanning(t: npt.NDArray[np.int64] | npt.NDArray[np.float64], ranges: npt.NDArray[np.int64] | npt.NDArray[np.float64],
             ) -> npt.NDArray[np.int64]:
    """The intervals ``i`` of the beats ``t`` (sorted) that hold a whole range of ``ranges``
    (``t[i] <= start``, ``end <= t[i + 1]``)."""
    i = np.searchsorted(t, np.asarray(ranges)[:, 0], side="right") - 1
    ok = (i >= 0) & (i < len(t) - 1)
    i = i[ok]
    return np.asarray(i[t[i + 1] >= np.asarray(ranges)[ok, 1]], dtype=np.int64)


def quiet_pauses(xd: npt.NDArray[np.float64], fs: float, r: npt.NDArray[np.int64], clean: npt.NDArray[np.bool_],
                 qrs_slope: npt.NDArray[np.float64], qrs_size: npt.NDArray[np.float64], cfg: RhythmConfig = DEFAULT,
                 quality: QualityConfig | None = None) -> npt.NDArray[np.bool_]:
    """Per RR interval of the beats ``r`` (samples at ``fs``; ``xd`` the ECG decimated by
    ``decimation(fs)``): ``True`` for a pause (RR over ``pause_s``) the signal shows, whatever
    the quality of the 5-s segments inside it. A long pause leaves segments with no beat, which
    the quality check calls unreadable (under ``min_bpm``, no beats to agree), and an interval
    across an unreadable segment is not screened: without this, a 6-s sinus arrest was reported
    as unreadable signal, not as a pause. A pause is shown when the beat before it is clearly a
    QRS complex (``clean``: agreeing with its template, :func:`beat_agreement`, by
    ``kurtosis_rescue_corr``, 0.85, the agreement at which beats are trusted whatever else the
    segment shows, and by ``min_beat_corr`` if that is higher; the beat after it may differ:
    the first beat after a pause is often aberrant, or an escape beat) and the ECG between them (from 100 ms after the first R to 100 ms
    before the second) is quiet: the RMS slope of its 0.5-40 Hz band at most
    ``max_noise_slope`` x the QRS template's steepest slope (``qrs_slope``, as the between-beats
    noise of :func:`segment_quality`), and its excursion (peak to peak) at most the size of the
    QRS template (``qrs_size``): T and P waves and a little wander, not the step and slow decay
    of an amplifier blocked by a baseline jump (MITDB 116, 200, 203), whose "beats" are the
    steps. A loop over the pauses (rare)."""
    q = quality or cfg.quality
    out = np.zeros(max(len(r) - 1, 0), dtype=bool)
    if len(r) < 2:
        return out
    k = decimation(fs)
    for i in np.flatnonzero((np.diff(r) > cfg.pause_s * fs) & clean[:-1]):
        out[i] = _quiet_gap(xd, fs / k, int(r[i]) // k, int(r[i + 1]) // k, float(qrs_slope[i]), float(qrs_size[i]), q)
    return out


def _quiet_gap(xd: npt.NDArray[np.float64], fsd: float, a: int, b: int, qrs_slope: float, qrs_size: float,
               q: QualityConfig) -> bool:
    """Whether the ECG ``xd`` (at ``fsd``) between the beats at ``a`` and ``b`` (samples of
    ``xd``) is quiet, as :func:`quiet_pauses` judges it (``nan`` sizes: not quiet)."""
    h, edge = max(2, round(0.06 * fsd)), round(0.1 * fsd)
    lo, hi = max(0, a - round(fsd)), min(len(xd), b + round(fsd))
    if a - lo < h or hi - b <= h:
        return False
    fd = _numeric.bandpass(xd[lo:hi], fsd, 0.5, 40.0)
    gap = fd[a - lo + edge : b - lo - edge]
    slope = float(np.sqrt(np.mean(np.diff(gap) ** 2))) / qrs_slope
    excursion = float(np.ptp(xd[a + edge : b - edge]))
    return bool(slope <= q.max_noise_slope and excursion <= qrs_size)  # (nan: not shown)


#: Detections in a long quiet gap between two clear QRS complexes that are noise, not beats
#: (:func:`noise_in_pauses`): none agrees with the QRS template and none
#: measures more than this share of the template's QRS (peak to peak, +-60 ms). Noise of 0.01
#: mV in an asystole after 1.5-mV QRS complexes measures 0.02-0.03; 200's small normal beats on
#: V1 among large PVCs 0.08-0.1 (at 0.25 they were dropped and a false 5.8-s pause reported).
#: Noisier flat lines (over ~0.03 mV here): see ``PAUSE_NOISE_MAX``.
PAUSE_NOISE_SIZE = 0.05
#: Detections are noise up to this share of the QRS too, after the last QRS complex
#: (:func:`silent_tail`) and in a gap (:func:`noise_in_pauses`), when each measures at most
#: ``PAUSE_NOISE_SNR`` x the :func:`noise_level` of the last ``asystole_alert_s`` or of the gap (its
#: standard deviation were it white, from the median step between samples): noise detections
#: in a flat line measure 5-9 x it, a QRS complex stands out from the smooth ECG between beats
#: (CinC 2017 A03870, small QRS under large T waves: 26 x; against the median peak to peak of
#: +-60 ms windows instead it measured 1.3-2.2 x, as noise, and raised a false asystole). With
#: the size alone, streamed 20-s flat lines after 10 beats of each of the 24 MITDB first leads
#: were missed in 7 / 10 / 65 / 140 / 221 of 240 cases at 0.005 / 0.01 / 0.02 / 0.03 / 0.05 mV
#: of noise; 4 / 0 / 1 / 1 / 11 with this rule alone (with ``PAUSE_NOISE_QRS_CORR``, 0.01-0.03
#: mV: 1 / 7 / 8). Offline, a 20-s flat line with 0.03 mV of noise between two beats (5 places in
#: each of the 24) was a whole pause in 34 of 120, now 95 (10 s: 106 as before).
PAUSE_NOISE_MAX = 0.2
PAUSE_NOISE_SNR = 12.0
#: ...the noise level taken at least this share of the QRS, so that detections under
#: ``PAUSE_NOISE_SNR`` x it (2.4 % of the QRS) are noise on a line flat to the last bit too. Faint
#: beats standing far out of the noise are beats even under ``PAUSE_NOISE_SIZE`` (a lead whose
#: gain drops to 5 %, with the noise: beats at 4.7 % of the QRS, 100 x the noise).
PAUSE_NOISE_FLOOR = 0.002
#: ...and noise does not repeat a shape: tail detections whose median correlation with their
#: median shape reaches this are beats of a lead that all but lost them (:func:`silent_tail`).
PAUSE_NOISE_ALIKE = 0.8
#: ...and tail detections over ``PAUSE_NOISE_SIZE`` whose median correlation with the QRS of the
#: beats before (+-60 ms) reaches this are faint beats: a lead whose gain drops to 10 % for 15 s
#: under 0.02-0.03 mV of noise raised 4 false asystoles in 64 streamed cases (121, 201; a review
#: found it), none with it; asystoles missed at 0.01 / 0.02 / 0.03 mV of noise 0 / 1 / 1 of 240
#: without it, 1 / 7 / 8 with it (0.5: 3 of 10 phases of the review's 121 case still false).
PAUSE_NOISE_QRS_CORR = 0.3


def noise_level(xd: npt.NDArray[np.float64], qrs_size: float) -> float:
    """The noise of the ECG ``xd`` (its standard deviation were it white, from the median step
    between samples), at least ``PAUSE_NOISE_FLOOR`` x ``qrs_size`` (a line flat to the last bit
    has no noise to measure)."""
    step = float(np.median(np.abs(np.diff(xd)))) if len(xd) > 1 else 0.0
    return max(step / (0.6745 * float(np.sqrt(2.0))), PAUSE_NOISE_FLOOR * float(qrs_size))


def noise_in_pauses(xd: npt.NDArray[np.float64], fs: float, r: npt.NDArray[np.int64], clean: npt.NDArray[np.bool_],
                    qrs_slope: npt.NDArray[np.float64], qrs_size: npt.NDArray[np.float64], cfg: RhythmConfig = DEFAULT,
                    quality: QualityConfig | None = None) -> npt.NDArray[np.bool_]:
    """Per beat of ``r``: ``True`` for a detection that is noise in a sinus arrest or asystole.
    The detector's running level looks some seconds around and, in a flat stretch longer than
    ~12 s, falls to the noise's, taking noise for beats every few hundred ms: an asystole of 16
    s or more was reported as unreadable signal, not as a pause (the intervals between the
    noise "beats" are short). Between two beats that are ``clean`` (clear QRS complexes) and more
    than ``pause_s`` apart, detections none of which is ``clean`` and each under
    ``PAUSE_NOISE_SIZE`` x the QRS template's size (or under ``PAUSE_NOISE_MAX`` x it and
    ``PAUSE_NOISE_SNR`` x the gap's :func:`noise_level`), in a gap that is quiet as
    :func:`quiet_pauses` judges it, are noise. A faint QRS (a lead whose gain drops) agrees with
    its template and is kept."""
    q = quality or cfg.quality
    drop = np.zeros(len(r), dtype=bool)
    ci = np.flatnonzero(clean)
    if len(ci) < 2:
        return drop
    k = decimation(fs)
    fsd = fs / k
    h = max(2, round(0.06 * fsd))
    span = (np.diff(ci) > 1) & (np.diff(r[ci]) > cfg.pause_s * fs)
    for p, e in zip(ci[:-1][span], ci[1:][span], strict=True):
        inner = r[p + 1 : e] // k
        if inner.min() < h or inner.max() >= len(xd) - h:
            continue
        rows = np.lib.stride_tricks.sliding_window_view(xd, 2 * h + 1)[inner - h]
        amp = np.ptp(rows, axis=1).max()
        if not amp <= PAUSE_NOISE_SIZE * qrs_size[p] and not (  # (nan size: not judged)
                amp <= PAUSE_NOISE_MAX * qrs_size[p] and amp <= PAUSE_NOISE_SNR * noise_level(xd[r[p] // k : r[e] // k], qrs_size[p])):
            continue
        if _quiet_gap(xd, fsd, int(r[p]) // k, int(r[e]) // k, float(qrs_slope[p]), float(qrs_size[p]), q):
            drop[p + 1 : e] = True
    return drop


def undersensed_pauses(xd: npt.NDArray[np.float64], fsd: float, rd: npt.NDArray[np.int64],
                       cfg: RhythmConfig = DEFAULT) -> npt.NDArray[np.bool_]:
    """Per RR interval of the beats ``rd`` (samples of ``xd``, the ECG at ``fsd``): ``True`` for
    a pause (RR over ``pause_s``) that is beats the detector missed: a lead whose QRS shrank,
    not a heart that stopped. A wave of the QRS band counts as a missed beat when it correlates
    with the median QRS of the beats before (+-60 ms) by ``pause_beat_corr`` at least and rises
    ``pause_beat_snr`` x above the gap's median |QRS band|. Missed beats either

    * at each place the rhythm before the pause (the median of up to 8 RR) puts a beat, when it
      fits the gap a whole number of times, 3 or more (within 20 %: two missed beats at least;
      at one, waves of noise pass by chance), within ``pause_beat_window_s``; or
    * anywhere, two or more, leaving no interval longer than ``pause_s``, when each also
      matches the beats' whole QRS-T complex by ``pause_beat_qrst_corr`` (a gain drop under a
      rhythm the places do not fit: sinus arrhythmia, bigeminy, AF).

    A sinus arrest leaves the gap flat and an AV block leaves P waves, a PR interval before
    those places and with no T wave after them; a pause with too few beats before it to know
    the rhythm stands. A loop over the pauses (rare), each judged on a few seconds of signal."""
    out = np.zeros(max(len(rd) - 1, 0), dtype=bool)
    if len(rd) < 6 or cfg.pause_beat_corr > 1.0:
        return out
    rr = np.diff(rd)
    h = max(2, round(0.06 * fsd))
    win = max(1, round(cfg.pause_beat_window_s * fsd))
    off = np.arange(-h, h + 1)
    for i in (int(j) for j in np.flatnonzero(rr > cfg.pause_s * fsd)):
        before = rr[max(0, i - 8) : i]
        before = before[before <= cfg.pause_s * fsd]
        if len(before) < 4:
            continue
        lo, hi = max(0, int(rd[max(0, i - 8)]) - round(0.5 * fsd)), min(len(xd), int(rd[i + 1]) + round(0.5 * fsd))
        f = qrs_band(xd[lo:hi], fsd)
        beats = rd[max(0, i - 8) : i + 1] - lo
        beats = beats[(beats >= h) & (beats < len(f) - h)]
        if len(beats) < 4:
            continue
        t = np.median(f[beats[:, None] + off[None, :]], axis=0)
        t -= t.mean()
        a, b = int(rd[i]) - lo, int(rd[i + 1]) - lo
        background = float(np.median(np.abs(f[a + h : b - h])))
        m = float(np.median(before))
        n = round(rr[i] / m)
        if n >= 3 and abs(rr[i] / n - m) <= 0.2 * m:  # (one missed beat is too little to tell)
            places = a + np.round(np.arange(1, n) * (b - a) / n).astype(np.int64)
            shifts = np.arange(-win, win + 1)
            at = places[:, None] + shifts[None, :]  # (place, shift): the centre of a QRS window
            if at.min() >= h and at.max() < len(f) - h:
                w = f[at[:, :, None] + off[None, None, :]]  # (place, shift, sample)
                w = w - w.mean(axis=2, keepdims=True)
                c = _correlation(w, t)
                best = c.argmax(axis=1)
                inside = (best > 0) & (best < len(shifts) - 1)  # a peak, not a slope into a wave beyond
                height = np.abs(w[np.arange(len(places)), best]).max(axis=1)
                out[i] = bool(np.all(inside & (c[np.arange(len(places)), best] >= cfg.pause_beat_corr)
                                     & (height >= cfg.pause_beat_snr * background)))
        irregular = float(np.std(before)) > cfg.pause_fill_rr_cv * m
        if not out[i] and irregular and cfg.pause_beat_qrst_corr <= 1.0:
            out[i] = _faint_beats_fill(xd[lo:hi], f, fsd, beats, t, a, b, background, cfg)
    return out


def _correlation(w: npt.NDArray[np.float64], t: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Correlation of each row of ``w`` (its mean removed) with ``t`` (its mean removed); -1
    where a row is flat."""
    with np.errstate(all="ignore"):
        c = (w @ t) / (np.sqrt((w * w).sum(axis=-1)) * float(np.sqrt(t @ t)))
    return np.asarray(np.nan_to_num(c, nan=-1.0), dtype=np.float64)


def _faint_beats_fill(x: npt.NDArray[np.float64], f: npt.NDArray[np.float64], fsd: float,
                      beats: npt.NDArray[np.int64], t: npt.NDArray[np.float64], a: int, b: int,
                      background: float, cfg: RhythmConfig) -> bool:
    """Whether the gap ``[a, b)`` of ``x`` (its QRS band ``f``; ``beats`` before it, ``t``
    their median QRS in the band) holds QRS-T complexes like those beats', two or more, one per
    refractory period, leaving no interval over ``pause_s`` (:func:`undersensed_pauses`)."""
    h = (len(t) - 1) // 2
    refr = max(1, round(cfg.qrs.refractory_s * fsd))
    q0, q1 = round(0.1 * fsd), round(0.45 * fsd)  # the QRS-T window around the R
    s = np.arange(max(a + refr, q0, h), min(b - refr, len(x) - q1, len(f) - h))
    beats = beats[(beats >= q0) & (beats < len(x) - q1)]
    if len(s) < 3 or len(beats) < 4:
        return False
    w = np.lib.stride_tricks.sliding_window_view(f, 2 * h + 1)[s - h]
    w = w - w.mean(axis=1, keepdims=True)
    like = (_correlation(w, t) >= cfg.pause_beat_corr) & (np.abs(w).max(axis=1) >= cfg.pause_beat_snr * background)
    if like.sum() < 2:
        return False
    rows = np.lib.stride_tricks.sliding_window_view(x, q0 + q1 + 1)
    qrst = np.median(_detrended(rows[beats - q0]), axis=0)
    score = np.full(len(s), -1.0)
    cand = _detrended(rows[s[like] - q0])
    score[like] = _correlation(cand, qrst - qrst.mean())
    t0 = 2 * q0  # the S-T segment and T wave, +0.1 to +0.45 s: a P wave has none after it
    gain = cand[:, :t0] @ qrst[:t0] / max(float(qrst[:t0] @ qrst[:t0]), 1e-12)  # the QRS's size against the beats'
    expected = gain[:, None] * qrst[None, t0:]
    with np.errstate(all="ignore"):
        off_t = np.sqrt(((cand[:, t0:] - expected) ** 2).sum(axis=1) / (expected**2).sum(axis=1))
    score[np.flatnonzero(like)[~((gain > 0) & (off_t <= cfg.pause_fill_t_residual))]] = -1.0
    score[score < cfg.pause_beat_qrst_corr] = -1.0
    found, _ = _numeric.peaks(score, refr)
    found = s[found[score[found] > 0]]
    return len(found) >= 2 and int(np.diff(np.concatenate([[a], found, [b]])).max()) <= cfg.pause_s * fsd


def screen_ecg(ecg: npt.ArrayLike, fs: float, config: RhythmConfig | None = None,
               quality: QualityConfig | None = None) -> EcgScreening:
    """Screen one ECG lead. **Stable entry point.**

    Parameters
    ----------
    ecg:
        1-D array in mV.
    fs:
        Sampling rate, 100 to 1000 Hz.
    config:
        Thresholds (``[ecg]``); default :data:`~vitalgate.signal.rhythm.DEFAULT`.
    quality:
        Signal-quality thresholds; default ``config.quality`` (``[ecg.quality]``).

    Returns
    -------
    EcgScreening
        ``.r_peaks`` (int64 sample indices, as :func:`detect_qrs`), ``.af_episodes`` (int64
        ``(n, 2)`` ``[start, end)`` sample ranges of AF or flutter), ``.events`` (every rhythm
        event with its ECG strip, including ``unreadable`` segments) and ``.verdict``.
    """
    cfg = config or DEFAULT
    raw = np.asarray(ecg, dtype=np.float64)
    x = _validate(raw, fs)  # (raw itself unless samples were lost: NaN or inf, bridged in a copy)
    lost = (_numeric.runs(~np.isfinite(raw)) if x is not raw else np.zeros((0, 2))).astype(np.int64).reshape(-1, 2)
    quality = quality or cfg.quality
    seg = int(SEGMENT_S * fs)
    parts = []
    for w0, a, b, w1 in blocks(len(x), fs, seg):  # one block up to 80 min (MITDB, cinc2017)
        st = _signal_stages(x[w0:w1], fs, cfg, quality)
        core = (st.r >= a - w0) & (st.r < b - w0)
        s0, s1 = (a - w0) // seg, (a - w0) // seg + -(-(b - a) // seg)  # the core's segments
        missed = st.undersensed[(st.undersensed[:, 0] >= a - w0) & (st.undersensed[:, 0] < b - w0)] + w0
        parts.append(_Stages(st.r[core] + w0, np.clip(st.vf + w0, a, b), st.ectopic[core], st.readable[s0:s1], st.sqi[s0:s1],
                             st.noise[s0:s1], missed, st.quiet + w0, st.clean[core]))
    r, ectopic = np.concatenate([p.r for p in parts]), np.concatenate([p.ectopic for p in parts])
    if len(parts) > 1:  # a QRS at a seam may be placed by both blocks
        once = seam_duplicates(r, fs, cfg.qrs)
        r, ectopic = r[once], ectopic[once]
    vf = join_ranges([p.vf for p in parts])
    # An asystole going on at the end, judged on the last TAIL_S (whatever the blocks: the last
    # block's window may hold no beat), not where samples were lost (bridged by a straight line)
    t0 = max(0, len(x) - int(TAIL_S * fs))
    silent = silent_tail(decimate(x[t0:], decimation(fs)), fs, r[r >= t0] - t0, len(x) - t0, cfg, quality)
    if silent >= 0 and crossing(np.array([silent + t0, len(x)]), lost).any():
        silent = -1
    if silent >= 0:
        keep = r <= silent + t0  # (what follows is noise)
        r, ectopic = r[keep], ectopic[keep]
        silent += t0
    readable, sqi = np.concatenate([p.readable for p in parts]), np.concatenate([p.sqi for p in parts])
    runs = _numeric.runs(~readable) * seg
    unreadable = np.minimum(runs, len(x)).astype(np.int64).reshape(-1, 2)
    if len(r) >= 2:
        seg_of = np.minimum(r // seg, len(readable) - 1)
        # Every segment an interval touches readable: one across an unreadable stretch (an
        # amplifier blocked by a baseline step, noise) is neither a rhythm nor a pause.
        bad_before = np.concatenate([[0], np.cumsum(~readable)])
        # An RR interval spanning VF is not a rhythm to screen (nor a pause); one across beats
        # the detector missed or samples lost on the way (NaN, bridged) is no pause.
        usable = usable_intervals(r, bad_before[seg_of[1:] + 1] == bad_before[seg_of[:-1]],
                                  np.concatenate([vf, lost, *(p.undersensed for p in parts)]),
                                  np.concatenate([p.quiet for p in parts]), cfg.pause_s * fs)
    else:
        usable = np.zeros(0, dtype=bool)
    if len(r) >= 2:
        p_wave = episode_p_wave(np.diff(r, prepend=r[0] - len(x)) / fs, ectopic, lambda i, span: p_wave_windows(x, fs, r[i], span),
                                fs, cfg)
        rr = screen_beats(r / fs, cfg, usable=usable, ectopic=ectopic, p_wave=p_wave)
    else:
        rr = screen_beats(np.zeros(0), cfg)
    af = np.round(rr.af_episodes * fs).astype(np.int64).reshape(-1, 2)
    af = np.clip(af, 0, len(x))
    rr_events = list(rr.events)
    if silent >= 0:  # no beat since the last one, up to the end: a pause going on
        rr_events.append(RhythmEvent(RhythmKind.PAUSE, silent / fs, len(x) / fs, 0.9, ongoing=True,
                                     detail="no beat since, to the end of the recording"))
    readable_share = 1.0 - float(np.sum(unreadable[:, 1] - unreadable[:, 0])) / max(len(x), 1)
    short = len(x) < cfg.short_record_s * fs and len(r) >= cfg.min_beats
    if short and readable_share >= 0.5 and qrst_residual(x, fs, r, ectopic) > quality.max_qrst_residual:
        unreadable, readable_share = np.array([[0, len(x)]], dtype=np.int64), 0.0
        sqi = np.zeros_like(sqi)
        af = np.zeros((0, 2), dtype=np.int64)
        rr_events = []  # no rhythm verdict (AF, pause, rate) on a recording its beats do not explain
    if short and readable_share >= 0.5:
        af = _short_record_af(x, fs, r, usable, ectopic, cfg)
        rr_events = [e for e in rr_events if e.kind != RhythmKind.AF]
        rr_events += [RhythmEvent(RhythmKind.AF, a / fs, b / fs, 0.7, detail="short recording") for a, b in af]
    events = [_with_strip(e, x, fs) for e in rr_events]
    events += [
        RhythmEvent(RhythmKind.UNREADABLE, a / fs, b / fs, 0.9, detail="noise, clipping or electrode off")
        for a, b in unreadable
    ]
    events += [
        _with_strip(RhythmEvent(RhythmKind.VF, a / fs, b / fs, 0.8, detail="ventricular flutter/fibrillation"), x, fs)
        for a, b in np.minimum(vf, len(x))
    ]
    events.sort(key=lambda e: e.start_s)
    return EcgScreening(r, af, events, unreadable, float(fs), len(x), sqi)


P_WINDOW_S = (0.30, 0.08)  # the P wave's place: from 300 to 80 ms before the R peak
P_MIN_RR_S = 0.45  # after a shorter RR the previous beat's T wave is in that window
#: The atrial activity before each QRS (:func:`p_wave_windows`): from 800 to 60 ms before the R,
#: room for three flutter cycles. Flutter waves (atrial rate 200-400/min, cycles of 150-300 ms:
#: typical flutter 250-330/min, ESC 2019 SVT guideline) are as locked to the QRS as P waves when
#: conduction varies (2:1, 3:1, 4:1), but repeat without an isoelectric baseline between them.
ATRIAL_WINDOW_S = (0.80, 0.06)
FLUTTER_CYCLE_S = (0.15, 0.30)


def _p_beats(rr_before_s: npt.NDArray[np.float64], ectopic: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """The beats whose pre-QRS window can show a P wave: not ventricular, not after a short RR."""
    return np.asarray((rr_before_s > P_MIN_RR_S) & ~ectopic)


def _detrended(w: npt.NDArray[np.float64], linear: bool = True) -> npt.NDArray[np.float64]:
    """Rows of ``w`` (a new array) with their mean removed, and their linear trend when ``linear``."""
    w = w - w.mean(axis=1, keepdims=True)
    if linear and w.shape[1] > 1:
        ramp = np.linspace(-1.0, 1.0, w.shape[1])
        w -= np.outer(w @ ramp / (ramp @ ramp), ramp)
    return w


def _locked_share(w: npt.NDArray[np.float64]) -> float:
    """The energy of the mean window over the mean energy of the windows (finite rows; ``nan``
    with fewer than 4): near 1 for a wave locked to the QRS, near 1 / rows for one that is not."""
    energy = (w * w).sum(axis=1)
    if not np.isfinite(energy).all():  # (a finite energy: a finite row; a row of huge items aside)
        finite = np.isfinite(w).all(axis=1)
        w, energy = w[finite], energy[finite]
    if len(w) < 4:
        return float("nan")
    t = w.mean(axis=0)
    return float((t @ t) / max(float(np.mean(energy)), 1e-12))


def p_wave_windows(x: npt.NDArray[np.float64], fs: float, r: npt.NDArray[np.int64],
                   span: tuple[float, float] = ATRIAL_WINDOW_S) -> npt.NDArray[np.float64]:
    """Per beat, the ECG from ``span[0]`` to ``span[1]`` s before its R (``nan`` before the
    signal's start), as it is: the measures remove its baseline themselves, so a stream and
    the offline call, given the same beats, see the same windows. The stream keeps the
    :data:`ATRIAL_WINDOW_S` rows; :func:`window_part` cuts a shorter span out of them."""
    x = np.asarray(x, dtype=np.float64)
    a, b = round(span[0] * fs), round(span[1] * fs)
    if len(r) and r.min() >= a:
        return np.asarray(np.lib.stride_tricks.sliding_window_view(x, a - b)[r - a], dtype=np.float64)
    head = x[: max(0, int(r.max()) - b)] if len(r) else x[:0]  # (only what the windows reach)
    padded = np.concatenate([np.full(a, np.nan), head])
    return np.asarray(np.lib.stride_tricks.sliding_window_view(padded, a - b)[r], dtype=np.float64)


def window_part(rows: npt.NDArray[np.float64], fs: float, span: tuple[float, float]) -> npt.NDArray[np.float64]:
    """The ``span`` (within :data:`ATRIAL_WINDOW_S`) of :func:`p_wave_windows` rows."""
    a = round(ATRIAL_WINDOW_S[0] * fs)
    return rows[:, a - round(span[0] * fs) : a - round(span[1] * fs)]


def flutter_waves(rows: npt.NDArray[np.float64], fs: float) -> float:
    """How much the atrial activity locked to the QRS repeats at a flutter cycle: from
    :func:`p_wave_windows` rows (the supraventricular beats; those whose window is whole, trend
    removed: the previous QRS and T wave, at varying places, fall out of the median), their median, and
    its correlation with itself shifted by one and by two cycles (the smaller of the two, the
    best cycle in :data:`FLUTTER_CYCLE_S`). Near 1 for the saw-tooth of flutter; a P wave, one
    wave after an isoelectric baseline, does not repeat; f waves of AF average out. ``nan``
    with fewer than 4 whole windows."""
    rows = rows[np.isfinite(rows).all(axis=1)]
    if len(rows) < 4:
        return float("nan")
    t = np.median(_detrended(rows), axis=0)
    t -= t.mean()
    n = len(t)
    lag = np.correlate(t, t, "full")[n - 1 :]  # lag[k] = t[:-k] @ t[k:]
    c = np.concatenate([[0.0], np.cumsum(t * t)])
    k = np.arange(round(FLUTTER_CYCLE_S[0] * fs), round(FLUTTER_CYCLE_S[1] * fs) + 1)
    k = k[n - 2 * k >= round(0.1 * fs)]  # two cycles and 100 ms of overlap
    if len(k) == 0:
        return float("nan")

    def corr(k: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        return np.asarray(lag[k] / np.sqrt(np.maximum(c[n - k] * (c[n] - c[k]), 1e-24)), dtype=np.float64)

    return float(np.max(np.minimum(corr(k), corr(2 * k))))


def episode_p_wave(rr_before_s: npt.NDArray[np.float64], ectopic: npt.NDArray[np.bool_],
                   windows: Callable[[npt.NDArray[np.int64], tuple[float, float]], npt.NDArray[np.float64]],
                   fs: float, cfg: RhythmConfig = DEFAULT) -> Callable[[int, int], float]:
    """``p_wave(i, j)`` for :func:`~vitalgate.signal.rhythm.screen_beats`: the P-wave share of
    beats ``i`` to ``j - 1`` (the energy of their mean P window over the windows' mean energy),
    from ``windows(beat indices, span)`` (:func:`p_wave_windows` rows), only for the episodes that
    need it; ``nan`` (no veto) when the locked waves are flutter waves (:func:`flutter_waves`
    at least ``af_flutter_waves``)."""
    def p_wave(i: int, j: int) -> float:
        idx = _spread(np.arange(i, j)[~ectopic[i:j]])
        p = _p_beats(rr_before_s[idx], ectopic[idx])
        if p.sum() < 4:
            return float("nan")
        share = _locked_share(_detrended(windows(idx[p], P_WINDOW_S)))
        if share >= cfg.af_p_wave_veto and flutter_waves(windows(idx, ATRIAL_WINDOW_S), fs) >= cfg.af_flutter_waves:
            return float("nan")  # (only asked where the veto would apply)
        return share
    return p_wave


#: The P-wave measures of an episode look at this many of its beats at most, spread evenly over
#: it (a share or a median template of a thousand beats is as sure as of a day's; an AF episode
#: of hours would otherwise gather hundreds of MB of windows).
P_MAX_BEATS = 1000


def _spread(idx: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    if len(idx) <= P_MAX_BEATS:
        return idx
    return np.asarray(idx[np.linspace(0, len(idx) - 1, P_MAX_BEATS).round().astype(np.int64)], dtype=np.int64)


def p_wave_agreement(x: npt.NDArray[np.float64], fs: float, r: npt.NDArray[np.int64],
                     ectopic: npt.NDArray[np.bool_]) -> float:
    """Whether a wave before the QRS repeats beat after beat: the median over the beats of the
    correlation of the ECG before the QRS (300 to 80 ms before each R, 1-30 Hz, mean removed)
    with the median of those windows (per sample). Sinus P waves, locked to the QRS, make each
    window look like the median one (median 0.85 on the normal cinc2017 recordings); the
    f-waves of AF do not (median 0.4). A median over beats, so a few noisy or ectopic windows do
    not decide it (the energy of the mean window over the windows' energy, used before, let one
    large artefact hide a P wave). Beats after an RR under 0.45 s (a T wave in the window) and
    ventricular beats are left out; ``nan`` with fewer than 4 beats."""
    a = round(P_WINDOW_S[0] * fs)
    if len(r) < 4 or len(x) <= 3 * a:
        return float("nan")
    keep = (r >= a) & _p_beats(np.diff(r, prepend=r[0] - len(x)) / fs, ectopic)
    if keep.sum() < 4:
        return float("nan")
    w = _detrended(p_wave_windows(_numeric.bandpass(x, fs, 1.0, 30.0), fs, r[keep], P_WINDOW_S), linear=False)
    t = np.median(w, axis=0)
    norm = np.sqrt((w * w).sum(axis=1) * float(t @ t))
    corr = (w @ t) / np.maximum(norm, 1e-12)
    return float(np.median(corr))


def qrst_residual(x: npt.NDArray[np.float64], fs: float, r: npt.NDArray[np.int64],
                  ectopic: npt.NDArray[np.bool_], pre_s: float = 0.12, post_s: float = 0.5,
                  qrs_s: tuple[float, float] = (0.06, 0.08)) -> float:
    """How much of the ECG the beats do not explain (short recordings): the 1-40 Hz ECG minus
    the median QRST complex (``pre_s`` before to ``post_s`` after each R, each beat's copy scaled
    by its least-squares gain over the QRS, 0.5-2), RMS outside the QRS (``qrs_s`` around each
    R) and outside ventricular beats, over the median |QRS| amplitude. Sinus rhythm and AF leave
    the P or f waves and noise (median 0.07-0.09 on cinc2017); noise detected as beats leaves
    about everything (median 0.5). Each sample belongs to the beat before it (from ``pre_s``
    before its R), so the windows do not overlap; ``nan`` with fewer than 8 beats."""
    n = len(x)
    if len(r) < 8 or n < 2:
        return float("nan")
    y = _numeric.bandpass(x, fs, 1.0, 40.0)
    a, b = round(pre_s * fs), round(post_s * fs)
    off = np.arange(-a, b)
    own_end = np.concatenate([r[1:] - a, [n]])  # a beat's window ends where the next one's starts
    idx = r[:, None] + off[None, :]
    inside = (idx >= 0) & (idx < own_end[:, None])
    base = ~ectopic if (~ectopic).sum() >= 4 else np.ones(len(r), dtype=bool)  # conducted beats
    pool = inside[base]
    w = np.where(pool, y[np.clip(idx[base], 0, n - 1)], np.inf).T  # (offset, beat); inf sorts last
    w.sort(axis=1)
    m = pool.sum(axis=0)
    template = np.where(m >= 4, _sorted_median(w, np.maximum(m, 1)), 0.0)  # median per offset
    in_qrs = (off >= -round(qrs_s[0] * fs)) & (off <= round(qrs_s[1] * fs))
    tq = template[in_qrs]
    yq = np.where(inside[:, in_qrs], y[np.clip(idx[:, in_qrs], 0, n - 1)], 0.0)
    gain = np.clip((yq @ tq) / max(float(tq @ tq), 1e-12), 0.5, 2.0)
    # per sample: its beat (the last one whose window has started) and its offset from that R
    s = np.arange(n)
    beat = np.searchsorted(r - a, s, side="right") - 1
    valid = beat >= 0
    bi = np.maximum(beat, 0)
    o = np.maximum(s - r[bi] + a, 0)  # index into off (0 before the first window: not valid)
    fit = np.where(valid & (o < len(off)), gain[bi] * template[np.minimum(o, len(off) - 1)], 0.0)
    residual = y - fit
    keep = valid & ~((o >= a - round(qrs_s[0] * fs)) & (o <= a + round(qrs_s[1] * fs)))
    if keep.sum() < fs:
        return float("nan")
    amplitude = float(np.median(np.abs(y[r])))
    return float(np.sqrt(np.mean(residual[keep] ** 2)) / max(amplitude, 1e-9))


def _short_record_af(x: npt.NDArray[np.float64], fs: float, r: npt.NDArray[np.int64], usable: npt.NDArray[np.bool_],
                     ectopic: npt.NDArray[np.bool_], cfg: RhythmConfig) -> npt.NDArray[np.int64]:
    """AF over a short recording, decided once for the whole record: irregular successive RR
    changes, the Petrenas irregularity and bigeminy measure over the record, successive RR
    not alternating (:func:`~vitalgate.signal.rhythm.rr_autocorrelation`), and no P wave
    locked to the QRS (:func:`p_wave_agreement`; not asked when the rhythm is very irregular:
    at fast irregular rates the previous beat's T wave falls in the P window; locked waves that
    repeat at a flutter cycle are flutter waves, :func:`flutter_waves`). ``(1, 2)`` from
    the first to the last usable beat, or ``(0, 2)``."""
    rr = np.diff(r) / fs
    ok = usable & (rr > 0.2) & (rr < cfg.pause_s)
    rr_af, _ = rr_for_af(rr, ectopic, cfg)  # as screen_beats
    share, irregularity, bigeminy = record_irregularity(rr_af, ok, ectopic, cfg)
    none = np.zeros((0, 2), dtype=np.int64)
    if not (share >= cfg.short_af_share and irregularity > cfg.short_af_irregularity and bigeminy >= cfg.af_bigeminy):
        return none
    if rr_autocorrelation(rr, ok & ~(ectopic[:-1] | ectopic[1:])) < cfg.short_af_min_rr_autocorr:
        return none  # alternating (bigeminy the QRS shape does not show, grouped beating): not AF
    # (nan, too few beats to tell: no P wave found)
    locked = not irregularity > cfg.short_af_no_p_check and p_wave_agreement(x, fs, r, ectopic) >= cfg.short_p_agreement
    if locked and not flutter_waves(p_wave_windows(x, fs, r[~ectopic]), fs) >= cfg.af_flutter_waves:
        return none  # a P wave before each QRS, not flutter waves
    idx = np.flatnonzero(ok)
    return np.array([[r[idx[0]], r[idx[-1] + 1]]], dtype=np.int64)


def _with_strip(e: RhythmEvent, x: npt.NDArray[np.float64], fs: float) -> RhythmEvent:
    a = max(0, int((e.start_s - 2.0) * fs))
    b = min(len(x), int(min(e.end_s + 2.0, e.start_s + MAX_STRIP_S) * fs))
    return RhythmEvent(e.kind, e.start_s, e.end_s, e.confidence, e.ongoing, x[a:b].copy(), a / fs, fs, e.detail)
