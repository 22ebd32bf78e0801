"""The MQTT topic tree, version 1.

::

    vitalgate/v1/{site}/{gateway}/status                 retained; last will (online=false)
    vitalgate/v1/{site}/{gateway}/obs/{resident}/{kind}  observations, QoS 1
    vitalgate/v1/{site}/{gateway}/alert/{resident}       alerts (clinician side), QoS 1
    vitalgate/v1/{site}/{gateway}/alert/{resident}/ack   acknowledgements, QoS 1
    vitalgate/v1/{site}/{gateway}/critical/{resident}    critical values, retained until ack
    vitalgate/v1/{site}/{gateway}/notify/{resident}      the resident's (and carer's) own alerts
    vitalgate/v1/{site}/{gateway}/cmd/{command}          commands (MQTT 5 response topic)
    vitalgate/v1/{site}/{gateway}/deadletter             rejected messages, with the reason
"""

from __future__ import annotations

from dataclasses import dataclass

ROOT = "vitalgate/v1"


@dataclass(frozen=True, slots=True)
class Topics:
    """Topics of one gateway."""

    site: str
    gateway: str

    @property
    def base(self) -> str:
        return f"{ROOT}/{self.site}/{self.gateway}"

    @property
    def status(self) -> str:
        return f"{self.base}/status"

    def obs(self, resident: str, kind: str) -> str:
        return f"{self.base}/obs/{resident}/{kind}"

    def alert(self, resident: str) -> str:
        return f"{self.base}/alert/{resident}"

    def ack(self, resident: str) -> str:
        return f"{self.base}/alert/{resident}/ack"

    def critical(self, resident: str) -> str:
        return f"{self.base}/critical/{resident}"

    def notify(self, resident: str) -> str:
        return f"{self.base}/notify/{resident}"

    def cmd(self, command: str) -> str:
        return f"{self.base}/cmd/{command}"

    @property
    def deadletter(self) -> str:
        return f"{self.base}/deadletter"


#: What ingest workers subscribe to (any site, any gateway).
OBS_FILTER = f"{ROOT}/+/+/obs/#"
ALERT_FILTER = f"{ROOT}/+/+/alert/+"
ACK_FILTER = f"{ROOT}/+/+/alert/+/ack"
INGEST_DEADLETTER = f"{ROOT}/ingest/deadletter"


def shared(filter_: str, group: str) -> str:
    """A shared-subscription filter (MQTT 5 ``$share``)."""
    return f"$share/{group}/{filter_}"


def parse(topic: str) -> dict[str, str]:
    """Split a v1 topic into its named parts; ``ValueError`` if it is not one."""
    parts = topic.split("/")
    if len(parts) < 5 or "/".join(parts[:2]) != ROOT:
        raise ValueError(f"not a {ROOT} topic: {topic!r}")
    out = {"site": parts[2], "gateway": parts[3], "channel": parts[4]}
    rest = parts[5:]
    if out["channel"] == "obs" and len(rest) == 2:
        out.update(resident=rest[0], kind=rest[1])
    elif out["channel"] in {"alert", "critical", "notify"} and rest:
        out["resident"] = rest[0]
        if rest[1:] == ["ack"]:
            out["channel"] = "ack"
    elif out["channel"] == "cmd" and rest:
        out["command"] = "/".join(rest)
    return out
