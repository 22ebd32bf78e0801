"""Hostile bytes from the air: for every characteristic, any byte string decodes or raises
MalformedPayload (with the offset) — never another exception."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vitalgate.device_drivers.gatt import (
    decode,
    encode_float32,
    encode_sfloat,
    float32,
    sfloat,
    supported,
)
from vitalgate.errors import MalformedPayload

UUIDS = sorted(supported())


@pytest.mark.parametrize("uuid", UUIDS)
@settings(max_examples=300, deadline=None)
@given(payload=st.binary(max_size=40))
def test_any_bytes_decode_or_raise_malformed(uuid: str, payload: bytes) -> None:
    try:
        value = decode(uuid, payload)
    except MalformedPayload as err:
        assert err.offset is not None, str(err)  # noqa: PT017 -- the offset is the point
        return
    assert dataclasses.is_dataclass(value)


@settings(max_examples=500, deadline=None)
@given(mantissa=st.integers(-2045, 2045), exponent=st.integers(-8, 7))
def test_sfloat_round_trip(mantissa: int, exponent: int) -> None:
    value = mantissa * 10.0**exponent
    assert sfloat(int.from_bytes(encode_sfloat(value, exponent), "little")) == pytest.approx(value, rel=1e-12)


@settings(max_examples=500, deadline=None)
@given(mantissa=st.integers(-(2**23) + 3, 2**23 - 3), exponent=st.integers(-20, 20))
def test_float_round_trip(mantissa: int, exponent: int) -> None:
    value = mantissa * 10.0**exponent
    assert float32(int.from_bytes(encode_float32(value, exponent), "little")) == pytest.approx(value, rel=1e-12)


@pytest.mark.parametrize(("raw", "want"), [
    (0x07FF, "nan"), (0x0800, "nan"), (0x0801, "nan"), (0x07FE, "inf"), (0x0802, "-inf"),
    (0xFFFF, "-0.1"), (0x0001, "1.0"), (0x17FF, "20470.0"), (0xF802, "-204.6"),
])
def test_sfloat_special_values_only_with_exponent_zero(raw: int, want: str) -> None:
    assert repr(sfloat(raw)) == want
