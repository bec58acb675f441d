"""Visit commands of the lane's own steps: the plate, a held device step (retry, take-over), the
applicant's answer at window 1, the card at window 3 (reprint, its approval, the hand-over), and
ending a visit (abort, "vehicle left")."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from lane.commands.base import APPROVER_ROLES, MIN_REASON, Actor, VisitCommand, by_rule, held_on_device
from lane.errors import NotPermitted, ValidationError
from lane.rules import validate_plate
from lane.workflow import PLATE_EDITABLE, Outcome, Stage


class ConfirmPlate(VisitCommand):
    """Confirm or type the plate the camera could not read surely, or correct a plate (with a reason)
    while the car is still at the entry or window 1."""

    action: Literal["confirm_plate"] = "confirm_plate"
    plate: str = Field(min_length=1, max_length=16, description="the plate as on the car, e.g. 'G 1234 ABC'")
    stages: ClassVar[frozenset[Stage]] = PLATE_EDITABLE
    label: ClassVar[str] = "a plate correction"

    @field_validator("plate")
    @classmethod
    def _plate(cls, v: str) -> str:
        return by_rule(validate_plate, v)

    @classmethod
    def refusal(cls, visit: Any) -> str | None:
        stage = visit.state.stage
        if stage not in cls.stages:
            return (f"the plate cannot be changed while {stage.value}: it is on the receipt and the signs call the "
                    "car on by it; a plate is corrected before the car leaves window 1")
        return None

    def is_correction(self, visit: Any) -> bool:
        """A plate was bound already (not the entry's "confirm the plate" hold): changing it needs a reason."""
        return visit.state.plate is not None and visit.state.held != "plate_unconfirmed"

    def check_values(self, visit: Any) -> None:
        if self.is_correction(visit) and len((self.reason or "").strip()) < MIN_REASON:
            raise ValidationError("reason", "a plate correction needs a reason (what was wrong, at least "
                                            f"{MIN_REASON} characters)")


class Retry(VisitCommand):
    """Try the held device step again (the device is fixed or back)."""

    action: Literal["retry"] = "retry"
    label: ClassVar[str] = "a retry"

    @classmethod
    def precondition(cls, visit: Any) -> str | None:
        return held_on_device(visit, "retried")


NOT_BY_HAND = ("biometric", "card-printer")
"""Steps no officer can do by hand: a card needs the station's photo, fingerprint and signature and
comes out of a card printer (card-printer, card-printer-2...). Retry them, or abort."""


def can_take_over(device: str | None, stage: Stage) -> bool:
    """Whether a step held on ``device`` may be done by hand at ``stage`` without skipping a rule: a
    stage stuck on the lane itself only at verifying (where the decision form decides by the rules);
    elsewhere the stage is retried (its charge, card and receipt are each done once by key)."""
    if device is None or device.startswith(NOT_BY_HAND):
        return False
    return device != "lane" or stage is Stage.VERIFYING


class TakeOver(VisitCommand):
    """The officer does the held step by hand. For the e-KTP reader or the registry this opens the
    decision form; for the terminal the fee counts as paid by other means. Never for the photo or the
    card, nor a whole stage past verifying (:func:`can_take_over`): the charge, the capture and the
    card are never skipped."""

    action: Literal["take_over"] = "take_over"
    needs_reason: ClassVar[bool] = True
    label: ClassVar[str] = "a take-over"

    @classmethod
    def precondition(cls, visit: Any) -> str | None:
        why = held_on_device(visit, "taken over")
        if why is not None:
            return why
        device = visit.held_device
        if not can_take_over(device, visit.state.stage):
            if device == "lane":
                return (f"a stage stuck while {visit.state.stage.value} is not done by hand (only verification is, "
                        "through the decision form): retry it or abort")
            return f"{device} cannot be done by hand (the card needs it): fix the device and retry, or abort"
        return None


class Reprint(VisitCommand):
    """The card came out spoiled: print it again (a new job on a new blank, with a new card serial; the
    spoiled blank is kept in the blank log with this reason). The hand-over waits for it."""

    action: Literal["reprint"] = "reprint"
    stages: ClassVar[frozenset[Stage]] = frozenset({Stage.HANDING_OVER})
    needs_reason: ClassVar[bool] = True
    label: ClassVar[str] = "a reprint"


class ApplicantAnswer(VisitCommand):
    """The applicant answers at the window instead of on the terminal (it does not work, or they cannot
    use it): the officer passes on their OK to the name, class and fee shown, or their no (nothing is
    charged; the car leaves by the exit)."""

    action: Literal["applicant_answer"] = "applicant_answer"
    confirmed: bool = Field(description="true: the applicant confirmed name, class and fee; false: declined")
    stages: ClassVar[frozenset[Stage]] = frozenset({Stage.PAYING})
    label: ClassVar[str] = "the applicant's answer"

    @classmethod
    def precondition(cls, visit: Any) -> str | None:
        return None if visit.confirming else "nothing waits for the applicant's confirmation on this visit"


class ApproveReprint(VisitCommand):
    """Where the site says so (``reprint_approval``), a supervisor approves an officer's reprint before
    a second blank is used (never their own request; a supervisor's own reprint needs no other)."""

    action: Literal["approve_reprint"] = "approve_reprint"
    stages: ClassVar[frozenset[Stage]] = frozenset({Stage.HANDING_OVER})
    label: ClassVar[str] = "approving a reprint"

    @classmethod
    def precondition(cls, visit: Any) -> str | None:
        if not visit.has_pending(Reprint) or visit.has_pending(ApproveReprint):
            return "no reprint waits for approval on this visit"
        return None


def check_reprint_approver(actor: Actor, visit: Any) -> None:
    """A supervisor approves, and never the reprint they asked for themselves."""
    if actor.role not in APPROVER_ROLES:
        raise NotPermitted(f"a reprint is approved by a supervisor (role {actor.role!r} may not)")
    asked = [a.actor.username for a in visit.pending if isinstance(a.command, Reprint)]
    if actor.username in asked:
        raise NotPermitted("a reprint is approved by another person than the one who asked for it")


class HandedOver(VisitCommand):
    """The officer gave the driver the new card."""

    action: Literal["handed_over"] = "handed_over"
    stages: ClassVar[frozenset[Stage]] = frozenset({Stage.HANDING_OVER})
    label: ClassVar[str] = "the hand-over"


class Abort(VisitCommand):
    """Stop this renewal: the vehicle leaves by the exit (or backs out, if not yet admitted)."""

    action: Literal["abort"] = "abort"
    needs_reason: ClassVar[bool] = True
    label: ClassVar[str] = "an abort"

    @classmethod
    def precondition(cls, visit: Any) -> str | None:
        if visit.state.outcome in (Outcome.REFUSED, Outcome.ABORTED):
            return f"the visit is already {visit.state.outcome.value}; the vehicle is on its way out"
        return None


class VehicleLeft(VisitCommand):
    """The vehicle is gone (it left without the loops seeing it, or its visit is stuck): end the visit
    and free its stations, so the next car goes on."""

    action: Literal["vehicle_left"] = "vehicle_left"
    needs_reason: ClassVar[bool] = True
    label: ClassVar[str] = "'vehicle left'"
