"""Bit-identity check for speed work on the ECG screening: same results, old tree and new.

``dump`` runs ``detect_qrs`` and ``screen_ecg`` of the ``vitalgate`` on ``PYTHONPATH`` over the
24 MITDB records (first lead) at 360 Hz and resampled to 250 and 128 Hz, the 600 cinc2017
recordings, MITDB 100 and 203 at 250 Hz repeated to a day, and a few multi-block inputs at 360,
128 and 500 Hz, and pickles the outputs; ``compare`` tells which inputs differ (r_peaks,
af_episodes, unreadable, sqi with ``equal_nan``, dtype and shape; events' kind, times,
confidence, detail, ongoing; ``detect_qrs`` output).

    PYTHONPATH=../main python benchmarks/ecg_identity.py dump /tmp/old.pkl
    PYTHONPATH=. python benchmarks/ecg_identity.py dump /tmp/new.pkl
    python benchmarks/ecg_identity.py compare /tmp/old.pkl /tmp/new.pkl
"""

from __future__ import annotations

import argparse
import csv
import pickle
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import wfdb


def _day(x: np.ndarray, fs: float) -> np.ndarray:
    """The record at 250 Hz (linear interpolation) repeated to 24 h, as benchmarks/ecg_speed.py."""
    t = np.arange(len(x)) / fs
    return np.resize(np.interp(np.arange(0.0, t[-1], 1 / 250.0), t, x), 24 * 3600 * 250)


def dump(shared: Path, out_path: Path) -> None:
    from scipy.signal import resample_poly

    import vitalgate
    from vitalgate.signal import detect_qrs, screen_ecg

    out: dict[Any, Any] = {"_tree": vitalgate.__file__}

    def run(key: tuple[Any, ...], x: np.ndarray, fs: float) -> None:
        s = screen_ecg(x, fs)
        out[key] = {"qrs": detect_qrs(x, fs), "r": s.r_peaks, "af": s.af_episodes, "un": s.unreadable,
                    "sqi": s.sqi, "ev": [(e.kind, e.start_s, e.end_s, e.confidence, e.detail, e.ongoing)
                                         for e in s.events]}

    def lead(rec: str) -> tuple[np.ndarray, float]:
        r = wfdb.rdrecord(str(shared / "mitdb" / rec), channels=[0])
        return r.p_signal[:, 0], float(r.fs)

    t0 = time.perf_counter()
    for rec in sorted(p.stem for p in (shared / "mitdb").glob("*.hea")):
        x, fs = lead(rec)
        run(("mitdb", rec, 360), x, fs)
        for f2 in (250, 128):
            run(("mitdb", rec, f2), resample_poly(x, f2, int(fs)), float(f2))
    with (shared / "cinc2017" / "REFERENCE.csv").open() as f:
        for row in csv.reader(f):
            r = wfdb.rdrecord(str(shared / "cinc2017" / row[0]))
            run(("cinc2017", row[0]), r.p_signal[:, 0], float(r.fs))
    for rec in ("100", "203"):
        run(("day", rec, 250), _day(*lead(rec)), 250.0)
    x, fs = lead("203")  # blocks at other rates (decimation by 3 and none)
    run(("tile", "203", 360), np.tile(x, 4), fs)
    run(("tile", "203", 128), np.tile(resample_poly(x, 128, 360), 4), 128.0)
    x, fs = lead("105")
    run(("tile", "105", 500), np.tile(resample_poly(x, 500, 360), 3), 500.0)
    print(f"{len(out) - 1} inputs in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    with out_path.open("wb") as f:
        pickle.dump(out, f)


def compare(a_path: Path, b_path: Path) -> int:
    with a_path.open("rb") as f:
        a = pickle.load(f)
    with b_path.open("rb") as f:
        b = pickle.load(f)
    print("trees:", a.pop("_tree"), b.pop("_tree"))
    if a.keys() != b.keys():
        print("the input sets differ")
        return 1
    bad = []
    for k, x in a.items():
        y = b[k]
        same = all(x[f].dtype == y[f].dtype and x[f].shape == y[f].shape
                   and np.array_equal(x[f], y[f], equal_nan=True) for f in ("qrs", "r", "af", "un", "sqi"))
        if not (same and x["ev"] == y["ev"]):
            bad.append(k)
    print(f"{len(a)} inputs compared, {len(bad)} differ", bad[:20])
    return 1 if bad else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dump")
    d.add_argument("out", type=Path)
    d.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    c = sub.add_parser("compare")
    c.add_argument("a", type=Path)
    c.add_argument("b", type=Path)
    args = ap.parse_args()
    if args.cmd == "dump":
        dump(args.shared, args.out)
        return 0
    return compare(args.a, args.b)


if __name__ == "__main__":
    sys.exit(main())
