"""Payment terminal (QRIS/EDC) messages on top of the shared MQTT envelope.

cmd ``{"op": "charge", "reference", "amount"}`` → ack → later event
``{"type": "payment", "reference", "status": "paid|failed|cancelled", "amount", "detail"}``.
A charge is idempotent by ``reference``: the terminal answers a repeated reference with the result
it already has (``"repeat": true``) and charges nothing.
"""

from __future__ import annotations

from typing import Any

from devices.mqtt_codec import field_int, field_str
from lane.errors import ProtocolError
from lane.ports import PaymentOutcome, PaymentResult

DEVICE = "payment"
OP_CHARGE = "charge"
EVENT_PAYMENT = "payment"


def charge_fields(reference: str, amount: int) -> dict[str, Any]:
    if not reference:
        raise ValueError("charge needs a reference")
    if amount <= 0:
        raise ValueError("charge amount must be positive rupiah")
    return {"reference": reference, "amount": amount}


def parse_charge(cmd: dict[str, Any]) -> tuple[str, int]:
    reference = field_str(cmd, "reference")
    amount = field_int(cmd, "amount")
    if not reference or amount <= 0:
        raise ProtocolError("charge needs a reference and a positive amount")
    return reference, amount


def payment_event(reference: str, status: PaymentOutcome | str, amount: int, detail: str = "",
                  repeat: bool = False) -> dict[str, Any]:
    return {
        "type": EVENT_PAYMENT, "reference": reference, "status": str(PaymentOutcome(status)),
        "amount": amount, "detail": detail, "repeat": repeat,
    }


def parse_payment_event(body: dict[str, Any]) -> PaymentResult:
    reference = field_str(body, "reference")
    status = field_str(body, "status")
    try:
        outcome = PaymentOutcome(status)
    except ValueError as exc:
        raise ProtocolError(f"unknown payment status {status!r}") from exc
    detail = body.get("detail") or ""
    if not isinstance(detail, str):
        raise ProtocolError("payment detail must be a string")
    return PaymentResult(reference=reference, outcome=outcome, amount=field_int(body, "amount"), detail=detail)
