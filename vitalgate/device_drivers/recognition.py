"""Which device is this? Advertisement -> firmware profile -> driver, for the manager.

The single plug point between the firmware profiles (``vitalgate/firmware_profiles/*.toml``,
see :mod:`vitalgate.device_drivers.profiles`) and the drivers: a specific profile (by local
name or manufacturer id) wins over the generic SIG-service ones; a family known to be
unsupported (a proprietary protocol) is not connected to.
"""

from __future__ import annotations

import logging

from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData

from vitalgate.device_drivers.basic_drivers import (
    BasicProfile,
    BpDriver,
    GlucoseDriver,
    HrDriver,
    PlxDriver,
    PolarEcgDriver,
    _Base,
)
from vitalgate.device_drivers.manager import Recognizer
from vitalgate.device_drivers.profiles import Profile, find

log = logging.getLogger(__name__)

DRIVERS: dict[str, type[_Base]] = {
    "blood_pressure": BpDriver,
    "glucose": GlucoseDriver,
    "pulse_oximeter": PlxDriver,
    "heart_rate": HrDriver,
    "polar_pmd_ecg": PolarEcgDriver,
}


def profile_of(device: BLEDevice, adv: AdvertisementData) -> Profile | None:
    """The firmware profile matching an advertisement (supported or not), or ``None``."""
    name = adv.local_name or device.name or ""
    return find(name, adv.service_uuids, adv.manufacturer_data.keys())


def recognize(device: BLEDevice, adv: AdvertisementData) -> BasicProfile | None:
    """The driver profile of an advertising device, or ``None`` when it is not supported."""
    p = profile_of(device, adv)
    if p is None:
        return None
    if not p.supported:
        log.info("%s (%s) is %s: not supported (%s)", device.address, adv.local_name, p.id, p.unsupported_reason)
        return None
    return BasicProfile(p.id, DRIVERS[p.driver], needs_bonding=p.quirks.needs_bonding)


def recognizer() -> Recognizer:
    """The recognizer the gateway uses."""
    return recognize
