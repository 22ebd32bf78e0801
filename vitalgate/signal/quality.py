"""Signal-quality thresholds of the ECG screening, per 5-s segment (``[ecg.quality]``).

Its own module so :class:`~vitalgate.signal.rhythm.RhythmConfig` can hold it (as it holds the
QRS detector's :class:`~vitalgate.signal.qrs.QrsConfig`) without importing the screening.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from pydantic import ConfigDict


@dataclass(frozen=True)
class QualityConfig:
    """Signal-quality thresholds per 5-s segment (``[ecg.quality]`` in the configuration)."""

    # An unknown key is an error, never silently ignored (a misspelt threshold would not apply).
    __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(extra="forbid")

    # Flat line (electrode off) and clipping (amplifier saturation), the first checks of ECG
    # quality assessment. On the 24 MITDB records, 5-s segments flagged: flat 1 of 116 and 27
    # of 207, clipped 4 of 116 and 27 of 207 (its saturated stretches), none elsewhere:
    flat_mv: float = 0.05  # peak-to-peak of the band-limited ECG below this: electrode off
    clip_fraction: float = 0.05  # share of samples stuck at the segment's extreme values
    # The kSQI of Li, Mark & Clifford 2008 (below): QRS complexes make ECG spiky (kurtosis well
    # above the 3 of Gaussian noise). At 4, MITDB segments under it: 105 12, 108 9, 111 6, and
    # 0-3 in the others; all but 9 rescued by their beats' agreement (kurtosis_rescue_corr):
    min_kurtosis: float = 4.0
    # Plausible beat counts per segment: under 24/min no usable QRS, over 240/min noise
    # detected as beats (outside the heart rates a home monitor reports); MITDB: 116 2, 207 27:
    min_bpm: float = 24.0
    max_bpm: float = 240.0
    # Beat agreement (after the template-matching bSQI of Li, Mark & Clifford, Physiol Meas
    # 2008;29:15-32): the median |correlation| of a segment's QRS complexes (+-80 ms) with the
    # median shape of the on-time beats around them, each at its best lag within +-30 ms
    # (ecg.BEAT_LAG_S). Set on the even-numbered cinc2017 records and MITDB: with the lag search,
    # even-half segments unreadable at 0.3 / 0.4 / 0.5 / 0.55 / 0.6: noisy 36 / 38 / 39 / 40 / 40
    # of 85, normal 17 / 17 / 17 / 17 / 18 of 1093 (AF 3, other 4 throughout); MITDB unchanged
    # from 0.3 to 0.55 (108 2, 207 31, 114 0), at 0.6 114 loses 10. Without the lag search (0.3):
    # noisy 37, normal 30, AF 6, other 10; MITDB 114 44, 108 7, 117 5, 207 32:
    min_beat_corr: float = 0.5  # below it the "beats" are noise detected as beats: unreadable
    kurtosis_rescue_corr: float = 0.85  # at or above it a segment of low kurtosis (large T or P
    # waves, small QRS on a handheld device's lead I) is readable: its beats repeat
    # Short recordings only (record-level): the RMS of what the beats do not explain (the ECG
    # outside the QRS after subtracting the gain-fitted median QRST complex) over the median
    # QRS amplitude. Set on the even-numbered cinc2017 records (noisy 3 -> 7 of 17 unreadable,
    # normal 0 -> 2 of 166; 0.7 / 1.0: noisy 7 / 5, normal 3 / 1); MITDB 30-s pieces <= 0.56:
    max_qrst_residual: float = 0.8  # above it the recording is unreadable: the "beats" are noise
    # Noise between the beats (per segment): the RMS slope of the 0.5-40 Hz ECG outside +-100 ms
    # of the beats over the steepest slope of the QRS template (that of the segment's first
    # beat). P and T waves and baseline wander change slowly, electrode and muscle noise as fast
    # as a QRS.
    # cinc2017 segments: normal, AF, other median 0.04-0.05, 99th percentile 0.18-0.31; noisy
    # median 0.21-0.27. Set on the even-numbered cinc2017 records (0.25 / 0.3 / 0.35 / 0.4:
    # noisy unreadable 10 / 10 / 9 / 8 of 17, F1 0.794 / 0.794 / 0.794 / 0.787; 0.3 lost one AF
    # record of the odd half, A05237, whose noisy first segment left exactly half readable);
    # even half over 0.35: normal 9 of 1093 segments, AF 3 of 407, other 1 of 480. MITDB: 3 of 8688 more
    # segments unreadable (108 +2, 207 +1), none in the other 22 records:
    max_noise_slope: float = 0.35  # above it the segment is unreadable: noise between the beats
