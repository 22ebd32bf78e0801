"""Is the gateway's wall clock right yet? Monotonic anchoring for a Pi without a real-time clock.

A Raspberry Pi has no RTC: it boots at 1970 or, with ``fake-hwclock``, at the time it last shut
down, and is right only once NTP has synchronised. A reading received before that is stamped
with the monotonic clock; once the wall clock is trusted, its gateway-made time stamps are moved
by the error the wall clock had (the jump between the anchors) — the monotonic clock did not
jump, so the correction is exact. Time stamps a device sent itself are left as they are.

Trust
-----
The wall clock is trusted when it is not before ``clock.not_before`` (a date this release cannot
precede) and, if ``clock.require_sync`` (set it on an RTC-less Pi), once the kernel reports it
synchronised (``adjtimex``) or ``systemd-timesyncd`` has created ``clock.sync_file``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from vitalgate.readings import CLOCK_CORRECTED, GATEWAY_TIME

log = logging.getLogger(__name__)

__all__ = ["CLOCK_CORRECTED", "GATEWAY_TIME", "GatewayClock", "kernel_synchronised"]

DEFAULT_NOT_BEFORE = datetime(2026, 1, 1, tzinfo=UTC)
DEFAULT_SYNC_FILE = Path("/run/systemd/timesync/synchronized")


class _Timeval(ctypes.Structure):
    _fields_ = (("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long))


class _Timex(ctypes.Structure):  # struct timex, <sys/timex.h>
    _fields_ = (
        ("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long), ("status", ctypes.c_int),
        ("constant", ctypes.c_long), ("precision", ctypes.c_long), ("tolerance", ctypes.c_long),
        ("time", _Timeval), ("tick", ctypes.c_long), ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long), ("shift", ctypes.c_int), ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long), ("calcnt", ctypes.c_long), ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long), ("tai", ctypes.c_int), ("_pad", ctypes.c_int * 11),
    )


_TIME_ERROR = 5  # adjtimex: the clock is not synchronised


def kernel_synchronised() -> bool:
    """What ``adjtimex`` says (read-only); ``False`` where it cannot be asked."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        state = int(libc.adjtimex(ctypes.byref(_Timex())))
    except (OSError, AttributeError):
        return False
    return state not in (-1, _TIME_ERROR)


@dataclass
class GatewayClock:
    """The wall clock, whether to trust it, and its offset to the monotonic clock.

    ``wall``, ``monotonic`` and ``synchronised`` are injectable so tests can play a boot without
    NTP; in production they are the system's.
    """

    require_sync: bool = False
    not_before: datetime = DEFAULT_NOT_BEFORE
    sync_file: Path = DEFAULT_SYNC_FILE
    wall: Callable[[], float] = time.time
    monotonic: Callable[[], float] = time.monotonic
    synchronised: Callable[[], bool] | None = None
    _was_trusted: bool | None = field(default=None, repr=False)

    @classmethod
    def from_settings(cls, settings: object) -> GatewayClock:
        return cls(
            require_sync=bool(getattr(settings, "require_sync", False)),
            not_before=getattr(settings, "not_before", DEFAULT_NOT_BEFORE),
            sync_file=Path(getattr(settings, "sync_file", DEFAULT_SYNC_FILE)),
        )

    def offset(self) -> float:
        """Wall minus monotonic time, in seconds: constant until the wall clock is set."""
        return self.wall() - self.monotonic()

    def trusted(self) -> bool:
        """Whether gateway time stamps made now are right (logged when it changes)."""
        ok = self.wall() >= self.not_before.timestamp()
        if ok and self.require_sync:
            ok = self.sync_file.exists() or (self.synchronised or kernel_synchronised)()
        if ok != self._was_trusted:
            self._was_trusted = ok
            if ok:
                log.info("the gateway clock is trusted: %s", datetime.fromtimestamp(self.wall(), UTC).isoformat())
            else:
                log.warning(
                    "the gateway clock is not trusted yet (%s%s): readings wait and are re-timed "
                    "once it is set",
                    datetime.fromtimestamp(self.wall(), UTC).isoformat(),
                    ", waiting for NTP" if self.require_sync else "",
                )
        return ok
