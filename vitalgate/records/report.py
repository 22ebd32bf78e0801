"""The follow-up report: one resident's trends against the care-plan targets, alerts and
acknowledgements, for the quarterly hypertension/diabetes follow-up visit.

HTML with the charts embedded (PNG, matplotlib), readable offline and printable; a PDF of the
same charts and tables with ``pdf=True`` (matplotlib's PDF backend, no extra dependency).
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from vitalgate.cloud_bridge.wire import Alert, Observation
from vitalgate.signal.rules import RuleConfig
from vitalgate.vocabulary import Kind

#: Series colours (fixed, so a chart can be checked by its colours).
COLOURS = {
    "systolic": "#d62728", "diastolic": "#1f77b4", "glucose": "#2ca02c", "spo2": "#9467bd",
    "heart_rate": "#ff7f0e", "target": "#7f7f7f",
}


@dataclass(frozen=True)
class Chart:
    title: str
    png: bytes
    series: tuple[str, ...]


def _series(obs: Sequence[Observation], kind: Kind, name: str) -> tuple[list[datetime], list[float]]:
    pts = [(o.measured_at, v) for o in obs if o.kind == kind and (v := o.value(name)) is not None]
    pts.sort()
    return [t for t, _ in pts], [v for _, v in pts]


def charts(obs: Sequence[Observation], cfg: RuleConfig) -> list[Chart]:
    """Trend charts (BP, glucose, SpO2, heart rate) with the targets drawn as dashed lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    panels = [
        ("Blood pressure (mmHg)", Kind.BLOOD_PRESSURE, ("systolic", "diastolic"),
         [cfg.bp_target_sbp, cfg.bp_target_dbp]),
        ("Glucose (mmol/L)", Kind.GLUCOSE, ("glucose",), [cfg.glucose_fasting_high, cfg.glucose_urgent_low]),
        ("SpO2 (%)", Kind.SPO2, ("spo2",), [cfg.spo2_low]),
        ("Heart rate (/min)", Kind.HEART_RATE, ("heart_rate",), [cfg.heart_rate_low, cfg.heart_rate_high]),
    ]
    out = []
    for title, kind, names, targets in panels:
        data = {n: _series(obs, kind, n) for n in names}
        if not any(ts for ts, _ in data.values()):
            continue
        fig, ax = plt.subplots(figsize=(8, 2.8), dpi=100)
        for n, (ts, vs) in data.items():
            ax.plot(mdates.date2num(ts), vs, marker="o", markersize=3, linewidth=1.5, color=COLOURS[n], label=n)  # type: ignore[no-untyped-call]
        for y in targets:
            ax.axhline(y, color=COLOURS["target"], linestyle="--", linewidth=1)
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d"))  # type: ignore[no-untyped-call]
        ax.set_title(title)
        ax.legend(loc="upper left", fontsize=8)
        ax.grid(alpha=0.3)
        fig.autofmt_xdate()
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        plt.close(fig)
        out.append(Chart(title, buf.getvalue(), tuple(names)))
    return out


def render_html(resident: str, start: datetime, end: datetime, obs: Sequence[Observation],
                alerts: Sequence[Alert], cfg: RuleConfig) -> str:
    """The report as one self-contained HTML page."""
    e = html.escape
    rows = []
    for a in sorted(alerts, key=lambda a: a.triggered_at):
        ack = f"{e(a.acknowledged_by)} at {a.acknowledged_at:%Y-%m-%d %H:%M}" if a.acknowledged_by and a.acknowledged_at else "—"
        rows.append(f"<tr><td>{a.triggered_at:%Y-%m-%d %H:%M}</td><td>{e(a.severity.value)}</td>"
                    f"<td>{e(a.rule)}</td><td>{e(a.reason)}</td><td>{e(a.state.value)}</td><td>{ack}</td></tr>")
    figs = "".join(
        f'<figure><img alt="{e(c.title)}" src="data:image/png;base64,{base64.b64encode(c.png).decode()}">'
        f"<figcaption>{e(c.title)}</figcaption></figure>"
        for c in charts(obs, cfg)
    )
    counts = {k.value: sum(1 for o in obs if o.kind == k) for k in (Kind.BLOOD_PRESSURE, Kind.GLUCOSE, Kind.SPO2, Kind.HEART_RATE)}
    summary = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in counts.items() if n)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Follow-up report {e(resident)}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}table{{border-collapse:collapse;width:100%}}
td,th{{border:1px solid #ccc;padding:.3em;font-size:.9em;text-align:left}}figure{{margin:1em 0}}img{{max-width:100%}}</style>
</head><body>
<h1>Follow-up report</h1>
<p>Resident <strong>{e(resident)}</strong>, {start:%Y-%m-%d} to {end:%Y-%m-%d}. Readings: {e(summary) or "none"}.
Targets: BP &lt; {cfg.bp_target_sbp:g}/{cfg.bp_target_dbp:g} mmHg, fasting glucose &lt; {cfg.glucose_fasting_high:g} mmol/L,
SpO2 ≥ {cfg.spo2_low:g} %, resting heart rate {cfg.heart_rate_low:g}–{cfg.heart_rate_high:g} /min.</p>
<h2>Trends</h2>
{figs or "<p>No readings in this period.</p>"}
<h2>Alerts and acknowledgements</h2>
<table><tr><th>when</th><th>severity</th><th>rule</th><th>reason</th><th>state</th><th>acknowledged</th></tr>
{"".join(rows) or '<tr><td colspan="6">No alerts in this period.</td></tr>'}</table>
</body></html>
"""


def render_pdf(path: Path, resident: str, start: datetime, end: datetime, obs: Sequence[Observation],
               alerts: Sequence[Alert], cfg: RuleConfig) -> None:
    """The same charts and the alert list as a PDF."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.image as mpimg
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    with PdfPages(path) as pdf:
        fig = plt.figure(figsize=(8.27, 11.69))
        fig.text(0.08, 0.95, f"Follow-up report — {resident}", fontsize=16)
        fig.text(0.08, 0.92, f"{start:%Y-%m-%d} to {end:%Y-%m-%d}", fontsize=10)
        y = 0.88
        for a in sorted(alerts, key=lambda a: a.triggered_at)[:40]:
            fig.text(0.08, y, f"{a.triggered_at:%Y-%m-%d %H:%M}  {a.severity.value:<8} {a.rule}: {a.reason[:90]}", fontsize=7)
            y -= 0.02
        pdf.savefig(fig)
        plt.close(fig)
        for c in charts(obs, cfg):
            fig = plt.figure(figsize=(8.27, 3.2))
            plt.imshow(mpimg.imread(io.BytesIO(c.png), format="png"))
            plt.axis("off")
            pdf.savefig(fig)
            plt.close(fig)


def strip_png(samples_uv: Sequence[int], fs_hz: float, title: str = "ECG") -> bytes:
    """An ECG strip (µV at ``fs_hz``) as a PNG on the usual 25 mm/s-like grid."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    y = np.asarray(samples_uv, dtype=float) / 1000.0
    t = np.arange(len(y)) / fs_hz
    fig, ax = plt.subplots(figsize=(10, 2.2), dpi=100)
    ax.plot(t, y, color="#222222", linewidth=0.8)
    ax.set_xlabel("s")
    ax.set_ylabel("mV")
    ax.set_title(title)
    ax.grid(which="major", color="#f4a3a3", linewidth=0.6)
    ax.minorticks_on()
    ax.grid(which="minor", color="#fbd9d9", linewidth=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
