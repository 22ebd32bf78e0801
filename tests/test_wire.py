"""Wire models: round-trip (hypothesis) and rejection of bad payloads."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vitalgate.cloud_bridge import topics
from vitalgate.cloud_bridge.wire import (
    Alert,
    Observation,
    Severity,
    dump_payload,
    parse_payload,
)
from vitalgate.errors import MalformedPayload
from vitalgate.readings import DeviceIdentity, Reading
from vitalgate.vocabulary import COMPONENTS, Kind

segments = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,20}\Z")
times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e9, max_value=1e9)


@st.composite
def readings(draw: st.DrawFn) -> Reading:
    kind = draw(st.sampled_from(list(Kind)))
    names = draw(st.lists(st.sampled_from(list(COMPONENTS[kind])), min_size=1, unique=True))
    values = {n: draw(finite) for n in names}
    dev = DeviceIdentity(
        address=draw(st.sampled_from(["AA:BB:CC:DD:EE:01", "00:11:22:33:44:55"])),
        model=draw(st.none() | st.text(max_size=20)),
        serial=draw(st.none() | st.text(max_size=20)),
    )
    return Reading.of(
        kind,
        values,
        draw(times),
        dev,
        sequence=draw(st.none() | st.integers(0, 65535)),
        flags=frozenset(draw(st.lists(st.sampled_from(["irregular_pulse", "body_movement"])))),
    )


@given(readings(), segments, segments, segments)
def test_observation_round_trip(reading: Reading, site: str, gw: str, resident: str) -> None:
    obs = Observation.from_reading(reading, site=site, gateway=gw, resident=resident)
    back = parse_payload(dump_payload(obs))
    assert back == obs
    assert back.reading_id == reading.reading_id


@given(segments, st.sampled_from(list(Severity)), times, st.text(min_size=1, max_size=200))
def test_alert_round_trip(resident: str, severity: Severity, t: datetime, reason: str) -> None:
    alert = Alert(
        alert_id="a" * 16,
        site="s1",
        gateway="g1",
        resident=resident,
        rule="bp_urgent",
        severity=severity,
        reason=reason,
        raised_at=t,
        triggered_at=t,
    )
    assert parse_payload(dump_payload(alert)) == alert


def test_reading_id_is_stable_and_distinguishes_readings() -> None:
    t = datetime(2026, 3, 1, 8, 12, tzinfo=UTC)
    dev = DeviceIdentity(address="AA:BB:CC:DD:EE:01", serial="123")
    a = Reading.of(Kind.BLOOD_PRESSURE, {"systolic": 150, "diastolic": 95}, t, dev)
    b = Reading.of(Kind.BLOOD_PRESSURE, {"systolic": 150, "diastolic": 95}, t, dev,
                   received_at=t + timedelta(hours=1))
    c = Reading.of(Kind.BLOOD_PRESSURE, {"systolic": 151, "diastolic": 95}, t, dev)
    assert a.reading_id == b.reading_id  # a re-send later is the same reading
    assert a.reading_id != c.reading_id


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        (b"{not json", "not JSON"),
        (b"[1, 2]", "JSON object"),
        (json.dumps({"schema_version": 2, "type": "observation"}).encode(), "schema_version"),
        (json.dumps({"schema_version": 1, "type": "banana"}).encode(), "unknown type"),
        (b"x" * (300 * 1024), "exceeds"),
        (json.dumps({"schema_version": 1, "type": "observation", "kind": "x"}).encode(), "field"),
    ],
)
def test_bad_payloads_are_named(payload: bytes, fragment: str) -> None:
    with pytest.raises(MalformedPayload, match=fragment):
        parse_payload(payload, source="t")


def test_topics_parse() -> None:
    t = topics.Topics("hut3", "gw1")
    assert topics.parse(t.obs("r1", "glucose")) == {
        "site": "hut3", "gateway": "gw1", "channel": "obs", "resident": "r1", "kind": "glucose"
    }
    assert topics.parse(t.ack("r1"))["channel"] == "ack"
    with pytest.raises(ValueError):
        topics.parse("other/v1/x")
