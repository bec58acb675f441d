"""Checking the fields of a message from a device, whatever its wire (MQTT JSON, an HTTP answer).

Nothing a device sends is used before it passes here: the right type, a length within bounds, no
control character in text a person reads or a database stores (a NUL in a card name once stopped a
lane's database write, issue 23), ASCII digits where digits are meant. Errors are ProtocolError with a
reason that never quotes the value: the value may be a NIK or a name, and the reason is logged.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any

from lane.errors import ProtocolError


def field_str(body: Mapping[str, Any], key: str) -> str:
    """A required string field, or ProtocolError."""
    value = body.get(key)
    if not isinstance(value, str):
        raise ProtocolError(f"field {key!r} must be a string, got {type(value).__name__}")
    return value


def field_text(body: Mapping[str, Any], key: str, *, max_len: int, min_len: int = 1) -> str:
    """A required string field a person may read (a name, a reference, an error word): ``min_len`` to
    ``max_len`` characters, no control or format characters (a NUL in a name stopped a lane's
    database write, issue 23), not only blanks. The error never quotes the value."""
    value = field_str(body, key)
    if not min_len <= len(value) <= max_len:
        raise ProtocolError(f"field {key!r} must be {min_len} to {max_len} characters, got {len(value)}")
    for position, char in enumerate(value):
        if unicodedata.category(char).startswith("C"):
            raise ProtocolError(f"field {key!r} holds a control character (U+{ord(char):04X} at {position})")
    if min_len and not value.strip():
        raise ProtocolError(f"field {key!r} is blank")
    return value


def field_digits(body: Mapping[str, Any], key: str, lengths: range | tuple[int, ...]) -> str:
    """A required string of ASCII digits 0-9 (not any Unicode digit: ``"١٢٣".isdigit()`` is True)
    whose length is in ``lengths``. The error never quotes the value."""
    value = field_str(body, key)
    if not value.isascii() or not value.isdigit():
        raise ProtocolError(f"field {key!r} must be ASCII digits only")
    if len(value) not in lengths:
        raise ProtocolError(f"field {key!r} must have {min(lengths)} to {max(lengths)} digits, got {len(value)}")
    return value


def field_int(body: Mapping[str, Any], key: str) -> int:
    value = body.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ProtocolError(f"field {key!r} must be an integer, got {type(value).__name__}")
    return value
