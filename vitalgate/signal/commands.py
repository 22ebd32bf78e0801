"""``vitalgate evaluate qrs|af PATH...`` (registered by :mod:`vitalgate.cli`)."""

from __future__ import annotations

import json
import math
import sys
from enum import StrEnum
from pathlib import Path

import typer


class Target(StrEnum):
    qrs = "qrs"
    af = "af"


_SHARES = {"se", "ppv", "sp", "f1_af", "af_found", "normal_called_af", "other_called_af", "noisy_called_af",
           "noisy_called_unreadable", "normal_called_unreadable", "af_called_unreadable", "other_called_unreadable"}


def _fmt(key: str, v: float | int | str) -> str:
    if isinstance(v, float):
        return "nan" if math.isnan(v) else (f"{100 * v:.2f}%" if key in _SHARES else f"{v:g}")
    return str(v)


def register(app: typer.Typer) -> None:
    """Add this part's commands to ``app``."""

    @app.command("evaluate")
    def evaluate(
        target: Target = typer.Argument(..., help="qrs: beat detection; af: AF screening."),
        paths: list[Path] = typer.Argument(..., help="WFDB records (path without extension), folders of records, or a folder with REFERENCE.csv (labelled short recordings)."),
        as_json: bool = typer.Option(False, "--json", help="One JSON object per record, then the gross figures."),
        exclude_vf: bool = typer.Option(False, "--exclude-vf", help="QRS: leave ventricular flutter/fibrillation episodes ([ to ]) out, as ANSI/AAMI EC57 does."),
        channel: int = typer.Option(0, "--channel", min=0, help="ECG records: the lead to screen (0: the first, as the standard evaluation; 1: MITDB's second lead, V1 in most records)."),
    ) -> None:
        """Run the screening on PhysioNet-style records and print Se, +P / Sp per record and gross.

        QRS: wfdb's annotation comparison (150 ms window, all beat annotations, first channel
        unless --channel says otherwise).
        AF: duration-based sensitivity and specificity against the rhythm annotations; RR-only
        records (.qrs + .atr) are screened from beat times; beat-only records (.ecg) count false
        AF episodes per 24 h; a folder with REFERENCE.csv gives F1 for AF over labelled records.
        """
        from vitalgate.errors import VitalgateError
        from vitalgate.signal import evaluate as ev

        records = list(ev.expand(paths))
        gross: dict[str, ev.Tally] = {}
        rows: list[ev.Row] = []
        try:
            for p in records:
                if not p.exists() and not any(p.parent.glob(p.name + ".*")):
                    raise VitalgateError(f"{p}: no such record")
            kinds = [ev.record_kind(p) for p in records]
            # One step per record; a labelled folder advances by its recordings.
            steps = [len(ev.labelled_records(p)) if kind == "labelled" else 1 for p, kind in zip(records, kinds, strict=True)]
            with typer.progressbar(length=sum(steps), label="evaluating", file=sys.stderr) as bar:
                for p, kind in zip(records, kinds, strict=True):
                    if kind == "labelled":
                        rows.append(ev.evaluate_labelled(p, progress=lambda _i: bar.update(1)))
                        continue
                    if target is Target.qrs and kind != "ecg":
                        raise VitalgateError(f"{p}: QRS evaluation needs an ECG record with beat annotations")
                    row, tally = ev.evaluate_qrs(p, exclude_vf, channel) if target is Target.qrs else ev.evaluate_af(p, channel)
                    rows.append(row)
                    gross.setdefault(kind, ev.Tally()).add(tally)
                    bar.update(1)
        except VitalgateError as err:
            typer.echo(f"evaluate: {err}", err=True)
            raise typer.Exit(2) from None
        for row in rows:
            if as_json:
                typer.echo(json.dumps({"record": row.record, "kind": row.kind, **row.values}))
            else:
                typer.echo(f"{row.record:>10} {row.kind:>8}  " + "  ".join(f"{k} {_fmt(k, v)}" for k, v in row.values.items()))
        for kind, t in gross.items():
            figures = {"se": t.se, "ppv": t.ppv} if target is Target.qrs else {"se": t.se, "sp": t.sp}
            if as_json:
                typer.echo(json.dumps({"record": "gross", "kind": kind, **figures}))
            else:
                typer.echo(f"{'gross':>10} {kind:>8}  " + "  ".join(f"{k} {_fmt(k, v)}" for k, v in figures.items()))
