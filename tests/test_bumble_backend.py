"""The bleak backend on bumble, through bleak's own public API."""

from __future__ import annotations

import asyncio

import pytest
from bleak import BleakClient, BleakScanner
from bleak.exc import BleakError, BleakGATTProtocolError
from bumble import att, gatt

from vitalgate.device_drivers.bumble_backend import backends, get_link
from vitalgate.simulator.peripheral import READABLE, WRITEABLE, P, Peripheral

pytestmark = pytest.mark.timeout(30)

LINK = "backend-test"
Scanner, Client = backends(LINK)
SERVICE = "0000fff0-0000-1000-8000-00805f9b34fb"


class EchoDevice(Peripheral):
    """A small peripheral: a readable/writable value, a notify and an indicate characteristic."""

    advertised_services = ("FFF0",)

    def __init__(self, address: str, **kw: object) -> None:
        super().__init__(address, "Echo", link=LINK, **kw)  # type: ignore[arg-type]
        self.value = b"hello"
        self.writes: list[bytes] = []
        self.written = asyncio.Event()

    def build_services(self) -> list[gatt.Service]:
        def read(_conn: object) -> bytes:
            return self.value

        def write(_conn: object, value: bytes) -> None:
            if value == b"bad":
                raise att.ATT_Error(0x80)
            self.value = value
            self.writes.append(value)
            self.written.set()

        return [
            gatt.Service(
                "FFF0",
                [
                    gatt.Characteristic(
                        "FFF1", P.READ | P.WRITE | P.WRITE_WITHOUT_RESPONSE,
                        READABLE | WRITEABLE, gatt.CharacteristicValue(read=read, write=write),
                    ),
                    gatt.Characteristic("FFF2", P.NOTIFY, READABLE, b""),
                    gatt.Characteristic("FFF3", P.INDICATE, READABLE, b""),
                    gatt.Characteristic(
                        "FFF4", P.READ, gatt.Characteristic.READ_REQUIRES_ENCRYPTION, b"secret"
                    ),
                ],
            )
        ]


async def test_scan_sees_advertisement_with_name_and_services() -> None:
    async with EchoDevice("C0:00:00:00:00:01"):
        found = await BleakScanner.find_device_by_name("Echo", timeout=5, backend=Scanner)
        assert found is not None
        assert found.address == "C0:00:00:00:00:01"
        seen = await BleakScanner.discover(timeout=0.6, return_adv=True, backend=Scanner)
        _, adv = seen["C0:00:00:00:00:01"]
        assert adv.local_name == "Echo"
        assert SERVICE in adv.service_uuids


async def test_scanner_service_filter_excludes_other_devices() -> None:
    async with EchoDevice("C0:00:00:00:00:02"):
        seen = await BleakScanner.discover(
            timeout=0.3, service_uuids=["0000180d-0000-1000-8000-00805f9b34fb"], backend=Scanner
        )
        assert seen == []


async def test_connect_services_read_write_and_mtu() -> None:
    async with EchoDevice("C0:00:00:00:00:03") as dev:
        async with BleakClient("C0:00:00:00:00:03", backend=Client, timeout=5) as client:
            assert client.is_connected
            assert client.mtu_size == 247
            svc = client.services.get_service(SERVICE)
            assert svc is not None
            assert {c.uuid[4:8] for c in svc.characteristics} == {"fff1", "fff2", "fff3", "fff4"}
            char = svc.get_characteristic("fff1")
            assert char is not None
            assert set(char.properties) >= {"read", "write", "write-without-response"}
            assert char.max_write_without_response_size == 244
            assert await client.read_gatt_char("fff1") == bytearray(b"hello")
            await client.write_gatt_char("fff1", b"abc", response=True)
            assert dev.writes == [b"abc"]
            assert await client.read_gatt_char("fff1") == bytearray(b"abc")
            dev.written.clear()
            await client.write_gatt_char("fff1", b"xyz", response=False)
            await dev.written.wait()
            assert dev.writes[-1] == b"xyz"
            model = await client.read_gatt_char("00002a24-0000-1000-8000-00805f9b34fb")
            assert model.decode() == "Emulated"
        assert not client.is_connected
        await dev.disconnected.wait()


async def test_att_error_becomes_bleak_protocol_error() -> None:
    async with EchoDevice("C0:00:00:00:00:04"), BleakClient(
        "C0:00:00:00:00:04", backend=Client, timeout=5
    ) as client:
        with pytest.raises(BleakGATTProtocolError) as info:
            await client.write_gatt_char("fff1", b"bad", response=True)
        assert info.value.args[0] == 0x80


async def test_notify_and_indicate_reach_callbacks_in_order() -> None:
    async with EchoDevice("C0:00:00:00:00:05") as dev, BleakClient(
        "C0:00:00:00:00:05", backend=Client, timeout=5
    ) as client:
        notified: asyncio.Queue[bytes] = asyncio.Queue()
        indicated: asyncio.Queue[bytes] = asyncio.Queue()
        await client.start_notify("fff2", lambda _c, d: notified.put_nowait(bytes(d)))
        await client.start_notify("fff3", lambda _c, d: indicated.put_nowait(bytes(d)))
        assert dev.is_subscribed("FFF2")
        assert dev.is_subscribed("FFF3")
        for i in range(5):
            await dev.notify("FFF2", bytes([i]))
        await dev.indicate("FFF3", b"\x99")  # returns once the gateway confirmed
        assert [await notified.get() for _ in range(5)] == [bytes([i]) for i in range(5)]
        assert await indicated.get() == b"\x99"
        await client.stop_notify("fff2")
        assert not dev.is_subscribed("FFF2")
        cccd = client.services.get_characteristic("fff3").get_descriptor(  # type: ignore[union-attr]
            "00002902-0000-1000-8000-00805f9b34fb"
        )
        assert cccd is not None
        assert await client.read_gatt_descriptor(cccd.handle) == bytearray(b"\x02\x00")


async def test_disconnect_callback_on_device_side_drop() -> None:
    async with EchoDevice("C0:00:00:00:00:06") as dev:
        gone = asyncio.Event()
        client = BleakClient(
            "C0:00:00:00:00:06", disconnected_callback=lambda _c: gone.set(), backend=Client, timeout=5
        )
        await client.connect()
        await dev.connected.wait()
        await dev.drop_link()
        await gone.wait()
        assert not client.is_connected
        with pytest.raises(BleakError):
            await client.read_gatt_char("fff1")
        # the device advertises again and accepts a new connection
        await client.connect()
        assert client.is_connected
        await client.disconnect()


async def test_connect_to_absent_device_times_out_with_address() -> None:
    client = BleakClient("C0:00:00:00:00:99", backend=Client, timeout=0.3)
    with pytest.raises(BleakError, match="C0:00:00:00:00:99"):
        await client.connect()
    # the adapter is usable again after a timed-out attempt
    async with EchoDevice("C0:00:00:00:00:09"), BleakClient(
        "C0:00:00:00:00:09", backend=Client, timeout=5
    ) as ok:
        assert ok.is_connected


async def test_refused_connection_is_reported_and_next_attempt_works() -> None:
    async with EchoDevice("C0:00:00:00:00:07") as dev:
        dev.refuse_connections = True
        gone = asyncio.Event()
        client = BleakClient(
            "C0:00:00:00:00:07", disconnected_callback=lambda _c: gone.set(), backend=Client, timeout=5
        )

        async def connect_and_read() -> None:
            await client.connect()
            await gone.wait()  # connected briefly, then refused by the device
            await client.read_gatt_char("fff1")

        with pytest.raises(BleakError):
            await connect_and_read()
        dev.refuse_connections = False
        await client.connect()
        assert await client.read_gatt_char("fff1") == bytearray(b"hello")
        await client.disconnect()


async def test_links_are_isolated_by_name() -> None:
    async with EchoDevice("C0:00:00:00:00:08"):
        other_scanner, _ = backends("another-link")
        assert await BleakScanner.discover(timeout=0.3, backend=other_scanner) == []
        assert get_link(LINK) is get_link(LINK)
        assert get_link("another-link") is not get_link(LINK)


async def test_bonding_encrypts_the_link_and_unlocks_protected_values() -> None:
    async with EchoDevice("C0:00:00:00:00:0A") as dev:
        async with BleakClient("C0:00:00:00:00:0A", backend=Client, timeout=5) as plain:
            with pytest.raises(BleakGATTProtocolError):
                await plain.read_gatt_char("fff4")
        await dev.disconnected.wait()
        async with BleakClient("C0:00:00:00:00:0A", backend=Client, timeout=5, pair=True) as bonded:
            assert await bonded.read_gatt_char("fff4") == bytearray(b"secret")
            assert dev.connection is not None
            assert dev.connection.is_encrypted
