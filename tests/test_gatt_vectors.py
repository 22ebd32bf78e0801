"""Every vector of ../shared/data/gatt_vectors.json decodes to its expected fields (or raises)."""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from vitalgate.device_drivers.gatt import decode
from vitalgate.errors import MalformedPayload


def vectors(shared: Path) -> list[dict[str, Any]]:
    return list(json.loads((shared / "gatt_vectors.json").read_text()))


SPECIAL = {"NaN": math.nan, "NRes": math.nan, "reserved": math.nan, "+INF": math.inf, "-INF": -math.inf}


def same(got: Any, want: Any) -> bool:
    if isinstance(want, str) and want in SPECIAL:
        w = SPECIAL[want]
        return isinstance(got, float) and (math.isnan(got) if math.isnan(w) else got == w)
    if want is None:
        return got is None
    if isinstance(want, bool):
        return got is want
    if isinstance(want, int | float):
        return isinstance(got, int | float) and math.isclose(got, want, rel_tol=1e-3, abs_tol=1e-9)
    if isinstance(want, list):
        return len(got) == len(want) and all(same(g, w) for g, w in zip(got, want, strict=True))
    if isinstance(want, dict):
        return all(same(getattr(got, k), v) for k, v in want.items())
    if isinstance(got, datetime):
        return got.isoformat() == want
    return bool(got == want)


def test_the_vector_file_has_all_characteristics(shared_data: Path) -> None:
    uuids = {v["uuid"] for v in vectors(shared_data)}
    assert {"2a35", "2a36", "2a18", "2a34", "2a52", "2a5e", "2a5f", "2a37", "2a1c", "2a9d", "2a2b", "2aa7"} <= uuids


def test_every_vector(shared_data: Path) -> None:
    failures = []
    for v in vectors(shared_data):
        payload = bytes.fromhex(v["hex"])
        if v["expected"].get("error"):
            with pytest.raises(MalformedPayload) as info:
                decode(v["uuid"], payload)
            assert info.value.offset is not None
            assert v["uuid"].upper() in str(info.value).upper()  # names the characteristic
            continue
        try:
            got = decode(v["uuid"], payload)
        except MalformedPayload as err:
            failures.append(f"{v['id']}: {err}")
            continue
        assert dataclasses.is_dataclass(got)
        for field, want in v["expected"].items():
            if not same(getattr(got, field), want):
                failures.append(f"{v['id']}.{field}: got {getattr(got, field)!r}, want {want!r}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("uuid", [0x2A35, "2a35", "2A35", "0x2a35", "00002a35-0000-1000-8000-00805f9b34fb"])
def test_uuid_spellings(uuid: int | str) -> None:
    assert decode(uuid, bytes.fromhex("008a0058007800")).systolic == 138.0


def test_unknown_characteristic_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="0x2A00"):
        decode(0x2A00, b"\x00")
