"""Pure signal processing: ECG filtering, QRS detection, rhythm screening, vitals rules.

Arrays and records in, results out. Imports nothing from gateway, cloud_bridge or device_drivers.

Stable entry points: :func:`detect_qrs`, :func:`screen_ecg`, :func:`screen_rr`; streaming:
:class:`EcgStream`, :class:`RrStream`.
"""

from vitalgate.signal.ecg import EcgScreening, screen_ecg
from vitalgate.signal.events import RhythmEvent, RhythmKind
from vitalgate.signal.qrs import detect_qrs
from vitalgate.signal.rhythm import RhythmConfig, RrScreening, screen_rr
from vitalgate.signal.stream import EcgStream, RrStream

__all__ = [
    "EcgScreening", "EcgStream", "RhythmConfig", "RhythmEvent", "RhythmKind", "RrScreening",
    "RrStream", "detect_qrs", "screen_ecg", "screen_rr",
]
