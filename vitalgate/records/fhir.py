"""FHIR R4 export of observations and alerts, for the family doctor's record.

Observations follow the Continua / IEEE 11073 personal-health-device mapping (HL7 PHD
Implementation Guide): a LOINC code with the MDC code beside it, UCUM units, the device, and
components for the blood-pressure panel. Alerts become ``Flag`` resources (with the reason as
text, the rule as a code, and the triggering observations as extensions-free ``DetectedIssue``
evidence). Built as plain JSON, then validated by ``fhir.resources`` (R4B models, wire-compatible
with R4 for these resources): an export that would not validate is an error, not a file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from vitalgate.cloud_bridge.wire import Alert, AlertState, Observation

LOINC = "http://loinc.org"
MDC = "urn:iso:std:iso:11073:10101"
UCUM = "http://unitsofmeasure.org"
RULES = "https://vitalgate.example/fhir/CodeSystem/rule"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"


def _code(loinc: str | None, mdc: int | None, display: str) -> dict[str, Any]:
    coding = []
    if loinc:
        coding.append({"system": LOINC, "code": loinc, "display": display})
    if mdc:
        coding.append({"system": MDC, "code": str(mdc)})
    return {"coding": coding, "text": display}


def _quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def observation(o: Observation) -> dict[str, Any]:
    """One FHIR Observation (vital-signs category) for one observation."""
    title = o.kind.value.replace("_", " ")
    res: dict[str, Any] = {
        "resourceType": "Observation",
        "id": o.reading_id,
        "status": "final",
        "category": [{"coding": [{"system": CATEGORY, "code": "vital-signs"}]}],
        "code": _code(o.code.loinc, o.code.mdc, title),
        "subject": {"reference": f"Patient/{o.resident}"},
        "effectiveDateTime": o.measured_at.isoformat(),
        "issued": o.received_at.isoformat(),
        "device": {"display": " ".join(x for x in (o.device.manufacturer, o.device.model, o.device.serial) if x)
                   or o.device.address},
    }
    comps = list(o.components)
    if len(comps) == 1:
        res["valueQuantity"] = _quantity(comps[0].value, comps[0].unit)
    else:
        res["component"] = [
            {"code": _code(c.code.loinc, c.code.mdc, c.name), "valueQuantity": _quantity(c.value, c.unit)}
            for c in comps
        ]
    if o.flags:
        res["note"] = [{"text": "device flags: " + ", ".join(sorted(o.flags))}]
    return res


def flag(a: Alert) -> dict[str, Any]:
    """A FHIR Flag for an alert (active until acknowledged or resolved)."""
    return {
        "resourceType": "Flag",
        "id": a.alert_id,
        "status": "active" if a.state in (AlertState.OPEN, AlertState.ESCALATED) else "inactive",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/flag-category",
                                  "code": "clinical"}]}],
        "code": {"coding": [{"system": RULES, "code": a.rule}], "text": a.reason},
        "subject": {"reference": f"Patient/{a.resident}"},
        "period": {"start": a.triggered_at.isoformat(),
                   **({"end": a.acknowledged_at.isoformat()} if a.acknowledged_at else {})},
    }


def detected_issue(a: Alert) -> dict[str, Any]:
    """A FHIR DetectedIssue carrying the alert's severity, reason and the readings behind it."""
    severity = {"info": "low", "warning": "moderate", "urgent": "high", "critical": "high"}[a.severity.value]
    res: dict[str, Any] = {
        "resourceType": "DetectedIssue",
        "id": f"{a.alert_id}-issue",
        "status": "final" if a.state in (AlertState.ACKNOWLEDGED, AlertState.RESOLVED) else "preliminary",
        "code": {"coding": [{"system": RULES, "code": a.rule}], "text": a.rule.replace("_", " ")},
        "severity": severity,
        "patient": {"reference": f"Patient/{a.resident}"},
        "identifiedDateTime": a.raised_at.isoformat(),
        "detail": a.reason,
    }
    if a.reading_ids:
        res["implicated"] = [{"reference": f"Observation/{r}"} for r in a.reading_ids]
    return res


def bundle(observations: Iterable[Observation], alerts: Iterable[Alert]) -> dict[str, Any]:
    """A validated ``collection`` Bundle of every observation and alert."""
    entries: list[dict[str, Any]] = [
        {"fullUrl": f"urn:uuid:obs-{o.reading_id}", "resource": observation(o)} for o in observations
    ]
    for a in alerts:
        entries.append({"fullUrl": f"urn:uuid:flag-{a.alert_id}", "resource": flag(a)})
        entries.append({"fullUrl": f"urn:uuid:issue-{a.alert_id}", "resource": detected_issue(a)})
    doc = {"resourceType": "Bundle", "type": "collection", "entry": entries}
    validate(doc)
    return doc


def validate(doc: dict[str, Any]) -> None:
    """Validate with the FHIR models; raises ``ValueError`` (pydantic) naming what is wrong."""
    from fhir.resources.R4B.bundle import Bundle

    Bundle.model_validate(json.loads(json.dumps(doc)))
