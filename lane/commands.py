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
them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator
from pydantic import ValidationError as PydanticValidationError

from lane.errors import NotPermitted, ValidationError, WorkflowError
from lane.rules import check_text, mask_nik, normalise_sim_number, parse_nik, validate_plate
from lane.workflow import PLATE_EDITABLE, STAGE_ORDER, Outcome, Stage

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
        return None if v is None else _by_rule(lambda r: check_text(r, "reason", max_length=300), v)

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


def _by_rule(rule: Callable[[str], str], value: str) -> str:
    """A rule of :mod:`lane.rules` as a check of a command's value: its own message, as a value error."""
    try:
        return rule(value)
    except ValidationError as exc:
        raise ValueError(exc.message) from exc


def _held_on_device(visit: Any, what: str) -> str | None:
    if visit.held_device is None:
        state = f"held: {visit.state.held}" if visit.state.held else "not held"
        return f"only a step held on a device can be {what} (this visit is {state})"
    return None


# ================================================================ visit commands
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
        return _by_rule(validate_plate, v)

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
        return _held_on_device(visit, "retried")


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
        why = _held_on_device(visit, "taken over")
        if why is not None:
            return why
        device = visit.held_device
        if not can_take_over(device, visit.state.stage):
            if device == "lane":
                return (f"a stage stuck while {visit.state.stage.value} is not done by hand (only verification is, "
                        "through the decision form): retry it or abort")
            return f"{device} cannot be done by hand (the card needs it): fix the device and retry, or abort"
        return None


class Decide(VisitCommand):
    """The decision form, after the e-KTP reader or the registry was taken over: what the officer reads
    from the old SIM and the certificates. The lane's rules decide on it as on a device's data, and a
    supervisor approves the result before it counts."""

    action: Literal["decide"] = "decide"
    sim_class: Literal["A", "C", "CI", "CII"] = Field(description="class on the old SIM")
    sim_number: str = Field(min_length=12, max_length=24, description="the old SIM's number (12-14 digits, "
                                                                       "or the 16-digit NIK on cards since 2024)")
    sim_expires: date = Field(description="expiry date on the old SIM")
    health_issued: date | None = Field(default=None, description="health (jasmani) certificate: date of issue")
    health_nik: str | None = Field(default=None, description="the NIK the health certificate names")
    psychology_issued: date | None = Field(default=None, description="psychology (rohani) certificate: issued")
    psychology_nik: str | None = Field(default=None, description="the NIK the psychology certificate names")
    nik: str | None = Field(default=None, description="from the e-KTP, when the reader did not read it")
    holder_name: str | None = Field(default=None, min_length=2, max_length=100,
                                    description="name on the e-KTP, when the reader did not read it")
    stages: ClassVar[frozenset[Stage]] = frozenset({Stage.VERIFYING})
    needs_reason: ClassVar[bool] = True
    label: ClassVar[str] = "a decision by hand"

    @field_validator("sim_number")
    @classmethod
    def _sim_number(cls, v: str) -> str:
        return _by_rule(normalise_sim_number, v)

    @field_validator("nik", "health_nik", "psychology_nik")
    @classmethod
    def _nik(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        return _by_rule(lambda nik: parse_nik(nik).nik, v)

    @field_validator("holder_name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        if v is None:
            return None
        v = " ".join(_by_rule(lambda name: check_text(name, "holder_name", max_length=100), v).split())
        return v or None

    @classmethod
    def precondition(cls, visit: Any) -> str | None:
        if not visit.awaiting_decision:
            return "a decision by hand is taken only after the e-KTP reader or the registry was taken over"
        return None

    def check_values(self, visit: Any) -> None:
        if visit.card is None and (self.nik is None or self.holder_name is None):
            raise ValidationError("nik", "the e-KTP was not read: type the NIK and the name from it")

    def audit_detail(self) -> dict[str, Any]:
        out = super().audit_detail()
        for key in ("nik", "health_nik", "psychology_nik"):
            if out.get(key):
                out[key] = mask_nik(out[key])
        out["sim_number"] = mask_nik(self.sim_number)
        if self.holder_name:
            out["holder_name"] = "(typed)"
        return out


class ApproveDecision(VisitCommand):
    """A supervisor approves the decision an officer proposed (never their own)."""

    action: Literal["approve_decision"] = "approve_decision"
    decision_id: int = Field(ge=1, description="the proposal approved (a newer one is not approved by this)")
    stages: ClassVar[frozenset[Stage]] = frozenset({Stage.VERIFYING})
    label: ClassVar[str] = "an approval"

    @classmethod
    def precondition(cls, visit: Any) -> str | None:
        return None if visit.proposal is not None else "no decision waits for approval on this visit"

    def check_values(self, visit: Any) -> None:
        _check_proposal(visit, self.decision_id)


class RejectDecision(VisitCommand):
    """A supervisor sends the decision back: the officer fills in the form again."""

    action: Literal["reject_decision"] = "reject_decision"
    decision_id: int = Field(ge=1)
    stages: ClassVar[frozenset[Stage]] = frozenset({Stage.VERIFYING})
    needs_reason: ClassVar[bool] = True
    label: ClassVar[str] = "sending a decision back"

    @classmethod
    def precondition(cls, visit: Any) -> str | None:
        return ApproveDecision.precondition(visit)

    def check_values(self, visit: Any) -> None:
        _check_proposal(visit, self.decision_id)


def _check_proposal(visit: Any, decision_id: int) -> None:
    proposal = visit.proposal
    if proposal is not None and proposal.id != decision_id:
        raise WorkflowError(f"decision {decision_id} was replaced by decision {proposal.id}; look at that one")


def check_approver(actor: Actor, visit: Any) -> None:
    """The two-person rule: a supervisor approves, and never a decision they proposed."""
    if actor.role not in APPROVER_ROLES:
        raise NotPermitted(f"a decision by hand is approved by a supervisor (role {actor.role!r} may not)")
    if visit.proposal is not None and visit.proposal.by == actor.username:
        raise NotPermitted("a decision is approved by another person than the one who proposed it")


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


VisitCommandBody = Annotated[
    ConfirmPlate | Retry | TakeOver | Decide | ApproveDecision | RejectDecision | ApplicantAnswer | Reprint
    | ApproveReprint | HandedOver | Abort | VehicleLeft,
    Field(discriminator="action"),
]
"""Every visit command, told apart by ``action``."""
VISIT_COMMANDS: tuple[type[VisitCommand], ...] = (ConfirmPlate, Retry, TakeOver, Decide, ApproveDecision,
                                                  RejectDecision, ApplicantAnswer, Reprint, ApproveReprint,
                                                  HandedOver, Abort, VehicleLeft)


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
