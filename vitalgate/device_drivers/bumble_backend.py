"""A bleak backend on bumble: ``BleakScanner(backend=...)`` / ``BleakClient(..., backend=...)``.

The gateway talks to Bluetooth only through bleak. On a Raspberry Pi bleak drives BlueZ; in tests
and the demo the same code drives this backend, which runs a bumble host and an emulated
controller on an in-process :class:`bumble.link.LocalLink`. Emulated devices
(:mod:`vitalgate.simulator`) attach their own controllers to the same link, found by name in a
registry, so advertising, connection, GATT discovery, notifications, indications, MTU exchange
and disconnections all travel over a real (emulated) link layer and ATT bearer.

One :class:`BumbleLink` per name and per event loop: a fresh loop (a new test) gets a fresh world.
:func:`backends` returns scanner and client classes bound to a link name; they are what
``ble.backend = "bumble"`` selects (see :func:`vitalgate.device_drivers.manager.bleak_backends`).
"""

from __future__ import annotations

import asyncio
import logging
import uuid as uuid_mod
import weakref
from collections.abc import Callable
from typing import Any, ClassVar

from bleak.args import SizedBuffer
from bleak.assigned_numbers import CharacteristicPropertyName
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakDeviceNotFoundError, BleakError, BleakGATTProtocolError
from bumble import att, core, gatt_client, hci
from bumble.controller import Controller
from bumble.device import Advertisement, Connection, Device, Peer
from bumble.hci import Address
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink

logger = logging.getLogger(__name__)

#: The gateway's own (emulated) adapter address on every link.
GATEWAY_ADDRESS = "F0:0D:00:00:00:01"
#: ATT MTU the client asks for after connecting (BlueZ asks for 517; most devices answer less).
DEFAULT_MTU = 247

_PROPERTY_NAMES: tuple[tuple[int, CharacteristicPropertyName], ...] = (
    (0x01, "broadcast"),
    (0x02, "read"),
    (0x04, "write-without-response"),
    (0x08, "write"),
    (0x10, "notify"),
    (0x20, "indicate"),
    (0x40, "authenticated-signed-writes"),
    (0x80, "extended-properties"),
)


def uuid_str(u: core.UUID) -> str:
    """A bumble UUID as bleak spells it: 128-bit, lower case, with dashes."""
    return str(uuid_mod.UUID(bytes=bytes(reversed(u.to_bytes(force_128=True)))))


class BumbleLink:
    """A named in-process radio: a bumble ``LocalLink`` and the gateway's central on it.

    Emulated peripherals call :meth:`attach` to get a powered-off bumble ``Device`` on the link;
    the gateway's scanner and clients share one central ``Device`` (as BlueZ shares one adapter),
    created on first use.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.link = LocalLink()  # type: ignore[no-untyped-call]
        self._central: Device | None = None
        self._central_controller: Controller | None = None
        self._central_lock = asyncio.Lock()
        self._connect_lock = asyncio.Lock()  # one pending LE connection per controller
        self._scanners: set[BumbleScanner] = set()

    def attach(self, address: str, name: str) -> Device:
        """Create a bumble device with its own controller on this link (not yet powered on)."""
        return self._attach(address, name)[1]

    def _attach(self, address: str, name: str) -> tuple[Controller, Device]:
        controller = Controller(name, link=self.link, public_address=address)
        host = _Host(controller, AsyncPipeSink(controller))
        return controller, Device(name=name, address=Address(address), host=host)

    async def central(self) -> Device:
        """The gateway's adapter on this link, powered on."""
        async with self._central_lock:
            if self._central is None:
                self._central_controller, dev = self._attach(GATEWAY_ADDRESS, "vitalgate")
                await dev.power_on()
                dev.on(Device.EVENT_ADVERTISEMENT, self._on_advertisement)
                self._central = dev
            return self._central

    async def add_scanner(self, scanner: BumbleScanner) -> None:
        dev = await self.central()
        self._scanners.add(scanner)
        if not dev.is_scanning:
            await dev.start_scanning(filter_duplicates=False)

    async def remove_scanner(self, scanner: BumbleScanner) -> None:
        self._scanners.discard(scanner)
        dev = self._central
        if dev is not None and not self._scanners and dev.is_scanning:
            await dev.stop_scanning()

    def _on_advertisement(self, adv: Advertisement) -> None:
        for scanner in list(self._scanners):
            scanner.on_advertisement(adv)

    async def connect(self, address: str, timeout_s: float) -> Connection:
        """Open an LE connection from the gateway's central to ``address``."""
        dev = await self.central()
        async with self._connect_lock:
            # bumble's own connect timeout (and its clean-up when cancelled) waits for the
            # controller to confirm LE Create Connection Cancel, which the emulated controller
            # never does. So the attempt runs as its own task, bounded here; an abandoned attempt
            # is cancelled twice (the second interrupts that endless wait) and never awaited, so
            # neither a timeout nor a shutdown can hang on it.
            attempt = asyncio.ensure_future(
                dev.connect(Address(address), transport=core.PhysicalTransport.LE, timeout=None)
            )
            try:
                done, _ = await asyncio.wait({attempt}, timeout=timeout_s)
            finally:
                if not attempt.done():
                    self._abandon(attempt, address)
            if attempt not in done:
                raise BleakDeviceNotFoundError(address, f"{address}: no connectable device answered within {timeout_s:g} s")
            try:
                return attempt.result()
            except (core.BaseBumbleError, core.ProtocolError) as err:
                raise BleakError(f"{address}: connection failed: {err}") from err

    def _abandon(self, attempt: asyncio.Future[Connection], address: str) -> None:
        if self._central is not None:
            host = self._central.host
            if isinstance(host, _Host):
                host.abandoned = {*getattr(host, "abandoned", set()), address.upper()}
        attempt.cancel()
        asyncio.get_running_loop().call_later(0.5, attempt.cancel)
        attempt.add_done_callback(lambda f: f.cancelled() or f.exception())  # retrieved: no warning
        # The emulated controller ignores LE Create Connection Cancel: forget the pending
        # connection ourselves, as a real controller would after the cancel.
        if self._central_controller is not None:
            self._central_controller.pending_le_connection = None


_BACKGROUND: set[asyncio.Future[Any]] = set()  # fire-and-forget tasks, kept referenced


class _Host(Host):
    """bumble's host, tolerant of a command response arriving after its waiter was cancelled.

    When a task is cancelled in the middle of an HCI command (shutdown, a timed-out attempt), the
    emulated controller still answers; the stock host then fails with ``InvalidStateError`` in a
    loop callback. The late answer is dropped instead.
    """

    #: Peers whose connection attempt was abandoned: a late "connection complete" for one of
    #: them is answered with a disconnect instead of being handed to a device that stopped waiting.
    abandoned: set[str]

    def on_command_processed(self, event: Any) -> None:
        if self.pending_response is not None and self.pending_response.done():
            logger.debug("late HCI response after its command was cancelled: %s", event)
            return
        super().on_command_processed(event)

    def on_hci_le_connection_complete_event(self, event: Any) -> None:
        peer = str(event.peer_address).split("/")[0].upper()
        late: set[str] = getattr(self, "abandoned", set())
        if event.status == hci.HCI_SUCCESS and peer in late:
            late.discard(peer)
            logger.debug("late connection to %s after its attempt was abandoned: disconnecting", peer)
            task = asyncio.ensure_future(self.send_command(hci.HCI_Disconnect_Command(
                connection_handle=event.connection_handle, reason=hci.HCI_REMOTE_USER_TERMINATED_CONNECTION_ERROR,
            )))
            _BACKGROUND.add(task)
            task.add_done_callback(_BACKGROUND.discard)
            return
        super().on_hci_le_connection_complete_event(event)


_WORLDS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, BumbleLink]] = (
    weakref.WeakKeyDictionary()
)


def _quiet_late_responses(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """Drop bumble's "response after its waiter was cancelled" errors; pass everything else on.

    When a GATT or HCI operation is cancelled (shutdown, a timed-out attempt), the emulated
    peer may still answer; bumble then sets the result of a future that is already done and the
    loop logs ``InvalidStateError`` with a traceback. The late answer carries nothing to act on.
    """
    exc = context.get("exception")
    handle = str(context.get("handle", ""))
    if isinstance(exc, asyncio.InvalidStateError) and "on_packet" in handle:
        logger.debug("late bumble response dropped: %s", handle)
        return
    loop.default_exception_handler(context)


def get_link(name: str = "default") -> BumbleLink:
    """The :class:`BumbleLink` called ``name`` in the running event loop (created on first use)."""
    loop = asyncio.get_running_loop()
    if loop.get_exception_handler() is None:
        loop.set_exception_handler(_quiet_late_responses)
    world = _WORLDS.setdefault(loop, {})
    if name not in world:
        world[name] = BumbleLink(name)
    return world[name]


def parse_advertisement(adv: Advertisement) -> AdvertisementData:
    """Translate bumble's advertising data into bleak's :class:`AdvertisementData`."""
    name: str | None = None
    manufacturer: dict[int, bytes] = {}
    service_data: dict[str, bytes] = {}
    uuids: list[str] = []
    tx_power: int | None = None
    for ad_type, data in adv.data.ad_structures:
        if ad_type in (0x08, 0x09):
            name = data.decode("utf-8", errors="replace")
        elif ad_type in (0x02, 0x03):
            uuids += [uuid_str(core.UUID.from_bytes(data[i : i + 2])) for i in range(0, len(data) - 1, 2)]
        elif ad_type in (0x06, 0x07):
            uuids += [uuid_str(core.UUID.from_bytes(data[i : i + 16])) for i in range(0, len(data) - 15, 16)]
        elif ad_type == 0x16 and len(data) >= 2:
            service_data[uuid_str(core.UUID.from_bytes(data[:2]))] = bytes(data[2:])
        elif ad_type == 0xFF and len(data) >= 2:
            manufacturer[int.from_bytes(data[:2], "little")] = bytes(data[2:])
        elif ad_type == 0x0A and data:
            tx_power = int.from_bytes(data[:1], "little", signed=True)
    return AdvertisementData(
        local_name=name,
        manufacturer_data=manufacturer,
        service_data=service_data,
        service_uuids=uuids,
        tx_power=tx_power,
        rssi=int(adv.rssi),
        platform_data=(adv,),
    )


class BumbleScanner(BaseBleakScanner):
    """bleak scanner backend listening on a :class:`BumbleLink`."""

    link_name: ClassVar[str] = "default"

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: str = "active",
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self._link: BumbleLink | None = None

    async def start(self) -> None:
        self.seen_devices = {}
        self._link = get_link(self.link_name)
        await self._link.add_scanner(self)

    async def stop(self) -> None:
        if self._link is None:
            return
        # Bounded: at shutdown the emulated controller may never answer the scan-disable
        # command (an abandoned connection attempt still holds bumble's command slot), and a
        # stop that waits forever keeps every device task from being cancelled.
        try:
            async with asyncio.timeout(2.0):
                await self._link.remove_scanner(self)
        except TimeoutError:
            logger.debug("scan stop not confirmed by the emulated controller within 2 s")

    def on_advertisement(self, adv: Advertisement) -> None:
        data = parse_advertisement(adv)
        if not self.is_allowed_uuid(data.service_uuids):
            return
        address = str(adv.address).split("/")[0]
        device = self.create_or_update_device(address, address, data.local_name, adv, data)
        self.call_detection_callbacks(device, data)


class BumbleClient(BaseBleakClient):
    """bleak client backend: a GATT client over a bumble LE connection."""

    link_name: ClassVar[str] = "default"
    mtu: ClassVar[int] = DEFAULT_MTU

    def __init__(self, address_or_ble_device: BLEDevice | str, **kwargs: Any) -> None:
        super().__init__(
            address_or_ble_device,
            disconnected_callback=kwargs.pop("disconnected_callback", None),
            timeout=kwargs.pop("timeout", 10.0),
        )
        self.address = self.address.upper()
        self._connection: Connection | None = None
        self._peer: Peer | None = None
        self._handles: dict[int, gatt_client.CharacteristicProxy[bytes]] = {}
        self._subscribers: dict[int, Callable[[bytes], None]] = {}

    # -- connectivity -------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.address.replace(":", "-")

    @property
    def mtu_size(self) -> int:
        return self._connection.att_mtu if self._connection is not None else 23

    @property
    def is_connected(self) -> bool:
        return self._connection is not None

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        link = get_link(self.link_name)
        connection = await link.connect(self.address, self._timeout)
        self._connection = connection
        connection.on(Connection.EVENT_DISCONNECTION, self._on_disconnection)
        peer = Peer(connection)
        self._peer = peer
        try:
            async with asyncio.timeout(self._timeout):
                await self._call(peer.request_mtu(self.mtu))
                if pair:
                    await self.pair()
                self.services = await self._discover(peer)
        except BaseException:
            await self.disconnect()
            raise

    def _on_disconnection(self, reason: int) -> None:
        logger.debug("%s: disconnected (HCI reason 0x%02X)", self.address, reason)
        self._connection = None
        self._peer = None
        self._subscribers.clear()
        if self._disconnected_callback is not None:
            self._disconnected_callback()

    async def disconnect(self) -> None:
        connection = self._connection
        if connection is None:
            return
        done = asyncio.Event()
        connection.once(Connection.EVENT_DISCONNECTION, lambda *_: done.set())
        try:
            await connection.disconnect()
            await asyncio.wait_for(done.wait(), self._timeout)
        except (core.BaseBumbleError, core.ProtocolError, TimeoutError) as err:
            logger.debug("%s: disconnect: %s", self.address, err)
            self._on_disconnection(0x16)

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        connection = self._require()
        try:
            await connection.pair()
        except (core.BaseBumbleError, core.ProtocolError) as err:
            raise BleakError(f"{self.address}: pairing failed: {err}") from err

    async def unpair(self) -> None:
        dev = await get_link(self.link_name).central()
        if dev.keystore is not None:
            await dev.keystore.delete(self.address)
        await self.disconnect()

    # -- discovery ----------------------------------------------------------------------------

    async def _discover(self, peer: Peer) -> BleakGATTServiceCollection:
        collection = BleakGATTServiceCollection()
        self._handles.clear()
        for proxy in await self._call(peer.discover_services()):
            service = BleakGATTService(proxy, proxy.handle, uuid_str(proxy.uuid))
            collection.add_service(service)
            for chp in await self._call(proxy.discover_characteristics()):
                props = [n for bit, n in _PROPERTY_NAMES if int(chp.properties) & bit]
                char = BleakGATTCharacteristic(
                    chp, chp.handle, uuid_str(chp.uuid), props, self._max_write, service
                )
                collection.add_characteristic(char)
                self._handles[chp.handle] = chp
                for dp in await self._call(chp.discover_descriptors()):
                    collection.add_descriptor(
                        BleakGATTDescriptor(dp, dp.handle, uuid_str(dp.type), char)
                    )
        return collection

    def _max_write(self) -> int:
        return self.mtu_size - 3

    # -- I/O ----------------------------------------------------------------------------------

    def _require(self) -> Connection:
        if self._connection is None:
            raise BleakError(f"{self.address}: not connected")
        return self._connection

    def _require_peer(self) -> Peer:
        self._require()
        assert self._peer is not None
        return self._peer

    async def _call(self, aw: Any) -> Any:
        """Await a bumble GATT operation, translating its errors into bleak's once."""
        try:
            return await aw
        except att.ATT_Error as err:
            raise BleakGATTProtocolError(err.error_code) from err
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
            # bumble cancels the pending ATT response when the link drops.
            raise BleakError(f"{self.address}: disconnected during a GATT operation") from None
        except (core.BaseBumbleError, core.ProtocolError) as err:
            raise BleakError(f"{self.address}: GATT operation failed: {err}") from err

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        value = await self._call(self._require_peer().read_value(characteristic.handle))
        return bytearray(value)

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        value = await self._call(self._require_peer().read_value(descriptor.handle))
        return bytearray(value)

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: SizedBuffer, response: bool
    ) -> None:
        peer = self._require_peer()
        await self._call(peer.write_value(characteristic.handle, bytes(data), with_response=response))

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data: SizedBuffer) -> None:
        peer = self._require_peer()
        await self._call(peer.write_value(descriptor.handle, bytes(data), with_response=True))

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        peer = self._require_peer()
        proxy = self._handles[characteristic.handle]

        def on_value(value: bytes) -> None:
            callback(bytearray(value))

        self._subscribers[characteristic.handle] = on_value
        await self._call(peer.subscribe(proxy, on_value, prefer_notify=True))

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        peer = self._require_peer()
        proxy = self._handles[characteristic.handle]
        subscriber = self._subscribers.pop(characteristic.handle, None)
        await self._call(peer.unsubscribe(proxy, subscriber))


def backends(link: str = "default") -> tuple[type[BumbleScanner], type[BumbleClient]]:
    """Scanner and client backend classes bound to the link called ``link``.

    Examples
    --------
    >>> scanner_cls, client_cls = backends("demo")  # doctest: +SKIP
    >>> BleakClient(address, backend=client_cls)  # doctest: +SKIP
    """
    scanner = type(f"BumbleScanner_{link}", (BumbleScanner,), {"link_name": link})
    client = type(f"BumbleClient_{link}", (BumbleClient,), {"link_name": link})
    return scanner, client
