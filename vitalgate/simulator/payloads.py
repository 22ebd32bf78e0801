"""Byte builders for what the emulated devices send, per the Bluetooth SIG specifications.

Kept small and independent of the gateway's decoders on purpose: an emulated device that used
the decoder's own inverse could not catch a decoder bug that the inverse shares. Field layouts:
BLS 1.1 (0x2A35), GLS 1.0 (0x2A18, RACP 0x2A52), PLXS 1.0 (0x2A5E, 0x2A5F), HRS 1.0 (0x2A37), and
the Polar Measurement Data (PMD) ECG frame of the Polar BLE SDK documentation.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from datetime import datetime

#: IEEE 11073-20601 SFLOAT special value "not a number".
SFLOAT_NAN = 0x07FF


def sfloat(value: float, exponent: int | None = None) -> bytes:
    """Encode an IEEE 11073 16-bit SFLOAT (12-bit mantissa, 4-bit exponent), little endian."""
    if math.isnan(value):
        return struct.pack("<H", SFLOAT_NAN)
    if exponent is None:
        exponent = 0 if float(value).is_integer() else -1
    mantissa = round(value * 10 ** (-exponent))
    if not -2046 <= mantissa <= 2046:
        raise ValueError(f"{value!r} does not fit an SFLOAT with exponent {exponent}")
    return struct.pack("<H", ((exponent & 0xF) << 12) | (mantissa & 0xFFF))


def date_time(t: datetime) -> bytes:
    """Date Time (0x2A08): year u16, month, day, hours, minutes, seconds."""
    return struct.pack("<HBBBBB", t.year, t.month, t.day, t.hour, t.minute, t.second)


def blood_pressure(
    systolic: float,
    diastolic: float,
    mean: float | None = None,
    *,
    at: datetime | None = None,
    pulse: float | None = None,
    user: int | None = None,
    status: int | None = None,
) -> bytes:
    """Blood Pressure Measurement (0x2A35), in mmHg."""
    flags = 0
    body = sfloat(systolic) + sfloat(diastolic)
    body += sfloat(mean if mean is not None else round(diastolic + (systolic - diastolic) / 3))
    if at is not None:
        flags |= 0x02
        body += date_time(at)
    if pulse is not None:
        flags |= 0x04
        body += sfloat(pulse)
    if user is not None:
        flags |= 0x08
        body += bytes([user])
    if status is not None:
        flags |= 0x10
        body += struct.pack("<H", status)
    return bytes([flags]) + body


def glucose(
    sequence: int, at: datetime, mmol_l: float, *, sample_type: int = 1, location: int = 1,
    time_offset_min: int | None = None, context_follows: bool = False,
) -> bytes:
    """Glucose Measurement (0x2A18) in mol/L (flag bit 2), capillary whole blood, finger."""
    flags = 0x02 | 0x04 | (0x10 if context_follows else 0)
    body = struct.pack("<H", sequence) + date_time(at)
    if time_offset_min is not None:
        flags |= 0x01
        body += struct.pack("<h", time_offset_min)
    body += sfloat(mmol_l / 1000.0, -4)  # mol/L, 0.1 mmol/L resolution
    body += bytes([(location << 4) | sample_type])
    return bytes([flags]) + body


def glucose_context(sequence: int, meal: int) -> bytes:
    """Glucose Measurement Context (0x2A34) with only the meal field (flag bit 1)."""
    return bytes([0x02]) + struct.pack("<H", sequence) + bytes([meal])


def plx_spot_check(spo2: float, pulse: float, *, at: datetime | None = None, clock_unset: bool = False) -> bytes:
    """PLX Spot-check Measurement (0x2A5E)."""
    flags = 0x10 if clock_unset else 0
    body = sfloat(spo2) + sfloat(pulse)
    if at is not None:
        flags |= 0x01
        body += date_time(at)
    return bytes([flags]) + body


def plx_continuous(spo2: float, pulse: float) -> bytes:
    """PLX Continuous Measurement (0x2A5F), normal values only."""
    return bytes([0]) + sfloat(spo2) + sfloat(pulse)


def heart_rate(bpm: int, rr_s: Sequence[float] = (), *, contact: bool = True) -> bytes:
    """Heart Rate Measurement (0x2A37): 8-bit HR, sensor contact, RR intervals in 1/1024 s."""
    flags = 0x06 if contact else 0x04
    body = bytes([min(255, max(0, bpm))])
    if rr_s:
        flags |= 0x10
        body += b"".join(struct.pack("<H", round(r * 1024)) for r in rr_s)
    return bytes([flags]) + body


# -- Record Access Control Point (0x2A52) -------------------------------------------------------

RACP_REPORT_RECORDS = 0x01
RACP_DELETE_RECORDS = 0x02
RACP_ABORT = 0x03
RACP_REPORT_NUMBER = 0x04
RACP_NUMBER_RESPONSE = 0x05
RACP_RESPONSE = 0x06
OP_ALL = 0x01
OP_LESS_OR_EQUAL = 0x02
OP_GREATER_OR_EQUAL = 0x03
OP_RANGE = 0x04
OP_FIRST = 0x05
OP_LAST = 0x06
RSP_SUCCESS = 0x01
RSP_OPCODE_NOT_SUPPORTED = 0x02
RSP_INVALID_OPERATOR = 0x03
RSP_OPERATOR_NOT_SUPPORTED = 0x04
RSP_INVALID_OPERAND = 0x05
RSP_NO_RECORDS = 0x06
RSP_ABORT_UNSUCCESSFUL = 0x07
FILTER_SEQUENCE = 0x01


def racp_response(request_opcode: int, code: int) -> bytes:
    return bytes([RACP_RESPONSE, 0x00, request_opcode, code])


def racp_number(count: int) -> bytes:
    return bytes([RACP_NUMBER_RESPONSE, 0x00]) + struct.pack("<H", count)


# -- Polar Measurement Data (PMD) ---------------------------------------------------------------

PMD_SERVICE = "FB005C80-02E7-F387-1CAD-8ACD2D8DF0C8"
PMD_CONTROL = "FB005C81-02E7-F387-1CAD-8ACD2D8DF0C8"
PMD_DATA = "FB005C82-02E7-F387-1CAD-8ACD2D8DF0C8"
PMD_ECG = 0x00
PMD_OP_GET_SETTINGS = 0x01
PMD_OP_START = 0x02
PMD_OP_STOP = 0x03


def pmd_control_response(op: int, measurement: int, status: int = 0, params: bytes = b"") -> bytes:
    """Control-point response: 0xF0, op code, measurement type, status, more=0, parameters."""
    return bytes([0xF0, op, measurement, status, 0x00]) + params


def pmd_ecg_settings() -> bytes:
    """ECG settings: sample rate 130 Hz, resolution 14 bits (as a Polar H10 reports)."""
    return bytes([0x00, 0x01, 0x82, 0x00, 0x01, 0x01, 0x0E, 0x00])


def pmd_ecg_frame(timestamp_ns: int, samples_uv: Sequence[int]) -> bytes:
    """ECG data frame: type 0, u64 time stamp (ns, of the last sample), frame type 0, int24 µV."""
    out = bytearray([PMD_ECG]) + struct.pack("<Q", timestamp_ns) + bytes([0x00])
    for s in samples_uv:
        out += int(s).to_bytes(3, "little", signed=True)
    return bytes(out)
