"""Settings: one TOML file plus ``VITALGATE_`` environment overrides.

Read once, at the edge (the CLI), and passed inward. Nested keys are overridden with a double
underscore: ``VITALGATE_MQTT__URL=mqtts://broker:8883``. Secrets are :class:`SecretStr` and may
also be read from files (``password_file``) so they never appear on a command line.
The example file ``vitalgate.example.toml`` documents every key.
"""

from __future__ import annotations

import os
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from vitalgate.errors import ConfigError

SEGMENT = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SiteSettings(_Section):
    id: str = Field(default="home", pattern=SEGMENT, description="site id (topic segment)")
    gateway: str = Field(default="gw1", pattern=SEGMENT, description="gateway id within the site")
    timezone: str = Field(default="Asia/Shanghai", description="IANA zone for daily rules")


class TlsSettings(_Section):
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    insecure_skip_verify: bool = False


def _secret(value: SecretStr | None, file: Path | None, credential_name: str) -> str | None:
    """A secret from config, a file, or a systemd credential (``LoadCredential=NAME:...``).

    Secrets belong in files or credentials, not on the command line or in the TOML itself.
    """
    if value is not None:
        return value.get_secret_value()
    if file is None:
        from vitalgate.service import credential

        file = credential(credential_name)
    if file is None:
        return None
    try:
        return file.read_text().strip()
    except OSError as err:
        raise ConfigError(
            f"cannot read secret file {file} ({err.strerror}); check its path and permissions",
            [(credential_name, f"{file}: {err.strerror}")],
        ) from err


class MqttSettings(_Section):
    url: str = Field(
        default="mqtt://127.0.0.1:1883",
        pattern=r"^mqtts?://[^/:]+(:[0-9]{1,5})?/?$",
        description="broker URL; mqtts:// uses TLS",
    )
    username: str | None = None
    password: SecretStr | None = None
    password_file: Path | None = None
    client_id: str | None = None
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    protocol: Literal["auto", "5", "3.1.1"] = "auto"
    reconnect_min_s: float = Field(default=0.5, gt=0)
    reconnect_max_s: float = Field(default=60.0, gt=0)
    connect_timeout_s: float = Field(default=10.0, gt=0)
    tls: TlsSettings = TlsSettings()

    @model_validator(mode="after")
    def _check(self) -> MqttSettings:
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be >= reconnect_min_s")
        return self

    def secret(self) -> str | None:
        """The broker password: ``password``, ``password_file``, or credential ``mqtt-password``."""
        return _secret(self.password, self.password_file, "mqtt-password")


class OutboxSettings(_Section):
    path: Path = Path("var/outbox.sqlite")
    max_bytes: int = Field(default=256 * 1024 * 1024, ge=1024 * 1024)
    synchronous: Literal["FULL", "NORMAL"] = "FULL"
    batch: int = Field(default=200, ge=1, le=10_000)


class StoreSettings(_Section):
    kind: Literal["sqlite", "influx"] = "sqlite"
    url: str | None = Field(default=None, description="InfluxDB 2 / VictoriaMetrics base URL")
    org: str = "vitalgate"
    bucket: str = "vitalgate"
    token: SecretStr | None = None
    token_file: Path | None = Field(default=None, description="file holding the store token")
    sqlite_path: Path = Path("var/store.sqlite")
    batch_size: int = Field(default=5000, ge=1, le=100_000)
    flush_interval_s: float = Field(default=0.5, gt=0)

    @model_validator(mode="after")
    def _check(self) -> StoreSettings:
        if self.kind == "influx" and not self.url:
            raise ValueError("store.kind = 'influx' needs store.url (e.g. http://127.0.0.1:8428)")
        return self

    def secret(self) -> str | None:
        """The store token: ``token``, ``token_file``, credential ``store-token``, or the
        environment variable ``VITALGATE_STORE_TOKEN``."""
        found = _secret(self.token, self.token_file, "store-token")
        return found if found is not None else os.environ.get("VITALGATE_STORE_TOKEN")


class IngestSettings(_Section):
    group: str = Field(default="ingest", pattern=SEGMENT)
    shared: bool = Field(
        default=True, description="use $share/{group}/... on MQTT 5 brokers (several workers)"
    )
    client_id: str | None = None


class BleSettings(_Section):
    backend: Literal["bleak", "bumble"] = "bleak"
    adapter: str | None = None
    scan_timeout_s: float = Field(default=10.0, gt=0)
    connect_timeout_s: float = Field(default=20.0, gt=0)
    allow: list[str] = Field(default_factory=list, description="paired device addresses")
    bumble_link: str = Field(
        default="default", pattern=SEGMENT,
        description="with backend = 'bumble': name of the in-process link the emulated devices share",
    )
    paired_file: Path = Field(
        default=Path("var/paired-devices.json"),
        description="devices added by `vitalgate devices pair` (joined to `allow`)",
    )


class ClockSettings(_Section):
    require_sync: bool = Field(
        default=False,
        description="wait for NTP before trusting the wall clock (set on a Pi without an RTC)",
    )
    not_before: AwareDatetime = Field(
        default=datetime(2026, 1, 1, tzinfo=UTC),
        description="a wall clock before this is wrong (a Pi booting without RTC starts at 1970)",
    )
    sync_file: Path = Path("/run/systemd/timesync/synchronized")


class Settings(BaseSettings):
    """The whole configuration of a gateway or an ingest worker."""

    model_config = SettingsConfigDict(
        env_prefix="VITALGATE_", env_nested_delimiter="__", extra="forbid"
    )

    site: SiteSettings = SiteSettings()
    mqtt: MqttSettings = MqttSettings()
    outbox: OutboxSettings = OutboxSettings()
    store: StoreSettings = StoreSettings()
    ingest: IngestSettings = IngestSettings()
    ble: BleSettings = BleSettings()
    clock: ClockSettings = ClockSettings()
    # Sections owned by other parts (rules, residents, kits, ECG screening) are plain tables
    # validated by their owners' models, so this file does not import them.
    rules: dict[str, Any] = Field(default_factory=dict)
    ecg: dict[str, Any] = Field(default_factory=dict)
    residents: dict[str, Any] = Field(default_factory=dict)
    kit: dict[str, Any] = Field(default_factory=dict)
    privacy: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment wins over the file, which is passed as init kwargs.
        return (env_settings, init_settings)


_FIXES = {
    "extra_forbidden": "remove it or check its spelling against vitalgate.example.toml",
    "string_pattern_mismatch": "use letters, digits, '_', '.' or '-' (max 64), or a valid URL",
    "literal_error": "use one of the allowed values",
    "missing": "add it",
}


def _problems(err: ValidationError) -> list[tuple[str, str]]:
    out = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(root)"
        fix = _FIXES.get(e["type"], "see vitalgate.example.toml")
        value = e.get("input")
        shown = "" if isinstance(value, dict) else f" (got {value!r})"
        out.append((key, f"{e['msg']}{shown}; fix: {fix}"))
    return out


M = TypeVar("M", bound=BaseModel)


def load_model(path: Path, model: type[M], what: str) -> M:
    """A TOML file validated by ``model``; :class:`ConfigError` lists each problem with its key."""
    try:
        return model(**tomllib.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such {what}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: not valid TOML ({err})") from None
    except ValidationError as err:
        problems = [(".".join(str(p) for p in e["loc"]) or "(top)", e["msg"]) for e in err.errors()]
        lines = "\n".join(f"  {k}: {m}" for k, m in problems)
        raise ConfigError(f"{path}: {len(problems)} problem(s):\n{lines}", problems) from err


def load_settings(path: Path | str | None = None) -> Settings:
    """Load and validate settings from ``path`` (TOML) and the environment.

    Raises :class:`ConfigError` listing every problem with its key and a fix.
    """
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError as err:
            raise ConfigError(f"{p}: no such file; pass an existing config (see vitalgate.example.toml)") from err
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"{p}: not valid TOML: {err}", [("(file)", str(err))]) from err
        except UnicodeDecodeError as err:
            raise ConfigError(f"{p}: not UTF-8 text", [("(file)", str(err))]) from err
    try:
        return Settings(**data)
    except ValidationError as err:
        problems = _problems(err)
        where = f"{path}: " if path else ""
        lines = "\n".join(f"  {k}: {m}" for k, m in problems)
        raise ConfigError(f"{where}{len(problems)} problem(s) in the configuration:\n{lines}", problems) from err
