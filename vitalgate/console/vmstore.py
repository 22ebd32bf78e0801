"""Resident trends read back from VictoriaMetrics through its export API (``/api/v1/export``).

The ingest worker's :class:`~vitalgate.cloud_bridge.sinks.InfluxSink` writes one line per
observation: measurement = kind, fields = component values, tags = site, gateway, resident.
VictoriaMetrics stores each field as the series ``{kind}_{component}``; this module turns those
series back into points the console's trend charts draw.
"""

from __future__ import annotations

import json
import logging
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime

from vitalgate.errors import VitalgateError
from vitalgate.vocabulary import Kind

log = logging.getLogger(__name__)


class TrendStoreError(VitalgateError):
    """The time-series store could not be read."""


@dataclass(slots=True)
class TrendPoint:
    """One observation as the trend charts need it (kind, time, component values, site)."""

    kind: Kind
    measured_at: datetime
    site: str
    values: dict[str, float] = field(default_factory=dict)

    def value(self, name: str) -> float | None:
        """The value of component ``name``, or ``None``."""
        return self.values.get(name)


def resident_points(url: str, resident: str, *, timeout: float = 10.0) -> list[TrendPoint]:
    """All of ``resident``'s observations stored in VictoriaMetrics at ``url``.

    Parameters
    ----------
    url:
        The VictoriaMetrics base URL, e.g. ``http://127.0.0.1:8428``.
    resident:
        The resident id (the ``resident`` tag).
    timeout:
        Seconds to wait for the export.

    Returns
    -------
    list of TrendPoint
        One point per (kind, time, site), components merged, sorted by time.

    Raises
    ------
    TrendStoreError
        The store cannot be reached or answers with something that is not an export.
    """
    kinds = "|".join(k.value for k in Kind)
    match = f'{{__name__=~"({kinds})_.+",resident="{_quote(resident)}"}}'
    query = urllib.parse.urlencode({"match[]": match})
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/api/v1/export?{query}", timeout=timeout) as r:
            lines = r.read().decode().splitlines()
    except OSError as err:
        raise TrendStoreError(f"cannot read trends from {url}: {err}; check console.victoria_url") from err
    points: dict[tuple[str, int, str], TrendPoint] = {}
    for line in lines:
        if not line.strip():
            continue
        try:
            series = json.loads(line)
            metric, values, stamps = series["metric"], series["values"], series["timestamps"]
        except (ValueError, KeyError, TypeError) as err:
            raise TrendStoreError(f"{url} returned a line that is not an export series: {line[:120]!r}") from err
        kind, component = _split(metric["__name__"])
        if kind is None:
            continue
        site = str(metric.get("site", ""))
        for ts, v in zip(stamps, values, strict=True):
            key = (kind.value, int(ts), site)
            p = points.get(key)
            if p is None:
                p = points[key] = TrendPoint(kind, datetime.fromtimestamp(ts / 1000, UTC), site)
            p.values[component] = float(v)
    log.debug("console: %d trend point(s) of %s from %s", len(points), resident, url)
    return sorted(points.values(), key=lambda p: p.measured_at)


def _split(name: str) -> tuple[Kind | None, str]:
    """``blood_pressure_systolic`` -> (Kind.BLOOD_PRESSURE, "systolic"); longest kind wins."""
    for k in sorted(Kind, key=lambda k: len(k.value), reverse=True):
        if name.startswith(k.value + "_"):
            return k, name[len(k.value) + 1:]
    return None, name


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')
