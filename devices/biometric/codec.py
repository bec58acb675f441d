"""Biometric station (window 2) messages on top of the shared MQTT envelope.

cmd ``{"op": "capture", "renewal_id"}`` → ack → event
``{"type": "captured", "renewal_id", "photo_ref", "fingerprint_ref", "signature_ref"}`` or
``{"type": "capture_failed", "renewal_id", "error"}``. A repeated capture for a renewal already
captured re-announces the same references.
"""

from __future__ import annotations

from typing import Any

from devices.mqtt_codec import field_str
from lane.errors import ProtocolError
from lane.ports import CaptureResult

DEVICE = "biometric"
OP_CAPTURE = "capture"
EVENT_CAPTURED = "captured"
EVENT_FAILED = "capture_failed"


def captured_event(result: CaptureResult) -> dict[str, Any]:
    return {
        "type": EVENT_CAPTURED, "renewal_id": result.renewal_id, "photo_ref": result.photo_ref,
        "fingerprint_ref": result.fingerprint_ref, "signature_ref": result.signature_ref,
    }


def failed_event(renewal_id: str, error: str) -> dict[str, Any]:
    return {"type": EVENT_FAILED, "renewal_id": renewal_id, "error": error}


def parse_capture(cmd: dict[str, Any]) -> str:
    renewal_id = field_str(cmd, "renewal_id")
    if not renewal_id:
        raise ProtocolError("capture needs a renewal_id")
    return renewal_id


def parse_captured(body: dict[str, Any]) -> CaptureResult:
    return CaptureResult(
        renewal_id=field_str(body, "renewal_id"),
        photo_ref=field_str(body, "photo_ref"),
        fingerprint_ref=field_str(body, "fingerprint_ref"),
        signature_ref=field_str(body, "signature_ref"),
    )


def parse_failed(body: dict[str, Any]) -> tuple[str, str]:
    return field_str(body, "renewal_id"), field_str(body, "error")
