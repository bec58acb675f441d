"""The renewal workflow as data, and the pure state machine of one visit.

Someone who knows the drive-through should recognise the lane from :data:`STAGES` alone: where each
stage happens, what ends it, and what a fault does. The engine (`lane.controller`) executes this
table; nothing here does I/O or reads a clock (times are passed in), so every transition is unit-tested.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from lane.errors import WorkflowError


class Station(StrEnum):
    ENTRY = "entry"
    WINDOW_1 = "window-1"
    WINDOW_2 = "window-2"
    WINDOW_3 = "window-3"
    EXIT = "exit"


STATION_ORDER: tuple[Station, ...] = tuple(Station)


class Stage(StrEnum):
    QUEUED = "queued"
    ARRIVING = "arriving"
    VERIFYING = "verifying"
    PAYING = "paying"
    CAPTURING = "capturing"
    PRINTING = "printing"
    HANDING_OVER = "handing_over"
    EXITING = "exiting"
    DONE = "done"


class Outcome(StrEnum):
    COMPLETED = "completed"
    REFUSED = "refused"
    ABORTED = "aborted"


DECLINED = "applicant_declined"
"""The abort reason of a renewal the applicant did not confirm at window 1 (name, class or fee): nothing
was charged, and the signs and the status page say so instead of "stopped by the officer"."""


@dataclass(frozen=True)
class StageSpec:
    stage: Stage
    station: Station
    done_when: str
    on_fault: str


STAGES: tuple[StageSpec, ...] = (
    StageSpec(Stage.QUEUED, Station.ENTRY,
              "vehicle waits before the entry (seen on the arming loop), its plate read (or typed) meanwhile, "
              "until window 1 is free",
              "hold; officer types the plate"),
    StageSpec(Stage.ARRIVING, Station.ENTRY,
              "entry gate opened for it, vehicle drove under the boom and cleared it, gate closed",
              "hold; officer opens the gate by hand, or says the vehicle went through or left"),
    StageSpec(Stage.VERIFYING, Station.WINDOW_1,
              "e-KTP read, NIK + old SIM checked with the registry, certificates checked, eligibility decided",
              "hold; registry or reader back -> retry; officer may decide manually"),
    StageSpec(Stage.PAYING, Station.WINDOW_1,
              "applicant confirmed name, class and fee (terminal, or through the officer), fee paid on the "
              "terminal (or confirmed by the officer), receipt printed",
              "hold; not confirmed -> nothing charged, out by the exit; declined -> driver retries or officer "
              "confirms; never charge twice (reference)"),
    StageSpec(Stage.CAPTURING, Station.WINDOW_2,
              "photo, fingerprint and signature captured",
              "hold; officer retries the capture"),
    StageSpec(Stage.PRINTING, Station.WINDOW_3,
              "SIM card printed (job keyed by renewal id)",
              "hold on ribbon/jam/hopper/cover; officer fixes and retries; never a second card"),
    StageSpec(Stage.HANDING_OVER, Station.WINDOW_3,
              "officer confirms the card was handed over",
              "-"),
    StageSpec(Stage.EXITING, Station.EXIT,
              "exit gate opened (optionally after the plate matches), vehicle cleared, gate closed",
              "hold; gate never closes on a vehicle; officer opens by hand"),
)

SPEC_BY_STAGE: dict[Stage, StageSpec] = {s.stage: s for s in STAGES}
STAGE_ORDER: tuple[Stage, ...] = tuple(s.stage for s in STAGES)
BEFORE_ENTRY: frozenset[Stage] = frozenset({Stage.QUEUED})
"""Stages of a vehicle not yet in the lane: its wait counts for the road queue, not for the
ten-minute promise, which runs from the entry (the gate opening for it) to the exit."""
NOT_ADMITTED: frozenset[Stage] = frozenset({Stage.QUEUED, Stage.ARRIVING})
"""Stages the lane's entry task owns (one vehicle at a time); an abort here backs the car out."""

PLATE_EDITABLE: frozenset[Stage] = frozenset({Stage.QUEUED, Stage.ARRIVING, Stage.VERIFYING, Stage.PAYING})
"""Where a plate may still be corrected: until the car leaves window 1. The receipt printed there
carries the plate, and from then on the signs call the car on by it (a driver waits for their own
plate), so a later change could only strand the lane."""


def station_of(stage: Stage) -> Station | None:
    spec = SPEC_BY_STAGE.get(stage)
    return spec.station if spec else None


def next_stage(stage: Stage) -> Stage:
    if stage is Stage.DONE:
        raise WorkflowError("a finished visit has no next stage")
    i = STAGE_ORDER.index(stage)
    return STAGE_ORDER[i + 1] if i + 1 < len(STAGE_ORDER) else Stage.DONE


def stations_between(current: Station | None, target: Station) -> tuple[Station, ...]:
    """Stations a vehicle passes to get from ``current`` to ``target`` (excluding current).

    No overtaking in one lane: every one of them must be free of vehicles ahead.
    """
    start = -1 if current is None else STATION_ORDER.index(current)
    end = STATION_ORDER.index(target)
    return STATION_ORDER[start + 1 : end + 1]


@dataclass
class StageTiming:
    stage: Stage
    started: float
    ended: float | None = None

    def seconds(self, now: float) -> float:
        return (self.ended if self.ended is not None else now) - self.started


@dataclass
class VisitState:
    """The in-memory state of one visit; times are simulated seconds from the lane clock."""

    id: str
    lane: str
    seq: int
    started: float
    """When the vehicle joined the queue (the door-to-door clock starts here)."""
    started_at: datetime
    stage: Stage = Stage.QUEUED
    outcome: Outcome | None = None
    reason: str | None = None
    held: str | None = None
    plate: str | None = None
    plate_confidence: float | None = None
    timings: list[StageTiming] = field(default_factory=list)
    ended: float | None = None
    alerts: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        if not self.timings:
            self.timings.append(StageTiming(self.stage, self.started))

    # -------------------------------------------------------------- queries
    @property
    def station(self) -> Station | None:
        return station_of(self.stage)

    @property
    def finished(self) -> bool:
        return self.stage is Stage.DONE

    @property
    def entered(self) -> float | None:
        """When the vehicle entered the lane (its first stage past the queue began); None while queued."""
        return next((t.started for t in self.timings if t.stage not in BEFORE_ENTRY), None)

    def elapsed(self, now: float) -> float:
        """Seconds in the lane, from the entry to the exit: the ten-minute promise (0 while queued)."""
        entered = self.entered
        return 0.0 if entered is None else (self.ended if self.ended is not None else now) - entered

    def door_to_door(self, now: float) -> float:
        """Seconds from joining the queue to leaving the lane (or now)."""
        return (self.ended if self.ended is not None else now) - self.started

    def queued_seconds(self, now: float) -> float:
        """Seconds waiting before the entry."""
        return sum(t.seconds(now) for t in self.timings if t.stage in BEFORE_ENTRY)

    def stage_elapsed(self, now: float) -> float:
        return self.timings[-1].seconds(now)

    def stage_seconds(self, now: float) -> dict[str, float]:
        out: dict[str, float] = {}
        for t in self.timings:
            if t.stage is Stage.DONE:
                continue
            out[t.stage.value] = out.get(t.stage.value, 0.0) + t.seconds(now)
        return out

    # -------------------------------------------------------------- transitions
    def advance(self, now: float, to: Stage | None = None) -> Stage:
        """Leave the current stage for the next one (or ``to``, which must lie ahead)."""
        if self.finished:
            raise WorkflowError(f"visit {self.id} is already finished")
        if self.held:
            raise WorkflowError(f"visit {self.id} is held ({self.held}); resume it first")
        target = to or next_stage(self.stage)
        if target is not Stage.DONE and STAGE_ORDER.index(target) <= STAGE_ORDER.index(self.stage):
            raise WorkflowError(f"cannot go back from {self.stage} to {target}")
        if self.outcome in (Outcome.REFUSED, Outcome.ABORTED) and target not in (Stage.EXITING, Stage.DONE):
            raise WorkflowError(f"a {self.outcome} visit can only leave the lane")
        self.timings[-1].ended = now
        self.stage = target
        if target is Stage.DONE:
            self.ended = now
            if self.outcome is None:
                self.outcome = Outcome.COMPLETED
        else:
            self.timings.append(StageTiming(target, now))
        return target

    def refuse(self, now: float, reason: str) -> None:
        """Eligibility says no: the driver leaves by the exit with a referral slip."""
        if self.stage is not Stage.VERIFYING:
            raise WorkflowError("a visit is refused only while verifying")
        self.outcome = Outcome.REFUSED
        self.reason = reason
        self.held = None
        self.advance(now, Stage.EXITING)

    def abort(self, now: float, reason: str) -> None:
        """Officer ends the renewal. An admitted vehicle still has to leave by the exit (one already on
        its way out just goes on, its renewal recorded as aborted); one not yet admitted backs out of
        the entry, and its visit ends there."""
        if self.finished:
            raise WorkflowError(f"visit {self.id} is already finished")
        if not reason:
            raise WorkflowError("an abort needs a reason")
        if self.outcome in (Outcome.REFUSED, Outcome.ABORTED):
            raise WorkflowError(f"the visit is already {self.outcome.value}; the vehicle is on its way out")
        self.outcome = Outcome.ABORTED
        self.reason = reason
        self.held = None
        if self.stage in NOT_ADMITTED:
            self.advance(now, Stage.DONE)
        elif self.stage is not Stage.EXITING:
            self.advance(now, Stage.EXITING)

    def vehicle_gone(self, now: float, reason: str) -> None:
        """The vehicle has left the lane without the loops seeing it (or the officer ends a stuck visit):
        the visit ends where it is. A renewal not handed over by then counts as aborted."""
        if self.finished:
            raise WorkflowError(f"visit {self.id} is already finished")
        if not reason:
            raise WorkflowError("'vehicle left' needs a reason")
        if self.outcome is None and self.stage is not Stage.EXITING:
            self.outcome = Outcome.ABORTED
            self.reason = f"vehicle left: {reason}"
        self.held = None
        self.advance(now, Stage.DONE)

    def correct_plate(self, plate: str) -> str | None:
        """The officer's plate replaces the read one (see PLATE_EDITABLE); returns the plate it replaced."""
        if self.stage not in PLATE_EDITABLE:
            raise WorkflowError(f"the plate cannot be changed while {self.stage.value}: it is on the receipt and "
                                "the signs call the car on by it; correct it before the car leaves window 1")
        before, self.plate, self.plate_confidence = self.plate, plate, 1.0
        return before

    def hold(self, reason: str) -> None:
        if self.finished:
            raise WorkflowError("a finished visit cannot be held")
        self.held = reason

    def resume(self) -> None:
        self.held = None

    def budget_alerts(self, now: float, budgets: dict[str, float], visit_budget: float) -> list[str]:
        """Alerts that became due: ``stage_over_budget:<stage>`` once per stage, ``visit_over_budget`` once."""
        due: list[str] = []
        if self.finished:
            return due
        key = f"stage_over_budget:{self.stage.value}"
        budget = budgets.get(self.stage.value)
        if budget is not None and self.stage_elapsed(now) > budget and key not in self.alerts:
            due.append(key)
        if self.elapsed(now) > visit_budget and "visit_over_budget" not in self.alerts:
            due.append("visit_over_budget")
        self.alerts.update(due)
        return due
