"""The decision by hand: the form an officer fills in after the e-KTP reader or the registry was taken
over, and a supervisor's approval or sending it back (the two-person rule: :func:`check_approver`).
The lane applies them in :mod:`lane.decisions`."""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from lane.commands.base import APPROVER_ROLES, Actor, VisitCommand, by_rule
from lane.errors import NotPermitted, ValidationError, WorkflowError
from lane.rules import check_text, mask_nik, normalise_sim_number, parse_nik
from lane.workflow import Stage


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
        return by_rule(normalise_sim_number, v)

    @field_validator("nik", "health_nik", "psychology_nik")
    @classmethod
    def _nik(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        return by_rule(lambda nik: parse_nik(nik).nik, v)

    @field_validator("holder_name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        if v is None:
            return None
        v = " ".join(by_rule(lambda name: check_text(name, "holder_name", max_length=100), v).split())
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
