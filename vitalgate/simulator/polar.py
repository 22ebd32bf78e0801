"""A Polar-H10-style chest strap: heart rate (0x180D) plus a PMD ECG stream of real ECG.

The ECG comes from an MIT-BIH Arrhythmia Database record (360 Hz, mV), resampled to the strap's
130 Hz with a polyphase filter and sent in microvolts, 73 samples per notification as an H10 does
at its usual MTU. Records 201, 202 and 203 carry atrial fibrillation (and flutter): playing one
makes the gateway's screening see a real arrhythmia end to end.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import numpy as np
from bumble import gatt
from bumble.device import Connection
from numpy.typing import NDArray

from vitalgate.simulator import payloads as pl
from vitalgate.simulator.devices import HeartRateStrap
from vitalgate.simulator.peripheral import READABLE, WRITEABLE, P

logger = logging.getLogger(__name__)

ECG_FS_HZ = 130
SAMPLES_PER_FRAME = 73


def load_mitdb_ecg(
    record_path: Path | str, *, start_s: float = 0.0, duration_s: float = 60.0, fs_out: int = ECG_FS_HZ
) -> NDArray[np.int32]:
    """First channel of an MIT-BIH record, resampled to ``fs_out`` Hz, in microvolts.

    Parameters
    ----------
    record_path:
        Record path without extension, e.g. ``shared_data / "mitdb" / "201"``.
    start_s, duration_s:
        The excerpt to load, in seconds.
    fs_out:
        Output sampling rate (Hz); 130 Hz for a Polar H10.
    """
    import wfdb
    from scipy.signal import resample_poly

    header = wfdb.rdheader(str(record_path))
    fs_in = int(header.fs)
    start = int(start_s * fs_in)
    stop = min(int(header.sig_len), start + int(duration_s * fs_in))
    if stop <= start:
        raise ValueError(
            f"excerpt {start_s:g}+{duration_s:g} s is outside record {record_path} "
            f"({header.sig_len / fs_in:g} s long); choose a start within the record"
        )
    rec = wfdb.rdrecord(str(record_path), sampfrom=start, sampto=stop, channels=[0])
    mv = np.asarray(rec.p_signal[:, 0], dtype=np.float64)
    g = np.gcd(fs_out, fs_in)
    resampled = resample_poly(mv, fs_out // g, fs_in // g)
    out: NDArray[np.int32] = np.round(resampled * 1000.0).astype(np.int32)
    return out


class PolarEcgStrap(HeartRateStrap):
    """HR strap with the Polar Measurement Data service streaming ECG on request."""

    advertised_services = ("180D",)
    model = "H10"

    def __init__(
        self, address: str, ecg_uv: NDArray[np.int32], name: str = "Polar H10 A1B2C3D4", *,
        link: str = "default", speed: float = 1.0, loop: bool = True, serial: str | None = None,
    ) -> None:
        super().__init__(address, name, link=link, serial=serial)
        if ecg_uv.ndim != 1 or ecg_uv.size < SAMPLES_PER_FRAME:
            raise ValueError(f"need a 1-D ECG of at least {SAMPLES_PER_FRAME} samples, got shape {ecg_uv.shape}")
        self.ecg_uv = ecg_uv
        self.speed = speed
        self.loop = loop
        self.frames_sent = 0
        # The device's sample clock: a frame's timestamp is its last sample's time on it (as a
        # real H10 stamps frames), so frames sent faster than real time (``speed``) or late
        # keep their place in the signal.
        self.clock0_ns = time.time_ns()
        self.drop_after_frames: int | None = None
        self.streaming = asyncio.Event()
        self._stream: asyncio.Task[None] | None = None

    def build_services(self) -> list[gatt.Service]:
        pmd = gatt.Service(
            pl.PMD_SERVICE,
            [
                gatt.Characteristic(
                    pl.PMD_CONTROL, P.READ | P.WRITE | P.INDICATE, READABLE | WRITEABLE,
                    gatt.CharacteristicValue(read=lambda _c: bytes([0x0F, 0x01]), write=self._on_control),
                ),
                gatt.Characteristic(pl.PMD_DATA, P.NOTIFY, READABLE, b""),
            ],
        )
        return [*super().build_services(), pmd]

    def _on_control(self, connection: Connection, value: bytes) -> None:
        op = value[0] if value else 0
        kind = value[1] if len(value) > 1 else 0xFF
        if op == pl.PMD_OP_GET_SETTINGS and kind == pl.PMD_ECG:
            reply = pl.pmd_control_response(op, kind, 0, pl.pmd_ecg_settings())
        elif op == pl.PMD_OP_START and kind == pl.PMD_ECG:
            reply = pl.pmd_control_response(op, kind, 0)
            self._start()
        elif op == pl.PMD_OP_STOP and kind == pl.PMD_ECG:
            reply = pl.pmd_control_response(op, kind, 0)
            self._halt()
        else:
            reply = pl.pmd_control_response(op, kind, 0x01)  # invalid op code
        self.spawn(self.indicate(pl.PMD_CONTROL, reply), "pmd-reply")

    def _start(self) -> None:
        self._halt()
        self._stream = asyncio.get_running_loop().create_task(self._play(), name=f"ecg-{self.address}")
        self.streaming.set()

    def _halt(self) -> None:
        if self._stream is not None:
            self._stream.cancel()
            self._stream = None
        self.streaming.clear()

    def on_disconnect(self) -> None:
        self._halt()

    async def _play(self) -> None:
        """Send frames at the ECG's own pace (divided by ``speed``), from where it stopped."""
        period = SAMPLES_PER_FRAME / ECG_FS_HZ / self.speed
        n = self.ecg_uv.size
        pos = (self.frames_sent * SAMPLES_PER_FRAME) % n if self.loop else self.frames_sent * SAMPLES_PER_FRAME
        next_at = time.monotonic()
        try:
            while pos + SAMPLES_PER_FRAME <= n or self.loop:
                if pos + SAMPLES_PER_FRAME > n:
                    pos = 0
                if self.drop_after_frames is not None and self.frames_sent >= self.drop_after_frames:
                    self.drop_after_frames = None
                    await self.drop_link()
                    return
                chunk = self.ecg_uv[pos : pos + SAMPLES_PER_FRAME]
                last_sample = (self.frames_sent + 1) * SAMPLES_PER_FRAME - 1
                stamp = self.clock0_ns + round(last_sample / ECG_FS_HZ * 1e9)
                await self.notify(pl.PMD_DATA, pl.pmd_ecg_frame(stamp, chunk.tolist()))
                self.frames_sent += 1
                pos += SAMPLES_PER_FRAME
                next_at += period
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        except ConnectionError:
            logger.info("%s: link lost while streaming ECG", self.address)
