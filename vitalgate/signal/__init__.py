"""Pure signal processing: ECG filtering, QRS detection, rhythm screening, vitals rules.

Arrays and records in, results out. Imports nothing from gateway, cloud_bridge or device_drivers.

Stable entry points: :func:`detect_qrs`, :func:`screen_ecg`, :func:`screen_rr`; streaming:
:class:`EcgStream`, :class:`RrStream`; :func:`hrv`. They are imported on first use, so
``vitalgate --help`` and a gateway without ECG devices stay light; the screening itself needs
numpy only (``_numeric.py``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vitalgate.signal.ecg import EcgScreening, screen_ecg
    from vitalgate.signal.events import RhythmEvent, RhythmKind
    from vitalgate.signal.hrv import HrvSummary, hrv
    from vitalgate.signal.qrs import QrsConfig, detect_qrs
    from vitalgate.signal.quality import QualityConfig
    from vitalgate.signal.rhythm import RhythmConfig, RrScreening, screen_rr
    from vitalgate.signal.stream import EcgStream, RrStream

_WHERE = {
    "EcgScreening": "ecg", "screen_ecg": "ecg", "RhythmEvent": "events", "RhythmKind": "events",
    "HrvSummary": "hrv", "hrv": "hrv",
    "detect_qrs": "qrs", "QrsConfig": "qrs", "QualityConfig": "quality", "RhythmConfig": "rhythm", "RrScreening": "rhythm", "screen_rr": "rhythm",
    "EcgStream": "stream", "RrStream": "stream",
}

__all__ = [
    "EcgScreening", "EcgStream", "HrvSummary", "QrsConfig", "QualityConfig", "RhythmConfig", "RhythmEvent", "RhythmKind", "RrScreening",
    "RrStream", "detect_qrs", "hrv", "screen_ecg", "screen_rr",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'vitalgate.signal' has no attribute {name!r}")
    return getattr(importlib.import_module(f"vitalgate.signal.{module}"), name)
