"""Lanes, visits, officer actions, alerts and the audit log."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.models.common import Reason
from lane.alerts import AlertFacts


# ================================================================ lanes
class DecisionPreview(BaseModel):
    """What the rules made of a decision form (no personal data)."""

    id: int | None = Field(default=None, description="the proposal's id, for the approval")
    proposed_by: str | None = None
    eligible: bool
    refusal: str | None
    sim_class: str | None
    fee: int | None
    message: str = ""


class _Visit(BaseModel):
    id: str
    lane: str
    seq: int
    plate: str | None
    plate_confidence: float | None
    stage: str
    outcome: str | None
    reason: str | None
    held: str | None = Field(description="why the visit waits for a device or an officer (null: it does not)")


class LiveVisit(_Visit):
    """A vehicle in the lane now."""

    station: str | None = Field(description="where its stage happens (the station it is at or going to)")
    at: str | None = Field(None, description="the station the vehicle physically stands at (null: none yet)")
    elapsed: float = Field(description="visit time so far, from the entry (0 while queued), simulated seconds")
    stage_elapsed: float
    stage_budget: float | None
    visit_budget: float = Field(description="the promise: seconds from the entry to the exit")
    queued_seconds: float = Field(0.0, description="seconds waiting before the entry")
    door_to_door_seconds: float = Field(0.0, description="seconds since joining the queue")
    held_device: str | None = Field(default=None, description="the device whose step holds the visit")
    commands: list[str] = Field(default_factory=list, description="the visit commands that fit it now")
    decision: DecisionPreview | None = Field(default=None, description="a decision by hand awaiting approval")
    needs_identity: bool = Field(default=False, description="the decision form needs the NIK and name typed "
                                                            "(the e-KTP was not read)")
    status_url: str | None = Field(None, description="the driver's status page (the QR on the receipt): no "
                                   "login, no personal data")


class RoadQueue(BaseModel):
    """Vehicles waiting before the entry, and how long the first of them should still wait."""

    length: int
    expected_wait_seconds: float
    headway_seconds: float = Field(description="the lane's recent time between two admissions while cars wait")


class LaneSnapshot(BaseModel):
    lane: str
    stations: dict[str, str | None] = Field(description="station -> visit id standing there")
    visits: list[LiveVisit]
    devices: dict[str, bool] = Field(description="device -> online")
    stage_order: list[str]
    queue: RoadQueue | None = None


class StageInfo(BaseModel):
    stage: str
    station: str
    done_when: str
    on_fault: str
    budget_seconds: float | None


# ================================================================ visits
class VisitOut(_Visit):
    """A stored visit; NIK and name masked except for supervisors."""

    nik: str
    holder_name: str
    sim_class: str | None
    fee: int | None
    paid: bool
    started_at: str | None
    ended_at: str | None
    stage_seconds: dict[str, float]
    seconds: float | None = Field(description="from the entry to the exit, simulated seconds (null: open)")
    queued_seconds: float = Field(0.0, description="waiting before the entry")
    door_to_door_seconds: float | None = Field(None, description="from joining the queue to the exit")


class Transition(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: str | None = Field(alias="from")
    to: str
    at: str
    sim_at: float | None
    note: str | None = Field(description="why, in English (logs, exports)")
    note_facts: dict[str, str | int | float | None] | None = Field(
        None, description="the note's message id ('id') and values, for a page to say it in its language "
        "(null: a note written as text only)")


class VisitDetail(VisitOut):
    transitions: list[Transition]
    card_blanks: list[CardBlankOut] = Field(default_factory=list, description="the card blanks its card jobs "
                                            "were given: printed, or spoiled with why and by whom")


# ================================================================ actions
class ActionResult(BaseModel):
    ok: bool
    lane: str
    visit_id: str
    action: str
    detail: str = Field(default="", description="what happened, for the officer")
    worked: bool | None = Field(default=True, description="a retry: whether the step went through (null: "
                                                          "still trying; the console shows how it goes)")
    decision_id: int | None = Field(default=None, description="decide: the proposal a supervisor approves")
    decision: DecisionPreview | None = Field(default=None, description="decide: what the rules made of the form")


class GateCommand(BaseModel):
    command: Literal["open", "close"]
    reason: Reason


class GateResult(BaseModel):
    ok: bool
    lane: str
    gate: str
    command: str
    detail: str = ""
    released: str | None = Field(default=None, description="open: the visit whose vehicle was signalled through")


# ================================================================ alerts, audit
class AlertOut(BaseModel):
    id: int | None
    lane: str
    visit_id: str | None
    kind: str
    cause: str | None = Field(None, description="what within the kind: the stage, the device (null: none)")
    level: str
    message: str = Field(description="the alert in English, whole (logs, exports); pages word it from facts")
    facts: AlertFacts | None = Field(None, description="what it is about, for a page to say in its language "
                                     "(null: an alert from before facts were kept)")
    at: str
    acknowledged_by: str | None
    acknowledged_at: str | None = None
    cleared_at: str | None = Field(None, description="when its cause ended (null: it still lasts)")


class AlertAck(BaseModel):
    ok: bool
    id: int
    acknowledged_by: str


class AlertsAcked(BaseModel):
    ok: bool
    acknowledged: int = Field(description="how many alerts this acknowledged")
    ids: list[int]
    acknowledged_by: str


class AuditOut(BaseModel):
    id: int | None
    at: str
    actor: str
    role: str
    action: str
    lane: str | None
    visit_id: str | None
    reason: str | None
    detail: dict[str, Any]


class CardBlankOut(BaseModel):
    """One card blank of the blank log: the job it was given to, and what became of it."""

    serial: str
    lane: str
    visit_id: str
    card_copy: int = Field(description="1: the renewal's first card; 2, 3...: reprints")
    printer: str
    status: Literal["issued", "printed", "spoiled"]
    reason: str | None = Field(description="why it was spoiled (the officer's reason for the reprint)")
    spoiled_by: str | None
    issued_at: str
    updated_at: str


VisitDetail.model_rebuild()
