"""Where the ingest worker writes: a time-series store (InfluxDB 2 / VictoriaMetrics) or SQLite.

Both sinks are idempotent on ``reading_id``: SQLite by its primary key (``INSERT OR IGNORE``);
the time-series store because a re-sent point has the same series and time stamp (InfluxDB
overwrites it, VictoriaMetrics de-duplicates it with ``-dedup.minScrapeInterval``).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

from vitalgate.cloud_bridge.wire import Alert, Observation
from vitalgate.errors import VitalgateError


class SinkError(VitalgateError):
    """A batch could not be written; the messages stay unacknowledged and are retried."""


class Sink(Protocol):
    """A batch writer. ``write`` returns only when the batch is durable in the store."""

    async def write(self, observations: list[Observation], alerts: list[Alert]) -> None: ...

    async def aclose(self) -> None: ...


# -- InfluxDB line protocol ------------------------------------------------------------------


def _esc_key(s: str) -> str:
    return s.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def _ms(dt_ms: float) -> int:
    return round(dt_ms)


def observation_line(o: Observation) -> str:
    """One line of InfluxDB line protocol for an observation (ms precision).

    Measurement = kind; fields = component values; tags = site, gateway, resident, device
    model/manufacturer/serial, context, flags and ``unit_<component>`` (UCUM); time = measured_at.
    """
    tags: dict[str, str] = {"site": o.site, "gateway": o.gateway, "resident": o.resident}
    d = o.device
    optional = (
        ("device_model", d.model), ("device_manufacturer", d.manufacturer),
        ("device_serial", d.serial), ("context", o.context),
        ("flags", "|".join(o.flags) if o.flags else None),
    )
    tags.update({key: value for key, value in optional if value})
    for c in o.components:
        tags[f"unit_{c.name}"] = c.unit
    tag_s = ",".join(f"{_esc_key(k)}={_esc_key(v)}" for k, v in sorted(tags.items()))
    fields = ",".join(f"{c.name}={c.value!r}" for c in o.components)
    ts = _ms(o.measured_at.timestamp() * 1000)
    return f"{_esc_key(o.kind.value)},{tag_s} {fields} {ts}"


def alert_line(a: Alert) -> str:
    """Line protocol for an alert state: measurement ``alert``, time = triggered_at."""
    tags = {
        "site": a.site, "gateway": a.gateway, "resident": a.resident, "rule": a.rule,
        "severity": a.severity.value, "state": a.state.value,
    }
    if a.kind is not None:
        tags["kind"] = a.kind.value
    tag_s = ",".join(f"{_esc_key(k)}={_esc_key(v)}" for k, v in sorted(tags.items()))
    ts = _ms(a.triggered_at.timestamp() * 1000)
    return (
        f"alert,{tag_s} severity_rank={a.severity.rank}i,"
        f"escalation_level={a.escalation_level}i {ts}"
    )


class _ClosesOnExit:
    """``async with sink:`` closes the sink on the way out."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        raise NotImplementedError


class InfluxSink(_ClosesOnExit):
    """Writes with influxdb-client's write API v2 (InfluxDB 2, VictoriaMetrics ``/api/v2/write``).

    Parameters
    ----------
    url, token, org, bucket:
        The store. VictoriaMetrics accepts any token and stores the bucket as label ``db``.
    """

    def __init__(self, url: str, *, token: str | None, org: str, bucket: str) -> None:
        from influxdb_client.client.influxdb_client import InfluxDBClient
        from influxdb_client.client.write_api import SYNCHRONOUS

        self.url, self.org, self.bucket = url, org, bucket
        self._client = InfluxDBClient(url=url, token=token or "", org=org, timeout=30_000)
        self._write = self._client.write_api(write_options=SYNCHRONOUS)

    def write_lines(self, lines: list[str]) -> None:
        """Write line-protocol records synchronously (ms precision)."""
        from influxdb_client.domain.write_precision import WritePrecision

        try:
            self._write.write(
                bucket=self.bucket, org=self.org, record=lines,
                write_precision=WritePrecision.MS,  # type: ignore[arg-type]
            )
        except Exception as err:  # influxdb-client raises ApiException, urllib3 and OS errors
            raise SinkError(f"write of {len(lines)} point line(s) to {self.url} failed: {err}") from err

    async def write(self, observations: list[Observation], alerts: list[Alert]) -> None:
        lines = [observation_line(o) for o in observations] + [alert_line(a) for a in alerts]
        if lines:
            await asyncio.to_thread(self.write_lines, lines)

    async def aclose(self) -> None:
        self._write.close()  # type: ignore[no-untyped-call]
        self._client.close()  # type: ignore[no-untyped-call]


# -- SQLite ------------------------------------------------------------------------------------

_SCHEMA = """
CREATE TABLE IF NOT EXISTS readings (
    reading_id TEXT PRIMARY KEY,
    site TEXT NOT NULL, gateway TEXT NOT NULL, resident TEXT NOT NULL, kind TEXT NOT NULL,
    measured_at TEXT NOT NULL, received_at TEXT NOT NULL,
    payload TEXT NOT NULL, ingested_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS readings_by_resident ON readings (resident, kind, measured_at);
CREATE TABLE IF NOT EXISTS components (
    reading_id TEXT NOT NULL REFERENCES readings (reading_id),
    name TEXT NOT NULL, value REAL NOT NULL, unit TEXT NOT NULL, mdc INTEGER, loinc TEXT,
    PRIMARY KEY (reading_id, name)
);
CREATE TABLE IF NOT EXISTS alerts (
    alert_id TEXT PRIMARY KEY,
    site TEXT NOT NULL, gateway TEXT NOT NULL, resident TEXT NOT NULL, rule TEXT NOT NULL,
    severity TEXT NOT NULL, state TEXT NOT NULL, raised_at TEXT NOT NULL,
    payload TEXT NOT NULL, updated_at REAL NOT NULL
);
"""


class SqliteSink(_ClosesOnExit):
    """The embedded store: one SQLite file (WAL).

    ``readings`` is keyed on ``reading_id`` (a re-sent reading is ignored); ``components`` holds
    one row per value with its UCUM unit and codes; ``alerts`` keeps the latest state of each
    ``alert_id``.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self.duplicates = 0

    def write_sync(self, observations: list[Observation], alerts: list[Alert]) -> None:
        """Write one batch in one transaction."""
        now = time.time()
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            for o in observations:
                cur = db.execute(
                    "INSERT OR IGNORE INTO readings VALUES (?,?,?,?,?,?,?,?,?)",
                    (
                        o.reading_id, o.site, o.gateway, o.resident, o.kind.value,
                        o.measured_at.isoformat(), o.received_at.isoformat(),
                        o.model_dump_json(), now,
                    ),
                )
                if cur.rowcount == 0:
                    self.duplicates += 1
                    continue
                db.executemany(
                    "INSERT INTO components VALUES (?,?,?,?,?,?)",
                    [
                        (o.reading_id, c.name, c.value, c.unit, c.code.mdc, c.code.loinc)
                        for c in o.components
                    ],
                )
            for a in alerts:
                db.execute(
                    "INSERT INTO alerts VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT (alert_id) DO "
                    "UPDATE SET severity = excluded.severity, state = excluded.state, "
                    "payload = excluded.payload, updated_at = excluded.updated_at",
                    (
                        a.alert_id, a.site, a.gateway, a.resident, a.rule, a.severity.value,
                        a.state.value, a.raised_at.isoformat(), a.model_dump_json(), now,
                    ),
                )
            db.execute("COMMIT")
        except sqlite3.Error as err:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise SinkError(f"SQLite store {self.path}: {err}") from err

    async def write(self, observations: list[Observation], alerts: list[Alert]) -> None:
        self.write_sync(observations, alerts)

    def count(self) -> int:
        """Number of stored readings."""
        return int(self._db.execute("SELECT COUNT(*) FROM readings").fetchone()[0])

    def observations(self) -> list[Observation]:
        """Every stored reading, in measurement order."""
        return [
            Observation.model_validate(json.loads(p))
            for (p,) in self._db.execute("SELECT payload FROM readings ORDER BY measured_at")
        ]

    def alerts(self) -> list[Alert]:
        """The latest state of every alert."""
        return [
            Alert.model_validate(json.loads(p))
            for (p,) in self._db.execute("SELECT payload FROM alerts ORDER BY raised_at")
        ]

    def close(self) -> None:
        self._db.close()

    async def aclose(self) -> None:
        self.close()
