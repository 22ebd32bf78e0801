"""Versioned wire payloads (JSON, validated by pydantic).

Every payload carries ``schema_version`` and ``type``. Residents appear only as pseudonymous ids.
See the README's "MQTT contract" for example payloads.
"""

from __future__ import annotations

import math
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from vitalgate.errors import MalformedPayload
from vitalgate.readings import Reading
from vitalgate.vocabulary import PANELS, Kind

SCHEMA_VERSION: Literal[1] = 1

#: A topic segment: no MQTT wildcards or separators, no surprises in a file name or a tag.
Segment = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
#: A reading or alert id.
Identifier = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{8,64}$")]


class _Wire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_max_length=4096)


class WireCode(_Wire):
    mdc: int = Field(ge=0, le=0xFFFFFFFF)
    loinc: str | None = Field(default=None, pattern=r"^[0-9]{1,7}-[0-9]$")


class WireComponent(_Wire):
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
    value: float
    unit: Annotated[str, Field(min_length=1, max_length=32)]
    code: WireCode

    @field_validator("value")
    @classmethod
    def _finite(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError("must be a finite number")
        return v


class DeviceInfo(_Wire):
    address: str | None = Field(default=None, max_length=64)
    model: str | None = Field(default=None, max_length=128)
    manufacturer: str | None = Field(default=None, max_length=128)
    serial: str | None = Field(default=None, max_length=128)
    firmware: str | None = Field(default=None, max_length=64)


class Observation(_Wire):
    """One reading of one resident, as relayed to the cloud."""

    schema_version: Literal[1] = SCHEMA_VERSION
    type: Literal["observation"] = "observation"
    reading_id: Identifier
    site: Segment
    gateway: Segment
    resident: Segment
    kind: Kind
    code: WireCode
    components: Annotated[list[WireComponent], Field(min_length=1, max_length=16)]
    measured_at: AwareDatetime
    received_at: AwareDatetime
    device: DeviceInfo
    context: str | None = Field(default=None, max_length=32)
    flags: Annotated[list[str], Field(max_length=32)] = []

    def value(self, name: str) -> float | None:
        for c in self.components:
            if c.name == name:
                return c.value
        return None

    @classmethod
    def from_reading(cls, reading: Reading, *, site: str, gateway: str, resident: str) -> Observation:
        panel = PANELS[reading.kind]
        d = reading.device
        return cls(
            reading_id=reading.reading_id,
            site=site,
            gateway=gateway,
            resident=resident,
            kind=reading.kind,
            code=WireCode(mdc=panel.mdc, loinc=panel.loinc),
            components=[
                WireComponent(
                    name=c.name,
                    value=c.value,
                    unit=c.unit,
                    code=WireCode(mdc=c.code.mdc, loinc=c.code.loinc),
                )
                for c in reading.components
            ],
            measured_at=reading.measured_at,
            received_at=reading.received_at,
            device=DeviceInfo(
                address=d.address,
                model=d.model,
                manufacturer=d.manufacturer,
                serial=d.serial,
                firmware=d.firmware,
            ),
            context=reading.context,
            flags=sorted(reading.flags),
        )


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    URGENT = "urgent"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)


class AlertState(StrEnum):
    OPEN = "open"
    ESCALATED = "escalated"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class EcgStrip(_Wire):
    """The ECG behind a screening alert: samples in microvolts at ``fs_hz``."""

    fs_hz: float = Field(gt=0, le=2000)
    start: AwareDatetime
    samples_uv: Annotated[list[int], Field(max_length=60_000)]


class Alert(_Wire):
    """An alert about one resident. Re-published (same ``alert_id``) whenever its state changes."""

    schema_version: Literal[1] = SCHEMA_VERSION
    type: Literal["alert"] = "alert"
    alert_id: Identifier
    site: Segment
    gateway: Segment
    resident: Segment
    rule: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
    kind: Kind | None = None
    severity: Severity
    state: AlertState = AlertState.OPEN
    reason: Annotated[str, Field(min_length=1, max_length=1024)]
    raised_at: AwareDatetime
    triggered_at: AwareDatetime
    reading_ids: Annotated[list[Identifier], Field(max_length=256)] = []
    escalation_level: int = Field(default=0, ge=0, le=16)
    acknowledged_by: str | None = Field(default=None, max_length=128)
    acknowledged_at: AwareDatetime | None = None
    ecg_strip: EcgStrip | None = None


class Ack(_Wire):
    """An acknowledgement, published by a clinician's client on ``.../alert/{resident}/ack``."""

    schema_version: Literal[1] = SCHEMA_VERSION
    type: Literal["ack"] = "ack"
    alert_id: Identifier
    by: Annotated[str, Field(min_length=1, max_length=128)]
    role: str | None = Field(default=None, max_length=32)
    at: AwareDatetime
    note: str | None = Field(default=None, max_length=1024)


class Status(_Wire):
    """The gateway's retained status (also its last will, with ``online = false``)."""

    schema_version: Literal[1] = SCHEMA_VERSION
    type: Literal["status"] = "status"
    site: Segment
    gateway: Segment
    online: bool
    version: str = Field(max_length=64)
    since: datetime | None = None
    outbox_pending: int | None = None


MAX_PAYLOAD_BYTES = 256 * 1024

Payload = Observation | Alert | Ack | Status
_BY_TYPE: dict[str, type[_Wire]] = {
    "observation": Observation,
    "alert": Alert,
    "ack": Ack,
    "status": Status,
}


def parse_payload(data: bytes | str, *, source: str | None = None) -> Payload:
    """Parse and validate one JSON payload of any type.

    Raises :class:`MalformedPayload` naming what was wrong (size, JSON, type, schema version,
    field), never a pydantic or json error.
    """
    raw = data.encode() if isinstance(data, str) else data
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise MalformedPayload(
            f"payload of {len(raw)} bytes exceeds the {MAX_PAYLOAD_BYTES}-byte limit",
            source=source,
        )
    import json

    try:
        obj: Any = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise MalformedPayload(f"not JSON: {err}", source=source) from err
    if not isinstance(obj, dict):
        raise MalformedPayload(f"expected a JSON object, got {type(obj).__name__}", source=source)
    version = obj.get("schema_version")
    if version != SCHEMA_VERSION:
        raise MalformedPayload(
            f"unsupported schema_version {version!r}; this build reads {SCHEMA_VERSION}",
            source=source,
        )
    kind = obj.get("type")
    model = _BY_TYPE.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise MalformedPayload(
            f"unknown type {kind!r}; expected one of {', '.join(_BY_TYPE)}", source=source
        )
    try:
        return model.model_validate(obj)  # type: ignore[return-value]
    except ValidationError as err:
        first = err.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "(root)"
        raise MalformedPayload(
            f"{kind} field {loc}: {first['msg']} ({err.error_count()} problem(s))", source=source
        ) from err


def dump_payload(p: Payload) -> bytes:
    return p.model_dump_json(exclude_none=False).encode()
