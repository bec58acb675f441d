"""What every API model shares: typed text checked by the lane's own rule, roles, reasons."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field

from lane.errors import ValidationError
from lane.rules import check_text


def _checked(check: Callable[[str], str]) -> AfterValidator:
    """A lane rule as a pydantic check: its message becomes the 422's, naming the field."""

    def run(value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return check(value)
        except ValidationError as exc:
            raise ValueError(exc.message) from None

    return AfterValidator(run)


def Text(max_length: int, min_length: int = 0, description: str | None = None) -> Any:  # noqa: N802 - a type
    """Text an officer or a script typed: at most ``max_length`` characters, no control characters
    (:func:`lane.rules.check_text`), refused with a message naming the field and the character."""
    return Annotated[str, Field(min_length=min_length, max_length=max_length, description=description),
                     _checked(lambda v: check_text(v, "text", max_length=max_length))]


Role = Literal["officer", "supervisor", "technician", "admin"]
Reason = Text(300, 3, "why (goes to the audit log)")
Password = Text(200, 8)
FullName = Text(200)


class Ok(BaseModel):
    ok: bool = True
