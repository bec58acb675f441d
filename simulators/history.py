"""A day's profile from the site's own history: arrivals per hour and the time each step took.

Read from the site's database (never written): the visits of the last N days that had any, their
stage transitions and the side effects the lane recorded (a vehicle sent on to a window, a card sent
to the printer). A step's time is what the people and devices took, without the waiting that
surrounds it in a busy lane:

- ``tap_ektp``: the verifying stage (e-KTP, documents, the registry) at window 1;
- ``pay``: the paying stage at window 1;
- ``capture``: from the vehicle being sent on to window 2 until the photo is done, less the drive;
- ``print_card``: from the card being sent to the printer until it was printed;
- ``handover``: the handing-over stage at window 3.

Each step's median and spread are fitted (log-normal) where at least :data:`MIN_SAMPLES` visits show
it; the others keep their defaults, and the profile says which came from where. Arrivals per hour
are the cars that entered in that hour, averaged over the days: on a day when cars were turned away
or gave up, demand was higher than that.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from lane.errors import ConfigError
from lane.persistence import Store
from lane.persistence.models import SideEffect, StageTransition, VisitRow
from lane.settings import Settings
from simulators.day import DayProfile, profile_from
from simulators.traffic import HumanTimes

MIN_SAMPLES = 10
LOOKBACK_DAYS = 120


def _utc(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


class VisitClock:
    """Maps a wall time of one visit's records to its lane-clock seconds (a demo's clock runs fast;
    in production the two advance together)."""

    def __init__(self, transitions: list[StageTransition]) -> None:
        self.points = sorted(((_utc(t.at), t.sim_at) for t in transitions), key=lambda p: p[0])
        first, last = self.points[0], self.points[-1]
        wall = (last[0] - first[0]).total_seconds()
        self.speed = (last[1] - first[1]) / wall if wall > 0 else 1.0

    def sim(self, at: datetime) -> float:
        at = _utc(at)
        base = max((p for p in self.points if p[0] <= at), default=self.points[0], key=lambda p: p[0])
        return base[1] + (at - base[0]).total_seconds() * self.speed


def fit(samples: list[float]) -> tuple[float, float] | None:
    """(median, spread) of a log-normal fitted to positive samples; None with too few."""
    xs = [math.log(x) for x in samples if x > 0.5]
    if len(xs) < MIN_SAMPLES:
        return None
    return round(math.exp(statistics.fmean(xs)), 1), round(min(1.0, max(0.05, statistics.pstdev(xs))), 3)


def step_samples(visits: list[VisitRow], transitions: list[StageTransition], effects: list[SideEffect],
                 drive_between: float) -> dict[str, list[float]]:
    """Seconds each step took, per visit where the records show it."""
    by_visit: dict[str, list[StageTransition]] = defaultdict(list)
    for t in transitions:
        by_visit[t.visit_id].append(t)
    moves = {e.key: e for e in effects if e.kind == "move"}
    cards = {e.visit_id: e for e in effects if e.kind == "card_print" and e.status == "done"}
    out: dict[str, list[float]] = defaultdict(list)
    for v in visits:
        secs = v.stage_seconds or {}
        ts = by_visit.get(v.id, [])
        if "verifying" in secs and (v.outcome == "refused" or "paying" in secs):
            out["tap_ektp"].append(float(secs["verifying"]))
        if "paying" in secs and "capturing" in secs:
            out["pay"].append(float(secs["paying"]))
        if "handing_over" in secs and "exiting" in secs:
            out["handover"].append(float(secs["handing_over"]))
        if len(ts) < 2:
            continue
        clock = VisitClock(ts)
        into_printing = next((t for t in ts if t.to_stage == "printing"), None)
        move = moves.get(f"{v.id}-move-window-2")
        if into_printing is not None and move is not None:
            out["capture"].append(into_printing.sim_at - clock.sim(move.created_at) - drive_between)
        card = cards.get(v.id)
        if card is not None:
            out["print_card"].append(clock.sim(card.updated_at) - clock.sim(card.created_at))
    return out


def profile_from_history(settings: Settings, *, days: int = 20, now: datetime | None = None,
                         store: Store | None = None) -> DayProfile:
    """The last ``days`` days with visits in the site's database, as a profile."""
    tz = ZoneInfo(settings.timezone)
    now = now or datetime.now(UTC)
    own = store is None
    store = store or Store(settings.database_url)
    try:
        # (a simulated site's clock may run ahead of the wall: its "days" can lie after today)
        visits = store.visits_between(now - timedelta(days=LOOKBACK_DAYS), now + timedelta(days=LOOKBACK_DAYS))
        by_day: dict[Any, list[VisitRow]] = defaultdict(list)
        for v in visits:
            by_day[_utc(v.started_at).astimezone(tz).date()].append(v)
        chosen = sorted(by_day)[-days:]
        if not chosen:
            raise ConfigError(f"no visits in the last {LOOKBACK_DAYS} days in {settings.database_url}: "
                              "nothing to learn a day from (use --profile)")
        visits = [v for d in chosen for v in by_day[d]]
        transitions, effects = store.history_of([v.id for v in visits])
    finally:
        if own:
            store.close()
    per_hour: dict[int, int] = defaultdict(int)
    for v in visits:
        per_hour[_utc(v.started_at).astimezone(tz).hour] += 1
    arrivals = {h: round(n / len(chosen), 2) for h, n in sorted(per_hour.items())}
    drive = HumanTimes().drive_between
    samples = step_samples(visits, transitions, effects, drive)
    times: dict[str, float] = {}
    spreads: dict[str, float] = {}
    sources: dict[str, str] = {}
    for step, xs in samples.items():
        fitted = fit(xs)
        if fitted is not None:
            times[step], spreads[step] = fitted
            sources[step] = f"history (n={len(xs)})"
    finished = [v for v in visits if v.outcome]
    refused = sum(1 for v in finished if v.outcome == "refused")
    fields: dict[str, Any] = {"arrivals": arrivals, "times": times, "spreads": spreads, "sources": sources}
    if len(finished) >= MIN_SAMPLES:
        fields["refused_share"] = round(refused / len(finished), 3)
    name = f"history {chosen[0]:%d/%m/%Y}–{chosen[-1]:%d/%m/%Y} ({len(chosen)} days, {len(visits)} visits)"
    return profile_from(fields, name=name, source="history")
