"""Readers for the PhysioNet records in ../shared/data used by the ECG screening tests."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import wfdb

BEATS = set("NLRBAaJSVrFejnE/fQ?")
AF_RHYTHMS = ("(AFIB", "(AFL")


def mitdb(shared: Path, rec: str, channel: int = 0,
          ) -> tuple[npt.NDArray[np.float64], float, npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """``(lead ``channel`` in mV (the first by default), fs, reference beat samples, per-sample
    AF/flutter mask)``."""
    base = str(shared / "mitdb" / rec)
    r = wfdb.rdrecord(base, channels=[channel])
    ann = wfdb.rdann(base, "atr")
    beats = np.array([s for s, sym in zip(ann.sample, ann.symbol, strict=True) if sym in BEATS], dtype=np.int64)
    af = np.zeros(r.sig_len, dtype=bool)
    current, start = None, 0
    for s, note in zip(ann.sample, ann.aux_note, strict=True):
        note = note.strip("\x00")
        if note.startswith("("):
            if current in AF_RHYTHMS:
                af[start:s] = True
            current, start = note, s
    if current in AF_RHYTHMS:
        af[start:] = True
    return r.p_signal[:, 0], float(r.fs), beats, af


def afdb(shared: Path, rec: str) -> tuple[npt.NDArray[np.float64], list[tuple[float, float]]]:
    """``(beat times s, reference AF/flutter episodes [(start, end) s])``."""
    base = str(shared / "afdb_ann" / rec)
    ext = "qrsc" if (shared / "afdb_ann" / f"{rec}.qrsc").exists() else "qrs"
    q = wfdb.rdann(base, ext)
    a = wfdb.rdann(base, "atr")
    fs = float(q.fs or 250)
    t = q.sample / fs
    eps, current, start = [], None, 0.0
    for s, note in zip(a.sample, a.aux_note, strict=True):
        note = note.strip("\x00")
        if current in AF_RHYTHMS:
            eps.append((start, s / fs))
        current, start = note, s / fs
    if current in AF_RHYTHMS:
        eps.append((start, float(t[-1])))
    return t, eps


def nsr2db(shared: Path, rec: str) -> npt.NDArray[np.float64]:
    q = wfdb.rdann(str(shared / "nsr2db" / rec), "ecg")
    return q.sample / float(q.fs)


def cinc2017(shared: Path) -> list[tuple[str, str]]:
    """``[(record name, label N|A|O|~)]``."""
    with (shared / "cinc2017" / "REFERENCE.csv").open() as f:
        return [(row[0], row[1]) for row in csv.reader(f)]


def overlap_s(episodes: list[tuple[float, float]] | npt.NDArray[np.float64], a: float, b: float) -> float:
    return float(sum(max(0.0, min(e1, b) - max(e0, a)) for e0, e1 in episodes))


def feed_all(stream: Any, x: npt.NDArray[np.float64], chunk: int = 130) -> list[Any]:
    """Every event a stream reports when fed ``x`` in ``chunk``-sample pieces, then flushed."""
    return [e for i in range(0, len(x), chunk) for e in stream.feed(x[i : i + chunk])] + list(stream.flush())
