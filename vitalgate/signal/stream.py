"""Streaming screening: fed chunks as a device sends them, with bounded memory.

:class:`EcgStream` keeps the last ``history_s`` of ECG, detects beats every ``step_s`` on that
buffer (away from its edges, so a beat is found with the same context as offline), and hands the
beat times to the same rhythm screening as :func:`~vitalgate.signal.screen_rr`.
:class:`RrStream` does the same from RR intervals. Both report an AF episode as soon as it is
seen (``ongoing=True``) and again when it has ended; pauses, brady/tachycardia and ectopy once
(a pause as soon as the beat after it arrives; a sustained rate once it has lasted its minimum,
``ongoing=True`` while it goes on).
"""

from __future__ import annotations

from collections import deque

import numpy as np
import numpy.typing as npt

from vitalgate.errors import SignalError
from vitalgate.signal import _numeric
from vitalgate.signal.ecg import (
    SEGMENT_S,
    _signal_stages,
    crossing,
    episode_p_wave,
    p_wave_windows,
    usable_intervals,
    window_part,
)
from vitalgate.signal.events import RhythmEvent, RhythmKind
from vitalgate.signal.qrs import MAX_FS, MIN_FS, VF_WINDOW_S
from vitalgate.signal.quality import QualityConfig
from vitalgate.signal.rhythm import DEFAULT, ECTOPY_S, RhythmConfig, screen_beats


def _merged(ranges: list[tuple[float, float]], start: float, end: float) -> list[tuple[float, float]]:
    """``ranges`` (sorted, apart) with ``[start, end)`` added; overlapping or touching ones merged."""
    merged = [(start, end)]
    for a, b in ranges:
        if b < merged[0][0] or a > merged[0][1]:
            merged.append((a, b))
        else:
            merged[0] = (min(a, merged[0][0]), max(b, merged[0][1]))
    return sorted(merged)


class _RhythmTracker:
    """Beat times in, new rhythm events out; keeps at most ``max_beats`` beats.

    An AF episode opens when the screening finds AF among the newest beats and closes only when
    none was found in the last ``end_after_s`` (hysteresis: the running window is least certain
    at its newest edge). Other events are reported once, when complete.
    """

    def __init__(self, config: RhythmConfig, max_beats: int = 1200, end_after_s: float = 60.0,
                 fs: float = 0.0) -> None:
        self.cfg = config
        self.fs = fs  # ECG only: the sampling rate of the P-wave windows
        self.end_after_s = end_after_s
        self.beats: deque[float] = deque(maxlen=max_beats)
        self.ectopic: deque[bool] = deque(maxlen=max_beats)  # ventricular by QRS shape (ECG only)
        self.p_windows: deque[npt.NDArray[np.float64]] = deque(maxlen=max_beats)  # pre-QRS ECG (ECG only)
        self.last_end: dict[RhythmKind, float] = {}
        self.open_af: RhythmEvent | None = None
        self.final = False  # the stream ended: decide up to the newest beat
        # Unusable stretches, in seconds, merged and in order: an RR interval across one is
        # neither screened for AF nor a pause, as offline. ``gaps``: samples lost, VF, beats
        # the detector missed; ``poor``: signal of too poor a quality. From an ECG, an interval
        # longer than ``pause_s`` is a pause only where the ECG shows one (``pauses``,
        # :func:`~vitalgate.signal.ecg.quiet_pauses`), whatever the quality around.
        self.gaps: list[tuple[float, float]] = []
        self.poor: list[tuple[float, float]] = []
        self.pauses: list[tuple[float, float]] = []

    def note_gap(self, start: float, end: float, unreadable: bool = False) -> None:
        """An unusable stretch ``[start, end)`` s (``unreadable``: for its quality alone)."""
        if unreadable:
            self.poor = _merged(self.poor, start, end)
        else:
            self.gaps = _merged(self.gaps, start, end)

    def note_pause(self, start: float, end: float) -> None:
        """The ECG shows a pause over ``[start, end)`` s: the interval across it is a pause,
        even where its signal was judged unreadable for lack of beats."""
        self.pauses = _merged(self.pauses, start, end)

    def add(self, times: npt.NDArray[np.float64], ectopic: npt.NDArray[np.bool_] | None = None,
            p_windows: npt.NDArray[np.float64] | None = None) -> list[RhythmEvent]:
        """``p_windows`` (ECG only): each beat's :func:`~vitalgate.signal.ecg.p_wave_windows` row."""
        flags = np.zeros(len(times), dtype=bool) if ectopic is None else ectopic
        for i, (t, v) in enumerate(zip(times, flags, strict=True)):
            if not self.beats or t > self.beats[-1] + 0.2:
                self.beats.append(float(t))
                self.ectopic.append(bool(v))
                if p_windows is not None:
                    self.p_windows.append(p_windows[i])
        if len(self.beats) < self.cfg.min_beats:
            return []
        t = np.fromiter(self.beats, dtype=np.float64)
        ectopic_all = np.fromiter(self.ectopic, dtype=bool)
        p_wave = None
        if len(self.p_windows) == len(t):  # every beat has its window: an ECG stream
            rows = list(self.p_windows)
            p_wave = episode_p_wave(np.diff(t, prepend=t[0] - 1.0), ectopic_all,
                                    lambda idx, span: window_part(np.array([rows[i] for i in idx]), self.fs, span),
                                    self.fs, self.cfg)
        # bounded: only what the beats span
        self.gaps, self.poor, self.pauses = ([g for g in v if g[1] > t[0]] for v in (self.gaps, self.poor, self.pauses))
        readable, hard = ~crossing(t, np.array(self.poor)), np.array(self.gaps).reshape(-1, 2)
        if self.fs > 0:  # ECG: a pause is one the ECG shows (quiet_pauses), as offline
            usable = usable_intervals(t, readable, hard, np.array(self.pauses).reshape(-1, 2), self.cfg.pause_s)
        else:
            usable = readable & ~crossing(t, hard)
        res = screen_beats(t, self.cfg, usable=usable, ectopic=ectopic_all, p_wave=p_wave)
        # Decide only where the running windows are complete: half the premature-beat window
        # and at least the AF averager's look-ahead behind the newest beat (offline, those
        # beats have the same neighbourhood). This is the detector's delay.
        half = max(self.cfg.window_beats // 2, self.cfg.af_lookahead_beats)
        last = float(t[-1 - half]) if len(t) > 2 * half else float(t[0]) + 0.5 * float(t[-1] - t[0])
        windowed = len(t) > 2 * half or self.final  # (else only pauses are decided yet)
        if self.final:
            last = float(t[-1])
        out: list[RhythmEvent] = []
        out += self._pauses(res.events, float(t[-1]))
        # Bradycardia needs only the 9-beat median rate around each beat: decided 5 beats behind.
        out += self._sustained(res.events, {RhythmKind.BRADYCARDIA}, float(t[-6]) if len(t) > 6 and not self.final else float(t[-1]))
        if not windowed:
            return out
        af = [
            RhythmEvent(e.kind, e.start_s, min(e.end_s, last), e.confidence)
            for e in res.events
            if e.kind is RhythmKind.AF and e.start_s < last and e.end_s > self.last_end.get(RhythmKind.AF, -1.0)
        ]
        af = [e for e in af if e.end_s - e.start_s >= min(self.cfg.min_af_s, 0.5 * (last - float(t[0])))]
        recent = [e for e in af if e.end_s >= last - self.end_after_s]
        if self.open_af is None and recent:
            e = recent[-1]
            self.open_af = RhythmEvent(e.kind, e.start_s, e.end_s, e.confidence, ongoing=True)
            out.append(self.open_af)
        elif self.open_af is not None:
            mine = [e for e in af if e.end_s > self.open_af.start_s]
            end = max([self.open_af.end_s, *(e.end_s for e in mine)])
            conf = max([self.open_af.confidence, *(e.confidence for e in mine)])
            self.open_af = RhythmEvent(RhythmKind.AF, self.open_af.start_s, end, conf, ongoing=True)
            if not recent:
                out.append(RhythmEvent(RhythmKind.AF, self.open_af.start_s, end, conf, ongoing=False))
                self.last_end[RhythmKind.AF] = end
                self.open_af = None
        # Tachycardia (outside AF) and frequent ectopy need the AF and premature-beat windows.
        out += self._sustained(res.events, {RhythmKind.TACHYCARDIA, RhythmKind.ECTOPY}, last)
        return out

    def _sustained(self, events: list[RhythmEvent], kinds: set[RhythmKind], horizon: float) -> list[RhythmEvent]:
        """Events of ``kinds`` (sustained rates) not reported yet, decided up to ``horizon`` s:
        each once, as soon as its decided part lasts its minimum (``sustained_s``, frequent
        ectopy ``ECTOPY_S``), with ``ongoing=True`` while it goes on; one that ended before is
        reported whole. (Reported only when they ended, a heart block at 33/min lasting an hour
        raised nothing while it lasted.) As offline, an episode the running rate splits is two
        (the alert engine re-publishes an unacknowledged alert of the same rule)."""
        out = []
        for e in events:
            if e.kind not in kinds or e.start_s >= horizon - 1.0:
                continue
            end = min(e.end_s, horizon)
            if e.start_s <= self.last_end.get(e.kind, -1.0):  # the episode reported, going on
                self.last_end[e.kind] = max(self.last_end.get(e.kind, end), end)
                continue
            ongoing = not self.final and e.end_s >= horizon - 1.0
            if ongoing and end - e.start_s < (ECTOPY_S if e.kind is RhythmKind.ECTOPY else self.cfg.sustained_s):
                continue
            self.last_end[e.kind] = end
            out.append(RhythmEvent(e.kind, e.start_s, end, e.confidence, ongoing=ongoing, detail=e.detail))
        return out

    def _pauses(self, events: list[RhythmEvent], newest: float) -> list[RhythmEvent]:
        """The pauses not reported yet that a beat follows. A pause is one interval judged on its
        own (no running window), so it is reported as soon as the beat after the one that ends
        it arrives, not half a window later and not only once the window has filled: an urgent
        alert, which the 60 beats of the premature-beat window held back 45-80 s at 60-80/min
        (and the first 121 beats of a stream, about two minutes)."""
        out = []
        for e in events:
            # (>=: two long intervals in a row are two pauses, the second starting where the first ends)
            if e.kind is RhythmKind.PAUSE and (e.end_s < newest or self.final) and e.start_s >= self.last_end.get(e.kind, -1.0):
                self.last_end[e.kind] = e.end_s
                out.append(e)
        return out


class RrStream:
    """Screen RR intervals (seconds) as they arrive, e.g. from Heart Rate Measurement 0x2A37."""

    def __init__(self, config: RhythmConfig | None = None) -> None:
        self.tracker = _RhythmTracker(config or DEFAULT)
        self.now_s = 0.0

    def feed(self, chunk: npt.ArrayLike) -> list[RhythmEvent]:
        rr = np.asarray(chunk, dtype=np.float64).ravel()
        if rr.size and (not np.isfinite(rr).all() or (rr <= 0).any()):
            raise SignalError("RR intervals must be positive finite seconds")
        times = self.now_s + np.cumsum(rr)
        if rr.size:
            self.now_s = float(times[-1])
        return self.tracker.add(times)

    def skip(self, seconds: float) -> None:
        """``seconds`` passed without intervals (notifications or a link lost): the next beats
        are placed that much later, and the interval across the loss (from the last beat before
        it to the first after) is neither screened for AF nor a pause."""
        if seconds > 0:
            self.tracker.note_gap(self.now_s, self.now_s + seconds)
            self.now_s += seconds


class EcgStream:
    """Screen an ECG stream (mV) fed in chunks of any size.

    Parameters
    ----------
    fs_hz:
        Sampling rate (100-1000 Hz).
    history_s:
        ECG kept for detection and strips (bounded memory: ``history_s * fs_hz`` samples).
    step_s:
        Detection runs each time this much new signal has arrived.
    """

    MARGIN_S = 1.5  # beats nearer than this to the buffer's newest edge wait for more signal
    PAUSE_CONTEXT_S = 5.0  # ...a doubtful beat after a pause until a clear one (_hold_in_pause)
    SETTLE_S = 4.0  # ...has this much signal after it (the detector's running level: ~17 candidates)

    def __init__(self, fs_hz: float, config: RhythmConfig | None = None, *, history_s: float = 30.0,
                 step_s: float = 5.0, quality: QualityConfig | None = None) -> None:
        if not MIN_FS <= fs_hz <= MAX_FS:
            raise SignalError(f"sampling rate {fs_hz} Hz is outside {MIN_FS:g}-{MAX_FS:g} Hz")
        self.fs = float(fs_hz)
        self.cfg = config or DEFAULT
        self.quality = quality or self.cfg.quality
        self.capacity = int(history_s * fs_hz)
        self.step = int(step_s * fs_hz)
        self.buffer = np.zeros(0)
        self.start = 0  # absolute index of buffer[0]
        self.pending = 0
        self.done_until = 0  # absolute index up to which beats are final
        self.tracker = _RhythmTracker(self.cfg, fs=self.fs)
        self.r_peaks: deque[int] = deque(maxlen=20_000)
        self.vf_until = -1e9  # end of the VF episode last reported (s)
        self.unreadable: tuple[float, float] | None = None  # the latest unreadable stretch (s)
        self.unreadable_reported = False
        self.silent_from = -1  # the beat after which a pause going on was reported (asystole)

    @property
    def samples_seen(self) -> int:
        return self.start + len(self.buffer)

    def feed(self, chunk: npt.ArrayLike) -> list[RhythmEvent]:
        """Screen the next samples (mV). ``NaN`` marks samples lost on the way (a dropped
        notification): they are bridged by a straight line between their neighbours (no beat
        is found there) and the stretch is unusable for the rhythm, so an RR interval across it
        is neither a pause nor part of an AF episode."""
        x = np.asarray(chunk, dtype=np.float64).ravel()
        lost = ~np.isfinite(x)
        if lost.any():
            x = self._bridge(x, lost)
        self.buffer = np.concatenate([self.buffer, x])
        self.pending += len(x)
        if len(self.buffer) > self.capacity:
            cut = len(self.buffer) - self.capacity
            self.buffer = self.buffer[cut:]
            self.start += cut
        if self.pending < self.step or len(self.buffer) < int(3 * self.fs):
            return []
        self.pending = 0
        return self._detect(final=False)

    def _bridge(self, x: npt.NDArray[np.float64], lost: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
        i = np.arange(len(x))
        known = np.flatnonzero(~lost)
        before = self.buffer[-1] if len(self.buffer) else (x[known[0]] if len(known) else 0.0)
        xs = np.concatenate([[-1], known])
        ys = np.concatenate([[before], x[known]])
        out = np.where(lost, np.interp(i, xs, ys), x)  # after the last known sample: held
        for a, b in _numeric.runs(lost):
            self.tracker.note_gap((self.samples_seen + int(a) - 1) / self.fs, (self.samples_seen + int(b)) / self.fs)
        return np.asarray(out, dtype=np.float64)

    def flush(self) -> list[RhythmEvent]:
        """Process what is buffered up to its end (the stream stopped)."""
        self.tracker.final = True
        return self._detect(final=True)

    def _detect(self, *, final: bool) -> list[RhythmEvent]:
        buf = self.buffer
        # QRS shapes judged against the buffer's beats (the offline call uses 128 around each)
        st = _signal_stages(buf, self.fs, self.cfg, self.quality)
        r, vf, ectopic, ok = st.r, st.vf, st.ectopic, st.readable
        edge = len(buf) if final else len(buf) - int(self.MARGIN_S * self.fs)
        vf_events = self._vf_events(vf, edge, final)
        lo = max(self.done_until - self.start, int(0.5 * self.fs) if self.start else 0)
        late = self._late()
        if not final and self.r_peaks:
            # A gap with no beat for longer than a beat is late is final only SETTLE_S before the
            # newest sample: the detector's running level looks a few seconds around, and a
            # wave in the gap judged with 1.5 s of signal after it was missed where the offline
            # call, with signal on both sides, takes it for a beat; the gap was then reported
            # as a pause the offline call does not have (a wave halfway through 24 pauses of
            # record 100: 4-5 such; CinC 2017 A01563, A07978).
            last = self.r_peaks[-1] - self.start
            edge = max(lo, min(edge, max(last + int(late), len(buf) - int(self.SETTLE_S * self.fs))))
        keep = (r >= lo) & (r < edge)
        seg = int(SEGMENT_S * self.fs)
        bad = [((self.start + int(a)) / self.fs, (self.start + min(int(b), len(buf))) / self.fs) for a, b in _numeric.runs(~ok) * seg]
        for a_s, b_s in bad:  # unreadable: its beats are dropped, its gap is no pause (unless the ECG shows one, below)
            self.tracker.note_gap(a_s, b_s, unreadable=True)
        for a, b in st.undersensed:  # beats the detector missed: no pause either
            self.tracker.note_gap((self.start + int(a)) / self.fs, (self.start + int(b)) / self.fs)
        unreadable_events = self._unreadable_events(bad)
        if keep.any():  # beats of unreadable segments are dropped, unless clearly QRS complexes
            keep &= ok[np.minimum(r // seg, len(ok) - 1)] | st.clean  # (those that bound a pause)
            if not final:
                keep, edge = self._hold_in_pause(r, keep, st.clean, edge, late)
        self.done_until = self.start + edge
        absolute, ectopic = r[keep] + self.start, ectopic[keep]
        if self.r_peaks:
            later = absolute > self.r_peaks[-1] + int(0.2 * self.fs)
            absolute, ectopic = absolute[later], ectopic[later]
        self.r_peaks.extend(int(v) for v in absolute)
        self._note_pauses(r, st.quiet)
        windows = p_wave_windows(buf, self.fs, absolute - self.start)
        events = vf_events + unreadable_events + self.tracker.add(absolute / self.fs, ectopic, windows)
        events += self._asystole(st.silent)
        return [self._strip(e) for e in events]

    def _asystole(self, silent: int) -> list[RhythmEvent]:
        """A pause going on (:func:`~vitalgate.signal.ecg.silent_tail`: only noise for
        ``asystole_alert_s`` after the last QRS complex, the ECG quiet since), reported once, at
        once, ``ongoing=True``: in asystole no beat comes to end the pause, and it was reported
        only when one did (a flat line after the last beat raised nothing for as long as it
        lasted). Not across samples lost (a straight line bridges them) or VF. The tracker
        reports the pause again, whole, if a beat ends it while both are in the buffer."""
        if silent < 0:
            return []
        beat = self.start + silent
        if abs(beat - self.silent_from) <= int(0.05 * self.fs):
            return []
        if crossing(np.array([beat / self.fs, self.samples_seen / self.fs]), np.array(self.tracker.gaps).reshape(-1, 2)).any():
            return []  # samples lost since (bridged by a straight line, quiet by construction), VF
        self.silent_from = beat
        now = self.samples_seen / self.fs
        return [RhythmEvent(RhythmKind.PAUSE, beat / self.fs, now, 0.9, ongoing=True, detail="no beat since: asystole or sinus arrest")]

    def _note_pauses(self, r: npt.NDArray[np.int64], quiet: npt.NDArray[np.int64]) -> None:
        """Tell the tracker of the pauses the ECG shows (``quiet``, ranges inside gaps between
        this pass's beats ``r``) whose two bounding beats are both final beats of the stream:
        the gap judged is the interval the tracker screens, with the signal after it that the
        offline call has. A gap judged on an earlier pass, before the detector had taken the
        faint beats in it, made a false urgent pause that later passes did not see (CinC 2017
        A08092); one that began at a detection the stream had not kept (an artefact in 116's
        blocked amplifier, for some alignments of the buffer) made the interval across it a
        false 6-s pause."""
        if not len(quiet) or not self.r_peaks:
            return
        final = np.fromiter(self.r_peaks, dtype=np.int64)
        i = np.searchsorted(r, quiet[:, 0]) - 1  # the beats bounding each range
        j = np.searchsorted(r, quiet[:, 1])
        ok = (i >= 0) & (j < len(r))
        ends = np.stack([r[i[ok]], r[j[ok]]]) + self.start  # (2, ranges)
        k = np.searchsorted(final, ends)
        before, after = final[np.maximum(k - 1, 0)], final[np.minimum(k, len(final) - 1)]
        off = np.minimum(np.abs(before - ends), np.abs(after - ends))  # to the nearest final beat
        tol = int(0.05 * self.fs)  # (a beat may move a sample or two between passes)
        for a, b in quiet[ok][(off <= tol).all(axis=0)]:
            self.tracker.note_pause((self.start + int(a)) / self.fs, (self.start + int(b)) / self.fs)

    def _hold_in_pause(self, r: npt.NDArray[np.int64], keep: npt.NDArray[np.bool_], clean: npt.NDArray[np.bool_],
                       edge: int, late: float) -> tuple[npt.NDArray[np.bool_], int]:
        """``(keep, edge)`` with the decision on a doubtful beat put off: one that is not clearly a
        QRS complex (``clean``) and comes later than ``late`` (:meth:`_late`) after
        the beat before it waits (with the beats after it) until a clear QRS complex follows it
        with ``SETTLE_S`` of signal after that one, or until it is ``PAUSE_CONTEXT_S`` from the
        buffer's oldest sample. In a pause still going on, the detector's running level, which
        looks a few seconds around, falls to the noise's and takes noise for beats (10-s pauses
        were cut short this way in 12 of 24 cases); once the beat that ends the pause is in the
        buffer with signal after it, the gap is judged on both sides, as offline."""
        idx = np.flatnonzero(keep)
        if not len(idx):
            return keep, edge
        before = self.r_peaks[-1] - self.start if self.r_peaks else r[idx[0]] - len(self.buffer)
        prev = np.concatenate([[before], r[idx[:-1]]])
        doubt = ~clean[idx] & (r[idx] - prev > late)
        # (a clear QRS with SETTLE_S of signal after it: the running level around it settled)
        settled = clean & (r < len(self.buffer) - self.SETTLE_S * self.fs)
        clean_after = np.flip(np.logical_or.accumulate(np.flip(settled)))  # clean_after[j]: one from j on
        doubt &= ~np.append(clean_after[1:], False)[idx]
        doubt &= r[idx] > self.PAUSE_CONTEXT_S * self.fs  # (bounded: the buffer holds history_s)
        if not doubt.any():
            return keep, edge
        edge = int(r[idx[int(np.argmax(doubt))]])
        return keep & (r < edge), edge

    def _late(self) -> float:
        """Samples after the last beat past which the next one is late: ``pause_s``, or 1.66 x
        the recent RR (a beat missed, Pan and Tompkins) when that is shorter."""
        recent = np.diff(np.array([self.r_peaks[-k] for k in range(min(9, len(self.r_peaks)), 0, -1)], dtype=np.float64))
        pause = self.cfg.pause_s * self.fs
        return min(pause, 1.66 * float(np.median(recent))) if len(recent) >= 4 else pause

    def _vf_events(self, vf: npt.NDArray[np.int64], edge: int, final: bool) -> list[RhythmEvent]:
        """One event per VF episode: as soon as a run still growing at the newest edge spans
        ``VF_WINDOW_S`` (``ongoing=True``: sustained VF is not held back until it ends), else
        when a run is complete. Runs within ``merge_gap_s`` of the last one (window edges move
        between passes) continue its episode. The tracker learns the runs, so the beat gap they
        leave is not reported as a pause."""
        out = []
        for a, b in vf:
            start, end = (self.start + int(a)) / self.fs, (self.start + int(b)) / self.fs
            self.tracker.note_gap(start, end)
            if end <= self.vf_until:
                continue
            growing = b >= edge and not final
            if start <= self.vf_until + max(VF_WINDOW_S, self.cfg.merge_gap_s):
                self.vf_until = end  # the episode goes on
                continue
            if growing and end - start < VF_WINDOW_S:
                continue  # too short to tell yet
            out.append(RhythmEvent(RhythmKind.VF, start, end, 0.8, ongoing=growing,
                                   detail="ventricular flutter/fibrillation"))
            self.vf_until = end
        return out

    def _unreadable_events(self, stretches: list[tuple[float, float]]) -> list[RhythmEvent]:
        """One ``unreadable`` event (``ongoing=True``) per unbroken unreadable stretch, once it
        has lasted ``unreadable_alert_s``. Stretches within a segment of the latest one (the
        buffer is judged again on each pass) continue it."""
        out = []
        for start, end in stretches:
            last = self.unreadable
            if last is not None and end <= last[1]:
                continue  # seen already
            if last is not None and start <= last[1] + SEGMENT_S:
                self.unreadable = (last[0], end)
            else:
                self.unreadable, self.unreadable_reported = (start, end), False
            first, latest = self.unreadable
            if not self.unreadable_reported and 0 < self.cfg.unreadable_alert_s <= latest - first:
                out.append(RhythmEvent(RhythmKind.UNREADABLE, first, latest, 0.9, ongoing=True,
                                       detail="noise, clipping or electrode off"))
                self.unreadable_reported = True
        return out

    def _strip(self, e: RhythmEvent) -> RhythmEvent:
        a = max(int((e.start_s - 2.0) * self.fs), self.start)
        b = min(int(min(e.end_s + 2.0, e.start_s + 30.0) * self.fs), self.samples_seen)
        if b <= a:  # the start has left the buffer: the latest 30 s instead
            b = self.samples_seen
            a = max(self.start, b - int(30.0 * self.fs))
        strip = self.buffer[a - self.start : b - self.start].copy()
        return RhythmEvent(e.kind, e.start_s, e.end_s, e.confidence, e.ongoing, strip, a / self.fs, self.fs, e.detail)
