"""The common part of every emulated device: a bumble GATT server advertising on a named link.

A subclass declares its GATT services (:meth:`Peripheral.build_services`) and drives them with
:meth:`notify` / :meth:`indicate`. The base class tracks connections and subscriptions and
exposes events tests and scripts wait on (``connected``, ``subscribed``), so nothing sleeps to
"let things settle". Faults common to all devices live here: refuse connections, drop the link.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from bumble import gatt
from bumble.core import UUID, AdvertisingData
from bumble.device import Connection, Device

from vitalgate.device_drivers.bumble_backend import get_link

logger = logging.getLogger(__name__)

P = gatt.Characteristic.Properties
READABLE = gatt.Characteristic.READABLE
WRITEABLE = gatt.Characteristic.WRITEABLE

#: Advertising interval of emulated devices (ms); short, so scans in tests are quick.
ADVERTISING_INTERVAL_MS = 50.0
#: HCI reason "remote user terminated connection".
REMOTE_USER_TERMINATED = 0x13


def device_information(
    manufacturer: str, model: str, serial: str, firmware: str
) -> gatt.Service:
    """A Device Information service (0x180A) with the four strings the gateway reads."""
    chars = [
        gatt.Characteristic(uuid, P.READ, READABLE, value.encode())
        for uuid, value in (
            ("2A29", manufacturer),
            ("2A24", model),
            ("2A25", serial),
            ("2A26", firmware),
        )
    ]
    return gatt.Service("180A", chars)


def advertising_data(name: str, service_uuids: Sequence[str], manufacturer: bytes = b"") -> bytes:
    """Legacy advertising payload: flags, complete local name, 16-bit service UUIDs."""
    structures: list[tuple[int, bytes]] = [
        (AdvertisingData.FLAGS, bytes([0x06])),
        (AdvertisingData.COMPLETE_LOCAL_NAME, name.encode()),
    ]
    sixteen = b"".join(bytes(UUID(u).to_bytes()) for u in service_uuids if len(u) == 4)
    if sixteen:
        structures.append((AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS, sixteen))
    if manufacturer:
        structures.append((AdvertisingData.MANUFACTURER_SPECIFIC_DATA, manufacturer))
    return bytes(AdvertisingData(structures))


class Peripheral:
    """An emulated BLE peripheral on the bumble link called ``link``.

    Parameters
    ----------
    address:
        Its (random static) address, ``"C0:00:00:00:00:01"``.
    name:
        Advertised complete local name (firmware profiles match on it).
    link:
        Name of the :class:`~vitalgate.device_drivers.bumble_backend.BumbleLink` to join.
    """

    #: 16-bit service UUIDs put in the advertisement.
    advertised_services: tuple[str, ...] = ()
    manufacturer: str = "Vitalgate Emulation"
    model: str = "Emulated"
    firmware: str = "1.0.0"

    def __init__(self, address: str, name: str, *, link: str = "default", serial: str | None = None):
        self.address = address.upper()
        self.name = name
        self.link_name = link
        self.serial = serial or address.replace(":", "")[-6:]
        self.device: Device | None = None
        self.connection: Connection | None = None
        self.connected = asyncio.Event()
        self.disconnected = asyncio.Event()
        self.disconnected.set()
        self.connection_count = 0
        self.refuse_connections = False
        #: Scripted fault: truncate the next N notifications/indications.
        self.malformed_next = 0
        self.advertising_enabled = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._adv_lock = asyncio.Lock()
        self._subscribed: dict[str, asyncio.Event] = {}
        self._characteristics: dict[str, gatt.Characteristic[Any]] = {}

    # -- subclass hooks -----------------------------------------------------------------------

    def build_services(self) -> list[gatt.Service]:
        """GATT services of this device (besides Device Information)."""
        return []

    def on_connect(self, connection: Connection) -> None:
        """Called when the gateway connects (e.g. to start a stream)."""

    def on_disconnect(self) -> None:
        """Called when the link goes down."""

    def wants_to_advertise(self) -> bool:
        """Whether the device advertises when not connected (sleepy devices: only with data)."""
        return True

    def wake(self) -> None:
        """Start advertising now if the device has something to say (after a measurement)."""
        if self.device is not None and self.connection is None and self.advertising_enabled:
            self.spawn(self.advertise(), "wake")

    # -- life cycle ---------------------------------------------------------------------------

    def characteristic(self, uuid: str) -> gatt.Characteristic[Any]:
        return self._characteristics[_key(uuid)]

    async def start(self) -> Peripheral:
        """Join the link, publish the GATT database and start advertising."""
        link = get_link(self.link_name)
        dev = link.attach(self.address, self.name)
        services = [
            device_information(self.manufacturer, self.model, self.serial, self.firmware),
            *self.build_services(),
        ]
        for service in services:
            for ch in service.characteristics:
                self._characteristics[ch.uuid.to_hex_str()] = ch
                if ch.properties & (P.NOTIFY | P.INDICATE):
                    self._subscribed[ch.uuid.to_hex_str()] = asyncio.Event()
        dev.add_services(services)
        dev.on(Device.EVENT_CONNECTION, self._on_connection)
        dev.on("characteristic_subscription", self._on_subscription)
        await dev.power_on()
        dev.advertising_data = advertising_data(self.name, self.advertised_services)
        self.device = dev
        self.advertising_enabled = True
        if self.wants_to_advertise():
            await self.advertise()
        return self

    async def advertise(self) -> None:
        """(Re)start connectable advertising."""
        dev = self.device
        assert dev is not None
        self.advertising_enabled = True
        async with self._adv_lock:
            if self.connection is not None or not self.wants_to_advertise():
                return
            adv_set = dev.legacy_advertising_set
            if adv_set is None:
                await dev.start_advertising(
                    advertising_interval_min=ADVERTISING_INTERVAL_MS,
                    advertising_interval_max=ADVERTISING_INTERVAL_MS,
                )
            elif not adv_set.enabled:
                await adv_set.start()

    async def stop_advertising(self) -> None:
        """Stop advertising (the device sleeps; it is not connectable until :meth:`advertise`)."""
        self.advertising_enabled = False
        dev = self.device
        async with self._adv_lock:
            adv_set = dev.legacy_advertising_set if dev is not None else None
            if adv_set is not None and adv_set.enabled:
                await adv_set.stop()

    async def stop(self) -> None:
        """Stop advertising and drop any connection (the device is switched off)."""
        if self.device is None:
            return
        await self.stop_advertising()
        await self.drop_link()
        for task in list(self._tasks):
            task.cancel()

    async def __aenter__(self) -> Peripheral:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _on_connection(self, connection: Connection) -> None:
        self.connection_count += 1
        if self.refuse_connections:
            logger.info("%s: refusing connection %d (scripted fault)", self.address, self.connection_count)
            connection.on(Connection.EVENT_DISCONNECTION, lambda _r: self._restart_advertising())
            self.spawn(connection.disconnect(REMOTE_USER_TERMINATED), "refuse")
            return
        self.connection = connection
        self.connected.set()
        self.disconnected.clear()
        connection.on(Connection.EVENT_DISCONNECTION, self._on_disconnection)
        self.on_connect(connection)

    def _on_disconnection(self, reason: int) -> None:
        self.connection = None
        self.connected.clear()
        self.disconnected.set()
        for ev in self._subscribed.values():
            ev.clear()
        self.on_disconnect()
        self._restart_advertising()

    def _restart_advertising(self) -> None:
        if self.advertising_enabled:
            self.spawn(self.advertise(), "advertise")

    def spawn(self, coro: Any, what: str) -> None:
        """Run ``coro`` in the background, keeping a reference until it ends."""
        task = asyncio.get_running_loop().create_task(coro, name=f"{what}-{self.address}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_subscription(
        self, connection: Connection, characteristic: gatt.Characteristic[Any], notify: bool, indicate: bool
    ) -> None:
        ev = self._subscribed.get(characteristic.uuid.to_hex_str())
        if ev is not None:
            if notify or indicate:
                ev.set()
            else:
                ev.clear()

    async def wait_subscribed(self, uuid: str) -> None:
        """Wait until the gateway enabled notifications/indications on ``uuid``."""
        await self._subscribed[_key(uuid)].wait()

    def is_subscribed(self, uuid: str) -> bool:
        return self._subscribed[_key(uuid)].is_set()

    # -- sending ------------------------------------------------------------------------------

    def _maybe_corrupt(self, value: bytes) -> bytes:
        if self.malformed_next > 0:
            self.malformed_next -= 1
            logger.info("%s: sending a truncated payload (scripted fault)", self.address)
            return value[: max(1, len(value) // 2)]
        return value

    async def notify(self, uuid: str, value: bytes) -> None:
        """Send a notification on ``uuid`` to the connected gateway."""
        conn = self._require()
        assert self.device is not None
        await self.device.notify_subscriber(conn, self.characteristic(uuid), self._maybe_corrupt(value))

    async def indicate(self, uuid: str, value: bytes) -> None:
        """Send an indication on ``uuid`` and wait for the gateway's confirmation."""
        conn = self._require()
        assert self.device is not None
        await self.device.indicate_subscriber(conn, self.characteristic(uuid), self._maybe_corrupt(value))

    def every(
        self, period_s: float, action: Callable[[], Awaitable[None]], *, count: int | None = None
    ) -> None:
        """Run ``action`` every ``period_s`` seconds (``count`` times, or until :meth:`stop`)."""

        async def loop() -> None:
            n = 0
            while count is None or n < count:
                await asyncio.sleep(period_s)
                await action()
                n += 1

        self.spawn(loop(), "every")

    def _require(self) -> Connection:
        if self.connection is None:
            raise ConnectionError(f"{self.address}: not connected")
        return self.connection

    async def drop_link(self) -> None:
        """Terminate the connection from the device side (link loss, device switched off)."""
        conn = self.connection
        if conn is not None:
            await conn.disconnect(REMOTE_USER_TERMINATED)
            await self.disconnected.wait()


def _key(uuid: str) -> str:
    """Characteristic lookup key: bumble's hex spelling (upper case, no dashes)."""
    return uuid.upper().replace("-", "")
