"""Payment terminal (QRIS/EDC) messages on top of the shared MQTT envelope.

cmd ``{"op": "confirm", "id", "reference", "name", "sim_class", "amount"}`` → ack → later event
``{"type": "confirmation", "command": <the confirm's id>, "reference", "answer": "confirmed|declined"}``:
the terminal shows the applicant their name, class and fee and they press OK or Cancel; nothing is
charged. A repeated reference is answered with the answer already given.

cmd ``{"op": "charge", "id", "reference", "amount"}`` → ack → later event
``{"type": "payment", "command": <the charge's id>, "reference", "status": "paid|failed|cancelled",
"amount", "detail"}``. A charge is idempotent by ``reference``: the terminal answers a repeated
reference with the result it already has (``"repeat": true``), naming the new command, and charges
nothing. The controller believes a payment only for an outstanding charge it names, for exactly
that charge's reference and amount (docs/wire/mqtt.md).
"""

from __future__ import annotations

from typing import Any

from devices.fields import field_int, field_str, field_text
from lane.errors import ProtocolError
from lane.ports import ChargeSummary, PaymentOutcome, PaymentResult

DEVICE = "payment"
OP_CHARGE = "charge"
OP_CONFIRM = "confirm"
EVENT_PAYMENT = "payment"
EVENT_CONFIRMATION = "confirmation"
ANSWERS = ("confirmed", "declined")
MAX_NAME = 100


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


MAX_REFERENCE = 64
MAX_DETAIL = 200


def payment_event(command: str, reference: str, status: PaymentOutcome | str, amount: int, detail: str = "",
                  repeat: bool = False) -> dict[str, Any]:
    """The terminal's answer to the charge command ``command`` (its id)."""
    return {
        "type": EVENT_PAYMENT, "command": command, "reference": reference, "status": str(PaymentOutcome(status)),
        "amount": amount, "detail": detail, "repeat": repeat,
    }


def parse_payment_event(body: dict[str, Any]) -> PaymentResult:
    reference = field_text(body, "reference", max_len=MAX_REFERENCE)
    try:
        outcome = PaymentOutcome(field_str(body, "status"))
    except ValueError:
        raise ProtocolError("unknown payment status") from None
    detail = ""
    if body.get("detail"):
        detail = field_text(body, "detail", max_len=MAX_DETAIL)
    return PaymentResult(reference=reference, outcome=outcome, amount=field_int(body, "amount"), detail=detail)


def confirm_fields(summary: ChargeSummary) -> dict[str, Any]:
    if not summary.reference or summary.amount <= 0:
        raise ValueError("a confirmation needs a reference and a positive amount")
    return {"reference": summary.reference, "name": summary.holder_name, "sim_class": summary.sim_class,
            "amount": summary.amount}


def parse_confirm(cmd: dict[str, Any]) -> ChargeSummary:
    """A confirm command (simulator side)."""
    summary = ChargeSummary(reference=field_text(cmd, "reference", max_len=MAX_REFERENCE),
                            holder_name=field_text(cmd, "name", max_len=MAX_NAME),
                            sim_class=field_text(cmd, "sim_class", max_len=4), amount=field_int(cmd, "amount"))
    if summary.amount <= 0:
        raise ProtocolError("a confirmation needs a positive amount")
    return summary


def confirmation_event(command: str, reference: str, confirmed: bool) -> dict[str, Any]:
    return {"type": EVENT_CONFIRMATION, "command": command, "reference": reference,
            "answer": ANSWERS[0] if confirmed else ANSWERS[1]}


def parse_confirmation(body: dict[str, Any]) -> tuple[str, bool]:
    """``(reference, confirmed)`` of a confirmation event."""
    reference = field_text(body, "reference", max_len=MAX_REFERENCE)
    answer = field_str(body, "answer")
    if answer not in ANSWERS:
        raise ProtocolError("unknown confirmation answer")
    return reference, answer == ANSWERS[0]
