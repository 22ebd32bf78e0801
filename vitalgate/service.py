"""Running as a systemd service: readiness, watchdog, status and credentials.

Implements the ``sd_notify`` datagram protocol directly (no libsystemd binding needed on the
Pi). Outside systemd (no ``NOTIFY_SOCKET``) every call is a no-op, so the same code runs in a
terminal, in tests and under ``Type=notify``.

The watchdog is fed *from the event loop*: if the loop blocks (a stuck driver, a runaway
computation), pings stop and systemd restarts the service after ``WatchdogSec``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Iterable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def notify(*states: str) -> bool:
    """Send ``states`` (e.g. ``"READY=1"``, ``"STATUS=..."``) to systemd; ``False`` outside it."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # abstract namespace socket
        address = "\0" + address[1:]
    message = "\n".join(states).encode()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(message)
    except OSError as err:
        log.warning("sd_notify to %s failed: %s", os.environ.get("NOTIFY_SOCKET"), err)
        return False
    return True


def watchdog_interval_s() -> float | None:
    """Half of systemd's ``WatchdogSec`` for this process, or ``None`` when no watchdog is set."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return max(int(usec) / 2e6, 0.01)
    except ValueError:
        log.warning("ignoring WATCHDOG_USEC=%r: not an integer", usec)
        return None


async def feed_watchdog(interval_s: float) -> None:
    """Ping systemd's watchdog every ``interval_s`` for as long as the event loop runs freely."""
    while True:
        notify("WATCHDOG=1")
        await asyncio.sleep(interval_s)


async def run_service(main: asyncio.Task[None], ready: asyncio.Event | None, name: str) -> None:
    """Supervise ``main``: READY=1 once ``ready`` is set (or at once), watchdog pings, STOPPING=1."""
    interval = watchdog_interval_s()
    pinger = asyncio.create_task(feed_watchdog(interval), name="watchdog") if interval else None
    waiter = asyncio.create_task(ready.wait() if ready else asyncio.sleep(0), name="ready")
    try:
        done, _ = await asyncio.wait({main, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if waiter in done:
            notify("READY=1", f"STATUS={name} running")
        await main
    finally:
        notify("STOPPING=1")
        for task in (pinger, waiter):
            if task is not None:
                task.cancel()


def honour_swallowed_cancel(cause: BaseException | None = None) -> None:
    """Raise ``CancelledError`` if this task was asked to stop but the request got swallowed on
    the way (Python 3.11's ``wait_for``, or a library turning it into an error or a normal end).
    Loops that must end on a stop call it at the top of every round."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError from cause


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any]], *, retry_s: float = 0.25, tries: int = 40) -> bool:
    """Cancel ``tasks`` and wait until they end, asking again every ``retry_s`` seconds: a library
    (bleak/bumble, aiomqtt) may swallow one request, and a task that goes on waiting after that
    would otherwise hold up the whole shutdown. ``False`` if some still run after ``tries``
    requests (they are left; the caller says so). Their results and errors are consumed."""
    tasks = list(tasks)
    pending = {t for t in tasks if not t.done()}
    for _ in range(tries):
        if not pending:
            break
        for t in pending:
            t.cancel()
        _done, pending = await asyncio.wait(pending, timeout=retry_s)
    for t in tasks:
        if t.done() and not t.cancelled():
            t.exception()  # retrieved: the caller has judged it, or it was cancelled on the way
    return not pending


def credential(name: str) -> Path | None:
    """The file of systemd credential ``name`` (``LoadCredential=``), if the service has it."""
    directory = os.environ.get("CREDENTIALS_DIRECTORY")
    if not directory:
        return None
    path = Path(directory) / name
    return path if path.is_file() else None
