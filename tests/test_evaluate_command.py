"""``vitalgate evaluate``: the command people run on their own records."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from vitalgate.cli import app


def run(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(app, list(args))
    return r.exit_code, r.stdout, r.stderr


def test_evaluate_qrs_prints_per_record_and_gross(shared_data: Path) -> None:
    code, out, _ = run("evaluate", "qrs", "--json", str(shared_data / "mitdb" / "100"), str(shared_data / "mitdb" / "119"))
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["record"] for r in rows] == ["100", "119", "gross"]
    assert rows[0]["beats"] == 2273
    assert rows[-1]["se"] >= 0.99
    assert rows[-1]["ppv"] >= 0.99


def test_exclude_vf_leaves_ventricular_flutter_out_of_the_qrs_comparison(shared_data: Path) -> None:
    rec = str(shared_data / "mitdb" / "207")  # six episodes of ventricular flutter, no beats annotated in them
    _, plain, _ = run("evaluate", "qrs", "--json", rec)
    code, ec57, _ = run("evaluate", "qrs", "--json", "--exclude-vf", rec)
    assert code == 0
    a, b = json.loads(plain.splitlines()[0]), json.loads(ec57.splitlines()[0])
    assert b["beats"] == a["beats"] == 1860  # no reference beat lies inside [ ... ]
    assert b["tp"] == a["tp"]
    # the flutter waves still detected as beats at the episodes' edges are no longer counted
    # (measured 13 -> 9; before the VF detection ran on sliding windows, 167 -> ~15)
    assert b["fp"] < a["fp"]
    assert b["ppv"] >= 0.99


def test_evaluate_af_handles_every_kind_of_record(shared_data: Path) -> None:
    code, out, _ = run("evaluate", "af", "--json", str(shared_data / "mitdb" / "202"),
                       str(shared_data / "afdb_ann" / "08455"), str(shared_data / "nsr2db" / "nsr004"))
    assert code == 0
    rows = {(r["record"], r["kind"]): r for r in map(json.loads, out.splitlines())}
    assert rows["202", "ecg"]["se"] >= 0.75
    assert rows["08455", "rr"]["se"] >= 0.95
    assert rows["nsr004", "beats"]["false_af_episodes"] == 0
    assert {("gross", "ecg"), ("gross", "rr"), ("gross", "beats")} <= set(rows)


def test_evaluate_refuses_what_it_cannot_read(tmp_path: Path, shared_data: Path) -> None:
    code, _, err = run("evaluate", "af", str(tmp_path / "nothing"))
    assert code == 2
    assert "no such record" in err
    code, _, err = run("evaluate", "qrs", str(shared_data / "afdb_ann" / "04126"))
    assert code == 2
    assert "needs an ECG record" in err


def test_channel_picks_the_lead(shared_data: Path) -> None:
    """``--channel 1``: MITDB's second lead (V1 in 101, the first is MLII), a lead the detector
    was not tuned on; the same reference beats, other detections. A lead the record lacks is a
    clear error, not a traceback."""
    rec = str(shared_data / "mitdb" / "101")
    _, first, _ = run("evaluate", "qrs", "--json", rec)
    code, second, _ = run("evaluate", "qrs", "--json", "--channel", "1", rec)
    assert code == 0
    a, b = json.loads(first.splitlines()[0]), json.loads(second.splitlines()[0])
    assert a["beats"] == b["beats"] == 1865
    assert a["se"] >= 0.99
    assert b["se"] < 0.9  # V1's QRS all but vanishes for ten minutes (measured 0.85)
    code, _, err = run("evaluate", "af", "--channel", "2", rec)
    assert code == 2
    assert "no channel 2" in err


def _labelled(tmp_path: Path, shared_data: Path, reference: str) -> Path:
    """A labelled folder of a few cinc2017 recordings (links to ../shared) with ``reference``."""
    d = tmp_path / "labelled"
    d.mkdir(parents=True)
    for name in ("A00102", "A00022", "A00040", "A00046"):
        for ext in (".hea", ".mat"):
            (d / (name + ext)).symlink_to(shared_data / "cinc2017" / (name + ext))
    (d / "REFERENCE.csv").write_text(reference)
    return d


def test_labelled_folder_with_or_without_a_header_row(tmp_path: Path, shared_data: Path) -> None:
    """PhysioNet's REFERENCE.csv has no header; copies of it often start with one
    (``data_source,class``). Both give the same figures; every recording is counted."""
    rows = "A00102,A\nA00022,~\nA00040,N\nA00046,N\n"
    plain = _labelled(tmp_path / "a", shared_data, rows)
    headed = _labelled(tmp_path / "b", shared_data, "data_source,class\n" + rows)
    out = []
    for d in (plain, headed):
        code, text, err = run("evaluate", "af", "--json", str(d))
        assert code == 0, err
        out.append(json.loads(text.splitlines()[0]))
    assert out[0] == {**out[1], "record": out[0]["record"]}
    assert out[0]["records"] == 4
    assert out[0]["af_found"] in (0.0, 1.0)  # one AF recording: found or not
    assert out[0]["normal_called_unreadable"] in (0.0, 0.5, 1.0)  # of two normal recordings


def test_labelled_folder_errors_name_the_line_or_the_recording(tmp_path: Path, shared_data: Path) -> None:
    d = _labelled(tmp_path, shared_data, "A00102,A\nA00022,X\n")
    code, _, err = run("evaluate", "af", str(d))
    assert code == 2
    assert "line 2" in err
    assert "'A00022,X'" in err
    (d / "REFERENCE.csv").write_text("A00102,A\nA09999,N\n")
    code, _, err = run("evaluate", "af", str(d))
    assert code == 2
    assert "A09999" in err
    assert "no .hea" in err
