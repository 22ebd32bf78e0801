"""Hostile inputs from the air and the wire: every parser answers with its own error, never a
crash. (GATT payloads are fuzzed with the codecs; this covers config files and MQTT payloads.)"""

from __future__ import annotations

import json
import string
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vitalgate.cloud_bridge.wire import parse_payload
from vitalgate.config import load_settings
from vitalgate.errors import ConfigError, MalformedPayload

SECTIONS = ["site", "mqtt", "outbox", "store", "ingest", "ble", "clock", "rules", "residents", "kit", "nope"]
KEYS = ["id", "gateway", "url", "keepalive_s", "protocol", "path", "max_bytes", "kind", "batch_size",
        "require_sync", "not_before", "tls", "password", "backend", "allow", "x"]
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True),
    st.text(max_size=40), st.lists(st.integers(), max_size=3),
)


E = TypeVar("E", bound=Exception)


def refusal(kind: type[E], fn: Callable[..., object], *args: Any, **kwargs: Any) -> E | None:
    """Call ``fn``; the ``kind`` error it raised, or ``None``. Any other exception propagates."""
    try:
        fn(*args, **kwargs)
    except kind as err:
        return err
    return None


def toml_value(v: Any) -> str:
    if v is None:
        return '""'
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return {"nan": "nan", "inf": "inf", "-inf": "-inf"}.get(repr(v), repr(v))
    if isinstance(v, str):
        return json.dumps(v)
    return json.dumps(v) if isinstance(v, list) else str(v)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.sampled_from(SECTIONS), st.dictionaries(st.sampled_from(KEYS), scalars, max_size=4), max_size=4))
def test_config_loader_refuses_with_config_error_only(tmp_path: Path, doc: dict[str, dict[str, Any]]) -> None:
    text = "".join(
        f"[{section}]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in body.items())
        for section, body in doc.items()
    )
    path = tmp_path / "fuzz.toml"
    path.write_text(text)
    err = refusal(ConfigError, load_settings, path)
    if err is not None:
        assert str(err)  # a message a person can read
        assert all(key and fix for key, fix in err.problems)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet=string.printable, max_size=200) | st.binary(max_size=200).map(lambda b: b.decode("latin-1")))
def test_config_loader_survives_garbage_files(tmp_path: Path, text: str) -> None:
    path = tmp_path / "garbage.toml"
    path.write_text(text, encoding="latin-1")
    refusal(ConfigError, load_settings, path)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()))
def test_wire_parser_refuses_with_malformed_payload_only(raw: bytes) -> None:
    err = refusal(MalformedPayload, parse_payload, raw, source="fuzz/topic")
    assert err is None or "fuzz/topic" in str(err)


def _valid_observation() -> dict[str, Any]:
    from dataflow import readings

    from vitalgate.cloud_bridge.wire import Observation, dump_payload

    obs = Observation.from_reading(readings(1)[0], site="s1", gateway="g1", resident="r1")
    return dict(json.loads(dump_payload(obs)))


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_wire_parser_refuses_mutated_observations(data: st.DataObject) -> None:
    doc = _valid_observation()
    for _ in range(data.draw(st.integers(1, 3))):
        key = data.draw(st.sampled_from([*doc.keys(), "unexpected"]))
        doc[key] = data.draw(json_values)
    err = refusal(MalformedPayload, parse_payload, json.dumps(doc).encode(), source="fuzz/obs")
    assert err is None or "fuzz/obs" in str(err)
