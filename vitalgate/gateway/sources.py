"""Device sources that are not Bluetooth: a JSON-lines replay file and synthetic devices.

Both implement :class:`vitalgate.gateway.ports.DeviceSource`. The replay file has one reading per
line::

    {"kind": "blood_pressure", "values": {"systolic": 128, "diastolic": 82},
     "measured_at": "2026-03-01T08:00:00.123+08:00",
     "device": {"address": "AA:00:00:00:00:01", "model": "BP-X1", "serial": "SN1"},
     "user_slot": 1, "sequence": 17, "context": null, "flags": []}
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vitalgate.errors import MalformedPayload
from vitalgate.gateway.ports import Emit
from vitalgate.readings import DeviceIdentity, Reading
from vitalgate.vocabulary import Kind

log = logging.getLogger(__name__)


def reading_from_dict(d: dict[str, Any]) -> Reading:
    """A :class:`Reading` from one replay record; ``MalformedPayload`` names what is wrong."""
    try:
        dev = DeviceIdentity(**d["device"])
        return Reading.of(
            Kind(d["kind"]),
            {str(k): float(v) for k, v in d["values"].items()},
            datetime.fromisoformat(d["measured_at"]),
            dev,
            user_slot=d.get("user_slot"),
            sequence=d.get("sequence"),
            context=d.get("context"),
            flags=frozenset(d.get("flags", ())),
            stored=bool(d.get("stored", False)),
            **({"received_at": datetime.fromisoformat(d["received_at"])} if d.get("received_at") else {}),
        )
    except (KeyError, TypeError, ValueError) as err:
        raise MalformedPayload(f"bad replay record {d!r}: {err!r}", source="replay") from err


def reading_to_dict(r: Reading) -> dict[str, Any]:
    """The replay record of a reading (inverse of :func:`reading_from_dict`)."""
    d = r.device
    return {
        "kind": r.kind.value,
        "values": {c.name: c.value for c in r.components},
        "measured_at": r.measured_at.isoformat(),
        "device": {
            "address": d.address, "model": d.model, "manufacturer": d.manufacturer,
            "serial": d.serial, "firmware": d.firmware,
        },
        "user_slot": r.user_slot,
        "sequence": r.sequence,
        "context": r.context,
        "flags": sorted(r.flags),
    }


@dataclass
class FileSource:
    """Replays readings from a JSON-lines file, ``interval_s`` apart; bad lines are logged."""

    path: Path
    interval_s: float = 0.0

    async def run(self, emit: Emit) -> None:
        with self.path.open(encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    reading = reading_from_dict(json.loads(line))
                except (json.JSONDecodeError, MalformedPayload) as err:
                    log.error("%s line %d skipped: %s", self.path, n, err)
                    continue
                await emit(reading)
                await asyncio.sleep(self.interval_s)


@dataclass(frozen=True)
class SyntheticDevice:
    """One emulated device: its identity, what it measures, and a value generator."""

    device: DeviceIdentity
    kind: Kind
    values: Callable[[random.Random], dict[str, float]]
    user_slot: int | None = None
    context: str | None = None


class SyntheticSource:
    """Synthetic readings from several devices, one round every ``interval_s`` (demo, tests).

    Stands in for emulated BLE devices until they are wired in; it goes through the same
    attribution, outbox and MQTT path as a real device.
    """

    def __init__(
        self, devices: list[SyntheticDevice], *, interval_s: float = 1.0, rounds: int | None = None,
        seed: int = 7,
    ) -> None:
        self.devices = devices
        self.interval_s = interval_s
        self.rounds = rounds
        self.rng = random.Random(seed)

    async def run(self, emit: Emit) -> None:
        n = 0
        while self.rounds is None or n < self.rounds:
            now = datetime.now(UTC)
            for d in self.devices:
                vals = {k: round(v, 1) for k, v in d.values(self.rng).items()}
                await emit(
                    Reading.of(d.kind, vals, now, d.device, user_slot=d.user_slot, context=d.context)
                )
            n += 1
            await asyncio.sleep(self.interval_s)
