"""Commands over MQTT, for a hut's tablet or the care console, with responses.

Kit commands (``kit/checkin``, ``kit/checkout``, ``kit/pending``, ``kit/assign``,
``kit/discard``) and ``alert/escalate`` (a person sends an alert to the next level now). A command
is published on ``vitalgate/v1/{site}/{gateway}/cmd/{group}/{name}`` as::

    {"command": {...fields...}, "signature": "<hex HMAC-SHA256 of the canonical command JSON>"}

signed with the site's command key (``[kit] command_key_file`` or the systemd credential
``command-key``). The answer goes to the MQTT 5 response topic when the request names one (with
its correlation data), else to ``.../cmd/{group}/{name}/response``::

    {"ok": true, "result": ...}      or      {"ok": false, "error": "why it was refused"}

Anything wrong is refused with the reason: a bad or missing signature, unknown fields,
out-of-range values, an unknown kit or command. Without a command key, commands are refused.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vitalgate.config import SEGMENT
from vitalgate.errors import AttributionError, VitalgateError

log = logging.getLogger(__name__)

MAX_COMMAND_BYTES = 16 * 1024


class _Cmd(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CheckIn(_Cmd):
    kit: str = Field(pattern=SEGMENT)
    resident: str = Field(pattern=SEGMENT)
    by: str = Field(min_length=1, max_length=64)
    minutes: float | None = Field(None, gt=0, le=240)


class CheckOut(_Cmd):
    kit: str = Field(pattern=SEGMENT)
    by: str = Field(min_length=1, max_length=64)
    resident: str | None = Field(None, pattern=SEGMENT)


class Pending(_Cmd):
    pass


class Assign(_Cmd):
    reading_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    resident: str = Field(pattern=SEGMENT)
    by: str = Field(min_length=1, max_length=64)
    why: str = Field(min_length=3, max_length=512)


class Discard(_Cmd):
    reading_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    by: str = Field(min_length=1, max_length=64)
    why: str = Field(min_length=3, max_length=512)


class Escalate(_Cmd):
    alert_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    by: str = Field(min_length=1, max_length=64)
    why: str = Field(min_length=3, max_length=512)


COMMANDS: dict[str, type[_Cmd]] = {
    "kit/checkin": CheckIn, "kit/checkout": CheckOut, "kit/pending": Pending, "kit/assign": Assign,
    "kit/discard": Discard, "alert/escalate": Escalate,
}


def canonical(command: dict[str, Any]) -> bytes:
    return json.dumps(command, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(key: bytes, command: dict[str, Any]) -> dict[str, Any]:
    """The signed envelope of ``command`` (what a tablet publishes)."""
    return {"command": command, "signature": hmac.new(key, canonical(command), hashlib.sha256).hexdigest()}


def load_command_key(settings: Any) -> bytes | None:
    from vitalgate.service import credential

    name = settings.kit.get("command_key_file")
    path = Path(name) if name else credential("command-key")
    if path is None:
        return None
    key = path.read_bytes().strip()
    if len(key) < 32:
        raise VitalgateError(f"the command key {path} has {len(key)} bytes; use at least 32 random bytes")
    return key


class Refused(VitalgateError, ValueError):
    """A command refused, with the reason sent back."""


def verify(key: bytes | None, raw: bytes) -> dict[str, Any]:
    """The command inside a signed envelope, or :class:`Refused` saying why not."""
    if key is None:
        raise Refused("commands are disabled on this gateway (no command key configured)")
    if len(raw) > MAX_COMMAND_BYTES:
        raise Refused(f"command of {len(raw)} bytes is over {MAX_COMMAND_BYTES}")
    try:
        env = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise Refused("not JSON") from None
    if not isinstance(env, dict) or set(env) != {"command", "signature"} or not isinstance(env["command"], dict):
        raise Refused('expected {"command": {...}, "signature": "..."} and nothing else')
    expected = hmac.new(key, canonical(env["command"]), hashlib.sha256).hexdigest()
    if not isinstance(env["signature"], str) or not hmac.compare_digest(expected, env["signature"]):
        raise Refused("bad signature")
    return dict(env["command"])


def execute(gateway: Any, name: str, command: dict[str, Any]) -> Any:
    """Run one verified command against the gateway's kit state; its result (JSON-able)."""
    from vitalgate.gateway.kit import KitStore, assign, discard, kit_settings

    model = COMMANDS.get(name)
    if model is None:
        raise Refused(f"unknown command {name!r}; known: {', '.join(COMMANDS)}")
    try:
        cmd = model(**command)
    except ValidationError as err:
        e = err.errors()[0]
        raise Refused(f"{'.'.join(str(p) for p in e['loc']) or 'command'}: {e['msg']}") from None
    if isinstance(cmd, Escalate):
        for screener in gateway.screeners:
            escalate = getattr(screener, "escalate", None)
            if escalate is not None:
                up = escalate(cmd.alert_id, cmd.by, cmd.why)
                if up is None:
                    raise Refused(f"alert {cmd.alert_id} is not open here (unknown, acknowledged or at the top level)")
                gateway.queue_alerts([up])
                return {"alert_id": up.alert_id, "escalation_level": up.escalation_level}
        raise Refused("this gateway has no alert engine")
    settings = gateway.settings
    ks = kit_settings(settings)
    assert ks.db is not None
    if isinstance(cmd, CheckIn):
        if cmd.kit not in ks.kits:
            raise Refused(f"no kit {cmd.kit!r} on this gateway")
        store = KitStore(ks.db)
        try:
            c = store.checkin(cmd.kit, cmd.resident, cmd.by, timedelta(minutes=cmd.minutes or ks.window_min))
        finally:
            store.close()
        return {"kit": c.kit, "resident": c.resident, "until": c.until.isoformat()}
    if isinstance(cmd, CheckOut):
        store = KitStore(ks.db)
        try:
            return {"ended": store.checkout(cmd.kit, cmd.by, cmd.resident)}
        finally:
            store.close()
    if isinstance(cmd, Pending):
        return [{"reading_id": r, "reason": why, "reading": json.loads(body)} for r, why, body in gateway.outbox.held()]
    try:
        if isinstance(cmd, Assign):
            assign(settings, cmd.reading_id, cmd.resident, cmd.by, cmd.why)
            return {"assigned": cmd.reading_id, "resident": cmd.resident}
        assert isinstance(cmd, Discard)
        discard(settings, cmd.reading_id, cmd.by, cmd.why)
        return {"discarded": cmd.reading_id}
    except AttributionError as err:
        raise Refused(str(err)) from None


def handle(gateway: Any, key: bytes | None, name: str, raw: bytes) -> dict[str, Any]:
    """Verify and run; the response body (never raises for a bad command)."""
    try:
        result = execute(gateway, name, verify(key, raw))
    except Refused as err:
        log.warning("refused kit command %s: %s", name, err)
        return {"ok": False, "error": str(err)}
    return {"ok": True, "result": result}
