"""The MQTT message definitions shared by every MQTT driver and its simulator.

Topic tree ``lajur/<site>/<lane>/<device>/{availability,state,cmd,ack,event}``:

* ``availability`` — retained plain text ``online``/``offline``; ``offline`` is the device's Last Will;
* ``state`` — retained JSON;
* ``cmd`` — JSON command with an ``id`` and an ``op``;
* ``ack`` — JSON ``{id, ok, error}`` answering one command;
* ``event`` — JSON with a ``type``.

Every JSON payload carries ``"v": 1`` and ``"ts"`` (ISO 8601, UTC). Drivers and simulators both
import this module, so the two ends cannot drift (see docs/wire/mqtt.md).
"""

from __future__ import annotations

import json
import logging
import secrets
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from devices.fields import field_str, field_text
from devices.refusals import worth_a_warning
from lane.errors import ProtocolError

log = logging.getLogger(__name__)

VERSION = 1
ROOT = "lajur"
ONLINE = b"online"
OFFLINE = b"offline"
STATIONS = ("entry", "window-1", "window-2", "window-3", "exit")
"""Stations with a display and a lane signal."""

_FORBIDDEN = set("/+#\x00")


def _check_segment(kind: str, value: str) -> str:
    if not value or any(ch in _FORBIDDEN for ch in value):
        raise ValueError(f"{kind} {value!r} is not a valid MQTT topic segment")
    return value


@dataclass(frozen=True)
class Topics:
    """The five topics of one device."""

    site: str
    lane: str
    device: str

    def __post_init__(self) -> None:
        _check_segment("site", self.site)
        _check_segment("lane", self.lane)
        _check_segment("device", self.device)

    @property
    def root(self) -> str:
        return f"{ROOT}/{self.site}/{self.lane}/{self.device}"

    @property
    def availability(self) -> str:
        return f"{self.root}/availability"

    @property
    def state(self) -> str:
        return f"{self.root}/state"

    @property
    def cmd(self) -> str:
        return f"{self.root}/cmd"

    @property
    def ack(self) -> str:
        return f"{self.root}/ack"

    @property
    def event(self) -> str:
        return f"{self.root}/event"

    @property
    def control(self) -> str:
        """Simulators only: run-time fault injection (``{"v":1,"fault":NAME,"active":true}``)."""
        return f"{self.root}/control"

    @property
    def control_ack(self) -> str:
        """Simulators only: the answer to a control message (``{fault, active, ok, error, faults}``)."""
        return f"{self.root}/control/ack"

    def for_device(self, device: str) -> Topics:
        """Same site and lane, another device."""
        return Topics(self.site, self.lane, device)

    @classmethod
    def display(cls, site: str, lane: str, station: str) -> Topics:
        """Topics of the display + signal at ``station`` (device ``display-<station>``)."""
        return cls(site, lane, f"display-{station}")


# ---------------------------------------------------------------- envelope
def now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def encode(message: Mapping[str, Any]) -> bytes:
    """JSON with ``v`` and ``ts`` added when absent (callers never forget the envelope)."""
    body = {"v": VERSION, "ts": now_iso(), **message}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8")


def decode(payload: bytes, required: set[str] | frozenset[str] = frozenset()) -> dict[str, Any]:
    """Parse one JSON payload; raises ProtocolError on anything we cannot trust."""
    try:
        body = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ProtocolError(f"not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise ProtocolError(f"payload is a JSON {type(body).__name__}, not an object")
    version = body.get("v")
    if version != VERSION or isinstance(version, bool):
        raise ProtocolError("unsupported version (v must be 1)")
    if not isinstance(body.get("ts"), str):
        raise ProtocolError("missing ts")
    missing = set(required) - body.keys()
    if missing:
        raise ProtocolError(f"missing fields: {', '.join(sorted(missing))}")
    return body


# ---------------------------------------------------------------- availability
def parse_availability(payload: bytes) -> bool:
    """``online`` → True, ``offline`` → False, anything else (other case, blanks…) → ProtocolError."""
    if payload == ONLINE:
        return True
    if payload == OFFLINE:
        return False
    raise ProtocolError(f"availability must be exactly online or offline ({len(payload)} bytes)")


# ---------------------------------------------------------------- commands and acks
def new_command_id() -> str:
    """128 random bits from the OS: an answer must name its command, so nobody may guess one."""
    return secrets.token_urlsafe(16)


def command(op: str, **fields: Any) -> dict[str, Any]:
    """A command dict with a fresh ``id``; pass to :func:`encode`."""
    return {"id": new_command_id(), "op": op, **fields}


def ack(command_id: str, ok: bool, error: str | None = None) -> dict[str, Any]:
    return {"id": command_id, "ok": ok, "error": error}


def event(type_: str, **fields: Any) -> dict[str, Any]:
    return {"type": type_, **fields}


COMMAND_FIELDS = frozenset({"id", "op"})
ACK_FIELDS = frozenset({"id", "ok"})
EVENT_FIELDS = frozenset({"type"})


def decode_command(payload: bytes) -> dict[str, Any]:
    body = decode(payload, COMMAND_FIELDS)
    field_str(body, "id")
    field_str(body, "op")
    return body


def decode_ack(payload: bytes) -> dict[str, Any]:
    body = decode(payload, ACK_FIELDS)
    field_text(body, "id", max_len=64)
    if not isinstance(body["ok"], bool):
        raise ProtocolError("ack field 'ok' must be a boolean")
    if body.get("error") is not None:
        field_text(body, "error", max_len=64)
    return body


def decode_event(payload: bytes) -> dict[str, Any]:
    """An event: a ``type``, and the ``command`` it answers when it answers one."""
    body = decode(payload, EVENT_FIELDS)
    field_text(body, "type", max_len=32)
    if "command" in body:
        field_text(body, "command", max_len=64)
    return body


# ---------------------------------------------------------------- simulator control
def decode_control(payload: bytes) -> tuple[str, bool]:
    """``(fault, active)`` of a simulator control message ``{"v":1,"fault":NAME,"active":bool}``.

    ``ts`` is optional here: technicians type these by hand with ``mosquitto_pub``.
    """
    try:
        body = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ProtocolError(f"not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise ProtocolError("control payload must be a JSON object")
    if body.get("v") != VERSION or isinstance(body.get("v"), bool):
        raise ProtocolError(f"unsupported version {body.get('v')!r}")
    fault = field_str(body, "fault")
    active = body.get("active", True)
    if not isinstance(active, bool):
        raise ProtocolError("field 'active' must be a boolean")
    return fault, active


# ---------------------------------------------------------------- malformed payloads
@dataclass
class MalformedCounter:
    """Counts and logs payloads we had to drop, so a noisy device is visible and never fatal.

    The log says the topic, the reason and the size, never the payload: a card event carries a NIK,
    a name and a SIM number, and a malformed one is still personal data. The first drop per topic
    and every power of ten after it are warnings; the rest are debug lines.
    """

    device: str
    count: int = 0
    by_topic: Counter[str] = field(default_factory=Counter)
    last_error: str | None = None

    def record(self, topic: str, payload: bytes, error: Exception | str) -> None:
        self.count += 1
        self.by_topic[topic] += 1
        self.last_error = str(error)
        level = logging.WARNING if worth_a_warning(self.by_topic[topic]) else logging.DEBUG
        log.log(level, "%s: dropped malformed payload #%d on %s (%d on this topic): %s (%d bytes)",
                self.device, self.count, topic, self.by_topic[topic], error, len(payload))

    def __int__(self) -> int:
        return self.count
