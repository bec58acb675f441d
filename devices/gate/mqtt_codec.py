"""Barrier gate messages over MQTT, on top of the shared envelope (``devices/mqtt_codec.py``).

Shared by :class:`devices.gate.mqtt_driver.MqttBarrierGate` and the simulated gate's MQTT front-end
(:class:`simulators.gate.MqttGateSimulator`), so the two ends cannot drift. See docs/wire/mqtt.md.

* state (retained): ``{"position", "presence_loop", "safety_loop", "faults": [...], "auto_close"}`` and, from a
  gate that counts them, ``"passages"``: vehicles that cleared its safety loop, modulo 256;
* cmd ``{"op": "open" | "close" | "stop"}`` and ``{"op": "auto_close", "seconds": 0..255}``;
* ack error ``safety_loop_occupied`` when a close is refused because a vehicle is under the boom;
* events ``moved`` (``position``), ``loop`` (``loop``, ``occupied``), ``faults`` (``faults``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from devices.fields import field_int, field_str
from lane.errors import ProtocolError
from lane.ports import PASSAGE_MODULUS, GatePosition, GateStatus

DEVICES = ("entry-gate", "exit-gate")

OP_OPEN = "open"
OP_CLOSE = "close"
OP_STOP = "stop"
OP_AUTO_CLOSE = "auto_close"
OPS = frozenset({OP_OPEN, OP_CLOSE, OP_STOP, OP_AUTO_CLOSE})

ERROR_SAFETY = "safety_loop_occupied"
"""Ack error of a close refused while the safety loop is occupied (the driver raises GateSafetyError)."""
ERROR_FAULT = "gate_fault"

EVENT_MOVED = "moved"
EVENT_LOOP = "loop"
EVENT_FAULTS = "faults"

FAULT_NAMES = frozenset({"motor_fault", "stuck", "loop_fault"})
"""Faults the gate reports in its state (the same names as the serial status bits)."""

MAX_AUTO_CLOSE = 255


# ---------------------------------------------------------------- state
def state_fields(status: GateStatus, auto_close: int = 0) -> dict[str, Any]:
    """The retained state for ``status`` (``online`` is not in it: availability says that)."""
    fields: dict[str, Any] = {
        "position": status.position.value,
        "presence_loop": status.presence_loop,
        "safety_loop": status.safety_loop,
        "faults": sorted(status.faults),
        "auto_close": auto_close,
    }
    if status.passages is not None:
        fields["passages"] = status.passages
    return fields


def _faults(body: Mapping[str, Any]) -> list[str]:
    """The gate's fault names: a short list of names it may report (``FAULT_NAMES``)."""
    faults = body.get("faults", [])
    if not isinstance(faults, list) or not all(isinstance(f, str) for f in faults):
        raise ProtocolError("field 'faults' must be a list of strings")
    unknown = [f for f in faults if f not in FAULT_NAMES]
    if unknown:
        raise ProtocolError(f"{len(unknown)} unknown gate fault name(s)")
    return faults


def _field_bool(body: Mapping[str, Any], key: str) -> bool:
    value = body.get(key)
    if not isinstance(value, bool):
        raise ProtocolError(f"field {key!r} must be a boolean, got {type(value).__name__}")
    return value


def parse_state(body: Mapping[str, Any]) -> GateStatus:
    """A GateStatus (``online=False``: the driver adds availability) or ProtocolError."""
    try:
        position = GatePosition(field_str(body, "position"))
    except ValueError:
        raise ProtocolError("unknown gate position") from None
    faults = _faults(body)
    passages = None
    if "passages" in body:
        passages = field_int(body, "passages")
        if not 0 <= passages < PASSAGE_MODULUS:
            raise ProtocolError(f"passages {passages} out of 0..{PASSAGE_MODULUS - 1}")
    return GateStatus(
        position=position,
        presence_loop=_field_bool(body, "presence_loop"),
        safety_loop=_field_bool(body, "safety_loop"),
        faults=frozenset(faults),
        passages=passages,
    )


# ---------------------------------------------------------------- commands
def auto_close_fields(seconds: int) -> dict[str, Any]:
    if not 0 <= seconds <= MAX_AUTO_CLOSE:
        raise ValueError(f"auto-close seconds must be 0..{MAX_AUTO_CLOSE} (0 = off)")
    return {"seconds": seconds}


def parse_command(cmd: Mapping[str, Any]) -> tuple[str, int | None]:
    """``(op, seconds)`` of a gate command; ``seconds`` only for auto_close. ProtocolError otherwise."""
    op = field_str(cmd, "op")
    if op not in OPS:
        raise ProtocolError("unknown gate op")
    if op != OP_AUTO_CLOSE:
        return op, None
    seconds = field_int(cmd, "seconds")
    if not 0 <= seconds <= MAX_AUTO_CLOSE:
        raise ProtocolError(f"auto_close seconds {seconds} out of 0..{MAX_AUTO_CLOSE}")
    return op, seconds


# ---------------------------------------------------------------- events
def status_events(before: GateStatus, after: GateStatus) -> list[dict[str, Any]]:
    """The events (type + fields) that tell what changed between two statuses."""
    events: list[dict[str, Any]] = []
    if after.position != before.position:
        events.append({"type": EVENT_MOVED, "position": after.position.value})
    if after.presence_loop != before.presence_loop:
        events.append({"type": EVENT_LOOP, "loop": "presence", "occupied": after.presence_loop})
    if after.safety_loop != before.safety_loop:
        events.append({"type": EVENT_LOOP, "loop": "safety", "occupied": after.safety_loop})
    if after.faults != before.faults:
        events.append({"type": EVENT_FAULTS, "faults": sorted(after.faults)})
    return events


def validate_event(body: Mapping[str, Any]) -> None:
    """Check the fields of the gate events we know; unknown types pass (forward compatible)."""
    kind = body["type"]
    if kind == EVENT_MOVED:
        try:
            GatePosition(field_str(body, "position"))
        except ValueError:
            raise ProtocolError("unknown gate position") from None
    elif kind == EVENT_LOOP:
        if field_str(body, "loop") not in ("presence", "safety"):
            raise ProtocolError("unknown loop")
        _field_bool(body, "occupied")
    elif kind == EVENT_FAULTS:
        if "faults" not in body:
            raise ProtocolError("faults event without faults")
        _faults(body)
