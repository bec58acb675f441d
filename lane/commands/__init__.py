"""Officer commands as typed values: what an officer, supervisor or technician asks a lane to do.

Each command says where it fits: the stages it is allowed in (``stages``), whether it needs a reason
(``needs_reason``: it changes the outcome or overrides the machines), and what else must hold
(``precondition``: a held device step to retry, a decision waiting for its form...). Checks raise the
project's own errors with a sentence for the officer: :class:`~lane.errors.WorkflowError` for "not
now" and :class:`~lane.errors.ValidationError` for a missing reason or a bad value. Values are
validated where they come in (a plate, a NIK, a SIM number, a date), by the same rules
(:mod:`lane.rules`) that check a device's data.

The API takes visit commands as one discriminated union on ``action`` (:data:`VisitCommandBody`),
so the action names scripts already send keep working. :class:`lane.actions.OfficerDesk` applies
them. The commands live in :mod:`lane.commands.base` (the common ground, the lane's own commands),
:mod:`lane.commands.visit` (the lane's steps) and :mod:`lane.commands.decision` (the decision by hand);
everything is imported from here.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from lane.commands.base import (
    ACTIVE,
    APPROVER_ROLES,
    MIN_REASON,
    SIM_CLASSES,
    Accepted,
    Actor,
    Command,
    CommandResult,
    DeviceTest,
    GateOverride,
    VisitCommand,
)
from lane.commands.decision import ApproveDecision, Decide, RejectDecision, check_approver
from lane.commands.visit import (
    NOT_BY_HAND,
    Abort,
    ApplicantAnswer,
    ApproveReprint,
    ConfirmPlate,
    HandedOver,
    Reprint,
    Retry,
    TakeOver,
    VehicleLeft,
    can_take_over,
    check_reprint_approver,
)
from lane.errors import ValidationError

VisitCommandBody = Annotated[
    ConfirmPlate | Retry | TakeOver | Decide | ApproveDecision | RejectDecision | ApplicantAnswer | Reprint
    | ApproveReprint | HandedOver | Abort | VehicleLeft,
    Field(discriminator="action"),
]
"""Every visit command, told apart by ``action``."""
VISIT_COMMANDS: tuple[type[VisitCommand], ...] = (ConfirmPlate, Retry, TakeOver, Decide, ApproveDecision,
                                                  RejectDecision, ApplicantAnswer, Reprint, ApproveReprint,
                                                  HandedOver, Abort, VehicleLeft)


_VISIT = TypeAdapter(VisitCommandBody)
_GATE = TypeAdapter(GateOverride)


def parse_command(action: str, params: dict[str, Any]) -> VisitCommand | GateOverride:
    """A command from its name and values (an officer simulator's call, a row kept in the store).
    Raises ValidationError naming the first bad field."""
    data = {**params, "action": action}
    try:
        if action in ("open_gate", "close_gate"):
            return _GATE.validate_python(data)
        return _VISIT.validate_python(data)
    except PydanticValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err.get("loc", ())) or "action"
        raise ValidationError(where, str(err.get("msg", "invalid"))) from exc


__all__ = ["ACTIVE", "APPROVER_ROLES", "MIN_REASON", "NOT_BY_HAND", "SIM_CLASSES", "VISIT_COMMANDS", "Abort",
           "Accepted", "Actor", "ApplicantAnswer", "ApproveDecision", "ApproveReprint", "Command", "CommandResult",
           "ConfirmPlate", "Decide", "DeviceTest", "GateOverride", "HandedOver", "RejectDecision", "Reprint", "Retry",
           "TakeOver", "VehicleLeft", "VisitCommand", "VisitCommandBody", "can_take_over", "check_approver",
           "check_reprint_approver", "parse_command"]
