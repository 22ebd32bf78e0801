"""The error hierarchy.

One root, :class:`VitalgateError`; a subclass at each boundary. Errors caused by bad input are
also :class:`ValueError`, so callers that only know the standard library still catch them.
A library's own error is translated once, at the boundary, with ``raise ... from err``.
Every message says what was wrong, with the offending value, and what to do about it.
"""

from __future__ import annotations


class VitalgateError(Exception):
    """Root of every error vitalgate raises on purpose."""


class MalformedPayload(VitalgateError, ValueError):
    """Bytes from a device or a message from the wire that cannot be decoded.

    Attributes
    ----------
    source:
        What was being decoded: a characteristic (``"0x2A35 Blood Pressure Measurement"``) or
        an MQTT topic.
    offset:
        Byte offset of the problem, when it is a byte payload; ``None`` otherwise.
    """

    def __init__(self, message: str, *, source: str | None = None, offset: int | None = None):
        self.source = source
        self.offset = offset
        parts = []
        if source:
            parts.append(source)
        if offset is not None:
            parts.append(f"byte {offset}")
        prefix = f"{', '.join(parts)}: " if parts else ""
        super().__init__(prefix + message)


class ConfigError(VitalgateError, ValueError):
    """A configuration file or environment override that is invalid.

    ``problems`` lists ``(key, message)`` pairs, every problem found, not only the first.
    """

    def __init__(self, message: str, problems: list[tuple[str, str]] | None = None):
        self.problems = problems or []
        super().__init__(message)


class DeviceError(VitalgateError):
    """A Bluetooth device misbehaved or could not be reached."""

    def __init__(self, message: str, *, address: str | None = None):
        self.address = address
        super().__init__(f"{address}: {message}" if address else message)


class ProfileError(ConfigError):
    """A firmware profile (TOML) is invalid; names the file, the key and the fix."""


class OutboxFull(VitalgateError):
    """The durable outbox reached its size bound and refused a reading (alerts are never refused)."""


class AttributionError(VitalgateError, ValueError):
    """A reading cannot be attributed to a resident with confidence."""


class SignalError(VitalgateError, ValueError):
    """Input to a signal-processing function is unusable (wrong shape, rate, NaN, too short)."""
