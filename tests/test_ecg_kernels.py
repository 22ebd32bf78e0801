"""The vectorised kernels give exactly what the straightforward numpy they replace gives."""

from __future__ import annotations

import numpy as np
import pytest

from vitalgate.signal import _numeric
from vitalgate.signal.ecg import (
    _between_beats_slope,
    _block_templates,
    _segment_first,
    _segment_medians,
)
from vitalgate.signal.qrs import _box_twice, _running_quantile, moving_average, moving_average_rows


def _templates_loop(w: np.ndarray, rr_before: np.ndarray, block: int = 64) -> tuple[np.ndarray, np.ndarray]:
    out, meds = [], []
    for i in range(0, len(w), block):
        lo, hi = max(0, i - block // 2), i + block + block // 2
        meds.append(np.median(rr_before[lo:hi]))
        on_time = rr_before[lo:hi] >= 0.9 * meds[-1]
        pool = w[lo:hi][on_time] if on_time.sum() >= 4 else w[lo:hi]
        out.append(np.median(pool, axis=0))
    return np.array(out), np.array(meds)


@pytest.mark.parametrize("n", [8, 9, 63, 64, 65, 96, 97, 200, 1000])
def test_block_templates_match_per_block_median(n: int) -> None:
    rng = np.random.default_rng(n)
    w = rng.normal(size=(n, 21))
    rr = rng.integers(60, 160, size=n).astype(np.float64)  # ties in the RR medians too
    rr[rng.random(n) < 0.3] *= 0.6  # premature beats
    shapes, meds = _block_templates(w, rr, 0.9, chunk=3)
    want_shapes, want_meds = _templates_loop(w, rr)
    assert np.array_equal(shapes, want_shapes)
    assert np.array_equal(meds, want_meds)


@pytest.mark.parametrize("q", [0.8, 0.5, 0.25, 0.9])
@pytest.mark.parametrize("n", [5, 17, 18, 500])
def test_running_quantile_matches_np_quantile(q: float, n: int) -> None:
    v = np.random.default_rng(n).exponential(size=n)
    width = 17
    got = _running_quantile(v, width, q)
    if n <= width:
        assert np.array_equal(got, np.full(n, np.quantile(v, q)))
        return
    qs = np.quantile(np.lib.stride_tricks.sliding_window_view(v, width), q, axis=1)
    h = width // 2
    assert np.array_equal(got, np.concatenate([np.full(h, qs[0]), qs, np.full(n - len(qs) - h, qs[-1])]))


@pytest.mark.parametrize("w", [3, 9, 61, 121])
def test_running_median_matches_np_median(w: int) -> None:
    x = np.random.default_rng(w).normal(size=3000)
    h = w // 2
    ref = np.median(np.lib.stride_tricks.sliding_window_view(np.pad(x, h, mode="edge"), w), axis=1)
    got = _numeric.running_median(x, w)
    if w < 64:
        assert np.array_equal(got, ref)
    else:  # sampled every w // 16 items: exact there
        at = np.arange(0, len(x), w // 16)
        assert np.array_equal(got[at], ref[at])
    x[100] = np.nan
    assert np.isnan(_numeric.running_median(x, 9)[96:105]).all()


@pytest.mark.parametrize("w", [3, 9, 25, 61])
def test_window_medians_are_the_running_medians_there(w: int) -> None:
    x = np.round(np.random.default_rng(w).normal(size=500), 1)  # ties
    at = np.array([0, 1, 7, 250, 498, 499])
    assert np.array_equal(_numeric.window_medians(x, w, at), _numeric.running_median(x, w)[at])


@pytest.mark.parametrize(("before", "after"), [(0, 0), (1, 3), (4, 4), (40, 2)])
def test_pad_edge_matches_np_pad(before: int, after: int) -> None:
    x = np.random.default_rng(before).normal(size=30)
    assert np.array_equal(_numeric.pad_edge(x, before, after), np.pad(x, (before, after), mode="edge"))
    with pytest.raises(ValueError):
        _numeric.pad_edge(np.zeros(0), 1, 1)


@pytest.mark.parametrize("w", [3, 5, 15, 25, 40])
def test_moving_average_rows_are_the_moving_average_there(w: int) -> None:
    v = np.random.default_rng(w).normal(size=400) * 1e3
    starts = np.array([0, 1, 5, 100, 200, 370, 379])  # rows cut by either edge and whole ones
    idx = starts[:, None] + np.arange(21)[None, :]
    assert np.array_equal(moving_average_rows(v, w, starts, 21), moving_average(v, w)[idx])
    assert np.array_equal(moving_average_rows(v, w, starts[2:5], 21), moving_average(v, w)[idx[2:5]])


@pytest.mark.parametrize("w", [2, 3, 4, 5, 8])
@pytest.mark.parametrize("n", [7, 31, 32, 1000, 50_001])
def test_box_twice_is_the_moving_average_twice(w: int, n: int) -> None:
    """The QRS band's low-pass, one triangular convolution inside and the two boxes at the edges,
    equals two moving averages (to rounding), edges included, short inputs too."""
    x = np.random.default_rng(n + w).standard_normal(n) + 3.0
    want = moving_average(moving_average(x, w), w)
    got = _box_twice(x, w)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("distance", [1, 2, 31, 200])
def test_peaks_keep_the_highest_within_the_distance(distance: int) -> None:
    rng = np.random.default_rng(distance)
    e = np.round(rng.random(3000), 2)  # ties: the later peak wins
    got, _ = _numeric.peaks(e, distance)
    kept: list[int] = []  # greedy, highest first (scipy.signal.find_peaks' distance rule)
    pos = _numeric.maxima(e)
    for i in sorted(range(len(pos)), key=lambda j: (-e[pos[j]], -pos[j])):
        if all(abs(int(pos[i]) - k) >= distance for k in kept):
            kept.append(int(pos[i]))
    assert np.array_equal(got, np.sort(np.array(kept, dtype=np.int64)))


def test_segment_medians_match_np_median() -> None:
    rng = np.random.default_rng(5)
    v = np.round(rng.random(300), 2)
    v[rng.random(300) < 0.1] = np.nan
    seg = rng.integers(0, 40, size=300)
    want = [np.median(v[(seg == s) & np.isfinite(v)]) if ((seg == s) & np.isfinite(v)).any() else np.nan for s in range(45)]
    assert np.array_equal(_segment_medians(v, seg, 45), np.array(want), equal_nan=True)


@pytest.mark.parametrize("seed", range(6))
def test_between_beats_slope_matches_a_mask(seed: int) -> None:
    """Windows at the ends, across segment edges and overlapping (beats closer than 2 h)."""
    rng = np.random.default_rng(seed)
    n, h, seg = 3000 + seed * 7, 10, 500
    fd = rng.normal(size=n)
    rd = np.unique(np.concatenate([[0, 3, n - 2, n - 1], np.arange(495, 510, 7), rng.integers(0, n, size=25)]))
    starts = np.arange(0, n, seg)
    n_in = np.diff(np.append(starts, n)).astype(np.float64)
    near = np.zeros(n, dtype=bool)
    for r in rd:
        near[max(0, r - h) : r + h + 1] = True
    d = np.diff(fd, prepend=fd[0]) ** 2
    want = [np.sqrt(d[a:b][~near[a:b]].mean()) if (~near[a:b]).any() else 0.0 for a, b in zip(starts, np.append(starts[1:], n), strict=True)]
    got = _between_beats_slope(fd, rd, h, starts, n_in, out=np.empty(n))
    assert np.allclose(got, want, rtol=1e-9, atol=1e-12)


def test_segment_first_takes_each_segments_first_beat() -> None:
    r = np.array([3, 7, 12, 31, 32])
    v = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    assert np.array_equal(_segment_first(v, r, 10, 4), [1.0, 3.0, np.nan, 4.0], equal_nan=True)
    assert np.isnan(_segment_first(v[:0], r[:0], 10, 2)).all()
