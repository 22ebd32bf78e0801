"""``vitalgate devices scan`` and ``vitalgate devices pair ADDRESS``.

Added to the ``devices`` command group by :func:`add_commands`. Both speak bleak through the
backend the configuration selects; with ``ble.backend = "bumble"`` and ``--emulate`` they run
against the demo's emulated devices in the same process (a way to try them without radios).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from vitalgate.config import Settings, load_settings
from vitalgate.errors import VitalgateError

if TYPE_CHECKING:
    from vitalgate.device_drivers.manager import Recognizer


def _settings(config: Path | None, emulate: bool) -> Settings:
    settings = load_settings(config)
    if emulate:
        settings.ble.backend = "bumble"
    return settings


def _default_recognizer() -> Recognizer:
    from vitalgate.device_drivers.recognition import recognizer

    return recognizer()


@contextlib.asynccontextmanager
async def _maybe_world(settings: Settings, emulate: bool) -> AsyncIterator[None]:
    if not emulate:
        yield
        return
    from vitalgate.simulator.demo_world import DemoWorld

    async with DemoWorld(link=settings.ble.bumble_link):
        yield


async def scan_devices(
    settings: Settings, timeout_s: float, *, emulate: bool = False, recognize: Recognizer | None = None
) -> list[dict[str, Any]]:
    """What is advertising around: address, name, RSSI, matching profile, paired or not."""
    from bleak import BleakScanner

    from vitalgate.device_drivers.manager import bleak_backends
    from vitalgate.device_drivers.pairing import allow_list
    recognize = recognize or _default_recognizer()
    allowed = allow_list(settings.ble)
    scanner_backend, _ = bleak_backends(settings.ble)
    async with _maybe_world(settings, emulate), BleakScanner(backend=scanner_backend) as scanner:
        await asyncio.sleep(timeout_s)  # listening is the point of a scan
        seen = scanner.discovered_devices_and_advertisement_data
    rows = []
    for address, (device, adv) in sorted(seen.items()):
        profile = recognize(device, adv)
        rows.append({
            "address": address.upper(),
            "name": adv.local_name,
            "rssi": adv.rssi,
            "profile": profile.id if profile is not None else None,
            "supported": profile is not None,
            "paired": address.upper() in allowed,
        })
    return rows


async def pair_device(
    settings: Settings, address: str, *, emulate: bool = False, recognize: Recognizer | None = None
) -> dict[str, Any]:
    """Find ``address``, check it is a supported model, connect (bonding if needed), remember it."""
    from bleak import BleakClient, BleakScanner
    from bleak.exc import BleakError

    from vitalgate.device_drivers.manager import bleak_backends
    from vitalgate.device_drivers.pairing import PairedDevices, normalise_address
    from vitalgate.errors import DeviceError

    address = normalise_address(address)
    scanner_backend, client_backend = bleak_backends(settings.ble)
    async with _maybe_world(settings, emulate):
        found = None
        async with BleakScanner(backend=scanner_backend) as scanner:
            async with asyncio.timeout(settings.ble.scan_timeout_s):
                async for device, adv in scanner.advertisement_data():
                    if device.address.upper() == address:
                        found = (device, adv)
                        break
        if found is None:  # pragma: no cover - the timeout raises first
            raise DeviceError("not found", address=address)
        device, adv = found
        profile = (recognize or _default_recognizer())(device, adv)
        if profile is None:
            raise DeviceError(
                f"{adv.local_name!r} matches no firmware profile; it cannot be paired "
                "(see `vitalgate devices list` for supported models)",
                address=address,
            )
        try:
            async with BleakClient(
                device, timeout=settings.ble.connect_timeout_s, pair=profile.needs_bonding,
                backend=client_backend,
            ):
                pass
        except BleakError as err:
            raise DeviceError(f"pairing failed: {err}; wake the device and try again", address=address) from err
    PairedDevices(settings.ble.paired_file).add(address, profile=profile.id, name=adv.local_name)
    return {"address": address, "name": adv.local_name, "profile": profile.id, "bonded": profile.needs_bonding}


def add_commands(devices_app: typer.Typer) -> None:
    """Add ``scan`` and ``pair`` to the ``devices`` group."""

    @devices_app.command("scan")
    def scan(
        config: Path | None = typer.Option(None, "--config", "-c", help="Settings file (TOML)."),
        timeout: float | None = typer.Option(None, help="Seconds to listen (default: ble.scan_timeout_s)."),
        as_json: bool = typer.Option(False, "--json", help="One JSON object per device."),
        emulate: bool = typer.Option(False, help="Scan the demo's emulated devices (bumble backend)."),
    ) -> None:
        """List advertising devices and whether each is a supported, paired model."""
        try:
            settings = _settings(config, emulate)
            rows = asyncio.run(scan_devices(settings, timeout or settings.ble.scan_timeout_s, emulate=emulate))
        except VitalgateError as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(1) from err
        for row in rows:
            if as_json:
                typer.echo(json.dumps(row))
            else:
                profile = row["profile"] or "unsupported"
                paired = "paired" if row["paired"] else ""
                typer.echo(f"{row['address']}  {row['rssi']:>4} dBm  {row['name'] or '?':<24} {profile:<28} {paired}")
        if not as_json:
            typer.echo(f"{len(rows)} device(s), {sum(r['supported'] for r in rows)} supported")

    @devices_app.command("pair")
    def pair(
        address: str = typer.Argument(..., help="Bluetooth address, AA:BB:CC:DD:EE:FF."),
        config: Path | None = typer.Option(None, "--config", "-c", help="Settings file (TOML)."),
        emulate: bool = typer.Option(False, help="Pair with one of the demo's emulated devices."),
    ) -> None:
        """Add a supported device to this gateway's allow-list (bonding if its profile needs it)."""
        try:
            settings = _settings(config, emulate)
            result = asyncio.run(pair_device(settings, address, emulate=emulate))
        except (VitalgateError, TimeoutError) as err:
            msg = str(err) or f"{address}: not seen within ble.scan_timeout_s; wake the device and retry"
            typer.echo(f"error: {msg}", err=True)
            raise typer.Exit(1) from err
        typer.echo(
            f"paired {result['address']} ({result['name']}, profile {result['profile']}"
            f"{', bonded' if result['bonded'] else ''}) -> {settings.ble.paired_file}"
        )
