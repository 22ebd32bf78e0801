"""What the ECG/RR screening reports: rhythm events, and the streaming screener's interface.

This module is the contract between the screening engine (:mod:`vitalgate.signal`) and the
alert lifecycle (:mod:`vitalgate.gateway`), which turns events into alerts with their strip.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import numpy as np
import numpy.typing as npt


class RhythmKind(StrEnum):
    """Kinds of rhythm event. ``UNREADABLE`` says a segment was too noisy to judge."""

    AF = "af"  # atrial fibrillation or flutter
    PAUSE = "pause"
    BRADYCARDIA = "bradycardia"
    TACHYCARDIA = "tachycardia"
    ECTOPY = "ectopy"  # frequent ectopic beats
    UNREADABLE = "unreadable"
    VF = "vf"  # ventricular flutter/fibrillation (no QRS complexes: no beats are reported in it)


@dataclass(frozen=True, slots=True)
class RhythmEvent:
    """One screening finding over ``[start_s, end_s)``, in seconds from the stream's start.

    ``strip_mv`` is the ECG the event came from (in mV at ``fs_hz``, starting at ``strip_start_s``)
    when the input was ECG; ``None`` for RR-only screening. ``ongoing`` is true while a streaming
    screener has not yet seen the event end (it is reported again, with the same ``start_s``,
    once it ends).
    """

    kind: RhythmKind
    start_s: float
    end_s: float
    confidence: float
    ongoing: bool = False
    strip_mv: npt.NDArray[np.float64] | None = None
    strip_start_s: float = 0.0
    fs_hz: float | None = None
    detail: str = ""


class RhythmStream(Protocol):
    """A streaming screener: fed chunks as they arrive, returns the events it can now report.

    :class:`~vitalgate.signal.EcgStream` takes ECG chunks (mV);
    :class:`~vitalgate.signal.RrStream` takes RR intervals (s). Memory stays bounded however
    long the stream runs.
    """

    def feed(self, chunk: npt.ArrayLike) -> list[RhythmEvent]: ...
