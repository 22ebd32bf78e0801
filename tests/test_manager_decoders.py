"""The basic drivers' decoders: shared GATT vectors, round trips with the emulators' builders,
and arbitrary bytes (a reading or a MalformedPayload, never anything else)."""

from __future__ import annotations

import contextlib
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vitalgate.device_drivers.basic_drivers import (
    KPA_TO_MMHG,
    decode_bp,
    decode_glucose,
    decode_hr,
    decode_plx,
)
from vitalgate.errors import MalformedPayload
from vitalgate.readings import DeviceIdentity
from vitalgate.simulator import payloads as pl

DEV = DeviceIdentity("C5:00:00:00:00:01")


def vectors(shared_data: Path, uuid: str) -> list[dict[str, Any]]:
    data = json.loads((shared_data / "gatt_vectors.json").read_text())
    found = [v for v in data if v["uuid"] == uuid]
    assert found, f"no vectors for {uuid}"
    return found


def test_blood_pressure_vectors(shared_data: Path) -> None:
    for v in vectors(shared_data, "2a35"):
        raw = bytes.fromhex(v["hex"])
        exp = v["expected"]
        if exp.get("error"):
            with pytest.raises(MalformedPayload):
                decode_bp(raw, DEV)
            continue
        r = decode_bp(raw, DEV)
        scale = KPA_TO_MMHG if exp["unit"] == "kPa" else 1.0
        assert r.value("systolic") == pytest.approx(exp["systolic"] * scale, abs=0.06), v["id"]
        assert r.value("diastolic") == pytest.approx(exp["diastolic"] * scale, abs=0.06), v["id"]
        assert r.value("pulse") == pytest.approx(exp["pulse_rate"]), v["id"]
        assert r.user_slot == exp["user_id"], v["id"]
        assert ("irregular_pulse" in r.flags) == exp["status"]["irregular_pulse"], v["id"]


def test_glucose_vectors(shared_data: Path) -> None:
    for v in vectors(shared_data, "2a18"):
        raw = bytes.fromhex(v["hex"])
        exp = v["expected"]
        if exp.get("error") or isinstance(exp["concentration"], str):
            with pytest.raises(MalformedPayload):  # special values are refused, with the reason
                decode_glucose(raw, DEV)
            continue
        r = decode_glucose(raw, DEV)
        assert r.sequence == exp["sequence_number"]
        mmol = exp["concentration"] * 1000 if exp["unit"] == "mol/L" else exp["concentration"] * 1e5 / 18.0156  # 180.156 g/mol
        assert r.value("glucose") == pytest.approx(mmol, abs=0.01), v["id"]
        base = datetime.fromisoformat(exp["base_time"])
        offset = exp["time_offset_min"] or 0
        assert r.measured_at.replace(tzinfo=None) == base + timedelta(minutes=offset)


@pytest.mark.parametrize("uuid", ["2a5e", "2a5f"])
def test_pulse_oximeter_vectors(shared_data: Path, uuid: str) -> None:
    for v in vectors(shared_data, uuid):
        raw = bytes.fromhex(v["hex"])
        exp = v["expected"]
        if exp.get("error"):
            with pytest.raises(MalformedPayload):
                decode_plx(raw, DEV, spot=uuid == "2a5e")
            continue
        r = decode_plx(raw, DEV, spot=uuid == "2a5e")
        assert r.value("spo2") == pytest.approx(exp["spo2"]), v["id"]
        assert r.value("pulse") == pytest.approx(exp["pulse_rate"]), v["id"]


def test_heart_rate_vectors(shared_data: Path) -> None:
    for v in vectors(shared_data, "2a37"):
        raw = bytes.fromhex(v["hex"])
        exp = v["expected"]
        if exp.get("error"):
            with pytest.raises(MalformedPayload):
                decode_hr(raw, DEV)
            continue
        reading, beats = decode_hr(raw, DEV)
        assert reading.value("heart_rate") == exp["heart_rate"], v["id"]
        assert (list(beats.rr_s) if beats else []) == pytest.approx(exp["rr_intervals_s"]), v["id"]


@given(
    st.integers(60, 250), st.integers(30, 150), st.integers(30, 200), st.integers(0, 255),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)),
)
def test_bp_round_trip_with_emulator_builder(sys_: int, dia: int, pulse: int, user: int, at: datetime) -> None:
    r = decode_bp(pl.blood_pressure(sys_, dia, at=at, pulse=pulse, user=user), DEV)
    assert (r.value("systolic"), r.value("diastolic"), r.value("pulse")) == (sys_, dia, pulse)
    assert r.user_slot == (None if user == 0xFF else user)
    assert r.measured_at.replace(tzinfo=None) == at.replace(microsecond=0)


@given(st.integers(0, 65535), st.integers(10, 2000))
def test_glucose_round_trip_with_emulator_builder(seq: int, tenths: int) -> None:
    r = decode_glucose(pl.glucose(seq, datetime(2026, 3, 1, 8, 0), tenths / 10), DEV)
    assert r.sequence == seq
    assert r.value("glucose") == pytest.approx(tenths / 10)


@given(st.integers(0, 255), st.lists(st.floats(0.25, 2.5), max_size=9))
def test_hr_round_trip_with_emulator_builder(bpm: int, rr: list[float]) -> None:
    reading, beats = decode_hr(pl.heart_rate(bpm, rr), DEV)
    assert reading.value("heart_rate") == bpm
    assert (list(beats.rr_s) if beats else []) == pytest.approx(rr, abs=1 / 1024)


@given(st.binary(max_size=24))
def test_arbitrary_bytes_decode_or_raise_malformed(raw: bytes) -> None:
    for decode in (
        lambda b: decode_bp(b, DEV), lambda b: decode_glucose(b, DEV), lambda b: decode_hr(b, DEV),
        lambda b: decode_plx(b, DEV, spot=True), lambda b: decode_plx(b, DEV, spot=False),
    ):
        with contextlib.suppress(MalformedPayload):
            decode(raw)
