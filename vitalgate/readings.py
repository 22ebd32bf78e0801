"""What a device driver hands upward: a :class:`Reading`, typed and coded, not yet attributed.

The gateway attributes a reading to a resident and turns it into a wire
:class:`vitalgate.cloud_bridge.wire.Observation`. Drivers import this module, never the wire.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime

from vitalgate.vocabulary import Code, Kind, component_code


@dataclass(frozen=True, slots=True)
class DeviceIdentity:
    """Who measured: the BLE address plus what Device Information (0x180A) told us."""

    address: str
    model: str | None = None
    manufacturer: str | None = None
    serial: str | None = None
    firmware: str | None = None
    profile: str | None = None  # firmware-profile id that matched, if any

    @property
    def stable_key(self) -> str:
        """The identity used in reading ids: serial number when known, else the address."""
        return f"{self.manufacturer or ''}|{self.model or ''}|{self.serial or self.address}"


@dataclass(frozen=True, slots=True)
class Component:
    """One value of a reading, with its unit (UCUM) and code."""

    name: str
    value: float
    code: Code

    def __post_init__(self) -> None:
        if not math.isfinite(self.value):
            raise ValueError(
                f"component {self.name!r} has non-finite value {self.value!r}; "
                "report IEEE 11073 special values as flags, not as values"
            )

    @property
    def unit(self) -> str:
        return self.code.ucum


#: Flag of a reading whose ``measured_at`` is the gateway's receive time (the device sent no
#: time stamp): corrected with the gateway clock (:mod:`vitalgate.gateway.clock`).
GATEWAY_TIME = "gateway_time"
#: Flag of a reading whose gateway-made time stamps were corrected after the clock was set.
CLOCK_CORRECTED = "clock_corrected"


@dataclass(frozen=True, slots=True)
class Reading:
    """A measurement from one device, before attribution to a resident.

    ``measured_at`` is the device's time stamp when it sent one (converted to UTC), else the
    gateway's receive time; ``flags`` carries quality and status bits (``"irregular_pulse"``,
    ``"body_movement"``, ``"clock_unset"``...). ``sequence`` is the device's record number where the
    profile has one (Glucose, CGM), ``user_slot`` the BP monitor's user id.
    """

    kind: Kind
    components: tuple[Component, ...]
    measured_at: datetime
    device: DeviceIdentity
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    flags: frozenset[str] = frozenset()
    context: str | None = None
    sequence: int | None = None
    user_slot: int | None = None
    stored: bool = False  # came from the device's memory (RACP), not a live measurement

    def __post_init__(self) -> None:
        if self.measured_at.tzinfo is None:
            raise ValueError(
                f"measured_at {self.measured_at.isoformat()} has no time zone; "
                "convert device local time to an aware datetime first"
            )
        if not self.components:
            raise ValueError(f"a {self.kind.value} reading needs at least one component")

    @classmethod
    def of(
        cls,
        kind: Kind,
        values: dict[str, float],
        measured_at: datetime,
        device: DeviceIdentity,
        **kwargs: object,
    ) -> Reading:
        """Build a reading from ``{component name: value}`` in the kind's canonical units."""
        comps = tuple(Component(n, float(v), component_code(kind, n)) for n, v in values.items())
        return cls(kind=kind, components=comps, measured_at=measured_at, device=device, **kwargs)  # type: ignore[arg-type]

    def value(self, name: str) -> float | None:
        for c in self.components:
            if c.name == name:
                return c.value
        return None

    @property
    def reading_id(self) -> str:
        """A stable id: the same reading from the same device always gets the same id.

        Built from the device identity, kind, measurement time (ms), sequence number and values,
        so a record downloaded twice (RACP) or re-sent after a crash is ingested once.
        """
        return reading_id(self)


def reading_id(r: Reading) -> str:
    parts = [
        r.device.stable_key,
        r.kind.value,
        r.measured_at.astimezone(UTC).isoformat(timespec="milliseconds"),
        "" if r.sequence is None else str(r.sequence),
        "" if r.user_slot is None else str(r.user_slot),
        ";".join(f"{c.name}={c.value!r}" for c in r.components),
    ]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class EcgSamples:
    """A chunk of raw ECG from a patch or strap (e.g. Polar PMD), in microvolts."""

    device: DeviceIdentity
    fs_hz: float
    samples_uv: tuple[int, ...]
    first_sample_at: datetime


@dataclass(frozen=True, slots=True)
class BeatIntervals:
    """RR intervals (seconds) from a Heart Rate Measurement (0x2A37), oldest first; none: no
    beat detected since the strap's previous notification. ``skin_contact``: the strap's sensor
    contact status (``None``: not reported). ``new_link``: the first notification of a connection
    (what came before it is unknown)."""

    device: DeviceIdentity
    rr_s: tuple[float, ...]
    received_at: datetime
    skin_contact: bool | None = None
    new_link: bool = False


#: Everything a driver may emit upward.
DeviceOutput = Reading | EcgSamples | BeatIntervals
