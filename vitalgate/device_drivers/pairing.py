"""The allow-list of paired devices: ``ble.allow`` from the configuration plus a small JSON file.

``vitalgate devices pair ADDRESS`` adds to the file (atomically: write, fsync, rename); the
connection manager connects to nothing else. An entry remembers the firmware profile that
matched when it was paired, so an operator can see what was paired.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vitalgate.config import BleSettings
from vitalgate.errors import ConfigError

_ADDRESS = re.compile(r"^[0-9A-F]{2}(:[0-9A-F]{2}){5}$")


def normalise_address(address: str) -> str:
    """``aa:bb:cc:dd:ee:ff`` -> ``AA:BB:CC:DD:EE:FF``; raises ``ValueError`` when malformed."""
    a = address.strip().upper().replace("-", ":")
    if not _ADDRESS.match(a):
        raise ConfigError(f"{address!r} is not a Bluetooth address; write it as AA:BB:CC:DD:EE:FF")
    return a


class PairedDevices:
    """The paired-devices file (``ble.paired_file``)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, dict[str, Any]]:
        """``{address: {"profile": ..., "name": ..., "paired_at": ...}}``; empty if no file."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ConfigError(
                f"{self.path}: not a paired-devices file ({err}); fix or remove it and pair again"
            ) from err
        if not isinstance(data, dict):
            raise ConfigError(f"{self.path}: expected a JSON object of address -> entry")
        return {normalise_address(k): dict(v) for k, v in data.items()}

    def add(self, address: str, *, profile: str | None, name: str | None) -> None:
        entries = self.load()
        entries[normalise_address(address)] = {
            "profile": profile, "name": name, "paired_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        self._write(entries)

    def remove(self, address: str) -> bool:
        entries = self.load()
        found = entries.pop(normalise_address(address), None) is not None
        if found:
            self._write(entries)
        return found

    def _write(self, entries: dict[str, dict[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        with tmp.open("w", encoding="utf-8") as f:
            json.dump(entries, f, indent=2, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)


def allow_list(ble: BleSettings) -> set[str]:
    """Every address the gateway may connect to: ``ble.allow`` plus the paired-devices file."""
    return {normalise_address(a) for a in ble.allow} | set(PairedDevices(ble.paired_file).load())
