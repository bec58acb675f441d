"""e-KTP card reader (window 1) messages on top of the shared MQTT envelope.

cmd ``{"op": "read", "id", "seconds"}`` (arms the reader for ``seconds``) → ack → event ``{"type": "card", "command": <the read's
id>, "nik", "name", "birth_date", "sim_number"}`` (``birth_date`` ISO ``YYYY-MM-DD``) or
``{"type": "read_error", "command", "error"}``. The controller believes a card only while the read it
names is armed. The card event carries personal data: it is never retained, never logged, and a
malformed one is refused with a reason that quotes none of it.

Fields are checked at this edge: the NIK is 16 ASCII digits, the SIM number 12 to 16 ASCII digits
(older cards 12-14, since 2024 the NIK), the name 1 to 100 characters with no control character.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from devices.fields import field_digits, field_str, field_text
from lane.errors import ProtocolError
from lane.ports import IdentityCard

DEVICE = "card-reader"
OP_READ = "read"
EVENT_CARD = "card"
EVENT_READ_ERROR = "read_error"
MAX_NAME = 100


def read_fields(timeout: float) -> dict[str, Any]:
    """The read command's window: the reader disarms after ``seconds``, so a card tapped later is
    kept for the next read instead of answering one the controller no longer waits for. The window
    closes a little before the controller's own (a fifth of it, at most half a second): a card
    tapped at the very end waits on the reader for the next read rather than racing the timeout."""
    if timeout <= 0:
        raise ValueError("a read needs a positive window")
    return {"seconds": round(timeout - min(0.5, timeout / 5), 3)}


def parse_read(cmd: dict[str, Any]) -> float | None:
    """The window of a read command in seconds; None (no window) from an older controller."""
    seconds = cmd.get("seconds")
    if seconds is None:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 < seconds <= 86400:
        raise ProtocolError("read seconds must be a positive number of seconds")
    return float(seconds)


def card_event(command: str, card: IdentityCard) -> dict[str, Any]:
    """The card read for the read command ``command`` (its id)."""
    return {
        "type": EVENT_CARD, "command": command, "nik": card.nik, "name": card.name,
        "birth_date": card.birth_date.isoformat(), "sim_number": card.sim_number,
    }


def read_error_event(command: str, error: str) -> dict[str, Any]:
    return {"type": EVENT_READ_ERROR, "command": command, "error": error}


def parse_card(body: dict[str, Any]) -> IdentityCard:
    nik = field_digits(body, "nik", (16,))
    name = field_text(body, "name", max_len=MAX_NAME)
    sim_number = field_digits(body, "sim_number", range(12, 17))
    try:
        birth = date.fromisoformat(field_str(body, "birth_date"))
    except ValueError:
        raise ProtocolError("birth_date is not an ISO date (YYYY-MM-DD)") from None
    return IdentityCard(nik=nik, name=name, birth_date=birth, sim_number=sim_number)


def parse_read_error(body: dict[str, Any]) -> str:
    return field_text(body, "error", max_len=64)


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
