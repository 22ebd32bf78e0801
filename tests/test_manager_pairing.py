"""Allow-list file, ``devices scan`` and ``devices pair`` on the bumble backend."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData

from vitalgate.config import BleSettings, Settings
from vitalgate.device_drivers.ble_commands import pair_device, scan_devices
from vitalgate.device_drivers.pairing import PairedDevices, allow_list, normalise_address
from vitalgate.errors import ConfigError, DeviceError
from vitalgate.simulator.devices import HeartRateStrap, PulseOximeter

pytestmark = pytest.mark.timeout(30)
LINK = "pairing-test"


@dataclass(frozen=True)
class _Profile:
    id: str
    needs_bonding: bool

    def driver(self) -> None:  # not used by scan/pair
        raise AssertionError("scan and pair run no driver")


def recognize(_d: BLEDevice, adv: AdvertisementData) -> _Profile | None:
    if "00001822-0000-1000-8000-00805f9b34fb" in adv.service_uuids:
        return _Profile("nonin-3230", needs_bonding=True)
    return None


def settings(tmp_path: Path) -> Settings:
    ble = BleSettings(
        backend="bumble", bumble_link=LINK, paired_file=tmp_path / "paired.json", scan_timeout_s=3,
        connect_timeout_s=5,
    )
    return Settings(ble=ble)


def test_paired_file_round_trip_and_allow_list(tmp_path: Path) -> None:
    f = PairedDevices(tmp_path / "p.json")
    assert f.load() == {}
    f.add("aa:bb:cc:dd:ee:01", profile="omron-bp7000", name="BLESmart")
    assert f.load()["AA:BB:CC:DD:EE:01"]["profile"] == "omron-bp7000"
    ble = BleSettings(allow=["aa-bb-cc-dd-ee-02"], paired_file=tmp_path / "p.json")
    assert allow_list(ble) == {"AA:BB:CC:DD:EE:01", "AA:BB:CC:DD:EE:02"}
    assert f.remove("AA:BB:CC:DD:EE:01")
    assert not f.remove("AA:BB:CC:DD:EE:01")
    with pytest.raises(ConfigError, match="AA:BB:CC:DD:EE:FF"):
        normalise_address("not-an-address")
    (tmp_path / "p.json").write_text("[1, 2]")
    with pytest.raises(ConfigError, match=r"p\.json"):
        f.load()


async def test_scan_lists_supported_and_unsupported(tmp_path: Path) -> None:
    s = settings(tmp_path)
    async with PulseOximeter("C3:00:00:00:00:01", link=LINK), HeartRateStrap("C3:00:00:00:00:02", link=LINK):
        rows = await scan_devices(s, 0.6, recognize=recognize)
    by_address = {r["address"]: r for r in rows}
    assert by_address["C3:00:00:00:00:01"]["profile"] == "nonin-3230"
    assert by_address["C3:00:00:00:00:01"]["paired"] is False
    assert by_address["C3:00:00:00:00:02"]["supported"] is False


async def test_pair_bonds_and_adds_to_allow_list(tmp_path: Path) -> None:
    s = settings(tmp_path)
    ox = PulseOximeter("C3:00:00:00:00:03", link=LINK)
    async with ox:
        result = await pair_device(s, "c3:00:00:00:00:03", recognize=recognize)
        assert result["bonded"] is True
        await ox.disconnected.wait()
        assert ox.device is not None
        assert ox.device.keystore is not None
        assert await ox.device.keystore.get_all()  # the gateway's keys were stored: bonded
    assert "C3:00:00:00:00:03" in allow_list(s.ble)


async def test_pair_refuses_unsupported_device(tmp_path: Path) -> None:
    s = settings(tmp_path)
    async with HeartRateStrap("C3:00:00:00:00:04", link=LINK):
        with pytest.raises(DeviceError, match="C3:00:00:00:00:04"):
            await pair_device(s, "C3:00:00:00:00:04", recognize=recognize)
    assert allow_list(s.ble) == set()


def test_ble_source_only_when_something_is_paired(tmp_path: Path) -> None:
    from vitalgate.device_drivers.bumble_backend import BumbleClient, BumbleScanner
    from vitalgate.device_drivers.manager import ConnectionManager, ble_source

    s = settings(tmp_path)
    assert ble_source(s.ble) is None
    PairedDevices(s.ble.paired_file).add("C3:00:00:00:00:09", profile="sig-glucose", name="meter")
    source = ble_source(s.ble)
    assert isinstance(source, ConnectionManager)
    assert source.allow == {"C3:00:00:00:00:09"}
    assert source.scanner_backend is not None
    assert issubclass(source.scanner_backend, BumbleScanner)
    assert source.client_backend is not None
    assert issubclass(source.client_backend, BumbleClient)


def test_devices_commands_on_the_emulated_world(tmp_path: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "VITALGATE_BLE__SCAN_TIMEOUT_S": "1"}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "vitalgate.cli", "devices", *args, "--emulate"],
            capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env,
        )

    paired = cli("pair", "d1:00:00:00:00:03")
    assert paired.returncode == 0, paired.stderr
    assert "roche-accu-chek-guide" in paired.stdout  # the emulated meter is an Accu-Chek Guide
    scan = cli("scan", "--json", "--timeout", "0.6")
    assert scan.returncode == 0, scan.stderr
    rows = {r["address"]: r for r in map(json.loads, scan.stdout.splitlines())}
    assert len(rows) == 5
    assert all(r["supported"] for r in rows.values())
    assert rows["D1:00:00:00:00:03"]["paired"] is True
    assert rows["D1:00:00:00:00:01"]["paired"] is False
    assert rows["D1:00:00:00:00:01"]["profile"] == "omron-bp5150"
    assert rows["D1:00:00:00:00:05"]["profile"] == "polar-h10"
    missing = cli("pair", "D1:00:00:00:00:77")
    assert missing.returncode == 1
    assert "D1:00:00:00:00:77" in missing.stderr
    assert "Traceback" not in missing.stderr
