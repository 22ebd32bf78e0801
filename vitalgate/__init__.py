"""vitalgate: an open telemonitoring gateway.

Reads Bluetooth LE health devices, screens the data locally, and relays readings and alerts over
MQTT to a time-series store watched by community health managers.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("vitalgate")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
