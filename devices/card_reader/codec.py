"""e-KTP card reader (window 1) messages on top of the shared MQTT envelope.

cmd ``{"op": "read"}`` → ack → event ``{"type": "card", "nik", "name", "birth_date", "sim_number"}``
(``birth_date`` ISO ``YYYY-MM-DD``) or ``{"type": "read_error", "error"}``.
The card event carries personal data: it is never retained.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from devices.mqtt_codec import field_str
from lane.errors import ProtocolError
from lane.ports import IdentityCard

DEVICE = "card-reader"
OP_READ = "read"
EVENT_CARD = "card"
EVENT_READ_ERROR = "read_error"


def card_event(card: IdentityCard) -> dict[str, Any]:
    return {
        "type": EVENT_CARD, "nik": card.nik, "name": card.name,
        "birth_date": card.birth_date.isoformat(), "sim_number": card.sim_number,
    }


def read_error_event(error: str) -> dict[str, Any]:
    return {"type": EVENT_READ_ERROR, "error": error}


def parse_card(body: dict[str, Any]) -> IdentityCard:
    nik = field_str(body, "nik")
    if len(nik) != 16 or not nik.isdigit():
        raise ProtocolError("nik must be 16 digits")
    try:
        birth = date.fromisoformat(field_str(body, "birth_date"))
    except ValueError:
        raise ProtocolError("birth_date is not an ISO date (YYYY-MM-DD)") from None
    return IdentityCard(nik=nik, name=field_str(body, "name"), birth_date=birth,
                        sim_number=field_str(body, "sim_number"))


def as_card(data: IdentityCard | dict[str, Any]) -> IdentityCard:
    """Accept an IdentityCard or a plain dict (what the traffic simulator hands in)."""
    if isinstance(data, IdentityCard):
        return data
    birth = data["birth_date"]
    return IdentityCard(
        nik=str(data["nik"]), name=str(data["name"]),
        birth_date=birth if isinstance(birth, date) else date.fromisoformat(str(birth)),
        sim_number=str(data["sim_number"]),
    )
