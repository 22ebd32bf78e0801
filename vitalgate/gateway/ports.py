"""The seams between the gateway's parts: attribution, screening, device sources.

Small protocols so each part is built and tested on its own and wired in :mod:`daemon`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from vitalgate.cloud_bridge.wire import Ack, Alert, Observation
from vitalgate.readings import DeviceOutput, Reading


@dataclass(frozen=True, slots=True)
class Attributed:
    """The reading belongs to ``resident`` (a pseudonym, as on the wire)."""

    resident: str


@dataclass(frozen=True, slots=True)
class Held:
    """The reading cannot be attributed with confidence; it is held for a person to assign."""

    reason: str


class Attributor(Protocol):
    """Decides whose reading this is. Never guesses: when unsure it returns :class:`Held`."""

    def attribute(self, reading: Reading) -> Attributed | Held: ...


class Screener(Protocol):
    """Turns observations (and the passing of time, and acks) into alert updates."""

    def observe(self, obs: Observation) -> list[Alert]: ...

    def tick(self, now: datetime) -> list[Alert]: ...

    def acknowledge(self, ack: Ack) -> list[Alert]: ...


Emit = Callable[[DeviceOutput], Awaitable[None]]


class DeviceSource(Protocol):
    """Something that produces device output: the BLE connection manager, or a replay."""

    async def run(self, emit: Emit) -> None: ...
