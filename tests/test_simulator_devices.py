"""Emulated devices, spoken to through bleak on the bumble backend (no gateway code involved)."""

from __future__ import annotations

import asyncio
import itertools
import struct
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from bleak import BleakClient, BleakScanner

from vitalgate.device_drivers.bumble_backend import backends
from vitalgate.simulator import payloads as pl
from vitalgate.simulator.devices import (
    BloodPressureMonitor,
    GlucoseMeter,
    HeartRateStrap,
    PulseOximeter,
)
from vitalgate.simulator.polar import ECG_FS_HZ, SAMPLES_PER_FRAME, PolarEcgStrap, load_mitdb_ecg

pytestmark = pytest.mark.timeout(60)

LINK = "sim-test"
Scanner, Client = backends(LINK)


def u(short: str) -> str:
    return f"0000{short.lower()}-0000-1000-8000-00805f9b34fb"


async def test_bp_monitor_sends_stored_readings_then_drops_link() -> None:
    bp = BloodPressureMonitor("C1:00:00:00:00:01", link=LINK, clock_offset=timedelta(hours=-8))
    async with bp:
        t0 = datetime(2026, 3, 1, 7, 30)
        bp.measure(152, 95, 71, user=2, at=t0)
        bp.measure(118, 76, 64, user=1, at=t0 + timedelta(minutes=5))
        got: asyncio.Queue[bytes] = asyncio.Queue()
        gone = asyncio.Event()
        client = BleakClient(bp.address, disconnected_callback=lambda _c: gone.set(), backend=Client)
        await client.connect()
        await client.start_notify(u("2A35"), lambda _c, d: got.put_nowait(bytes(d)))
        first, second = await got.get(), await got.get()
        await gone.wait()  # the quirk: the monitor hangs up after its records are confirmed
        assert bp.pending == []
        flags = first[0]
        assert flags & 0x02
        assert flags & 0x04
        assert flags & 0x08
        assert first[1:3] == pl.sfloat(152)
        year, month, day, hour = struct.unpack_from("<HBBB", first, 7)
        assert (year, month, day, hour) == (2026, 2, 28, 23)  # device clock 8 h behind
        assert first[16] == 2  # user slot
        assert second[16] == 1


async def test_glucose_racp_reports_records_from_a_sequence_number() -> None:
    meter = GlucoseMeter("C1:00:00:00:00:02", link=LINK)
    for v in (5.4, 6.1, 7.9, 4.2):
        meter.add_record(v, datetime(2026, 3, 1, 8))
    async with meter, BleakClient(meter.address, backend=Client) as client:
        records: list[bytes] = []
        racp: asyncio.Queue[bytes] = asyncio.Queue()
        await client.start_notify(u("2A18"), lambda _c, d: records.append(bytes(d)))
        await client.start_notify(u("2A52"), lambda _c, d: racp.put_nowait(bytes(d)))
        await client.write_gatt_char(u("2A52"), bytes([4, 1]), response=True)
        assert await racp.get() == pl.racp_number(4)
        await client.write_gatt_char(u("2A52"), bytes([1, 3, 1]) + struct.pack("<H", 3), response=True)
        assert await racp.get() == pl.racp_response(1, pl.RSP_SUCCESS)
        assert [struct.unpack_from("<H", r, 1)[0] for r in records] == [3, 4]
        # mol/L SFLOAT: 7.9 mmol/L = 79e-4 mol/L
        assert records[0][10:12] == struct.pack("<H", (0xC << 12) | 79)
        await client.write_gatt_char(u("2A52"), bytes([1, 3, 1]) + struct.pack("<H", 9), response=True)
        assert await racp.get() == pl.racp_response(1, pl.RSP_NO_RECORDS)
        await client.write_gatt_char(u("2A52"), bytes([1, 9]), response=True)
        assert await racp.get() == pl.racp_response(1, pl.RSP_OPERATOR_NOT_SUPPORTED)


async def test_glucose_drop_mid_transfer_then_resume() -> None:
    meter = GlucoseMeter("C1:00:00:00:00:03", link=LINK)
    for i in range(10):
        meter.add_record(5.0 + i / 10)
    meter.drop_after_records = 4
    async with meter:
        seqs: list[int] = []
        gone = asyncio.Event()
        client = BleakClient(meter.address, disconnected_callback=lambda _c: gone.set(), backend=Client)
        await client.connect()
        await client.start_notify(u("2A18"), lambda _c, d: seqs.append(struct.unpack_from("<H", d, 1)[0]))
        await client.start_notify(u("2A52"), lambda _c, d: None)
        await client.write_gatt_char(u("2A52"), bytes([1, 1]), response=True)
        await gone.wait()
        assert seqs == [1, 2, 3, 4]
        racp: asyncio.Queue[bytes] = asyncio.Queue()
        await client.connect()
        await client.start_notify(u("2A18"), lambda _c, d: seqs.append(struct.unpack_from("<H", d, 1)[0]))
        await client.start_notify(u("2A52"), lambda _c, d: racp.put_nowait(bytes(d)))
        await client.write_gatt_char(u("2A52"), bytes([1, 3, 1]) + struct.pack("<H", seqs[-1] + 1), response=True)
        assert await racp.get() == pl.racp_response(1, pl.RSP_SUCCESS)
        assert seqs == list(range(1, 11))
        await client.disconnect()


async def test_oximeter_spot_check_and_continuous() -> None:
    ox = PulseOximeter("C1:00:00:00:00:04", link=LINK)
    ox.spot_check(88, 101)  # taken before the gateway connected
    async with ox, BleakClient(ox.address, backend=Client) as client:
        spot: asyncio.Queue[bytes] = asyncio.Queue()
        cont: asyncio.Queue[bytes] = asyncio.Queue()
        await client.start_notify(u("2A5E"), lambda _c, d: spot.put_nowait(bytes(d)))
        await client.start_notify(u("2A5F"), lambda _c, d: cont.put_nowait(bytes(d)))
        first = await spot.get()
        assert first[0] & 0x01
        assert first[1:3] == pl.sfloat(88)
        assert first[3:5] == pl.sfloat(101)
        await ox.continuous(97, 66)
        assert await cont.get() == bytes([0]) + pl.sfloat(97) + pl.sfloat(66)


async def test_hr_strap_rr_intervals_and_malformed_fault() -> None:
    strap = HeartRateStrap("C1:00:00:00:00:05", link=LINK)
    async with strap, BleakClient(strap.address, backend=Client) as client:
        got: asyncio.Queue[bytes] = asyncio.Queue()
        await client.start_notify(u("2A37"), lambda _c, d: got.put_nowait(bytes(d)))
        assert await strap.beat(62, [0.96, 0.98])
        assert await got.get() == bytes([0x16, 62]) + struct.pack("<HH", 983, 1004)
        strap.malformed_next = 1
        await strap.beat(62, [0.96, 0.98])
        assert len(await got.get()) < 6
        assert client.is_connected


async def test_devices_advertise_their_service_and_name() -> None:
    bp = BloodPressureMonitor("C1:00:00:00:00:06", link=LINK)
    async with bp, PulseOximeter("C1:00:00:00:00:07", link=LINK):
        seen = await BleakScanner.discover(timeout=0.6, return_adv=True, backend=Scanner)
        # a BP monitor with nothing to hand over sleeps; a measurement wakes it up
        assert "C1:00:00:00:00:06" not in seen
        bp.measure(120, 80)
        seen = await BleakScanner.discover(timeout=0.6, return_adv=True, backend=Scanner)
        assert seen["C1:00:00:00:00:06"][1].local_name == "BLESmart_00000116"
        assert u("1810") in seen["C1:00:00:00:00:06"][1].service_uuids
        assert u("1822") in seen["C1:00:00:00:00:07"][1].service_uuids


def test_mitdb_af_record_resampled_to_130_hz(shared_data: Path) -> None:
    ecg = load_mitdb_ecg(shared_data / "mitdb" / "201", start_s=0, duration_s=10)
    assert ecg.shape == (10 * ECG_FS_HZ,)
    assert 200 < np.percentile(np.abs(ecg), 99.5) < 5000  # QRS in hundreds to thousands of µV
    with pytest.raises(ValueError, match="outside record"):
        load_mitdb_ecg(shared_data / "mitdb" / "201", start_s=4000, duration_s=10)


async def test_polar_pmd_ecg_stream_plays_the_record(shared_data: Path) -> None:
    ecg = load_mitdb_ecg(shared_data / "mitdb" / "202", start_s=0, duration_s=5)
    strap = PolarEcgStrap("C1:00:00:00:00:08", ecg, link=LINK, speed=20.0, loop=False)
    async with strap, BleakClient(strap.address, backend=Client) as client:
        frames: asyncio.Queue[bytes] = asyncio.Queue()
        ctl: asyncio.Queue[bytes] = asyncio.Queue()
        await client.start_notify(pl.PMD_CONTROL.lower(), lambda _c, d: ctl.put_nowait(bytes(d)))
        await client.start_notify(pl.PMD_DATA.lower(), lambda _c, d: frames.put_nowait(bytes(d)))
        await client.write_gatt_char(pl.PMD_CONTROL.lower(), bytes([2, 0, 0, 1, 0x82, 0, 1, 1, 14, 0]), response=True)
        assert (await ctl.get())[:4] == bytes([0xF0, 2, 0, 0])
        samples: list[int] = []
        stamps: list[int] = []
        for _ in range(3):
            f = await frames.get()
            assert f[0] == 0
            assert f[9] == 0
            stamps.append(int.from_bytes(f[1:9], "little"))
            body = f[10:]
            assert len(body) == 3 * SAMPLES_PER_FRAME
            samples += [int.from_bytes(body[i : i + 3], "little", signed=True) for i in range(0, len(body), 3)]
        assert samples == ecg[: 3 * SAMPLES_PER_FRAME].tolist()
        # stamped on the device's sample clock, as an H10 does: frames sent 20x faster than real
        # time are still one frame's duration apart, so the gateway sees no gap and no overlap
        step = SAMPLES_PER_FRAME / ECG_FS_HZ * 1e9
        assert all(abs((b - a) - step) <= 1 for a, b in itertools.pairwise(stamps))
