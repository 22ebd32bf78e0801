"""Console users: roles, sites, argon2-hashed passwords (``console.toml``).

::

    outboxes = ["/var/lib/vitalgate/outbox.sqlite"]   # hut gateways' outboxes (held readings)
    store = "/var/lib/vitalgate/store.sqlite"          # the SQLite store for trends
    victoria_url = "http://127.0.0.1:8428"              # or: trends from VictoriaMetrics

    [[users]]
    name = "dr-li"
    role = "doctor"                  # doctor | health_manager | hut_staff
    sites = ["hut7"]
    password_hash = "$argon2id$..."  # vitalgate console hash-password
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel, ConfigDict, Field

from vitalgate.config import SEGMENT

_HASHER = PasswordHasher()


def hash_password(password: str) -> str:
    """An argon2id hash for ``console.toml``."""
    if len(password) < 10:
        raise ValueError("use a password of at least 10 characters")
    return _HASHER.hash(password)


class User(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(pattern=SEGMENT)
    role: Literal["doctor", "health_manager", "hut_staff"]
    sites: tuple[str, ...] = Field(min_length=1)
    password_hash: str = Field(pattern=r"^\$argon2")


class ConsoleConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    users: list[User] = Field(min_length=1)
    outboxes: list[Path] = Field(default_factory=list)
    store: Path | None = None
    victoria_url: str | None = Field(None, description="VictoriaMetrics base URL: trends from its export API instead of store")
    command_key_file: Path | None = Field(None, description="the site's command key: lets users escalate alerts")

    @classmethod
    def load(cls, path: Path) -> ConsoleConfig:
        from vitalgate.config import load_model

        return load_model(path, cls, "console configuration")

    def authenticate(self, name: str, password: str) -> User | None:
        user = next((u for u in self.users if u.name == name), None)
        if user is None:
            _HASHER.hash("timing-equaliser")  # same work whether or not the user exists
            return None
        try:
            _HASHER.verify(user.password_hash, password)
        except (VerificationError, InvalidHashError):
            return None
        return user
