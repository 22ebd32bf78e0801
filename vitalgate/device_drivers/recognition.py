"""Which device is this? Advertisement -> profile (id, bonding, driver) for the manager.

Recognises the SIG health services a device advertises (Blood Pressure 0x1810, Glucose 0x1808,
Pulse Oximeter 0x1822, Heart Rate 0x180D) and the Polar H10's ECG stream by its local name, and
hands the manager the matching driver of :mod:`vitalgate.device_drivers.basic_drivers`.
"""

from __future__ import annotations

from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData

from vitalgate.device_drivers.basic_drivers import (
    BasicProfile,
    BpDriver,
    GlucoseDriver,
    HrDriver,
    PlxDriver,
    PolarEcgDriver,
    uuid16,
)
from vitalgate.device_drivers.manager import Recognizer

_BY_SERVICE = (
    ("1810", BasicProfile("sig-blood-pressure", BpDriver)),
    ("1808", BasicProfile("sig-glucose", GlucoseDriver)),
    ("1822", BasicProfile("sig-pulse-oximeter", PlxDriver)),
    ("180D", BasicProfile("sig-heart-rate", HrDriver)),
)
_POLAR_H10 = BasicProfile("polar-h10-ecg", PolarEcgDriver)


def recognize(device: BLEDevice, adv: AdvertisementData) -> BasicProfile | None:
    """The profile of an advertising device, or ``None`` when it is not a supported model."""
    name = adv.local_name or device.name or ""
    if name.startswith("Polar H10"):
        return _POLAR_H10
    services = {s.lower() for s in adv.service_uuids}
    for short, profile in _BY_SERVICE:
        if uuid16(short) in services:
            return profile
    return None


def recognizer() -> Recognizer:
    """The recognizer the gateway uses."""
    return recognize
