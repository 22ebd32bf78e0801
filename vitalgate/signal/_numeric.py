"""The few numeric kernels the screening needs, in numpy alone.

scipy.signal costs ~77 MB of resident memory on import — as much as the rest of the gateway —
so the gateway's screening uses these whole-array numpy versions instead:

* zero-phase Butterworth band-pass applied in the frequency domain (the magnitude response of
  forward-backward filtering, ``|H(f)|^2``), with reflected padding against edge effects;
* running median / mean with "nearest" edges (``scipy.ndimage`` semantics, odd windows);
* peak picking with a minimum distance (greedy highest-first thinning, vectorised);
* a causal exponential averager.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Float = npt.NDArray[np.float64]


def _fast_len(n: int) -> int:
    """The smallest 5-smooth number >= n (FFT lengths numpy's pocketfft handles fast)."""
    best = 1 << max(0, (n - 1).bit_length())
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


def bandpass(x: Float, fs: float, lo: float, hi: float, order: int = 2) -> Float:
    """Zero-phase band-pass with the magnitude of a forward-backward Butterworth of ``order``."""
    n = len(x)
    if n < 3:
        return x - np.mean(x) if n else x.copy()
    pad = min(n - 1, int(fs))  # one second of reflection each side
    xp = np.concatenate([2 * x[0] - x[pad:0:-1], x, 2 * x[-1] - x[-2 : -pad - 2 : -1]])
    m = _fast_len(len(xp))
    # Forward in float64, back in float32 (numpy 2's pocketfft: the fastest pair, float32 ample
    # for ECG); the gain is float32, so the filtered spectrum is complex64.
    spec = np.fft.rfft(xp, m)
    gain = _gain(m, fs, lo, min(hi, 0.45 * fs), order)
    # The product in complex128, stored straight as complex64 (no complex128 temporary).
    filtered = np.multiply(spec, gain, out=np.empty(len(spec), dtype=np.complex64), casting="same_kind")
    out = np.fft.irfft(filtered, m)[pad : pad + n]
    return np.asarray(out, dtype=np.float64)


_GAINS: dict[tuple[int, float, float, float, int], npt.NDArray[np.float32]] = {}


def _gain(m: int, fs: float, lo: float, hi: float, order: int) -> npt.NDArray[np.float32]:
    """|H(f)|^2 of an ``order`` Butterworth band-pass on the rfft grid (cached per shape)."""
    key = (m, fs, lo, hi, order)
    g = _GAINS.get(key)
    if g is None:
        f = np.fft.rfftfreq(m, 1.0 / fs)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = (f * f - lo * hi) / (f * (hi - lo))
        r2 = r * r
        p = r2
        for _ in range(order - 1):
            p = p * r2
        g = (1.0 / (1.0 + p)).astype(np.float32)  # applied once, as filtfilt's |H|^2
        g[0] = 0.0
        if len(_GAINS) > 32:
            _GAINS.clear()
        _GAINS[key] = g
    return g


def runs(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
    """``(n, 2)`` index ranges ``[start, stop)`` of the True runs of ``mask``."""
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return np.stack([np.flatnonzero(d == 1), np.flatnonzero(d == -1)], axis=1).astype(np.int64)


def _odd(w: int) -> int:
    return max(1, w | 1)


def pad_edge(x: Float, before: int, after: int) -> Float:
    """``np.pad(x, (before, after), mode="edge")`` (float64), without np.pad's overhead."""
    x = np.asarray(x, dtype=np.float64)
    if len(x) == 0:
        return np.pad(x, (before, after), mode="edge")  # (np.pad's error for an empty array)
    return np.concatenate([np.full(before, x[0]), x, np.full(after, x[-1])])


def running_mean(x: Float, w: int) -> Float:
    """Centred mean over ``w`` (odd) items, edges extended with the nearest value."""
    w = _odd(w)
    h = w // 2
    xp = pad_edge(x, h + 1, h)
    c = np.cumsum(xp)
    return np.asarray((c[w:] - c[:-w]) / w, dtype=np.float64)


def running_median(x: Float, w: int, block: int = 16384) -> Float:
    """Centred median over ``w`` (odd) items, edges extended with the nearest value.

    For wide windows (``w >= 64``) the median is taken every ``w // 16`` items and linearly
    interpolated between: neighbouring windows share over 15/16 of their items, and the work
    drops by that factor.
    """
    w = _odd(w)
    step = w // 16 if w >= 64 else 1
    at = np.arange(0, len(x), step)
    if step > 1 and at[-1] != len(x) - 1:
        at = np.concatenate([at, [len(x) - 1]])
    med = _window_medians(x, w, at, block)
    return med if step == 1 else np.interp(np.arange(len(x)), at, med)


def window_medians(x: Float, w: int, at: npt.NDArray[np.int64]) -> Float:
    """``running_median(x, w)[at]`` for ``w < 64`` (the same values), only those windows."""
    if _odd(w) >= 64:
        raise ValueError("window_medians: w >= 64 is interpolated in running_median")
    return _window_medians(x, _odd(w), at)


def _window_medians(x: Float, w: int, at: npt.NDArray[np.int64], block: int = 16384) -> Float:
    """The median of the ``w`` (odd) items centred on each of ``at``, edges extended."""
    h = w // 2
    xp = pad_edge(x, h, h)
    win = np.lib.stride_tricks.sliding_window_view(xp, w)
    med = np.empty(len(at))
    # The middle of each sorted window (w is odd): np.median's value, and sorting short rows is
    # several times cheaper than np.median's partition. NaN: np.median's NaN, as before.
    has_nan = bool(np.isnan(xp).any())
    for i in range(0, len(at), block):  # bounded memory on day-long series
        rows = win[at[i : i + block]]  # (a copy: sorted in place)
        if has_nan:
            med[i : i + block] = np.median(rows, axis=1)
        else:
            rows.sort(axis=1)
            med[i : i + block] = rows[:, h]
    return med


def running_max(x: Float, half: int) -> Float:
    """Maximum over ``[i - half, i + half]`` (edges: the part inside the array)."""
    out = np.asarray(x, dtype=np.float64).copy()
    span = 0  # out[i] = max over [i - span, i + span]
    while span < half:
        step = min(span + 1, half - span)
        shifted_left = np.concatenate([out[step:], np.full(step, -np.inf)])
        shifted_right = np.concatenate([np.full(step, -np.inf), out[:-step]])
        out = np.maximum(out, np.maximum(shifted_left, shifted_right))
        span += step
    return out


def maxima(e: Float) -> npt.NDArray[np.int64]:
    """Local maxima of ``e`` above zero (a plateau: the middle of its flat top), increasing."""
    if len(e) < 3:
        return np.zeros(0, dtype=np.int64)
    d = np.diff(e)
    if np.count_nonzero(d) == len(d):  # no plateau: a peak rises then falls
        pos = np.flatnonzero((d[:-1] > 0) & (d[1:] < 0)) + 1
    else:  # plateaus: a maximum is the middle of a flat top between a rise and a fall
        sd = np.sign(d)
        nz = np.flatnonzero(sd)
        if len(nz) < 2:
            return np.zeros(0, dtype=np.int64)
        up_then_down = (sd[nz[:-1]] > 0) & (sd[nz[1:]] < 0)
        pos = (nz[:-1][up_then_down] + 1 + nz[1:][up_then_down]) // 2
    pos = pos.astype(np.int64)
    return pos[e[pos] > 0]


def peaks(e: Float, distance: int, pos: npt.NDArray[np.int64] | None = None) -> tuple[npt.NDArray[np.int64], Float]:
    """Local maxima above zero, thinned so no two are closer than ``distance``: the higher one
    wins, ties to the later one (after ``scipy.signal.find_peaks``' ``distance`` rule).
    ``pos``: :func:`maxima` of ``e`` when the caller has them already.

    The greedy "highest first" thinning runs in vectorised rounds: a peak that beats every
    undecided or kept peak within ``distance`` is kept (greedy would keep it too), and the peaks
    within ``distance`` of a kept one are dropped; each round decides at least the best
    undecided peak. The first round covers all peaks with range maxima from a sparse table; the
    few peaks it leaves undecided are settled by gathering their neighbours.
    """
    if pos is None:
        pos = maxima(e)
    if distance <= 1 or len(pos) < 2:
        return pos, e[pos]
    n = len(pos)
    v = e[pos]
    idx = np.arange(n)
    # The peaks within distance - 1 of each, [lo, hi), and whether one of them beats the peak
    # (higher, or as high and later), found per neighbour offset: a few offsets for the QRS
    # envelope. Many peaks within the distance (or NaN heights): binary searches for the
    # bounds and range maxima from a sparse table instead.
    lo, hi = idx.copy(), idx + 1
    beaten = np.zeros(n, dtype=bool)
    few = not np.isnan(v).any()
    for s in range(1, n):
        close = pos[s:] - pos[:-s] <= distance - 1
        if not close.any():
            break
        if s > 16:
            few = False
            break
        lo[s:] -= close
        hi[:-s] += close
        beaten[s:] |= close & (v[:-s] > v[s:])  # an earlier neighbour higher
        beaten[:-s] |= close & (v[s:] >= v[:-s])  # a later one as high or higher
    if not few:
        lo = np.searchsorted(pos, pos - distance + 1, side="left")
        hi = np.searchsorted(pos, pos + distance - 1, side="right")
        table = [v]
        while (1 << len(table)) <= int(np.max(hi - lo)):
            prev, step = table[-1], 1 << (len(table) - 1)
            table.append(np.maximum(prev, np.concatenate([prev[step:], np.full(step, -np.inf)])))
        beaten = (_range_max(table, lo, idx) > v) | (_range_max(table, idx + 1, hi) >= v)
    state = np.where(beaten, 0, 1).astype(np.int8)  # 0 undecided, 1 kept, -1 dropped
    kept_before = np.concatenate([[0], np.cumsum(state)])  # kept peaks within the window
    state[beaten & (kept_before[hi] - kept_before[lo] > 0)] = -1
    offsets = np.arange(-int(np.max(idx - lo)), int(np.max(hi - idx)))
    while True:  # later rounds: only the few undecided peaks, their neighbours gathered
        u = np.flatnonzero(state == 0)
        if len(u) == 0:
            break
        nb = u[:, None] + offsets[None, :]
        inside = (nb >= lo[u][:, None]) & (nb < hi[u][:, None]) & (nb != u[:, None])
        nb = np.clip(nb, 0, n - 1)
        near_kept = (inside & (state[nb] == 1)).any(axis=1)
        state[u[near_kept]] = -1
        u, nb, inside = u[~near_kept], nb[~near_kept], inside[~near_kept]
        vu, vn = v[u][:, None], v[nb]
        wins = (vn > vu) | ((vn == vu) & (nb > u[:, None]))
        state[u[~(inside & (state[nb] >= 0) & wins).any(axis=1)]] = 1
    out = pos[state == 1]
    return out, e[out]


def _range_max(table: list[Float], a: npt.NDArray[np.int64], b: npt.NDArray[np.int64]) -> Float:
    """Maximum of ``table[0][a:b]`` per pair (``-inf`` where empty), from a sparse table: level
    ``j = floor(log2(b - a))`` covers the range with two overlapping spans of ``2**j`` (one
    gather from the stacked levels)."""
    length = b - a
    n = len(table[0])
    j = np.frexp(np.maximum(length, 1))[1] - 1  # floor(log2), exact for integers
    span = np.left_shift(1, j)
    levels = np.stack(table)
    lo = levels[j, np.minimum(a, n - 1)]
    hi = levels[j, np.clip(b - span, 0, n - 1)]
    return np.where(length > 0, np.maximum(lo, hi), -np.inf)


def exp_smooth(x: Float, alpha: float) -> Float:
    """Exponential averaging ``y[n] = (1 - alpha) y[n-1] + alpha x[n]`` (causal), as one
    convolution with its impulse response truncated at 1e-4; over the first items the weights
    are renormalised over the part inside the series (so it starts at ``x[0]``, not at 0)."""
    x = np.asarray(x, dtype=np.float64)
    if len(x) == 0 or not 0.0 < alpha < 1.0:
        return x.copy()
    taps = int(np.ceil(np.log(1e-4) / np.log(1.0 - alpha)))
    h = alpha * (1.0 - alpha) ** np.arange(taps + 1)
    num = np.convolve(x, h)[: len(x)]
    den = np.cumsum(h)[np.minimum(np.arange(len(x)), taps)]
    return np.asarray(num / den, dtype=np.float64)


def group_extrema(values: Float, groups: npt.NDArray[np.int64]) -> tuple[Float, Float]:
    """Per consecutive group label (0, 0, 1, 2, 2...): ``(minimum, maximum)``."""
    starts = np.flatnonzero(np.concatenate([[True], groups[1:] != groups[:-1]]))
    return np.minimum.reduceat(values, starts), np.maximum.reduceat(values, starts)
