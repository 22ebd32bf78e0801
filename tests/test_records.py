"""FHIR R4 export (validated with fhir.resources) and the follow-up report (charts checked as images)."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from dataflow import BP_CUFF, GLUCO
from typer.testing import CliRunner

from vitalgate.cli import app
from vitalgate.cloud_bridge.sinks import SqliteSink
from vitalgate.cloud_bridge.wire import Alert, AlertState, Observation, Severity
from vitalgate.readings import DeviceIdentity, Reading
from vitalgate.records import fhir
from vitalgate.records.report import COLOURS
from vitalgate.vocabulary import Kind

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
OXI = DeviceIdentity("AA:00:00:00:00:04", model="PO-1")


def observations(days: int = 10) -> list[Observation]:
    out = []
    for d in range(days):
        t = T0 + timedelta(days=d)
        rs = [
            Reading.of(Kind.BLOOD_PRESSURE, {"systolic": 150.0 + d, "diastolic": 92.0, "pulse": 70.0}, t, BP_CUFF),
            Reading.of(Kind.GLUCOSE, {"glucose": 7.2}, t, GLUCO, context="fasting"),
            Reading.of(Kind.SPO2, {"spo2": 96.0, "pulse": 72.0}, t, OXI),
        ]
        out += [Observation.from_reading(r, site="hut7", gateway="gw-a", resident="r-001") for r in rs]
    return out


def alert(obs: Observation, acked: bool) -> Alert:
    return Alert(
        alert_id="b" * 32, site="hut7", gateway="gw-a", resident="r-001", rule="bp_over_target_3d",
        kind=Kind.BLOOD_PRESSURE, severity=Severity.WARNING, reason="BP 152/92 mmHg, 3rd day over 140/90",
        raised_at=obs.received_at, triggered_at=obs.measured_at, reading_ids=[obs.reading_id],
        state=AlertState.ACKNOWLEDGED if acked else AlertState.OPEN,
        acknowledged_by="dr-li" if acked else None, acknowledged_at=obs.measured_at + timedelta(hours=1) if acked else None,
    )


def test_fhir_bundle_validates_with_codes_and_units() -> None:
    from fhir.resources.R4B.bundle import Bundle

    obs = observations(2)
    doc = fhir.bundle(obs, [alert(obs[0], acked=True)])
    parsed = Bundle.model_validate(doc)
    kinds = [e.resource.__class__.__name__ for e in parsed.entry]
    assert kinds.count("Observation") == 6
    assert kinds.count("Flag") == 1
    assert kinds.count("DetectedIssue") == 1
    bp = doc["entry"][0]["resource"]
    assert {c["system"]: c["code"] for c in bp["code"]["coding"]} == {"http://loinc.org": "85354-9", "urn:iso:std:iso:11073:10101": "150020"}
    sys_ = bp["component"][0]
    assert sys_["code"]["coding"][0]["code"] == "8480-6"
    assert sys_["valueQuantity"] == {"value": 150.0, "unit": "mm[Hg]", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}
    glucose = doc["entry"][1]["resource"]
    assert glucose["valueQuantity"]["code"] == "mmol/L"
    flag = doc["entry"][-2]["resource"]
    assert flag["status"] == "inactive"  # acknowledged
    issue = doc["entry"][-1]["resource"]
    assert issue["implicated"] == [{"reference": f"Observation/{obs[0].reading_id}"}]


@pytest.mark.parametrize(("resource", "field"), [
    ({"resourceType": "Observation", "code": {}}, "status"),
    ({"resourceType": "Observation", "status": "final", "code": {}, "valueQuantity": {"value": "abc"}}, "valueQuantity"),
    ({"resourceType": "Observation", "status": "final", "code": {}, "effectiveDateTime": "yesterday"}, "effectiveDateTime"),
])
def test_an_invalid_resource_is_refused(resource: dict, field: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError, match=field):
        fhir.validate({"resourceType": "Bundle", "type": "collection", "entry": [{"resource": resource}]})


def _pngs(html: str) -> list[np.ndarray]:
    import matplotlib.image as mpimg

    return [mpimg.imread(io.BytesIO(base64.b64decode(b)), format="png")
            for b in re.findall(r'src="data:image/png;base64,([^"]+)"', html)]


def has_colour(img: np.ndarray, hex_colour: str) -> bool:
    rgb = np.array([int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    return bool((np.abs(img[..., :3] - rgb).max(axis=-1) < 0.02).sum() > 50)


def test_report_command_renders_charts_alerts_pdf_and_fhir(tmp_path: Path) -> None:
    obs = observations()
    store = tmp_path / "store.sqlite"

    async def fill() -> None:
        async with SqliteSink(store) as sink:
            await sink.write(obs, [alert(obs[6], acked=True)])

    asyncio.run(fill())
    out, pdf, bundle = tmp_path / "r.html", tmp_path / "r.pdf", tmp_path / "r.json"
    r = CliRunner().invoke(app, ["report", "r-001", "--from", "2026-03-01", "--to", "2026-03-10", "--store", str(store),
                                 "--out", str(out), "--pdf", str(pdf), "--fhir", str(bundle)])
    assert r.exit_code == 0, r.output
    page = out.read_text()
    assert "r-001" in page
    assert "bp_over_target_3d" in page
    assert "dr-li" in page
    imgs = _pngs(page)
    assert len(imgs) == 3  # BP, glucose, SpO2 (no heart-rate readings)
    bp_img, glucose_img, spo2_img = imgs
    for img in imgs:
        assert img.std() > 0.05  # not blank
    assert has_colour(bp_img, COLOURS["systolic"])
    assert has_colour(bp_img, COLOURS["diastolic"])
    assert not has_colour(bp_img, COLOURS["glucose"])
    assert has_colour(glucose_img, COLOURS["glucose"])
    assert has_colour(spo2_img, COLOURS["spo2"])
    assert pdf.read_bytes().startswith(b"%PDF")
    assert len(json.loads(bundle.read_text())["entry"]) == 30 + 2


def test_report_period_and_missing_store(tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["report", "r-001", "--from", "2026-03-01", "--to", "2026-03-02", "--store", str(tmp_path / "x.sqlite")])
    assert r.exit_code == 2
    assert "no SQLite store" in r.stderr
