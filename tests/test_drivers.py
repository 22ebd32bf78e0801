"""Driver conversions: codec output -> Reading in canonical UCUM units with MDC/LOINC codes.

Payloads are built with the codecs' encoders (the inverse of ``gatt.decode``), so each test
states the device's bytes in spec units and checks the unit conversion and flags the drivers add.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import pytest

from vitalgate.device_drivers import gatt
from vitalgate.device_drivers.basic_drivers import decode_bp, decode_glucose, decode_hr, decode_plx
from vitalgate.errors import MalformedPayload
from vitalgate.readings import GATEWAY_TIME, DeviceIdentity
from vitalgate.vocabulary import Kind

DEV = DeviceIdentity("C5:00:00:00:00:42")
AT = datetime(2024, 3, 1, 7, 30, 0)


def _bp(unit: str, sys_: float, dia: float, *, at: datetime | None = AT, status: int | None = None) -> bytes:
    st = None
    if status is not None:
        st = gatt.BloodPressureStatus(
            body_movement=bool(status & 1), cuff_too_loose=bool(status & 2), irregular_pulse=bool(status & 4),
            pulse_rate_range=(status >> 3) & 3, improper_position=bool(status & 0x20), raw=status,
        )
    return gatt.encode(gatt.BloodPressureMeasurement(unit, sys_, dia, math.nan, at, 72.0, 1, st))


def test_bp_in_kpa_is_converted_to_mmhg_with_codes() -> None:
    r = decode_bp(_bp("kPa", 16.0, 10.6), DEV)
    assert r.kind is Kind.BLOOD_PRESSURE
    assert r.value("systolic") == pytest.approx(120.0, abs=0.05)  # 16 kPa = 120.01 mmHg
    assert r.value("diastolic") == pytest.approx(79.5, abs=0.05)
    assert r.value("mean") is None  # NaN mean arterial pressure is not a component
    sys_c = next(c for c in r.components if c.name == "systolic")
    assert sys_c.code.ucum == "mm[Hg]"
    assert sys_c.code.loinc == "8480-6"
    assert r.user_slot == 1
    assert GATEWAY_TIME not in r.flags


def test_bp_status_bits_become_flags_and_missing_stamp_is_gateway_time() -> None:
    r = decode_bp(_bp("mmHg", 150, 95, at=None, status=0x01 | 0x04 | 0x20), DEV)
    assert {"body_movement", "irregular_pulse", "improper_position", GATEWAY_TIME} <= r.flags
    assert "cuff_too_loose" not in r.flags


def test_bp_special_value_is_malformed_not_a_reading() -> None:
    with pytest.raises(MalformedPayload, match="systolic"):
        decode_bp(_bp("mmHg", math.nan, 80), DEV)


def _glucose(conc: float, unit: str, offset: int | None = None) -> bytes:
    return gatt.encode(gatt.GlucoseMeasurement(
        sequence_number=7, base_time=AT, time_offset_min=offset, concentration=conc, unit=unit,
        type=1, sample_location=1, sensor_status=None, context_follows=False,
    ))


@pytest.mark.parametrize(("conc", "unit", "mmol"), [
    (0.0055, "mol/L", 5.5),  # 1 mol/L = 1000 mmol/L
    (0.00099, "kg/L", 99.0 / 18.0156),  # 99 mg/dL via 180.156 g/mol
    (0.0018, "kg/L", 180.0 / 18.0156),
])
def test_glucose_is_converted_to_mmol_per_l(conc: float, unit: str, mmol: float) -> None:
    r = decode_glucose(_glucose(conc, unit), DEV)
    assert r.value("glucose") == pytest.approx(round(mmol, 2), abs=1e-9)
    comp = r.components[0]
    assert comp.code.ucum == "mmol/L"
    assert r.sequence == 7
    assert r.stored


@pytest.mark.parametrize(("status", "type_", "location", "expected"), [
    (1 << 3, 1, 1, {"measurement_invalid"}),  # strip insertion error
    (1 << 9, 1, 1, {"measurement_invalid"}),  # strip pulled too soon
    (1 << 5, 1, 1, {"above_range"}),  # higher than the meter can process: judged
    (1 << 0, 1, 1, {"battery_low"}),
    (None, 10, 15, {"control_solution"}),  # type: control solution
    (None, 1, 4, {"control_solution"}),  # sample location: control solution
    (None, 1, 1, set()),
])
def test_glucose_status_and_control_solution_become_flags(status: int | None, type_: int, location: int,
                                                          expected: set[str]) -> None:
    raw = gatt.encode(gatt.GlucoseMeasurement(
        sequence_number=7, base_time=AT, time_offset_min=None, concentration=0.0025, unit="mol/L",
        type=type_, sample_location=location, sensor_status=status, context_follows=False,
    ))
    assert set(decode_glucose(raw, DEV).flags) == expected


def test_glucose_time_offset_is_applied_to_base_time() -> None:
    r = decode_glucose(_glucose(0.0055, "mol/L", offset=-90), DEV)
    assert r.measured_at == (AT + timedelta(minutes=-90)).astimezone()


def test_plx_spot_check_without_clock_is_flagged() -> None:
    v = gatt.PlxSpotCheck(spo2=97.0, pulse_rate=64.0, timestamp=None, measurement_status=None,
                          device_sensor_status=None, pulse_amplitude_index=None, device_clock_not_set=False)
    r = decode_plx(gatt.encode(v), DEV, spot=True)
    assert r.kind is Kind.SPO2
    assert r.value("spo2") == 97.0
    assert r.value("pulse") == 64.0
    assert GATEWAY_TIME in r.flags


def test_heart_rate_rr_intervals_in_seconds_and_no_contact_flag() -> None:
    v = gatt.HeartRateMeasurement(heart_rate=61, sensor_contact=False, energy_expended=None,
                                  rr_intervals_s=(1024 / 1024, 980 / 1024))
    reading, beats = decode_hr(gatt.encode(v), DEV)
    assert reading.value("heart_rate") == 61.0
    assert "no_skin_contact" in reading.flags
    assert beats is not None
    assert tuple(beats.rr_s) == pytest.approx((1.0, 980 / 1024))
    assert beats.skin_contact is False  # (the ECG monitor does not screen these)


def test_pulse_oximeter_status_bits_become_flags() -> None:
    """PLX Measurement Status and Device and Sensor Status: an invalid measurement, a sensor off
    the finger or displaced, demonstration data, a questionable one, low perfusion."""
    def flags(ms: int | None, dss: int | None) -> frozenset[str]:
        v = gatt.PlxSpotCheck(spo2=80.0, pulse_rate=64.0, timestamp=None, measurement_status=ms,
                              device_sensor_status=dss, pulse_amplitude_index=None, device_clock_not_set=False)
        return decode_plx(gatt.encode(v), DEV, spot=True).flags

    assert {"measurement_invalid", "sensor_off"} <= flags(1 << 15, 1 << 13)
    assert "sensor_off" in flags(None, 1 << 11)
    assert "sensor_off" in flags(None, 1 << 15)
    assert "demo_data" in flags(1 << 10, None)
    assert {"measurement_questionable", "low_perfusion"} <= flags(1 << 14, 1 << 5)
    plain = flags(1 << 7, 0)  # validated data, no sensor trouble
    assert not plain & {"measurement_invalid", "sensor_off", "sensor_fault", "demo_data", "measurement_questionable"}
