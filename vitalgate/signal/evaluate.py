"""Evaluation of the screening on PhysioNet-style records (``vitalgate evaluate``).

Four kinds of input, recognised per path:

* an ECG record with reference annotations (``NAME.hea`` + signal + ``NAME.atr``, MITDB-style):
  QRS Se/+P (wfdb's annotation comparison, 150 ms, all beat annotations, first channel unless
  another is asked for) and duration-based AF Se/Sp against the rhythm annotations;
* an RR-only record (``NAME.qrs``/``NAME.qrsc`` beat times + ``NAME.atr`` rhythm, AFDB-style):
  duration-based AF Se/Sp of :func:`screen_rr`;
* a beat-annotation-only record (``NAME.ecg``, nsr2db-style): false AF episodes per 24 h;
* a directory with ``REFERENCE.csv`` (CinC 2017-style labelled short recordings): per-class
  calls, F1 for AF, normal/other called AF, noisy called unreadable.

Needs the ``wfdb`` package (``pip install 'vitalgate[bench]'``).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from vitalgate.errors import VitalgateError
from vitalgate.signal.ecg import screen_ecg
from vitalgate.signal.qrs import detect_qrs
from vitalgate.signal.rhythm import screen_rr

BEATS = set("NLRBAaJSVrFejnE/fQ?")
AF_RHYTHMS = ("(AFIB", "(AFL")


def _wfdb() -> Any:
    try:
        import wfdb
        import wfdb.processing
    except ImportError as err:
        raise VitalgateError("vitalgate evaluate needs the wfdb package: pip install 'vitalgate[bench]'") from err
    return wfdb


@dataclass
class Tally:
    """Counts summed over records."""

    tp: float = 0.0
    fn: float = 0.0
    fp: float = 0.0
    tn: float = 0.0

    def add(self, other: Tally) -> None:
        self.tp += other.tp
        self.fn += other.fn
        self.fp += other.fp
        self.tn += other.tn

    @property
    def se(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else float("nan")

    @property
    def ppv(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else float("nan")

    @property
    def sp(self) -> float:
        return self.tn / (self.tn + self.fp) if self.tn + self.fp else float("nan")


@dataclass
class Row:
    """One evaluated record (or labelled set)."""

    record: str
    kind: str
    values: dict[str, float | int | str] = field(default_factory=dict)


def record_kind(path: Path) -> str:
    """``"ecg"``, ``"rr"``, ``"beats"`` or ``"labelled"`` for ``path`` (record without extension)."""
    if path.is_dir():
        if (path / "REFERENCE.csv").exists():
            return "labelled"
        raise VitalgateError(f"{path}: a directory without REFERENCE.csv; pass record paths (e.g. mitdb/201)")
    base = path.with_suffix("") if path.suffix in {".hea", ".dat", ".atr", ".mat", ".qrs", ".qrsc", ".ecg"} else path
    has = {ext: base.with_name(base.name + ext).exists() for ext in (".hea", ".dat", ".mat", ".atr", ".qrs", ".qrsc", ".ecg")}
    if has[".atr"] and (has[".dat"] or has[".mat"]):
        return "ecg"
    if has[".atr"] and (has[".qrs"] or has[".qrsc"]):
        return "rr"
    if has[".ecg"]:
        return "beats"
    raise VitalgateError(
        f"{path}: not a record this command knows (needs NAME.hea with NAME.dat and NAME.atr, "
        "NAME.qrs and NAME.atr, NAME.ecg, or a directory with REFERENCE.csv)"
    )


def _base(path: Path) -> str:
    return str(path.with_suffix("") if path.suffix in {".hea", ".dat", ".atr", ".qrs", ".qrsc", ".ecg"} else path)


def _af_mask(samples: npt.NDArray[np.int64], notes: list[str], n: int) -> npt.NDArray[np.bool_]:
    mask = np.zeros(n, dtype=bool)
    current, start = None, 0
    for s, note in zip(samples, notes, strict=True):
        note = note.strip("\x00")
        if note.startswith("("):
            if current in AF_RHYTHMS:
                mask[start:s] = True
            current, start = note, int(s)
    if current in AF_RHYTHMS:
        mask[start:] = True
    return mask


def _outside_vf(samples: npt.NDArray[np.int64], ann_samples: npt.NDArray[np.int64], symbols: list[str]) -> npt.NDArray[np.bool_]:
    """True for samples outside ventricular flutter/fibrillation (``[`` ... ``]`` annotations)."""
    starts = np.array([s for s, sym in zip(ann_samples, symbols, strict=True) if sym == "["], dtype=np.int64)
    ends = np.array([s for s, sym in zip(ann_samples, symbols, strict=True) if sym == "]"], dtype=np.int64)
    keep = np.ones(len(samples), dtype=bool)
    for a in starts:
        later = ends[ends > a]
        b = int(later[0]) if len(later) else np.iinfo(np.int64).max
        keep &= (samples < a) | (samples > b)
    return keep


def _ecg(wfdb: Any, base: str, channel: int) -> Any:
    """The record's lead ``channel`` (0: the first), or a clear error when it has no such lead."""
    n = wfdb.rdheader(base).n_sig
    if not 0 <= channel < n:
        raise VitalgateError(f"{base}: no channel {channel} (the record has {n}: 0 to {n - 1})")
    return wfdb.rdrecord(base, channels=[channel])


def evaluate_qrs(path: Path, exclude_vf: bool = False, channel: int = 0) -> tuple[Row, Tally]:
    """Beat-by-beat Se/+P of :func:`detect_qrs` on one MITDB-style record (lead ``channel``).

    ``exclude_vf`` leaves ventricular flutter/fibrillation episodes (``[`` to ``]``) out of the
    comparison, reference beats and detections alike, as ANSI/AAMI EC57 does for QRS statistics.
    """
    wfdb = _wfdb()
    base = _base(path)
    rec = _ecg(wfdb, base, channel)
    ann = wfdb.rdann(base, "atr")
    ref = np.array([s for s, sym in zip(ann.sample, ann.symbol, strict=True) if sym in BEATS], dtype=np.int64)
    det = detect_qrs(rec.p_signal[:, 0], float(rec.fs))
    if exclude_vf:
        marks = np.asarray(ann.sample, dtype=np.int64)
        ref = ref[_outside_vf(ref, marks, list(ann.symbol))]
        det = det[_outside_vf(det, marks, list(ann.symbol))]
    c = wfdb.processing.compare_annotations(ref, det, int(0.15 * rec.fs))
    t = Tally(tp=c.tp, fn=c.fn, fp=c.fp)
    return Row(Path(base).name, "ecg", {"beats": len(ref), "tp": c.tp, "fn": c.fn, "fp": c.fp,
                                         "se": t.se, "ppv": t.ppv}), t


def evaluate_af(path: Path, channel: int = 0) -> tuple[Row, Tally]:
    """Duration-based AF Se/Sp (seconds) of one ECG (lead ``channel``), RR-only or beats-only record."""
    wfdb = _wfdb()
    kind = record_kind(path)
    base = _base(path)
    name = Path(base).name
    if kind == "ecg":
        rec = _ecg(wfdb, base, channel)
        ann = wfdb.rdann(base, "atr")
        fs = float(rec.fs)
        ref = _af_mask(ann.sample, ann.aux_note, rec.sig_len)
        res = screen_ecg(rec.p_signal[:, 0], fs)
        det = np.zeros(rec.sig_len, dtype=bool)
        for a, b in res.af_episodes:
            det[a:b] = True
        t = Tally(tp=(det & ref).sum() / fs, fn=(~det & ref).sum() / fs, fp=(det & ~ref).sum() / fs,
                  tn=(~det & ~ref).sum() / fs)
        return Row(name, kind, {"af_ref_s": round((ref.sum()) / fs, 1), "af_found_s": round(det.sum() / fs, 1),
                                "se": t.se, "sp": t.sp, "episodes": len(res.af_episodes)}), t
    if kind == "rr":
        ext = "qrsc" if Path(base + ".qrsc").exists() else "qrs"
        q = wfdb.rdann(base, ext)
        a = wfdb.rdann(base, "atr")
        fs = float(q.fs or 250)
        n = int(q.sample[-1]) + 1
        ref = _af_mask(a.sample, a.aux_note, n)
        rr_res = screen_rr(q.sample / fs)
        det = np.zeros(n, dtype=bool)
        for s, e in np.round(rr_res.af_episodes * fs).astype(np.int64):
            det[s:e] = True
        first = int(q.sample[0])
        ref, det = ref[first:], det[first:]
        t = Tally(tp=(det & ref).sum() / fs, fn=(~det & ref).sum() / fs, fp=(det & ~ref).sum() / fs,
                  tn=(~det & ~ref).sum() / fs)
        return Row(name, kind, {"hours": round(len(ref) / fs / 3600, 2), "se": t.se, "sp": t.sp,
                                "episodes": len(rr_res.af_episodes)}), t
    if kind == "beats":
        q = wfdb.rdann(base, "ecg")
        times = q.sample / float(q.fs)
        day = screen_rr(times)
        hours = float(times[-1] - times[0]) / 3600
        af_s = float(np.sum(day.af_episodes[:, 1] - day.af_episodes[:, 0]))
        t = Tally(fp=af_s, tn=hours * 3600 - af_s)
        return Row(name, kind, {"hours": round(hours, 2), "false_af_episodes": len(day.af_episodes),
                                "per_24h": round(len(day.af_episodes) * 24 / max(hours, 1e-9), 2),
                                "sp": t.sp}), t
    raise VitalgateError(f"{path}: use 'vitalgate evaluate af' on ECG, RR or beat records, or a labelled directory")


#: The CinC 2017 classes: normal sinus rhythm, AF, other rhythm, too noisy to classify.
LABELS = ("N", "A", "O", "~")


def labelled_records(directory: Path) -> list[tuple[str, str]]:
    """``(record, label)`` from ``REFERENCE.csv`` (``name,label`` rows; a first row whose label
    is not a class, such as ``data_source,class``, is a header). Any other row with an unknown
    label or without two fields is an error: no recording is silently left out."""
    with (directory / "REFERENCE.csv").open(newline="") as f:
        rows = [(i, [c.strip() for c in row]) for i, row in enumerate(csv.reader(f), 1) if any(c.strip() for c in row)]
    if rows and len(rows[0][1]) >= 2 and rows[0][1][1] not in LABELS:
        rows = rows[1:]
    out = []
    for line, row in rows:
        if len(row) < 2 or not row[0] or row[1] not in LABELS:
            raise VitalgateError(f"{directory / 'REFERENCE.csv'} line {line}: expected 'record,label' with label one of "
                                 f"{' '.join(LABELS)}, got {','.join(row)!r}")
        out.append((row[0], row[1]))
    return out


def evaluate_labelled(directory: Path, progress: Callable[[int], None] | None = None) -> Row:
    """CinC 2017-style: a record is called AF when AF episodes cover at least half of it."""
    wfdb = _wfdb()
    calls: dict[str, dict[str, int]] = {}
    for i, (name, label) in enumerate(labelled_records(directory)):
        if not (directory / f"{name}.hea").exists():
            raise VitalgateError(f"{directory / name}: listed in REFERENCE.csv but has no .hea header")
        rec = wfdb.rdrecord(str(directory / name))
        x = rec.p_signal[:, 0]
        res = screen_ecg(x, float(rec.fs))
        cover = float(np.sum(res.af_episodes[:, 1] - res.af_episodes[:, 0])) / max(len(x), 1)
        call = "A" if cover >= 0.5 else ("~" if res.verdict == "unreadable" else "N")
        calls.setdefault(label, {}).setdefault(call, 0)
        calls[label][call] += 1
        if progress is not None:
            progress(i + 1)

    def share(label: str, call: str) -> float:
        n = sum(calls.get(label, {}).values())
        return calls.get(label, {}).get(call, 0) / n if n else float("nan")

    tp = calls.get("A", {}).get("A", 0)
    fp = sum(c.get("A", 0) for lab, c in calls.items() if lab != "A")
    fn = sum(calls.get("A", {}).values()) - tp
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")
    values: dict[str, float | int | str] = {
        "records": sum(sum(c.values()) for c in calls.values()), "f1_af": f1, "af_found": share("A", "A"),
        "normal_called_af": share("N", "A"), "other_called_af": share("O", "A"),
        "noisy_called_af": share("~", "A"), "noisy_called_unreadable": share("~", "~"),
        # the cost of the quality check on clean recordings: no verdict, the user records again
        "normal_called_unreadable": share("N", "~"), "af_called_unreadable": share("A", "~"),
        "other_called_unreadable": share("O", "~"),
    }
    return Row(directory.name, "labelled", values)


def expand(paths: list[Path]) -> Iterator[Path]:
    """Record paths, with each ``.hea``/``.atr`` of a plain directory (no REFERENCE.csv) expanded."""
    for p in paths:
        if p.is_dir() and not (p / "REFERENCE.csv").exists():
            seen: set[str] = set()
            for f in sorted(p.iterdir()):
                if f.suffix in {".hea", ".atr", ".ecg"} and f.stem not in seen:
                    seen.add(f.stem)
                    yield f.with_suffix("")
        else:
            yield p
