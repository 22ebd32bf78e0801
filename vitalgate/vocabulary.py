"""Kinds of observation and their codes: IEEE 11073-10101 (MDC), LOINC and UCUM.

This module is neutral ground: device drivers, screening, the gateway and the wire all use it, and
it imports nothing from them. The MDC <-> LOINC <-> UCUM mapping follows the Continua Design
Guidelines / IEEE 11073 to FHIR mapping (HL7 "Personal Health Device Implementation Guide"), as
also used by weliem/pi-health-hub (``fhir/ObservationType.kt``, ``UnitCode.kt``).

The numeric MDC code is ``partition * 65536 + term code``; all of these are in partition 2 (SCADA)
except where noted.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    """What an observation measures. Also the last segment of its MQTT topic."""

    BLOOD_PRESSURE = "blood_pressure"
    GLUCOSE = "glucose"
    SPO2 = "spo2"
    HEART_RATE = "heart_rate"
    WEIGHT = "weight"
    BODY_TEMPERATURE = "body_temperature"
    CGM_GLUCOSE = "cgm_glucose"
    RR_INTERVALS = "rr_intervals"
    ECG_RHYTHM = "ecg_rhythm"


@dataclass(frozen=True, slots=True)
class Code:
    """One coded quantity: its MDC code and reference id, its LOINC code and its UCUM unit."""

    mdc: int
    mdc_ref: str
    loinc: str | None
    ucum: str
    display: str


# Components, keyed by (kind, component name). The component name is also the field name in the
# time-series store.
MDC_PRESS_BLD_NONINV = Code(150020, "MDC_PRESS_BLD_NONINV", "85354-9", "mm[Hg]", "Blood pressure panel")
SYSTOLIC = Code(150021, "MDC_PRESS_BLD_NONINV_SYS", "8480-6", "mm[Hg]", "Systolic blood pressure")
DIASTOLIC = Code(150022, "MDC_PRESS_BLD_NONINV_DIA", "8462-4", "mm[Hg]", "Diastolic blood pressure")
MEAN_ARTERIAL = Code(150023, "MDC_PRESS_BLD_NONINV_MEAN", "8478-0", "mm[Hg]", "Mean blood pressure")
PULSE_RATE_NONINV = Code(149546, "MDC_PULS_RATE_NON_INV", "8867-4", "/min", "Heart rate")
GLUCOSE_CAPILLARY = Code(
    160184, "MDC_CONC_GLU_CAPILLARY_WHOLEBLOOD", "14743-9", "mmol/L",
    "Glucose [Moles/volume] in Capillary blood by Glucometer",
)
GLUCOSE_ISF = Code(
    160212, "MDC_CONC_GLU_ISF", "2339-0", "mmol/L", "Glucose in interstitial fluid (CGM)"
)
SPO2 = Code(150456, "MDC_PULS_OXIM_SAT_O2", "59408-5", "%", "Oxygen saturation by pulse oximetry")
PULSE_RATE_OXIM = Code(149530, "MDC_PULS_OXIM_PULS_RATE", "8889-8", "/min", "Heart rate by pulse oximetry")
HEART_RATE = Code(147842, "MDC_ECG_HEART_RATE", "8867-4", "/min", "Heart rate")
RR_INTERVAL = Code(147240, "MDC_ECG_TIME_PD_RR_GL", "8637-3", "s", "R-R interval")
BODY_WEIGHT = Code(188736, "MDC_MASS_BODY_ACTUAL", "29463-7", "kg", "Body weight")
BODY_TEMPERATURE = Code(150364, "MDC_TEMP_BODY", "8310-5", "Cel", "Body temperature")
BMI = Code(188752, "MDC_RATIO_MASS_BODY_LEN_SQ", "39156-5", "kg/m2", "Body mass index")
HEIGHT = Code(188740, "MDC_LEN_BODY_ACTUAL", "8302-2", "m", "Body height")

#: The panel (top-level) code of each kind, and the known component codes by name.
PANELS: dict[Kind, Code] = {
    Kind.BLOOD_PRESSURE: MDC_PRESS_BLD_NONINV,
    Kind.GLUCOSE: GLUCOSE_CAPILLARY,
    Kind.SPO2: SPO2,
    Kind.HEART_RATE: HEART_RATE,
    Kind.WEIGHT: BODY_WEIGHT,
    Kind.BODY_TEMPERATURE: BODY_TEMPERATURE,
    Kind.CGM_GLUCOSE: GLUCOSE_ISF,
    Kind.RR_INTERVALS: RR_INTERVAL,
    Kind.ECG_RHYTHM: HEART_RATE,
}

COMPONENTS: dict[Kind, dict[str, Code]] = {
    Kind.BLOOD_PRESSURE: {
        "systolic": SYSTOLIC,
        "diastolic": DIASTOLIC,
        "mean": MEAN_ARTERIAL,
        "pulse": PULSE_RATE_NONINV,
    },
    Kind.GLUCOSE: {"glucose": GLUCOSE_CAPILLARY},
    Kind.SPO2: {"spo2": SPO2, "pulse": PULSE_RATE_OXIM},
    Kind.HEART_RATE: {"heart_rate": HEART_RATE},
    Kind.WEIGHT: {"weight": BODY_WEIGHT, "bmi": BMI, "height": HEIGHT},
    Kind.BODY_TEMPERATURE: {"temperature": BODY_TEMPERATURE},
    Kind.CGM_GLUCOSE: {"glucose": GLUCOSE_ISF},
    Kind.RR_INTERVALS: {"rr": RR_INTERVAL},
    Kind.ECG_RHYTHM: {"heart_rate": HEART_RATE},
}


def component_code(kind: Kind, name: str) -> Code:
    """The code of component ``name`` of ``kind``; ``KeyError`` names the known ones."""
    try:
        return COMPONENTS[kind][name]
    except KeyError:
        known = ", ".join(COMPONENTS.get(kind, {})) or "none"
        raise KeyError(f"{kind.value} has no component {name!r}; known: {known}") from None
