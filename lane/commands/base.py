"""The commands' common ground: who sends one (:class:`Actor`), the reason rule, where a visit command
fits (:class:`VisitCommand`), the lane's own commands (a gate by hand, a device test), and what the desk
answers and keeps (:class:`CommandResult`, :class:`Accepted`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from lane.errors import ValidationError, WorkflowError
from lane.rules import check_text
from lane.workflow import STAGE_ORDER, Stage

ACTIVE: frozenset[Stage] = frozenset(STAGE_ORDER)
"""Every stage a vehicle can be in while its visit is open."""
APPROVER_ROLES = frozenset({"supervisor", "admin"})
"""Who may approve a decision taken by hand (never the officer who proposed it)."""
SIM_CLASSES = ("A", "C", "CI", "CII")
MIN_REASON = 3


@dataclass(frozen=True)
class Actor:
    """Who sends a command: their account and role (the audit log's who)."""

    username: str
    role: str


class Command(BaseModel):
    """Common to every command: the reason the officer gives, and the reason rule."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    action: str
    reason: str | None = Field(default=None, max_length=300, description="why (goes to the audit log)")

    needs_reason: ClassVar[bool] = False
    label: ClassVar[str] = "this"

    @field_validator("reason")
    @classmethod
    def _reason(cls, v: str | None) -> str | None:
        return None if v is None else by_rule(lambda r: check_text(r, "reason", max_length=300), v)

    def check_reason(self) -> None:
        if self.needs_reason and len((self.reason or "").strip()) < MIN_REASON:
            raise ValidationError("reason", f"{self.label} needs a reason (what happened, at least {MIN_REASON} "
                                            "characters)")

    def audit_detail(self) -> dict[str, Any]:
        """The command's values as the audit log keeps them (personal data masked)."""
        return self.model_dump(mode="json", exclude={"action", "reason"}, exclude_none=True)


class VisitCommand(Command):
    """A command about one open visit. ``stages``: where it is allowed."""

    stages: ClassVar[frozenset[Stage]] = ACTIVE

    @classmethod
    def refusal(cls, visit: Any) -> str | None:
        """Why this kind of command does not fit ``visit`` (a :class:`lane.visit.Visit`) now; None if it does.
        The console offers a command only where this is None."""
        stage = visit.state.stage
        if stage not in cls.stages:
            allowed = ", ".join(s.value for s in STAGE_ORDER if s in cls.stages)
            return f"{cls.label} is not possible while {stage.value} (only while {allowed})"
        return cls.precondition(visit)

    @classmethod
    def precondition(cls, visit: Any) -> str | None:
        """What else must hold, beyond the stage; nothing by default."""
        return None

    def check(self, visit: Any) -> None:
        """Raise unless this command, with its values and reason, fits ``visit`` now."""
        why = self.refusal(visit)
        if why is not None:
            raise WorkflowError(why)
        self.check_values(visit)
        self.check_reason()

    def check_values(self, visit: Any) -> None:
        """Checks of this command's values against the visit; none by default."""


def by_rule(rule: Callable[[str], str], value: str) -> str:
    """A rule of :mod:`lane.rules` as a check of a command's value: its own message, as a value error."""
    try:
        return rule(value)
    except ValidationError as exc:
        raise ValueError(exc.message) from exc


def held_on_device(visit: Any, what: str) -> str | None:
    if visit.held_device is None:
        state = f"held: {visit.state.held}" if visit.state.held else "not held"
        return f"only a step held on a device can be {what} (this visit is {state})"
    return None


# ================================================================ lane commands (no visit)
class GateOverride(Command):
    """Open or close a gate by hand. A close is refused while a vehicle is under the boom."""

    action: Literal["open_gate", "close_gate"]
    gate: Literal["entry-gate", "exit-gate"] = "entry-gate"
    needs_reason: ClassVar[bool] = True
    label: ClassVar[str] = "a gate override"


class DeviceTest(Command):
    """A technician's test: open or close a gate, or ask any device for its status."""

    action: Literal["device_test"] = "device_test"
    device: str = Field(min_length=1, max_length=32)
    command: Literal["open", "close", "status"]
    needs_reason: ClassVar[bool] = True
    label: ClassVar[str] = "a device test"


@dataclass
class CommandResult:
    """What the officer is told: what happened, and for a retry whether it worked (None: still trying)."""

    detail: str
    worked: bool | None = True
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Accepted:
    """A visit command the lane accepted (checked and audited), waiting for the visit's runner."""

    command: VisitCommand
    actor: Actor
    action_id: int | None = None
    """The store's row keeping it until taken (a restart hands it back to the visit)."""
    device: str | None = None
    """For a retry or a take-over: the held device step it answers."""
    outcome: asyncio.Future[str | None] | None = field(default=None, repr=False)
    """For a retry: resolved after the next attempt, None if it went through, else what still fails."""

    def params(self) -> dict[str, Any]:
        """What the store keeps to rebuild this command after a restart."""
        out = self.command.model_dump(mode="json", exclude={"action"}, exclude_none=True)
        if self.device:
            out["device"] = self.device
        return out
