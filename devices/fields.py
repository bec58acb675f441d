"""Checking the fields of a message from a device, whatever its wire (MQTT JSON, an HTTP answer).

Nothing a device sends is used before it passes here: the right type, a length within bounds, no
control character in text a person reads or a database stores (a NUL in a card name once stopped a
lane's database write, issue 23), ASCII digits where digits are meant. Errors are ProtocolError with a
reason that never quotes the value: the value may be a NIK or a name, and the reason is logged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lane.errors import ProtocolError, ValidationError
from lane.rules import check_digits, check_text


def field_str(body: Mapping[str, Any], key: str) -> str:
    """A required string field, or ProtocolError."""
    value = body.get(key)
    if not isinstance(value, str):
        raise ProtocolError(f"field {key!r} must be a string, got {type(value).__name__}")
    return value


def field_text(body: Mapping[str, Any], key: str, *, max_len: int, min_len: int = 1) -> str:
    """A required string field a person may read (a name, a reference, an error word): ``min_len`` to
    ``max_len`` characters, no control or format characters (a NUL in a name stopped a lane's
    database write, issue 23), not only blanks: the lane's one rule, :func:`lane.rules.check_text`.
    The error never quotes the value."""
    try:
        return check_text(field_str(body, key), key, max_length=max_len, min_length=min_len)
    except ValidationError as exc:
        raise ProtocolError(f"field {exc}") from None


def field_digits(body: Mapping[str, Any], key: str, lengths: range | tuple[int, ...]) -> str:
    """A required string of ASCII digits 0-9 (not any Unicode digit: ``"١٢٣".isdigit()`` is True)
    whose length is in ``lengths`` (:func:`lane.rules.check_digits`). The error never quotes the value."""
    try:
        return check_digits(field_str(body, key), key, lengths=lengths)
    except ValidationError as exc:
        raise ProtocolError(f"field {exc}") from None


def field_int(body: Mapping[str, Any], key: str) -> int:
    value = body.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ProtocolError(f"field {key!r} must be an integer, got {type(value).__name__}")
    return value
