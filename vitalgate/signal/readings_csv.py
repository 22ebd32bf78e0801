"""The replay CSV: ``resident,time,kind,value,unit,context`` rows into :class:`Measurement` s.

Kinds ``bp_systolic``, ``bp_diastolic``, ``glucose``, ``spo2``, ``heart_rate``; time ISO 8601 with
an offset; context e.g. ``fasting``, ``postprandial``, ``random`` or empty. Systolic and diastolic
of one measurement share resident and time and become one blood-pressure measurement. Units:
mmHg or kPa; mmol/L or mg/dL (converted with glucose's molar mass, 180.156 g/mol); %; /min
(also ``bpm``); an empty unit means the canonical one.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TextIO

from vitalgate.errors import VitalgateError
from vitalgate.signal.rules import Measurement

COLUMNS = ("resident", "time", "kind", "value", "unit", "context")
KPA_TO_MMHG = 7.50061683
MGDL_PER_MMOLL = 18.0156  # 180.156 g/mol / 10

_UNITS: dict[str, dict[str, float]] = {
    "bp": {"": 1.0, "mmhg": 1.0, "mm[hg]": 1.0, "kpa": KPA_TO_MMHG},
    "glucose": {"": 1.0, "mmol/l": 1.0, "mg/dl": 1.0 / MGDL_PER_MMOLL},
    "spo2": {"": 1.0, "%": 1.0},
    "heart_rate": {"": 1.0, "/min": 1.0, "bpm": 1.0, "1/min": 1.0, "{beats}/min": 1.0},
}
_KINDS = {"bp_systolic": ("bp", "systolic"), "bp_diastolic": ("bp", "diastolic"),
          "glucose": ("glucose", "glucose"), "spo2": ("spo2", "spo2"), "heart_rate": ("heart_rate", "heart_rate")}
_RANGES = {"systolic": (40, 300), "diastolic": (20, 200), "glucose": (0.5, 60), "spo2": (30, 100), "heart_rate": (15, 300)}


class BadRow(VitalgateError, ValueError):
    """A CSV row that cannot be read; names the line and column."""

    def __init__(self, line: int, column: str, message: str) -> None:
        self.line, self.column = line, column
        super().__init__(f"line {line}, column {column!r}: {message}")


@dataclass
class Parsed:
    measurements: list[Measurement]
    skipped: list[BadRow]


def _row(line: int, row: dict[str, str]) -> tuple[str, datetime, str, str, float, str | None]:
    resident = (row.get("resident") or "").strip()
    if not resident:
        raise BadRow(line, "resident", "empty; every row needs the resident's id")
    raw_time = (row.get("time") or "").strip()
    try:
        t = datetime.fromisoformat(raw_time)
    except ValueError:
        raise BadRow(line, "time", f"{raw_time!r} is not ISO 8601 (e.g. 2026-03-01T08:12:00+08:00)") from None
    if t.tzinfo is None:
        raise BadRow(line, "time", f"{raw_time!r} has no UTC offset; add one, e.g. +08:00")
    kind_raw = (row.get("kind") or "").strip()
    if kind_raw not in _KINDS:
        raise BadRow(line, "kind", f"{kind_raw!r} is not one of {', '.join(_KINDS)}")
    group, component = _KINDS[kind_raw]
    raw_value = (row.get("value") or "").strip()
    try:
        value = float(raw_value)
    except ValueError:
        raise BadRow(line, "value", f"{raw_value!r} is not a number") from None
    if not math.isfinite(value):
        raise BadRow(line, "value", f"{raw_value!r} is not a finite number")
    unit = (row.get("unit") or "").strip()
    factor = _UNITS[group].get(unit.lower())
    if factor is None:
        raise BadRow(line, "unit", f"{unit!r} is not a unit for {kind_raw} (use {', '.join(u for u in _UNITS[group] if u)})")
    value *= factor
    lo, hi = _RANGES[component]
    if not lo <= value <= hi:
        raise BadRow(line, "value", f"{value:g} is outside the plausible range {lo}-{hi} for {kind_raw}")
    context = (row.get("context") or "").strip().lower() or None
    return resident, t, group, component, value, context


def read(stream: TextIO, *, skip_bad: bool = False) -> Parsed:
    """Parse the whole CSV. Raises :class:`BadRow` on the first bad row unless ``skip_bad``."""
    reader = csv.DictReader(stream)
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise BadRow(1, missing[0], f"header lacks {', '.join(missing)}; expected {','.join(COLUMNS)}")
    skipped: list[BadRow] = []
    bp: dict[tuple[str, datetime], dict[str, float]] = {}
    bp_ctx: dict[tuple[str, datetime], str | None] = {}
    out: list[tuple[datetime, int, Measurement | tuple[str, datetime]]] = []
    for n, row in enumerate(reader, start=2):
        try:
            resident, t, group, component, value, context = _row(n, row)
            if group == "bp":
                key = (resident, t)
                if component in bp.get(key, {}):
                    raise BadRow(n, "kind", f"a second {component} for {resident} at {t.isoformat()}")
                if key not in bp:
                    out.append((t, n, key))
                bp.setdefault(key, {})[component] = value
                bp_ctx[key] = bp_ctx.get(key) or context
            else:
                out.append((t, n, Measurement(resident, t, group, {component: value}, context, f"csv-{n}")))  # type: ignore[arg-type]
        except BadRow as err:
            if not skip_bad:
                raise
            skipped.append(err)
    measurements = []
    for t, n, item in sorted(out, key=lambda x: (x[0], x[1])):
        if isinstance(item, Measurement):
            measurements.append(item)
        else:
            measurements.append(Measurement(item[0], t, "bp", bp[item], bp_ctx[item], f"csv-{n}"))
    return Parsed(measurements, skipped)


def read_path(path: Path, *, skip_bad: bool = False) -> Parsed:
    try:
        with path.open(newline="", encoding="utf-8") as f:
            return read(f, skip_bad=skip_bad)
    except FileNotFoundError:
        raise VitalgateError(f"{path}: no such file") from None
    except UnicodeDecodeError as err:
        raise VitalgateError(f"{path}: not UTF-8 text (byte {err.start})") from None

