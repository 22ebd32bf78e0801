"""Encoders are the inverse of the decoders: every shared vector, and generated values."""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import datetime
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from vitalgate.device_drivers import gatt


def same(a: Any, b: Any) -> bool:
    if dataclasses.is_dataclass(a):
        return type(a) is type(b) and all(same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(a, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def test_every_shared_vector_round_trips(shared_data: Path) -> None:
    n = 0
    for v in json.loads((shared_data / "gatt_vectors.json").read_text()):
        if v["expected"].get("error"):
            continue
        value = gatt.decode(v["uuid"], bytes.fromhex(v["hex"]))
        again = gatt.decode(v["uuid"], gatt.encode(value))
        assert same(again, value), v["id"]
        n += 1
    assert n >= 25


stamps = st.one_of(st.none(), st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)).map(
    lambda d: d.replace(microsecond=0)))
tenths = st.integers(0, 2045).map(lambda i: i / 10)


@settings(max_examples=300, deadline=None)
@given(sys_=st.integers(40, 300), dia=st.integers(20, 200), pulse=st.one_of(st.none(), st.integers(30, 220).map(float)),
       user=st.one_of(st.none(), st.integers(0, 254)), stamp=stamps, status=st.one_of(st.none(), st.integers(0, 0x3F)))
def test_blood_pressure(sys_: int, dia: int, pulse: float | None, user: int | None, stamp: datetime | None,
                        status: int | None) -> None:
    st_ = None if status is None else gatt.decode(0x2A35, bytes([0x10]) + bytes(6) + status.to_bytes(2, "little")).status
    v = gatt.BloodPressureMeasurement("mmHg", float(sys_), float(dia), 100.0, stamp, pulse, user, st_)
    assert same(gatt.decode(0x2A35, gatt.encode(v)), v)


@settings(max_examples=300, deadline=None)
@given(seq=st.integers(0, 65535), stamp=stamps.filter(lambda s: s is not None), offset=st.one_of(st.none(), st.integers(-32768, 32767)),
       mmol=st.integers(1, 2000), ctx=st.booleans())
def test_glucose(seq: int, stamp: datetime, offset: int | None, mmol: int, ctx: bool) -> None:
    v = gatt.GlucoseMeasurement(seq, stamp, offset, mmol / 1e5, "mol/L", 1, 1, None, ctx)
    assert same(gatt.decode(0x2A18, gatt.encode(v)), v)


@settings(max_examples=300, deadline=None)
@given(hr=st.integers(0, 400), contact=st.one_of(st.none(), st.booleans()), ee=st.one_of(st.none(), st.integers(0, 65535)),
       rr=st.lists(st.integers(1, 65535), max_size=8))
def test_heart_rate(hr: int, contact: bool | None, ee: int | None, rr: list[int]) -> None:
    v = gatt.HeartRateMeasurement(hr, contact, ee, tuple(r / 1024 for r in rr))
    assert same(gatt.decode(0x2A37, gatt.encode(v)), v)


@settings(max_examples=200, deadline=None)
@given(g=tenths, offset=st.integers(0, 65535), trend=st.one_of(st.none(), tenths), q=st.one_of(st.none(), tenths),
       status=st.one_of(st.none(), st.integers(0, 2**24 - 1)), crc=st.booleans())
def test_cgm_with_and_without_crc(g: float, offset: int, trend: float | None, q: float | None, status: int | None,
                                  crc: bool) -> None:
    v = gatt.CgmMeasurement(g, offset, status, trend, q, crc)
    assert same(gatt.decode(0x2AA7, gatt.encode(v)), v)


@settings(max_examples=200, deadline=None)
@given(t=st.integers(-50000, 50000), unit=st.sampled_from(["celsius", "fahrenheit"]), stamp=stamps,
       kind=st.one_of(st.none(), st.integers(1, 9)))
def test_temperature(t: int, unit: str, stamp: datetime | None, kind: int | None) -> None:
    v = gatt.TemperatureMeasurement(t / 100, unit, stamp, kind)
    assert same(gatt.decode(0x2A1C, gatt.encode(v)), v)


@settings(max_examples=200, deadline=None)
@given(raw=st.integers(0, 65534), imperial=st.booleans(), stamp=stamps, user=st.one_of(st.none(), st.integers(0, 254)),
       bmi=st.one_of(st.none(), st.integers(0, 65535)), height=st.integers(0, 65535))
def test_weight(raw: int, imperial: bool, stamp: datetime | None, user: int | None, bmi: int | None, height: int) -> None:
    scale, hscale = (0.01, 0.1) if imperial else (0.005, 0.001)
    v = gatt.WeightMeasurement("lb" if imperial else "kg", raw * scale, stamp, user,
                               None if bmi is None else bmi * 0.1, None if bmi is None else height * hscale)
    assert same(gatt.decode(0x2A9D, gatt.encode(v)), v)


@settings(max_examples=200, deadline=None)
@given(spo2=st.integers(50, 100), pr=st.integers(20, 250), stamp=stamps, ms=st.one_of(st.none(), st.integers(0, 65535)),
       dss=st.one_of(st.none(), st.integers(0, 2**24 - 1)), pai=st.one_of(st.none(), tenths), unset=st.booleans())
def test_plx_spot_check(spo2: int, pr: int, stamp: datetime | None, ms: int | None, dss: int | None,
                        pai: float | None, unset: bool) -> None:
    v = gatt.PlxSpotCheck(float(spo2), float(pr), stamp, ms, dss, pai, unset)
    assert same(gatt.decode(0x2A5E, gatt.encode(v)), v)
