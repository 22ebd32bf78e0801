"""Firmware profiles: how to recognise a real device family and what its quirks are.

One TOML file per family in ``vitalgate/firmware_profiles/``, validated by :class:`Profile` at
load time; a mistake is a :class:`~vitalgate.errors.ProfileError` naming the file, the key and
the fix. The source of every quirk is a comment in the file. Matching order: profiles that name
the device (local-name pattern or manufacturer id) before the generic SIG-service profiles.
"""

from __future__ import annotations

import fnmatch
import tomllib
from collections.abc import Iterable, Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from vitalgate.errors import ProfileError

Driver = Literal["blood_pressure", "glucose", "pulse_oximeter", "heart_rate", "polar_pmd_ecg", "none"]
DeviceKind = Literal["blood_pressure", "glucose", "pulse_oximeter", "heart_rate", "ecg"]


class Match(BaseModel):
    """How the device advertises."""

    model_config = ConfigDict(extra="forbid")

    services: list[str] = Field(default_factory=list, description="16-bit service UUIDs, e.g. '1810'")
    name_patterns: list[str] = Field(default_factory=list, description="fnmatch patterns of the local name")
    manufacturer_ids: list[int] = Field(default_factory=list, description="Bluetooth company identifiers")

    @field_validator("services")
    @classmethod
    def _uuid16(cls, v: list[str]) -> list[str]:
        out = []
        for s in v:
            s = s.lower().removeprefix("0x")
            if len(s) != 4 or any(c not in "0123456789abcdef" for c in s):
                raise ValueError(f"{s!r} is not a 16-bit UUID; write it like '1810'")
            out.append(s)
        return out

    @property
    def specific(self) -> bool:
        return bool(self.name_patterns or self.manufacturer_ids)


class Quirks(BaseModel):
    """What the family does differently (each stated with its source in the TOML)."""

    model_config = ConfigDict(extra="forbid")

    needs_bonding: bool = False
    disconnects_after_measurement: bool = False
    user_slots: int = Field(0, ge=0, le=8, description="BP user ids in measurements (0: none)")
    timestamp: Literal["device", "none", "unreliable"] = "device"
    set_time_via_cts: bool = False
    spot_check_only: bool = False
    firmware: str | None = Field(None, description="firmware versions the quirks were seen on")


class Sample(BaseModel):
    """A sample advertisement (tests check the profile matches it)."""

    model_config = ConfigDict(extra="forbid")

    local_name: str = ""
    services: list[str] = Field(default_factory=list)
    manufacturer_ids: list[int] = Field(default_factory=list)


class Profile(BaseModel):
    """One device family."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,63}$")
    manufacturer: str
    models: list[str] = Field(min_length=1)
    kind: DeviceKind
    driver: Driver
    supported: bool = True
    unsupported_reason: str | None = None
    match: Match
    quirks: Quirks = Quirks()
    samples: list[Sample] = Field(default_factory=list)
    source_file: str = ""

    def matches(self, name: str, services: Iterable[str], manufacturer_ids: Iterable[int]) -> bool:
        have = {s.lower()[4:8] if len(s) == 36 else s.lower().removeprefix("0x") for s in services}
        by_name = any(fnmatch.fnmatchcase(name, p) for p in self.match.name_patterns)
        by_maker = bool(set(manufacturer_ids) & set(self.match.manufacturer_ids))
        by_service = bool(self.match.services) and set(self.match.services) <= have
        if self.match.specific:
            return by_name or (by_maker and (by_service or not self.match.services))
        return by_service


def _load_file(path: Path, text: str) -> Profile:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ProfileError(f"{path}: not valid TOML ({err}); fix the syntax") from err
    try:
        profile = Profile(**data, source_file=path.name)
    except ValidationError as err:
        e = err.errors()[0]
        key = ".".join(str(p) for p in e["loc"]) or "(top)"
        raise ProfileError(f"{path}: key {key!r}: {e['msg']}; see docs/devices.md for the profile format") from err
    if profile.supported and profile.driver == "none":
        raise ProfileError(f"{path}: key 'driver': a supported profile needs a driver; set one or supported = false")
    if not profile.supported and not profile.unsupported_reason:
        raise ProfileError(f"{path}: key 'unsupported_reason': say why the family is not supported")
    if path.stem != profile.id:
        raise ProfileError(f"{path}: key 'id': {profile.id!r} must equal the file name ({path.stem!r})")
    return profile


def load_profiles(directory: Path | None = None) -> list[Profile]:
    """Every profile in ``directory`` (default: the packaged ``firmware_profiles``), specific first."""
    if directory is None:
        return list(_packaged())
    profiles = [_load_file(p, p.read_text(encoding="utf-8")) for p in sorted(directory.glob("*.toml"))]
    return _ordered(profiles)


def _ordered(profiles: Sequence[Profile]) -> list[Profile]:
    ids = [p.id for p in profiles]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        raise ProfileError(f"duplicate profile id(s) {sorted(dup)}; each file needs its own id")
    return sorted(profiles, key=lambda p: (not p.match.specific, p.id))


@cache
def _packaged() -> tuple[Profile, ...]:
    root = resources.files("vitalgate") / "firmware_profiles"
    out = [
        _load_file(Path("vitalgate/firmware_profiles") / entry.name, entry.read_text(encoding="utf-8"))
        for entry in sorted(root.iterdir(), key=lambda e: e.name)
        if entry.name.endswith(".toml")
    ]
    return tuple(_ordered(out))


def find(name: str, services: Iterable[str], manufacturer_ids: Iterable[int] = (),
         profiles: Sequence[Profile] | None = None) -> Profile | None:
    """The first profile (specific before generic) that matches an advertisement."""
    services = list(services)
    manufacturer_ids = list(manufacturer_ids)
    for p in profiles if profiles is not None else _packaged():
        if p.matches(name, services, manufacturer_ids):
            return p
    return None
