"""The day's report and the drivers' status pages."""

from __future__ import annotations

from pydantic import BaseModel, Field


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
