"""What the API takes and gives: every request body and every response, as pydantic models.

One place for the shapes, so the OpenAPI description at ``/docs`` is the contract scripts rely on
(spec/interfaces.md, docs/api.md): extend these, never rename a field.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

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


# ================================================================ health
class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: Literal["ready", "degraded", "not_ready"]
    database: bool
    broker: bool | None = Field(description="null: no MQTT device in this process")
    devices: dict[str, dict[str, bool]] = Field(description="lane -> device -> online")
    offline: list[str] = Field(description="lane/device of every device not answering")


# ================================================================ auth
class LoginBody(BaseModel):
    username: Text(64, 1)  # type: ignore[valid-type]
    password: Text(200, 1)  # type: ignore[valid-type]


class Session(BaseModel):
    username: str
    role: str
    token: str = Field(description="send as `Authorization: Bearer <token>`")
    csrf_token: str = Field(description="cookie sessions echo it in `X-CSRF-Token`")
    expires_in: int = Field(description="seconds")


class Me(BaseModel):
    username: str
    role: str
    permissions: list[str]
    sees_personal_data: bool
    fault_injection: bool = Field(description="the technician page may inject simulator faults (demo)")
    language: str = Field("id", description="the pages' language for this account: id (Bahasa Indonesia) or en")
    timezone: str = Field("Asia/Jakarta", description="the site's time zone: the pages show its times")


class LanguageChoice(BaseModel):
    language: Literal["id", "en"]


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
    note: str | None


class VisitDetail(VisitOut):
    transitions: list[Transition]


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
    message: str
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


# ================================================================ devices
class DeviceInfo(BaseModel):
    """What the technician page shows of one device; the optional fields only where the driver keeps them."""

    lane: str
    name: str
    driver: str
    transport: str
    address: str | None
    online: bool
    counters: dict[str, float]
    status: Any = None
    state: dict[str, Any] | None = None
    last_seen: Any = None
    last_message_at: Any = None
    latency_ms: float | None = None
    last_error: Any = None


class DeviceEventOut(BaseModel):
    id: int | None
    lane: str
    device: str
    kind: str
    detail: dict[str, Any]
    at: str


class DeviceTest(BaseModel):
    command: Literal["open", "close", "status"]
    reason: Reason


class DeviceTestResult(BaseModel):
    ok: bool
    device: DeviceInfo


class FaultBody(BaseModel):
    fault: str = Field(min_length=1, max_length=32, pattern=r"^[a-z_]+$")
    active: bool = True
    reason: Text(300) | None = None  # type: ignore[valid-type]


class FaultResult(BaseModel):
    ok: bool
    lane: str
    device: str
    fault: str
    active: bool


# ================================================================ reports
class HourCount(BaseModel):
    hour: int
    visits: int


class PartOfDay(BaseModel):
    visits: int
    mean_seconds: float | None
    goal_met_pct: float | None


class StageReport(BaseModel):
    stage: str
    goal_seconds: float | None
    visits: int
    mean_seconds: float | None
    goal_met_pct: float | None
    by_part_of_day: dict[str, PartOfDay]


class PnbpClass(BaseModel):
    paid: int = Field(description="visits that paid")
    rupiah: int


class ReasonCount(BaseModel):
    reason: str
    count: int
    text_id: str | None = None
    text_en: str | None = None


class DailyReport(BaseModel):
    day: str
    timezone: str
    visits: int
    finished: int
    open: int
    outcomes: dict[str, int]
    throughput_per_hour: list[HourCount]
    peak_per_hour: int
    mean_seconds: float | None = Field(description="from the entry to the exit")
    p95_seconds: float | None
    visit_goal_seconds: float
    within_goal_pct: float | None = Field(description="completed visits within the goal, from the entry, over "
                                          "completed visits plus open ones already past it (stuck)")
    mean_door_to_door_seconds: float | None = Field(None, description="from joining the queue to the exit")
    p95_door_to_door_seconds: float | None = None
    within_goal_door_to_door_pct: float | None = Field(None, description="completed visits within the goal, "
                                                       "from joining the queue (stuck cars count as not within)")
    mean_queued_seconds: float | None = Field(None, description="waiting before the entry")
    p95_queued_seconds: float | None = None
    within_goal: int = Field(0, description="completed visits within the goal, from the entry")
    within_goal_door_to_door: int = 0
    counted: int = Field(0, description="visits the share is over: completed + open ones past the goal")
    counted_door_to_door: int = 0
    stuck: int = Field(0, description="open visits already past the goal, from the entry")
    stuck_door_to_door: int = 0
    by_class: dict[str, dict[str, int]] = Field(default_factory=dict,
                                                description="SIM class ('-': not known yet) -> outcome -> visits")
    pnbp: dict[str, PnbpClass] = Field(default_factory=dict, description="SIM class -> fees collected")
    pnbp_total: int = Field(0, description="rupiah")
    refusals: list[ReasonCount] = Field(default_factory=list, description="refused visits per reason code")
    aborts: list[ReasonCount] = Field(default_factory=list, description="aborted visits per officer's reason")
    stages: list[StageReport]


# ================================================================ users
class UserCreate(BaseModel):
    username: str = Field(min_length=2, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    role: Role
    password: Password  # type: ignore[valid-type]
    full_name: FullName | None = None  # type: ignore[valid-type]


class UserUpdate(BaseModel):
    role: Role | None = None
    password: Password | None = None  # type: ignore[valid-type]
    disabled: bool | None = None
    full_name: FullName | None = None  # type: ignore[valid-type]


class AccountOut(BaseModel):
    username: str
    role: str
    full_name: str | None
    disabled: bool
    created_at: str


class UserDeleted(BaseModel):
    ok: bool
    username: str


# ================================================================ drivers' status pages
class DriverStatus(BaseModel):
    """Where one renewal stands, for its driver (no personal data; the plate masked)."""

    lane: str
    plate: str | None = Field(description="masked: G ••34 AB")
    stage: str
    stage_text: str = Field(description="the stage in the driver's language")
    note: str = Field(description="what to do now, in the driver's language")
    held: bool
    finished: bool
    outcome: str | None
    queue_position: int | None = Field(description="1 = next to be let in; null once in the lane")
    cars_ahead: int | None = Field(description="vehicles ahead in the lane and its queue")
    expected_seconds_to_card: float | None = Field(description="until the new card is in the officer's hand")
    expected_card_at: str | None = Field(description="the same as a site time, HH:MM")
    updated_at: str


# ================================================================ driver displays
class DisplayMessageOut(BaseModel):
    station: str
    signal: str
    step: str
    text_id: str
    text_en: str
    plate: str | None
    fee: int | None


class DisplayState(BaseModel):
    lane: str
    station: str
    message: DisplayMessageOut | None
