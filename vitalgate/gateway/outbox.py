"""The durable outbox: SQLite in WAL mode, store-and-forward to the MQTT publisher.

A message is committed (``synchronous = FULL`` by default, so it is on disk) before
:meth:`Outbox.put` returns, and deleted only after the broker's PUBACK
(:meth:`Outbox.delete`). A crash or ``kill -9`` between the PUBACK and the delete re-sends the
message once more; the store is idempotent on ``reading_id``, so nothing is lost or doubled.

Bound and policy
----------------
The payload bytes waiting in the outbox are bounded by ``max_bytes``. When a *reading* would
exceed the bound it is refused with :class:`~vitalgate.errors.OutboxFull` (logged as an error):
the caller keeps it (a device keeps its record in memory; the gateway holds it) rather than the
outbox silently dropping older data. *Alerts* are never refused and never evicted: they may take
the outbox over its bound. Alerts are sent before readings.

Disk full
---------
When the disk itself is full (SQLite ``SQLITE_FULL``), a reading is refused the same way
(:class:`~vitalgate.errors.OutboxFull`, logged as an error) and an alert is kept in memory and
sent first, so alerts still go out; only such an alert would be lost if the power failed before
the broker acknowledged it, and that is logged.

Held readings (no confident resident) live in the ``held`` table of the same database until a
person assigns them; they are never published under a guessed resident.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal, Self

from vitalgate.errors import OutboxFull

log = logging.getLogger(__name__)

Priority = Literal["alert", "reading"]
_RANK: dict[str, int] = {"alert": 0, "reading": 1}
_SQLITE_FULL = 13

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    rank INTEGER NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_order ON outbox (rank, id);
CREATE TABLE IF NOT EXISTS held (
    reading_id TEXT PRIMARY KEY,
    reason TEXT NOT NULL,
    reading TEXT NOT NULL,
    held_at REAL NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class Entry:
    """One message waiting for its PUBACK."""

    id: int
    topic: str
    payload: bytes
    qos: int
    retain: bool
    priority: Priority


class Outbox:
    """A durable, bounded FIFO of MQTT messages (alerts first). An async context manager.

    Parameters
    ----------
    path:
        The SQLite file; its directory is created.
    max_bytes:
        Bound on the payload bytes of waiting messages (readings are refused beyond it).
    synchronous:
        SQLite ``synchronous`` pragma: ``FULL`` (default) survives power loss; ``NORMAL`` in WAL
        mode survives a process crash but may lose the last commits on power loss.
    """

    def __init__(
        self, path: Path | str, *, max_bytes: int = 256 * 1024 * 1024, synchronous: str = "FULL"
    ) -> None:
        if synchronous not in {"FULL", "NORMAL"}:
            raise ValueError(f"synchronous={synchronous!r}; use 'FULL' or 'NORMAL'")
        self.path = Path(path)
        self.max_bytes = max_bytes
        self._synchronous = synchronous
        self._db: sqlite3.Connection | None = None
        self._bytes = 0
        self._count = 0
        self.changed = asyncio.Event()
        self.refused = 0
        self._in_memory: list[Entry] = []  # alerts that found the disk full
        self._next_memory_id = -1

    async def __aenter__(self) -> Self:
        self.open()
        return self

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def poll_external(self) -> bool:
        """Notice messages another process committed (``vitalgate kit assign``); ``True`` if any."""
        n, size = self.db.execute("SELECT COUNT(*), COALESCE(SUM(LENGTH(payload)), 0) FROM outbox").fetchone()
        stored = self._count - len(self._in_memory)
        if int(n) == stored:
            return False
        self._count, self._bytes = int(n) + len(self._in_memory), int(size) + sum(len(e.payload) for e in self._in_memory)
        self.changed.set()
        return True

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def open(self) -> None:
        """Open (creating if needed) the database."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={self._synchronous}")
        db.executescript(_SCHEMA)
        self._db = db
        n, size = db.execute("SELECT COUNT(*), COALESCE(SUM(LENGTH(payload)), 0) FROM outbox").fetchone()
        self._count, self._bytes = int(n), int(size)
        if n:
            log.info("outbox %s: %d message(s) waiting from before (%d bytes)", self.path, n, size)
            self.changed.set()

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("the outbox is not open; use 'async with Outbox(...)'")
        return self._db

    def __len__(self) -> int:
        return self._count

    @property
    def pending_bytes(self) -> int:
        return self._bytes

    def put(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False,
        priority: Priority = "reading",
    ) -> int:
        """Commit one message; returns its id once it is durable.

        Raises
        ------
        OutboxFull
            A reading would take the outbox beyond ``max_bytes`` (alerts are always accepted).
        """
        if priority not in _RANK:
            raise ValueError(f"priority={priority!r}; use 'alert' or 'reading'")
        if priority == "reading" and self._bytes + len(payload) > self.max_bytes:
            self.refused += 1
            log.error(
                "outbox %s full (%d of %d bytes, %d waiting): refused a reading for %s; "
                "check the broker connection or raise outbox.max_bytes",
                self.path, self._bytes, self.max_bytes, self._count, topic,
            )
            raise OutboxFull(
                f"outbox {self.path} holds {self._bytes} bytes, bound {self.max_bytes}: reading "
                f"for {topic} refused; restore the broker connection or raise outbox.max_bytes"
            )
        try:
            cur = self.db.execute(
                "INSERT INTO outbox (rank, topic, payload, qos, retain, created_at) VALUES (?,?,?,?,?,?)",
                (_RANK[priority], topic, payload, qos, int(retain), time.time()),
            )
        except sqlite3.OperationalError as err:
            if getattr(err, "sqlite_errorcode", None) != _SQLITE_FULL:
                raise
            return self._disk_full(topic, payload, qos, retain, priority)
        self._count += 1
        self._bytes += len(payload)
        self.changed.set()
        return int(cur.lastrowid or 0)

    def _disk_full(self, topic: str, payload: bytes, qos: int, retain: bool, priority: Priority) -> int:
        if priority == "reading":
            self.refused += 1
            log.error("outbox %s: the disk is full; refused a reading for %s. Free space on %s",
                      self.path, topic, self.path.parent)
            raise OutboxFull(
                f"the disk holding {self.path} is full: reading for {topic} refused; free space "
                f"on {self.path.parent}"
            )
        entry = Entry(self._next_memory_id, topic, payload, qos, retain, priority)
        self._next_memory_id -= 1
        self._in_memory.append(entry)
        self._count += 1
        self._bytes += len(payload)
        self.changed.set()
        log.error("outbox %s: the disk is full; alert for %s kept in memory and sent first "
                  "(lost only if the power fails before the broker has it). Free space on %s",
                  self.path, topic, self.path.parent)
        return entry.id

    def peek(self, limit: int = 200) -> list[Entry]:
        """The next ``limit`` messages to send, alerts first, then oldest first."""
        rows = self.db.execute(
            "SELECT id, topic, payload, qos, retain, rank FROM outbox ORDER BY rank, id LIMIT ?",
            (limit,),
        ).fetchall()
        stored = [
            Entry(int(i), t, bytes(p), int(q), bool(r), "alert" if k == 0 else "reading")
            for i, t, p, q, r, k in rows
        ]
        return (self._in_memory + stored)[:limit]

    def delete(self, ids: list[int]) -> None:
        """Forget messages the broker acknowledged (PUBACK)."""
        if any(i < 0 for i in ids):
            gone = {i for i in ids if i < 0}
            kept = [e for e in self._in_memory if e.id not in gone]
            self._count -= len(self._in_memory) - len(kept)
            self._bytes -= sum(len(e.payload) for e in self._in_memory if e.id in gone)
            self._in_memory = kept
            ids = [i for i in ids if i >= 0]
        if not ids:
            return
        marks = ",".join("?" * len(ids))
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            n, size = db.execute(
                f"SELECT COUNT(*), COALESCE(SUM(LENGTH(payload)), 0) FROM outbox WHERE id IN ({marks})",
                ids,
            ).fetchone()
            db.execute(f"DELETE FROM outbox WHERE id IN ({marks})", ids)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._count -= int(n)
        self._bytes -= int(size)

    # -- held readings --------------------------------------------------------------------------

    def hold(self, reading_id: str, reason: str, reading_json: str) -> bool:
        """Keep an unattributed reading; ``False`` if it was already held.

        Raises :class:`OutboxFull` when the disk is full.
        """
        try:
            cur = self.db.execute(
                "INSERT OR IGNORE INTO held (reading_id, reason, reading, held_at) VALUES (?,?,?,?)",
                (reading_id, reason, reading_json, time.time()),
            )
        except sqlite3.OperationalError as err:
            if getattr(err, "sqlite_errorcode", None) != _SQLITE_FULL:
                raise
            raise OutboxFull(f"the disk holding {self.path} is full: cannot hold reading {reading_id}") from err
        return cur.rowcount > 0

    def held(self) -> list[tuple[str, str, str]]:
        """``(reading_id, reason, reading JSON)`` of every held reading, oldest first."""
        return [
            (str(a), str(b), str(c))
            for a, b, c in self.db.execute(
                "SELECT reading_id, reason, reading FROM held ORDER BY held_at, rowid"
            )
        ]

    def release(self, reading_id: str) -> None:
        """Remove a held reading (after a person assigned it and it was re-queued)."""
        self.db.execute("DELETE FROM held WHERE reading_id = ?", (reading_id,))
