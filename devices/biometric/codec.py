"""Biometric station (window 2) messages on top of the shared MQTT envelope.

cmd ``{"op": "delete", "id", "renewal_id"}`` → ack: the station has deleted that renewal's photo,
fingerprint and signature (the card is printed); deleting what is gone acks ``ok`` too.

cmd ``{"op": "capture", "id", "renewal_id"}`` → ack → event
``{"type": "captured", "command": <the capture's id>, "renewal_id", "photo_ref", "fingerprint_ref",
"signature_ref"}`` or ``{"type": "capture_failed", "command", "renewal_id", "error"}``. A repeated
capture for a renewal already captured re-announces the same references, naming the new command.
References are 1-256 characters without control characters.
"""

from __future__ import annotations

from typing import Any

from devices.fields import field_str, field_text
from lane.errors import ProtocolError
from lane.ports import CaptureResult

DEVICE = "biometric"
OP_CAPTURE = "capture"
OP_DELETE = "delete"
EVENT_CAPTURED = "captured"
EVENT_FAILED = "capture_failed"


MAX_REF = 256


def captured_event(command: str, result: CaptureResult) -> dict[str, Any]:
    """The capture's references, answering the capture command ``command`` (its id)."""
    return {
        "type": EVENT_CAPTURED, "command": command, "renewal_id": result.renewal_id, "photo_ref": result.photo_ref,
        "fingerprint_ref": result.fingerprint_ref, "signature_ref": result.signature_ref,
    }


def failed_event(command: str, renewal_id: str, error: str) -> dict[str, Any]:
    return {"type": EVENT_FAILED, "command": command, "renewal_id": renewal_id, "error": error}


def parse_capture(cmd: dict[str, Any]) -> str:
    """The renewal id of a capture or a delete command."""
    renewal_id = field_str(cmd, "renewal_id")
    if not renewal_id:
        raise ProtocolError(f"{cmd.get('op', 'a command')} needs a renewal_id")
    return renewal_id


def parse_captured(body: dict[str, Any]) -> CaptureResult:
    return CaptureResult(
        renewal_id=field_text(body, "renewal_id", max_len=64),
        photo_ref=field_text(body, "photo_ref", max_len=MAX_REF),
        fingerprint_ref=field_text(body, "fingerprint_ref", max_len=MAX_REF),
        signature_ref=field_text(body, "signature_ref", max_len=MAX_REF),
    )


def parse_failed(body: dict[str, Any]) -> tuple[str, str]:
    return field_text(body, "renewal_id", max_len=64), field_text(body, "error", max_len=64)
