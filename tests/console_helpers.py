"""Shared set-up of the console tests: users of two sites, alerts, a store."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dataflow import BP_CUFF

from vitalgate.cloud_bridge.sinks import SqliteSink
from vitalgate.cloud_bridge.wire import Alert, Observation, Severity
from vitalgate.console.users import ConsoleConfig, User, hash_password
from vitalgate.readings import Reading
from vitalgate.vocabulary import Kind

PASSWORD = "correct horse battery"
HASH = hash_password(PASSWORD)


def console_config(store: Path | None = None) -> ConsoleConfig:
    return ConsoleConfig(users=[
        User(name="nurse-wang", role="health_manager", sites=("hut7",), password_hash=HASH),
        User(name="dr-wu", role="doctor", sites=("hut9",), password_hash=HASH),
    ], store=store)


def alert(site: str, resident: str, severity: Severity = Severity.URGENT, n: int = 0) -> Alert:
    now = datetime.now(UTC)
    return Alert(alert_id=f"{site}{resident}{n}".replace("-", "").ljust(32, "0")[:32], site=site, gateway="gw-a",
                 resident=resident, rule="bp_urgent", kind=Kind.BLOOD_PRESSURE, severity=severity,
                 reason="BP 186/112 mmHg at 08:12: at or over 180/110, urgent referral", raised_at=now, triggered_at=now)


def fill_store(path: Path, site: str, resident: str, days: int = 7) -> None:
    t0 = datetime.now(UTC) - timedelta(days=days)
    obs = [Observation.from_reading(Reading.of(Kind.BLOOD_PRESSURE, {"systolic": 140.0 + 3 * i, "diastolic": 90.0},
                                               t0 + timedelta(days=i), BP_CUFF), site=site, gateway="gw-a", resident=resident)
           for i in range(days)]

    async def go() -> None:
        async with SqliteSink(path) as s:
            await s.write(obs, [])

    asyncio.run(go())
