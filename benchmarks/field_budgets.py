"""Field budgets of the gateway, measured on this machine and printed against the budget.

1. CPU for one continuous 130 Hz ECG stream: ``EcgStream`` fed a real MITDB record (resampled to
   130 Hz, the Polar H10 rate) in 130-sample chunks; processing time / signal time = the share
   of one core (budget < 25 %). Peer: real time.
2. AF alert latency: signal time from the AF onset in the record's reference annotation to the
   chunk after which the stream reports AF (the detector's window), plus the processing time of
   that chunk (budget: < 2 s plus the detector's window).
3. Resident memory: peak RSS (VmHWM) of a ``vitalgate demo`` process — gateway, emulated BLE
   devices (six, one streaming ECG), embedded broker and ingest worker all in one process, so an
   upper bound for the gateway alone (budget < 80 MB for the gateway).

    python benchmarks/field_budgets.py ../shared/data/mitdb/201
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

import wfdb
from scipy.signal import resample_poly

from vitalgate.signal import EcgStream
from vitalgate.signal.events import RhythmKind


def cpu_and_latency(record: Path, seconds: float) -> None:
    rec = wfdb.rdrecord(str(record), channels=[0])
    ann = wfdb.rdann(str(record), "atr")
    fs0 = float(rec.fs)
    x = resample_poly(rec.p_signal[: int(seconds * fs0), 0], 13, 36) if fs0 == 360 else rec.p_signal[: int(seconds * fs0), 0]
    fs = 130.0 if fs0 == 360 else fs0
    onset = next((s / fs0 for s, n in zip(ann.sample, ann.aux_note, strict=True) if n.strip("\x00") in ("(AFIB", "(AFL")), None)
    stream = EcgStream(fs)
    busy = 0.0
    alert_at = chunk_ms = None
    for i in range(0, len(x), 130):
        t = time.perf_counter()
        events = stream.feed(x[i : i + 130])
        dt = time.perf_counter() - t
        busy += dt
        if alert_at is None and any(e.kind is RhythmKind.AF and e.ongoing for e in events):
            alert_at, chunk_ms = (i + 130) / fs, dt * 1000
    signal_s = len(x) / fs
    share = busy / signal_s
    print(f"ECG stream {record.name} at {fs:g} Hz, {signal_s:.0f} s of signal: {busy:.2f} s of CPU "
          f"= {100 * share:.2f} % of one core (budget < 25 %; {1 / share:.0f}x faster than real time)")
    if onset is not None and alert_at is not None:
        print(f"AF onset {onset:.1f} s (reference) -> AF reported after {alert_at:.1f} s of signal: "
              f"{alert_at - onset:.1f} s detector window; that chunk took {chunk_ms:.1f} ms "
              "(budget: < 2 s + the window)")
    else:
        print("no AF reported in this stretch")


def demo_rss(duration: float, record: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "vitalgate.cli", "demo", "--duration", str(duration), "--ecg-record", str(record)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    peak = 0
    status = Path(f"/proc/{proc.pid}/status")
    while proc.poll() is None:
        try:
            m = re.search(r"VmHWM:\s+(\d+) kB", status.read_text())
            peak = max(peak, int(m.group(1)) if m else 0)
        except OSError:
            break
        time.sleep(0.5)
    print(f"demo process (gateway + 6 emulated devices with ECG + broker + ingest), {duration:g} s: "
          f"peak RSS {peak / 1024:.0f} MB (budget for the gateway alone: < 80 MB)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("record", type=Path, help="MITDB record path without extension (e.g. .../mitdb/201)")
    ap.add_argument("--seconds", type=float, default=900.0)
    ap.add_argument("--demo-seconds", type=float, default=30.0)
    args = ap.parse_args()
    cpu_and_latency(args.record, args.seconds)
    demo_rss(args.demo_seconds, args.record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
