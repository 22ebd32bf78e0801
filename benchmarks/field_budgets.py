"""Field budgets of the gateway, measured on this machine and printed against the budget.

1. CPU for one continuous 130 Hz ECG stream: ``EcgStream`` fed a real MITDB record (resampled to
   130 Hz, the Polar H10 rate) in 130-sample chunks; processing time / signal time = the share
   of one core (budget < 25 %). Peer: real time.
2. AF alert latency: signal time from the AF onset in the record's reference annotation to the
   chunk after which the stream reports AF (the detector's window), plus the processing time of
   that chunk (budget: < 2 s plus the detector's window). Pause alert latency: signal time from
   the end of each pause the stream reports to the chunk after which it reports it.
3. Resident memory of the gateway with 10 devices connected and ECG streaming (budget < 80 MB):
   two child processes in the same run — the peer runs the 10 emulated devices alone (the demo
   world, one strap playing the MITDB record, plus extra monitors and oximeters); the other runs
   the same devices *and* the gateway (connection manager, screeners, ECG monitor, outbox)
   connected to all of them. The gateway's share is the difference of their peak RSS (VmHWM).

    python benchmarks/field_budgets.py ../shared/data/mitdb/201
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from vitalgate.signal import EcgStream
from vitalgate.signal.events import RhythmKind


def _ecg_130hz_uv(record: Path, seconds: float) -> np.ndarray:
    import wfdb
    from scipy.signal import resample_poly

    rec = wfdb.rdrecord(str(record), channels=[0])
    x = rec.p_signal[: int(seconds * rec.fs), 0]
    x = resample_poly(x, 13, 36) if rec.fs == 360 else x
    return (x * 1000).round().astype(np.int32)


def cpu_and_latency(record: Path, seconds: float) -> None:
    import wfdb
    from scipy.signal import resample_poly

    rec = wfdb.rdrecord(str(record), channels=[0])
    ann = wfdb.rdann(str(record), "atr")
    fs0 = float(rec.fs)
    x = resample_poly(rec.p_signal[: int(seconds * fs0), 0], 13, 36) if fs0 == 360 else rec.p_signal[: int(seconds * fs0), 0]
    fs = 130.0 if fs0 == 360 else fs0
    onset = next((s / fs0 for s, n in zip(ann.sample, ann.aux_note, strict=True) if n.strip("\x00") in ("(AFIB", "(AFL")), None)
    stream = EcgStream(fs)
    busy = 0.0
    alert_at = chunk_ms = None
    pauses: list[tuple[float, float, float]] = []  # (start, end, reported after) s
    for i in range(0, len(x), 130):
        t = time.perf_counter()
        events = stream.feed(x[i : i + 130])
        dt = time.perf_counter() - t
        busy += dt
        if alert_at is None and any(e.kind is RhythmKind.AF and e.ongoing for e in events):
            alert_at, chunk_ms = (i + 130) / fs, dt * 1000
        pauses += [(e.start_s, e.end_s, (i + 130) / fs) for e in events if e.kind is RhythmKind.PAUSE]
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
    for a, b, at in pauses:
        print(f"pause {a:.1f}-{b:.1f} s (RR {b - a:.1f} s) reported after {at:.1f} s of signal: {at - b:.1f} s after it ended")


def _child(mode: str, record: Path, duration: float) -> None:
    """Run the emulated devices (and, for ``gateway``, the gateway) for ``duration`` seconds."""
    import asyncio
    import tempfile

    from vitalgate.config import BleSettings, Settings
    from vitalgate.device_drivers.manager import ConnectionManager
    from vitalgate.device_drivers.recognition import recognizer
    from vitalgate.gateway.daemon import Gateway
    from vitalgate.gateway.demo import build_screeners
    from vitalgate.simulator.demo_world import DemoWorld, demo_residents
    from vitalgate.simulator.devices import BloodPressureMonitor, PulseOximeter

    async def go() -> None:
        world = DemoWorld(link="budget", ecg_record=record, interval_s=2.0)
        extras = [BloodPressureMonitor(f"D2:00:00:00:00:0{i}", link="budget", disconnect_after_measurement=False)
                  for i in range(1, 4)] + [PulseOximeter(f"D2:00:00:00:01:0{i}", link="budget") for i in range(1, 3)]
        await world.start()
        for d in extras:
            await d.start()
        for i, d in enumerate(extras):
            if isinstance(d, BloodPressureMonitor):
                d.every(2.0, lambda d=d, i=i: _measure(d, i))
        try:
            if mode == "gateway":
                with tempfile.TemporaryDirectory() as tmp:
                    residents = demo_residents()
                    residents["devices"].update({d.address: f"r-x{i}" for i, d in enumerate(extras)})
                    settings = Settings(site={"id": "budget", "gateway": "gw1"}, mqtt={"url": "mqtt://127.0.0.1:9"},
                                        outbox={"path": f"{tmp}/outbox.sqlite"}, residents=residents)
                    addresses = world.addresses + [d.address for d in extras]
                    ble = BleSettings(backend="bumble", bumble_link="budget", allow=addresses,
                                      paired_file=Path(tmp) / "paired.json")
                    screeners, ecg = build_screeners(settings)
                    source = ConnectionManager.from_settings(ble, recognizer())
                    async with Gateway(settings, [source], screeners=screeners, ecg_screeners=ecg) as gw:
                        await asyncio.sleep(duration)
                        print(f"gateway child: {len(source.workers)} device workers, "
                              f"connected, {gw.queued} readings queued, {gw.held} held", file=sys.stderr)
            else:
                await asyncio.sleep(duration)
        finally:
            for d in extras:
                await d.stop()
            await world.stop()

    asyncio.run(go())


async def _measure(d: object, i: int) -> None:
    d.measure(120 + i, 80, 70)  # type: ignore[attr-defined]


def _peak_rss_mb(args: list[str]) -> float:
    proc = subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0
    status = Path(f"/proc/{proc.pid}/status")
    while proc.poll() is None:
        try:
            m = re.search(r"VmHWM:\s+(\d+) kB", status.read_text())
            peak = max(peak, int(m.group(1)) if m else 0)
        except OSError:
            break
        time.sleep(0.25)
    return peak / 1024


def _standalone(samples: Path) -> None:
    """A gateway process alone (no emulation, broker unreachable, no wfdb/scipy): the alert
    engine and the ECG monitor screening the 130 Hz µV samples in ``samples`` (.npy)."""
    import asyncio
    import tempfile
    from datetime import UTC, datetime, timedelta

    from vitalgate.config import Settings
    from vitalgate.gateway.daemon import Gateway
    from vitalgate.gateway.demo import build_screeners
    from vitalgate.readings import DeviceIdentity, EcgSamples

    uv = np.load(samples)

    async def go() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            strap = DeviceIdentity("D1:00:00:00:00:05", model="Polar H10")
            s = Settings(mqtt={"url": "mqtt://127.0.0.1:9"}, outbox={"path": f"{tmp}/outbox.sqlite"},
                         residents={"devices": {strap.address: "r-005"}})
            screeners, ecg = build_screeners(s)
            async with Gateway(s, [], screeners=screeners, ecg_screeners=ecg) as gw:
                t0 = datetime.now(UTC)
                for i in range(0, len(uv), 130):
                    await gw.emit(EcgSamples(strap, 130.0, tuple(uv[i : i + 130].tolist()), t0 + timedelta(seconds=i / 130)))
                    await asyncio.sleep(0)
                alerts = len(gw.outbox)
        print(f"standalone gateway screened {len(uv) / 130:.0f} s of ECG, {alerts} alert message(s) queued",
              file=sys.stderr)

    asyncio.run(go())


def gateway_rss(duration: float, record: Path) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        samples = Path(tmp) / "ecg.npy"
        np.save(samples, _ecg_130hz_uv(record, 900))
        alone = _peak_rss_mb(["--child", "standalone", str(samples)])
    print(f"standalone gateway (alert engine + ECG monitor screening 900 s of {record.name} at 130 Hz): "
          f"peak RSS {alone:.0f} MB (budget < 80 MB)")
    devices = _peak_rss_mb(["--child", "devices", str(record), "--seconds", str(duration)])
    both = _peak_rss_mb(["--child", "gateway", str(record), "--seconds", str(duration)])
    print(f"10 emulated devices alone (peer): {devices:.0f} MB; with the gateway connected to them: {both:.0f} MB; "
          f"the gateway's share: {both - devices:.0f} MB (budget < 80 MB)")


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
    ap.add_argument("--child", choices=["devices", "gateway", "standalone"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child == "standalone":
        _standalone(args.record)
        return 0
    if args.child:
        _child(args.child, args.record, args.seconds)
        return 0
    cpu_and_latency(args.record, args.seconds)
    gateway_rss(args.demo_seconds, args.record)
    demo_rss(args.demo_seconds, args.record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
