"""Heart rate, SDNN, RMSSD, pNN50 and ectopic intervals (vitalgate.signal.hrv)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ecg_data import afdb, nsr2db

from vitalgate.errors import SignalError
from vitalgate.signal.hrv import ectopic_intervals, hrv


def test_definitions_on_a_regular_alternating_series() -> None:
    rr = np.tile([0.80, 0.86], 50)  # differences of 60 ms, all NN (7 % < 20 %)
    s = hrv(rr)
    assert s.n_nn == 100
    assert s.mean_hr_bpm == pytest.approx(60.0 / 0.83)
    assert s.sdnn_ms == pytest.approx(1e3 * np.std(rr, ddof=1))
    assert s.rmssd_ms == pytest.approx(60.0)
    assert s.pnn50_pct == pytest.approx(100.0)


def test_a_premature_beat_and_its_pause_are_not_nn() -> None:
    rr = np.full(40, 1.0)
    rr[20], rr[21] = 0.6, 1.4  # premature beat then compensatory pause
    odd = ectopic_intervals(rr)
    assert set(np.flatnonzero(odd)) == {20, 21, 22}
    s = hrv(rr)
    assert s.n_nn == 37
    assert s.rmssd_ms == pytest.approx(0.0)
    assert s.pnn50_pct == pytest.approx(0.0)


def test_artefacts_and_too_little_data() -> None:
    s = hrv([0.9, np.nan, 0.05, 5.0])
    assert s.n_nn == 1
    assert np.isnan(s.sdnn_ms)
    assert np.isnan(s.rmssd_ms)
    assert np.isnan(s.pnn50_pct)
    assert np.isnan(hrv([]).mean_hr_bpm)
    with pytest.raises(SignalError, match="1-D"):
        hrv(np.ones((3, 3)))


def test_a_day_of_sinus_rhythm_has_healthy_variability(shared_data: Path) -> None:
    # Task Force 1996: 24-h SDNN of healthy adults 141 +/- 39 ms.
    for rec in ("nsr001", "nsr004", "nsr009"):
        s = hrv(np.diff(nsr2db(shared_data, rec)))
        assert 45.0 < s.mean_hr_bpm < 100.0, rec
        assert 60.0 < s.sdnn_ms < 250.0, rec
        assert s.n_nn > 0.95 * s.n_intervals, rec


def test_af_is_far_more_variable_beat_to_beat_than_sinus(shared_data: Path) -> None:
    t, _ = afdb(shared_data, "07859")  # AF throughout
    af = hrv(np.diff(t[: 3000]))
    sinus = hrv(np.diff(nsr2db(shared_data, "nsr001")[: 3000]))
    assert af.n_nn < 0.9 * af.n_intervals  # AF intervals often deviate > 20 % from the median
    assert af.pnn50_pct > 3 * sinus.pnn50_pct
