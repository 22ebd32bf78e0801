"""GATT codecs of the medical Bluetooth SIG profiles: bytes in, typed values out, no guessing.

**Stable entry point**: :func:`decode` ``(uuid, payload) -> frozen dataclass``. ``uuid`` is a
16-bit int (``0x2A35``), a ``"2a35"``-style string or a full 128-bit UUID string. Field names and
units are those of ``gatt_vectors.json`` (see its ``GATT_VECTORS.md``): absent fields are
``None``; IEEE 11073 special values decode to ``nan`` (NaN, NRes, reserved) or ``±inf``; time
stamps are naive :class:`~datetime.datetime` in the device's local time (``None`` when the
device says "not known"); codes are ints, unspecified bit fields raw int masks. A truncated,
over-long or self-inconsistent payload raises :class:`~vitalgate.errors.MalformedPayload` (a
``ValueError``) naming the characteristic and the byte offset.

Layouts follow the GATT Specification Supplement (GSS) and the service specifications: BLS 1.1,
GLS 1.0, PLXS 1.0, HRS 1.0, CGMS 1.0.1, WSS 1.0, HTS 1.0, CTS 1.1, BAS 1.0, DIS 1.1, and the
Polar Measurement Data (PMD) ECG frame of the Polar BLE SDK.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from vitalgate.errors import MalformedPayload

# -- IEEE 11073-20601 numbers ----------------------------------------------------------------------

_SFLOAT_SPECIAL = {0x07FF: math.nan, 0x0800: math.nan, 0x07FE: math.inf, 0x0802: -math.inf, 0x0801: math.nan}
_FLOAT_SPECIAL = {
    0x7FFFFF: math.nan, 0x800000: math.nan, 0x7FFFFE: math.inf, 0x800002: -math.inf, 0x800001: math.nan,
}


def sfloat(raw: int) -> float:
    """IEEE 11073 16-bit SFLOAT: 4-bit signed exponent, 12-bit signed mantissa (base 10)."""
    return _ieee11073(raw, 12, 4, _SFLOAT_SPECIAL)


def float32(raw: int) -> float:
    """IEEE 11073 32-bit FLOAT: 8-bit signed exponent, 24-bit signed mantissa (base 10)."""
    return _ieee11073(raw, 24, 8, _FLOAT_SPECIAL)


def _ieee11073(raw: int, mantissa_bits: int, exponent_bits: int, special: dict[int, float]) -> float:
    """Exponent above the mantissa, both two's complement; the reserved mantissas at exponent 0
    are NaN, NRes and the infinities (``special``)."""
    mantissa, exponent = raw & ((1 << mantissa_bits) - 1), raw >> mantissa_bits
    if exponent == 0 and mantissa in special:
        return special[mantissa]
    if mantissa >= 1 << (mantissa_bits - 1):
        mantissa -= 1 << mantissa_bits
    if exponent >= 1 << (exponent_bits - 1):
        exponent -= 1 << exponent_bits
    return _scale(mantissa, exponent)


def _scale(mantissa: int, exponent: int) -> float:
    # Divide for negative exponents so 138 x 10^-1 is exactly the float nearest 13.8.
    return float(mantissa * 10**exponent) if exponent >= 0 else mantissa / 10**-exponent


def encode_sfloat(value: float, exponent: int = 0) -> bytes:
    """Encode an SFLOAT with ``exponent`` (nan/±inf as the special values), little endian."""
    if math.isnan(value):
        raw = 0x07FF
    elif math.isinf(value):
        raw = 0x07FE if value > 0 else 0x0802
    else:
        mantissa = round(value / 10**exponent)
        if not -2045 <= mantissa <= 2045 or not -8 <= exponent <= 7:
            raise ValueError(f"{value!r} does not fit an SFLOAT with exponent {exponent}")
        raw = ((exponent & 0xF) << 12) | (mantissa & 0x0FFF)
    return struct.pack("<H", raw)


def encode_float32(value: float, exponent: int = 0) -> bytes:
    """Encode a FLOAT with ``exponent`` (nan/±inf as the special values), little endian."""
    if math.isnan(value):
        raw = 0x007FFFFF
    elif math.isinf(value):
        raw = 0x007FFFFE if value > 0 else 0x00800002
    else:
        mantissa = round(value / 10**exponent)
        if not -(2**23) + 3 <= mantissa <= 2**23 - 3 or not -128 <= exponent <= 127:
            raise ValueError(f"{value!r} does not fit a FLOAT with exponent {exponent}")
        raw = ((exponent & 0xFF) << 24) | (mantissa & 0xFFFFFF)
    return struct.pack("<I", raw)


def encode_date_time(t: datetime | None) -> bytes:
    """Date Time (0x2A08); ``None`` encodes "not known" (all zero)."""
    if t is None:
        return bytes(7)
    return struct.pack("<HBBBBB", t.year, t.month, t.day, t.hour, t.minute, t.second)


def _exponent_for(value: float, lo: int, hi: int, limit: int) -> int:
    """The largest exponent that represents ``value`` exactly with a mantissa within ``limit``."""
    if math.isnan(value) or math.isinf(value):
        return 0
    for e in range(hi, lo - 1, -1):
        m = round(value / 10**e)
        if abs(m) <= limit and math.isclose(m * 10.0**e, value, rel_tol=1e-9, abs_tol=1e-12):
            return e
    raise ValueError(f"{value!r} cannot be represented exactly")


def sfloat_bytes(value: float) -> bytes:
    """SFLOAT with the exponent chosen to represent ``value`` exactly."""
    return encode_sfloat(value, _exponent_for(value, -8, 7, 2045))


def float_bytes(value: float) -> bytes:
    """FLOAT with the exponent chosen to represent ``value`` exactly."""
    return encode_float32(value, _exponent_for(value, -20, 20, 2**23 - 3))


def encode_current_time(t: datetime, adjust_reason: int = 0x01) -> bytes:
    """Current Time (0x2A2B) to write to a device: Exact Time 256 with day of week; the
    adjust reason defaults to "manual time update" (bit 0)."""
    return encode_date_time(t) + bytes([t.isoweekday(), int(t.microsecond * 256 / 1e6), adjust_reason])


# -- reading bytes ---------------------------------------------------------------------------------


class _Reader:
    """A cursor over a payload that raises :class:`MalformedPayload` with the offset."""

    def __init__(self, data: bytes, source: str) -> None:
        self.data = bytes(data)
        self.source = source
        self.pos = 0

    def fail(self, message: str, offset: int | None = None) -> MalformedPayload:
        return MalformedPayload(message, source=self.source, offset=self.pos if offset is None else offset)

    def need(self, n: int, what: str) -> None:
        if self.pos + n > len(self.data):
            raise self.fail(f"truncated: {what} needs {n} byte(s), {len(self.data) - self.pos} left")

    def u8(self, what: str) -> int:
        self.need(1, what)
        self.pos += 1
        return self.data[self.pos - 1]

    def u16(self, what: str) -> int:
        self.need(2, what)
        self.pos += 2
        return int.from_bytes(self.data[self.pos - 2 : self.pos], "little")

    def s16(self, what: str) -> int:
        self.need(2, what)
        self.pos += 2
        return int.from_bytes(self.data[self.pos - 2 : self.pos], "little", signed=True)

    def u24(self, what: str) -> int:
        self.need(3, what)
        self.pos += 3
        return int.from_bytes(self.data[self.pos - 3 : self.pos], "little")

    def sfloat(self, what: str) -> float:
        return sfloat(self.u16(what))

    def float32(self, what: str) -> float:
        self.need(4, what)
        self.pos += 4
        return float32(int.from_bytes(self.data[self.pos - 4 : self.pos], "little"))

    def date_time(self, what: str = "date time") -> datetime | None:
        start = self.pos
        self.need(7, what)
        year, month, day, hour, minute, second = struct.unpack_from("<HBBBBB", self.data, self.pos)
        self.pos += 7
        if year == 0 or month == 0 or day == 0:
            return None  # "not known" is valid
        try:
            return datetime(year, month, day, hour, minute, second)
        except ValueError as err:
            raise self.fail(f"invalid {what} {year:04d}-{month:02d}-{day:02d} {hour:02d}:{minute:02d}:{second:02d}",
                            start) from err

    def rest(self) -> bytes:
        out, self.pos = self.data[self.pos :], len(self.data)
        return out

    def end(self) -> None:
        if self.pos != len(self.data):
            raise self.fail(f"over-long: {len(self.data) - self.pos} unexpected byte(s) after the last field")


# -- values ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BloodPressureStatus:
    """Measurement Status of 0x2A35 / 0x2A36."""

    body_movement: bool
    cuff_too_loose: bool
    irregular_pulse: bool
    pulse_rate_range: int  # 0 within, 1 above upper limit, 2 below lower limit, 3 reserved
    improper_position: bool
    raw: int


@dataclass(frozen=True, slots=True)
class BloodPressureMeasurement:
    """0x2A35. Pressures in ``unit`` ("mmHg" | "kPa"); pulse rate per minute."""

    unit: str
    systolic: float
    diastolic: float
    mean_arterial: float
    timestamp: datetime | None
    pulse_rate: float | None
    user_id: int | None
    status: BloodPressureStatus | None


@dataclass(frozen=True, slots=True)
class IntermediateCuffPressure:
    """0x2A36: the current cuff pressure (in the systolic slot) during a measurement."""

    unit: str
    cuff_pressure: float
    timestamp: datetime | None
    pulse_rate: float | None
    user_id: int | None
    status: BloodPressureStatus | None


@dataclass(frozen=True, slots=True)
class GlucoseMeasurement:
    """0x2A18. ``concentration`` in ``unit`` ("kg/L" | "mol/L"); time offset in minutes."""

    sequence_number: int
    base_time: datetime | None
    time_offset_min: int | None
    concentration: float | None
    unit: str | None
    type: int | None
    sample_location: int | None
    sensor_status: int | None
    context_follows: bool

    @property
    def mmol_per_l(self) -> float | None:
        """The concentration in mmol/L (exact: 1 mol/L = 1000 mmol/L; kg/L via 180.156 g/mol)."""
        if self.concentration is None or self.unit is None:
            return None
        if self.unit == "mol/L":
            return self.concentration * 1000.0
        return self.concentration * 1e6 / GLUCOSE_MOLAR_MASS_G_PER_MOL  # kg/L x 1e6 = mg/L; mg/L / (g/mol) = mmol/L


#: Molar mass of glucose (C6H12O6), g/mol: the mg/dL <-> mmol/L conversion (IUPAC atomic weights).
GLUCOSE_MOLAR_MASS_G_PER_MOL = 180.156


@dataclass(frozen=True, slots=True)
class GlucoseMeasurementContext:
    """0x2A34. Meal codes: 1 preprandial, 2 postprandial, 3 fasting, 4 casual, 5 bedtime."""

    sequence_number: int
    extended_flags: int | None
    carbohydrate_id: int | None
    carbohydrate_kg: float | None
    meal: int | None
    tester: int | None
    health: int | None
    exercise_duration_s: int | None
    exercise_intensity_pct: int | None
    medication_id: int | None
    medication: float | None
    medication_unit: str | None
    hba1c_pct: float | None


MEAL_NAMES = {1: "preprandial", 2: "postprandial", 3: "fasting", 4: "casual", 5: "bedtime"}


@dataclass(frozen=True, slots=True)
class RecordAccessControlPoint:
    """0x2A52 (requests and responses). Op codes: 1 report stored records, 2 delete, 3 abort,
    4 report number, 5 number of records response, 6 response code. Operators: 0 null, 1 all,
    2 <=, 3 >=, 4 within range, 5 first, 6 last. Response codes: 1 success, 2 op code not
    supported, 3 invalid operator, 4 operator not supported, 5 invalid operand, 6 no records
    found, 7 abort unsuccessful, 8 procedure not completed, 9 operand not supported."""

    opcode: int
    operator: int
    request_opcode: int | None = None
    response_code: int | None = None
    number_of_records: int | None = None
    filter_type: int | None = None  # 1 sequence number, 2 user facing time
    operand: bytes = b""


@dataclass(frozen=True, slots=True)
class PlxSpotCheck:
    """0x2A5E. SpO2 and pulse amplitude index in %, pulse rate per minute."""

    spo2: float
    pulse_rate: float
    timestamp: datetime | None
    measurement_status: int | None
    device_sensor_status: int | None
    pulse_amplitude_index: float | None
    device_clock_not_set: bool


@dataclass(frozen=True, slots=True)
class PlxContinuous:
    """0x2A5F: normal, fast and slow SpO2/pulse rate."""

    spo2: float
    pulse_rate: float
    spo2_fast: float | None
    pulse_rate_fast: float | None
    spo2_slow: float | None
    pulse_rate_slow: float | None
    measurement_status: int | None
    device_sensor_status: int | None
    pulse_amplitude_index: float | None


@dataclass(frozen=True, slots=True)
class HeartRateMeasurement:
    """0x2A37. RR intervals in seconds (raw / 1024), oldest first; energy in kJ."""

    heart_rate: int
    sensor_contact: bool | None
    energy_expended: int | None
    rr_intervals_s: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class TemperatureMeasurement:
    """0x2A1C. Temperature types: 1 armpit, 2 body, 3 ear, 4 finger, 5 GI tract, 6 mouth,
    7 rectum, 8 toe, 9 tympanum."""

    temperature: float
    unit: str  # "celsius" | "fahrenheit"
    timestamp: datetime | None
    temperature_type: int | None


@dataclass(frozen=True, slots=True)
class WeightMeasurement:
    """0x2A9D. SI: kg and m; imperial: lb and inch. ``weight`` is ``nan`` when unsuccessful."""

    unit: str  # "kg" | "lb"
    weight: float
    timestamp: datetime | None
    user_id: int | None
    bmi: float | None
    height: float | None


@dataclass(frozen=True, slots=True)
class CurrentTime:
    """0x2A2B. Day of week 1 = Monday … 7, 0 unknown."""

    timestamp: datetime | None
    day_of_week: int
    fractions256: int
    adjust_reason: int


@dataclass(frozen=True, slots=True)
class CgmMeasurement:
    """0x2AA7, one record: glucose in mg/dL, trend in mg/dL/min, quality in %."""

    glucose_mg_dl: float
    time_offset_min: int
    sensor_status: int | None
    trend_mg_dl_min: float | None
    quality_pct: float | None
    crc_checked: bool


@dataclass(frozen=True, slots=True)
class Features:
    """A features characteristic (0x2A49 BP, 0x2A51 glucose, 0x2A60 PLX): the raw masks."""

    features: int
    measurement_status_support: int | None = None
    device_sensor_status_support: int | None = None


@dataclass(frozen=True, slots=True)
class BatteryLevel:
    """0x2A19, in %."""

    level_pct: int


@dataclass(frozen=True, slots=True)
class Text:
    """A UTF-8 string characteristic (Device Information: manufacturer, model, serial...)."""

    text: str


@dataclass(frozen=True, slots=True)
class PmdEcgFrame:
    """A Polar Measurement Data ECG frame: microvolt samples; time stamp of the last sample (ns)."""

    timestamp_ns: int
    samples_uv: tuple[int, ...]


# -- decoders --------------------------------------------------------------------------------------


def _bp_status(raw: int) -> BloodPressureStatus:
    return BloodPressureStatus(
        body_movement=bool(raw & 0x01), cuff_too_loose=bool(raw & 0x02), irregular_pulse=bool(raw & 0x04),
        pulse_rate_range=(raw >> 3) & 0x03, improper_position=bool(raw & 0x20), raw=raw,
    )


def _bp_common(r: _Reader) -> tuple[str, float, float, float, datetime | None, float | None, int | None,
                                    BloodPressureStatus | None]:
    flags = r.u8("flags")
    unit = "kPa" if flags & 0x01 else "mmHg"
    a, b, c = r.sfloat("systolic"), r.sfloat("diastolic"), r.sfloat("mean arterial pressure")
    stamp = r.date_time("time stamp") if flags & 0x02 else None
    pulse = r.sfloat("pulse rate") if flags & 0x04 else None
    user = r.u8("user id") if flags & 0x08 else None
    status = _bp_status(r.u16("measurement status")) if flags & 0x10 else None
    r.end()
    return unit, a, b, c, stamp, pulse, (None if user == 0xFF else user), status


def _blood_pressure(r: _Reader) -> BloodPressureMeasurement:
    unit, sys_, dia, mean, stamp, pulse, user, status = _bp_common(r)
    return BloodPressureMeasurement(unit, sys_, dia, mean, stamp, pulse, user, status)


def _cuff(r: _Reader) -> IntermediateCuffPressure:
    unit, cuff, _, _, stamp, pulse, user, status = _bp_common(r)
    return IntermediateCuffPressure(unit, cuff, stamp, pulse, user, status)


def _glucose(r: _Reader) -> GlucoseMeasurement:
    flags = r.u8("flags")
    seq = r.u16("sequence number")
    base = r.date_time("base time")
    offset = r.s16("time offset") if flags & 0x01 else None
    conc = unit = typ = loc = None
    if flags & 0x02:
        conc = r.sfloat("glucose concentration")
        unit = "mol/L" if flags & 0x04 else "kg/L"
        tl = r.u8("type-sample location")
        typ, loc = tl & 0x0F, tl >> 4
    status = r.u16("sensor status annunciation") if flags & 0x08 else None
    r.end()
    return GlucoseMeasurement(seq, base, offset, conc, unit, typ, loc, status, bool(flags & 0x10))


def _glucose_context(r: _Reader) -> GlucoseMeasurementContext:
    flags = r.u8("flags")
    seq = r.u16("sequence number")
    ext = r.u8("extended flags") if flags & 0x80 else None
    carb_id = carb = meal = tester = health = dur = intensity = med_id = med = hba1c = None
    if flags & 0x01:
        carb_id, carb = r.u8("carbohydrate id"), r.sfloat("carbohydrate")
    if flags & 0x02:
        meal = r.u8("meal")
    if flags & 0x04:
        th = r.u8("tester-health")
        tester, health = th & 0x0F, th >> 4
    if flags & 0x08:
        dur, intensity = r.u16("exercise duration"), r.u8("exercise intensity")
    if flags & 0x10:
        med_id, med = r.u8("medication id"), r.sfloat("medication")
    med_unit = ("L" if flags & 0x20 else "kg") if flags & 0x10 else None
    if flags & 0x40:
        hba1c = r.sfloat("HbA1c")
    r.end()
    return GlucoseMeasurementContext(seq, ext, carb_id, carb, meal, tester, health, dur, intensity,
                                     med_id, med, med_unit, hba1c)


def _racp(r: _Reader) -> RecordAccessControlPoint:
    opcode, operator = r.u8("op code"), r.u8("operator")
    if opcode == 6:  # response code: operator must be null
        if operator != 0:
            raise r.fail(f"response code with operator {operator}; it must be 0 (null)", 1)
        req, code = r.u8("request op code"), r.u8("response code value")
        r.end()
        return RecordAccessControlPoint(opcode, operator, request_opcode=req, response_code=code)
    if opcode == 5:  # number of stored records response
        if operator != 0:
            raise r.fail(f"number-of-records response with operator {operator}; it must be 0", 1)
        n = r.u16("number of records")
        r.end()
        return RecordAccessControlPoint(opcode, operator, number_of_records=n)
    if opcode in (1, 2, 3, 4):
        if operator in (2, 3, 4):  # a filter: type then one or two values
            ftype = r.u8("filter type")
            return RecordAccessControlPoint(opcode, operator, filter_type=ftype, operand=r.rest())
        r.end()
        return RecordAccessControlPoint(opcode, operator)
    raise r.fail(f"unknown op code {opcode}", 0)


def _plx_spot(r: _Reader) -> PlxSpotCheck:
    flags = r.u8("flags")
    spo2, pr = r.sfloat("SpO2"), r.sfloat("pulse rate")
    stamp = r.date_time("time stamp") if flags & 0x01 else None
    ms = r.u16("measurement status") if flags & 0x02 else None
    dss = r.u24("device and sensor status") if flags & 0x04 else None
    pai = r.sfloat("pulse amplitude index") if flags & 0x08 else None
    r.end()
    return PlxSpotCheck(spo2, pr, stamp, ms, dss, pai, bool(flags & 0x10))


def _plx_continuous(r: _Reader) -> PlxContinuous:
    flags = r.u8("flags")
    spo2, pr = r.sfloat("SpO2"), r.sfloat("pulse rate")
    fast = (r.sfloat("SpO2 fast"), r.sfloat("pulse rate fast")) if flags & 0x01 else (None, None)
    slow = (r.sfloat("SpO2 slow"), r.sfloat("pulse rate slow")) if flags & 0x02 else (None, None)
    ms = r.u16("measurement status") if flags & 0x04 else None
    dss = r.u24("device and sensor status") if flags & 0x08 else None
    pai = r.sfloat("pulse amplitude index") if flags & 0x10 else None
    r.end()
    return PlxContinuous(spo2, pr, fast[0], fast[1], slow[0], slow[1], ms, dss, pai)


def _heart_rate(r: _Reader) -> HeartRateMeasurement:
    flags = r.u8("flags")
    hr = r.u16("heart rate (uint16)") if flags & 0x01 else r.u8("heart rate")
    contact = bool(flags & 0x02) if flags & 0x04 else None
    energy = r.u16("energy expended") if flags & 0x08 else None
    rr: tuple[float, ...] = ()
    if flags & 0x10:
        body = r.rest()
        if len(body) % 2:
            raise r.fail(f"RR intervals take 2 bytes each; {len(body)} byte(s) left", r.pos - len(body))
        rr = tuple(v / 1024 for (v,) in struct.iter_unpack("<H", body))
    r.end()
    return HeartRateMeasurement(hr, contact, energy, rr)


def _temperature(r: _Reader) -> TemperatureMeasurement:
    flags = r.u8("flags")
    value = r.float32("temperature")
    stamp = r.date_time("time stamp") if flags & 0x02 else None
    ttype = r.u8("temperature type") if flags & 0x04 else None
    r.end()
    return TemperatureMeasurement(value, "fahrenheit" if flags & 0x01 else "celsius", stamp, ttype)


def _weight(r: _Reader) -> WeightMeasurement:
    flags = r.u8("flags")
    imperial = bool(flags & 0x01)
    raw = r.u16("weight")
    weight = math.nan if raw == 0xFFFF else raw * (0.01 if imperial else 0.005)
    stamp = r.date_time("time stamp") if flags & 0x02 else None
    user = r.u8("user id") if flags & 0x04 else None
    bmi = height = None
    if flags & 0x08:
        bmi = r.u16("BMI") * 0.1
        height = r.u16("height") * (0.1 if imperial else 0.001)
    r.end()
    return WeightMeasurement("lb" if imperial else "kg", weight, stamp, None if user == 0xFF else user, bmi, height)


def _current_time(r: _Reader) -> CurrentTime:
    stamp = r.date_time("exact time")
    dow, frac, reason = r.u8("day of week"), r.u8("fractions256"), r.u8("adjust reason")
    if dow > 7:
        raise r.fail(f"day of week {dow} is not 0 (unknown) or 1..7", 7)
    r.end()
    return CurrentTime(stamp, dow, frac, reason)


def crc_ccitt(data: bytes) -> int:
    """The CGM E2E-CRC: CRC-CCITT (x^16 + x^12 + x^5 + 1), seed 0xFFFF, bits LSB first."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc


def _cgm(r: _Reader) -> CgmMeasurement:
    size, flags = r.u8("size"), r.u8("flags")
    status_octets = bin(flags & 0xE0).count("1")
    required = 6 + status_octets + (2 if flags & 0x01 else 0) + (2 if flags & 0x02 else 0)
    if size not in (required, required + 2):
        raise r.fail(f"size {size} does not fit the flags 0x{flags:02X} ({required} or {required + 2} with E2E-CRC)", 0)
    if size != len(r.data):
        raise r.fail(f"size field says {size} bytes, the value has {len(r.data)} (one record per value)", 0)
    glucose, offset = r.sfloat("glucose concentration"), r.u16("time offset")
    status = int.from_bytes(r.data[r.pos : r.pos + status_octets], "little") if status_octets else None
    r.need(status_octets, "sensor status annunciation")
    r.pos += status_octets
    trend = r.sfloat("trend") if flags & 0x01 else None
    quality = r.sfloat("quality") if flags & 0x02 else None
    checked = size == required + 2
    if checked:
        want = crc_ccitt(r.data[: r.pos])
        got = r.u16("E2E-CRC")
        if got != want:
            raise r.fail(f"E2E-CRC 0x{got:04X} does not match the record (0x{want:04X})", r.pos - 2)
    r.end()
    return CgmMeasurement(glucose, offset, status, trend, quality, checked)


def _features(r: _Reader) -> Features:
    out = Features(r.u16("features"))
    r.end()
    return out


def _plx_features(r: _Reader) -> Features:
    feats = r.u16("supported features")
    ms = r.u16("measurement status support") if feats & 0x01 else None
    dss = r.u24("device and sensor status support") if feats & 0x02 else None
    r.end()
    return Features(feats, ms, dss)


def _battery(r: _Reader) -> BatteryLevel:
    level = r.u8("battery level")
    if level > 100:
        raise r.fail(f"battery level {level} % is over 100", 0)
    r.end()
    return BatteryLevel(level)


def _text(r: _Reader) -> Text:
    try:
        return Text(r.rest().rstrip(b"\x00").decode("utf-8"))
    except UnicodeDecodeError as err:
        raise r.fail(f"not UTF-8 text ({err.reason})", err.start) from err


def _pmd(r: _Reader) -> PmdEcgFrame:
    kind = r.u8("measurement type")
    if kind != 0x00:
        raise r.fail(f"measurement type {kind} is not ECG (0)", 0)
    r.need(8, "time stamp")
    (stamp,) = struct.unpack_from("<Q", r.data, r.pos)
    r.pos += 8
    frame_type = r.u8("frame type")
    if frame_type != 0x00:
        raise r.fail(f"ECG frame type {frame_type} is not supported (0: 24-bit samples)", 9)
    body = r.rest()
    if not body or len(body) % 3:
        raise r.fail(f"ECG samples take 3 bytes each; {len(body)} byte(s) given", 10)
    samples = tuple(int.from_bytes(body[i : i + 3], "little", signed=True) for i in range(0, len(body), 3))
    return PmdEcgFrame(stamp, samples)


PMD_DATA_UUID = "fb005c82-02e7-f387-1cad-8acd2d8df0c8"

_DECODERS: dict[int | str, tuple[str, Callable[[_Reader], Any]]] = {
    0x2A35: ("Blood Pressure Measurement", _blood_pressure),
    0x2A36: ("Intermediate Cuff Pressure", _cuff),
    0x2A49: ("Blood Pressure Feature", _features),
    0x2A18: ("Glucose Measurement", _glucose),
    0x2A34: ("Glucose Measurement Context", _glucose_context),
    0x2A51: ("Glucose Feature", _features),
    0x2A52: ("Record Access Control Point", _racp),
    0x2A5E: ("PLX Spot-Check Measurement", _plx_spot),
    0x2A5F: ("PLX Continuous Measurement", _plx_continuous),
    0x2A60: ("PLX Features", _plx_features),
    0x2A37: ("Heart Rate Measurement", _heart_rate),
    0x2A1C: ("Temperature Measurement", _temperature),
    0x2A9D: ("Weight Measurement", _weight),
    0x2A2B: ("Current Time", _current_time),
    0x2AA7: ("CGM Measurement", _cgm),
    0x2A19: ("Battery Level", _battery),
    0x2A29: ("Manufacturer Name String", _text),
    0x2A24: ("Model Number String", _text),
    0x2A25: ("Serial Number String", _text),
    0x2A26: ("Firmware Revision String", _text),
    0x2A27: ("Hardware Revision String", _text),
    0x2A28: ("Software Revision String", _text),
    PMD_DATA_UUID: ("Polar PMD data (ECG)", _pmd),
}

_SIG_BASE = "-0000-1000-8000-00805f9b34fb"


def characteristic_key(uuid: int | str) -> int | str:
    """Normalise ``0x2A35``, ``"2a35"``, ``"0x2A35"`` or a 128-bit UUID string to the table key."""
    if isinstance(uuid, int) and not isinstance(uuid, bool):
        return uuid
    if not isinstance(uuid, str):
        raise TypeError(f"uuid must be an int or a str, not {type(uuid).__name__}")
    s = uuid.strip().lower()
    s = s.removeprefix("0x")
    if len(s) == 36 and s.endswith(_SIG_BASE) and s.startswith("0000"):
        return int(s[4:8], 16)
    if len(s) == 36:
        return s
    if 1 <= len(s) <= 4:
        try:
            return int(s, 16)
        except ValueError:
            pass
    raise ValueError(f"{uuid!r} is not a 16-bit UUID (0x2A35, '2a35') or a 128-bit UUID string")


def decode(uuid: int | str, payload: bytes) -> Any:
    """Decode one characteristic value. **Stable entry point.**

    Parameters
    ----------
    uuid:
        The characteristic: 16-bit int (``0x2A35``), ``"2a35"``-style string or full 128-bit UUID.
    payload:
        The value exactly as read, notified or indicated.

    Returns
    -------
    A frozen dataclass of this module (e.g. :class:`BloodPressureMeasurement`).

    Raises
    ------
    MalformedPayload
        Truncated, over-long or inconsistent payload (names the characteristic and byte offset).
    ValueError
        ``uuid`` is not a characteristic this module decodes.
    """
    key = characteristic_key(uuid)
    entry = _DECODERS.get(key)
    if entry is None:
        shown = f"0x{key:04X}" if isinstance(key, int) else key
        raise ValueError(f"characteristic {shown} is not decoded by vitalgate (see docs/devices.md)")
    name, fn = entry
    source = f"0x{key:04X} {name}" if isinstance(key, int) else name
    if not isinstance(payload, bytes | bytearray | memoryview):
        raise MalformedPayload(f"payload must be bytes, not {type(payload).__name__}", source=source)
    return fn(_Reader(bytes(payload), source))


# -- encoders (tests, the simulator): the inverse of decode ------------------------------------


def _bp_status_raw(st: BloodPressureStatus) -> int:
    return (int(st.body_movement) | int(st.cuff_too_loose) << 1 | int(st.irregular_pulse) << 2
            | (st.pulse_rate_range & 3) << 3 | int(st.improper_position) << 5)


def _bp_encode(unit: str, a: float, b: float, c: float, stamp: datetime | None, pulse: float | None,
               user: int | None, status: BloodPressureStatus | None) -> bytes:
    flags = (unit == "kPa") | (stamp is not None) << 1 | (pulse is not None) << 2 | (user is not None) << 3 \
        | (status is not None) << 4
    out = bytes([flags]) + sfloat_bytes(a) + sfloat_bytes(b) + sfloat_bytes(c)
    out += encode_date_time(stamp) if stamp is not None else b""
    out += sfloat_bytes(pulse) if pulse is not None else b""
    out += bytes([user]) if user is not None else b""
    out += struct.pack("<H", _bp_status_raw(status)) if status is not None else b""
    return out


def encode(value: Any) -> bytes:
    """The characteristic value of a decoded dataclass (``decode(uuid, encode(v)) == v``)."""
    v = value
    if isinstance(v, BloodPressureMeasurement):
        return _bp_encode(v.unit, v.systolic, v.diastolic, v.mean_arterial, v.timestamp, v.pulse_rate, v.user_id, v.status)
    if isinstance(v, IntermediateCuffPressure):
        return _bp_encode(v.unit, v.cuff_pressure, math.nan, math.nan, v.timestamp, v.pulse_rate, v.user_id, v.status)
    if isinstance(v, GlucoseMeasurement):
        flags = (v.time_offset_min is not None) | (v.concentration is not None) << 1 | (v.unit == "mol/L") << 2 \
            | (v.sensor_status is not None) << 3 | v.context_follows << 4
        out = bytes([flags]) + struct.pack("<H", v.sequence_number) + encode_date_time(v.base_time)
        out += struct.pack("<h", v.time_offset_min) if v.time_offset_min is not None else b""
        if v.concentration is not None:
            out += sfloat_bytes(v.concentration) + bytes([(v.type or 0) | (v.sample_location or 0) << 4])
        out += struct.pack("<H", v.sensor_status) if v.sensor_status is not None else b""
        return out
    if isinstance(v, GlucoseMeasurementContext):
        flags = (v.carbohydrate_id is not None) | (v.meal is not None) << 1 | (v.tester is not None) << 2 \
            | (v.exercise_duration_s is not None) << 3 | (v.medication_id is not None) << 4 \
            | (v.medication_unit == "L") << 5 | (v.hba1c_pct is not None) << 6 | (v.extended_flags is not None) << 7
        out = bytes([flags]) + struct.pack("<H", v.sequence_number)
        out += bytes([v.extended_flags]) if v.extended_flags is not None else b""
        if v.carbohydrate_id is not None:
            out += bytes([v.carbohydrate_id]) + sfloat_bytes(v.carbohydrate_kg or 0.0)
        out += bytes([v.meal]) if v.meal is not None else b""
        out += bytes([(v.tester or 0) | (v.health or 0) << 4]) if v.tester is not None else b""
        if v.exercise_duration_s is not None:
            out += struct.pack("<HB", v.exercise_duration_s, v.exercise_intensity_pct or 0)
        if v.medication_id is not None:
            out += bytes([v.medication_id]) + sfloat_bytes(v.medication or 0.0)
        out += sfloat_bytes(v.hba1c_pct) if v.hba1c_pct is not None else b""
        return out
    if isinstance(v, RecordAccessControlPoint):
        out = bytes([v.opcode, v.operator])
        if v.opcode == 6:
            return out + bytes([v.request_opcode or 0, v.response_code or 0])
        if v.opcode == 5:
            return out + struct.pack("<H", v.number_of_records or 0)
        return out + (bytes([v.filter_type]) + v.operand if v.filter_type is not None else b"")
    if isinstance(v, PlxSpotCheck):
        flags = (v.timestamp is not None) | (v.measurement_status is not None) << 1 \
            | (v.device_sensor_status is not None) << 2 | (v.pulse_amplitude_index is not None) << 3 \
            | v.device_clock_not_set << 4
        out = bytes([flags]) + sfloat_bytes(v.spo2) + sfloat_bytes(v.pulse_rate)
        out += encode_date_time(v.timestamp) if v.timestamp is not None else b""
        out += struct.pack("<H", v.measurement_status) if v.measurement_status is not None else b""
        out += v.device_sensor_status.to_bytes(3, "little") if v.device_sensor_status is not None else b""
        out += sfloat_bytes(v.pulse_amplitude_index) if v.pulse_amplitude_index is not None else b""
        return out
    if isinstance(v, PlxContinuous):
        fast, slow = v.spo2_fast is not None, v.spo2_slow is not None
        flags = fast | slow << 1 | (v.measurement_status is not None) << 2 | (v.device_sensor_status is not None) << 3 \
            | (v.pulse_amplitude_index is not None) << 4
        out = bytes([flags]) + sfloat_bytes(v.spo2) + sfloat_bytes(v.pulse_rate)
        out += sfloat_bytes(v.spo2_fast or 0.0) + sfloat_bytes(v.pulse_rate_fast or 0.0) if fast else b""
        out += sfloat_bytes(v.spo2_slow or 0.0) + sfloat_bytes(v.pulse_rate_slow or 0.0) if slow else b""
        out += struct.pack("<H", v.measurement_status) if v.measurement_status is not None else b""
        out += v.device_sensor_status.to_bytes(3, "little") if v.device_sensor_status is not None else b""
        out += sfloat_bytes(v.pulse_amplitude_index) if v.pulse_amplitude_index is not None else b""
        return out
    if isinstance(v, HeartRateMeasurement):
        wide = v.heart_rate > 255
        flags = wide | (v.sensor_contact is not None) << 2 | bool(v.sensor_contact) << 1 \
            | (v.energy_expended is not None) << 3 | bool(v.rr_intervals_s) << 4
        out = bytes([flags]) + (struct.pack("<H", v.heart_rate) if wide else bytes([v.heart_rate]))
        out += struct.pack("<H", v.energy_expended) if v.energy_expended is not None else b""
        return out + b"".join(struct.pack("<H", round(rr * 1024)) for rr in v.rr_intervals_s)
    if isinstance(v, TemperatureMeasurement):
        flags = (v.unit == "fahrenheit") | (v.timestamp is not None) << 1 | (v.temperature_type is not None) << 2
        out = bytes([flags]) + float_bytes(v.temperature)
        out += encode_date_time(v.timestamp) if v.timestamp is not None else b""
        return out + (bytes([v.temperature_type]) if v.temperature_type is not None else b"")
    if isinstance(v, WeightMeasurement):
        imperial = v.unit == "lb"
        flags = imperial | (v.timestamp is not None) << 1 | (v.user_id is not None) << 2 | (v.bmi is not None) << 3
        raw = 0xFFFF if math.isnan(v.weight) else round(v.weight / (0.01 if imperial else 0.005))
        out = bytes([flags]) + struct.pack("<H", raw)
        out += encode_date_time(v.timestamp) if v.timestamp is not None else b""
        out += bytes([v.user_id]) if v.user_id is not None else b""
        if v.bmi is not None:
            out += struct.pack("<HH", round(v.bmi / 0.1), round((v.height or 0.0) / (0.1 if imperial else 0.001)))
        return out
    if isinstance(v, CurrentTime):
        return encode_date_time(v.timestamp) + bytes([v.day_of_week, v.fractions256, v.adjust_reason])
    if isinstance(v, CgmMeasurement):
        flags = (v.trend_mg_dl_min is not None) | (v.quality_pct is not None) << 1 | (0xE0 if v.sensor_status is not None else 0)
        body = sfloat_bytes(v.glucose_mg_dl) + struct.pack("<H", v.time_offset_min)
        body += v.sensor_status.to_bytes(3, "little") if v.sensor_status is not None else b""
        body += sfloat_bytes(v.trend_mg_dl_min) if v.trend_mg_dl_min is not None else b""
        body += sfloat_bytes(v.quality_pct) if v.quality_pct is not None else b""
        size = 2 + len(body) + (2 if v.crc_checked else 0)
        out = bytes([size, flags]) + body
        return out + struct.pack("<H", crc_ccitt(out)) if v.crc_checked else out
    if isinstance(v, Features):
        out = struct.pack("<H", v.features)
        out += struct.pack("<H", v.measurement_status_support) if v.measurement_status_support is not None else b""
        return out + (v.device_sensor_status_support.to_bytes(3, "little") if v.device_sensor_status_support is not None else b"")
    if isinstance(v, BatteryLevel):
        return bytes([v.level_pct])
    if isinstance(v, Text):
        return v.text.encode()
    if isinstance(v, PmdEcgFrame):
        return bytes([0]) + struct.pack("<Q", v.timestamp_ns) + bytes([0]) + b"".join(
            s.to_bytes(3, "little", signed=True) for s in v.samples_uv)
    raise TypeError(f"cannot encode {type(value).__name__}")


def supported() -> dict[str, str]:
    """``{uuid: name}`` of every characteristic :func:`decode` understands."""
    return {(f"{k:04x}" if isinstance(k, int) else k): name for k, (name, _) in _DECODERS.items()}
