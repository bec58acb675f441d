"""Daily reports as drive-thru timer systems show them: visits, throughput per hour, per-stage time
against its goal (today's average, goal-met share) by part of the day, and the share of visits done
within the 10-minute promise. Durations are the lane clock's (simulated) seconds."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from lane.persistence import Store, VisitRow
from lane.settings import Settings
from lane.views import stored_times
from lane.workflow import BEFORE_ENTRY, STAGE_ORDER

DAY_PARTS = (("morning", 0, 11), ("midday", 11, 14), ("afternoon", 14, 24))


def site_timezone(settings: Settings | None = None) -> ZoneInfo:
    """The site's local time for "today" and hours (WIB unless the ``timezone`` setting says otherwise)."""
    return ZoneInfo((settings or Settings()).timezone)


def local_today(settings: Settings, now: datetime | None = None) -> date:
    """The site's date at ``now`` (default: the wall clock now)."""
    return (now or datetime.now(site_timezone(settings))).astimezone(site_timezone(settings)).date()


def visits_of_day(store: Store, day: date, lane: str | None = None, settings: Settings | None = None) -> list[VisitRow]:
    tz = site_timezone(settings)
    rows: list[VisitRow] = []
    for d in (day - timedelta(days=1), day, day + timedelta(days=1)):  # local day spans two UTC days
        rows.extend(store.visits(lane=lane, day=d, limit=100_000))
    return [r for r in rows if _local(r.started_at, tz).date() == day]


def _local(dt: datetime, tz: ZoneInfo) -> datetime:
    return dt.astimezone(tz) if dt.tzinfo else dt.replace(tzinfo=ZoneInfo("UTC")).astimezone(tz)


def _seconds(row: VisitRow) -> float | None:
    """From the entry to the exit: the ten-minute promise."""
    return stored_times(row)[0]


def _door_to_door(row: VisitRow) -> float | None:
    """From joining the queue before the entry to the exit."""
    return stored_times(row)[2]


def _p95(xs: list[float]) -> float | None:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(0.95 * len(xs)))] if xs else None


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def _mean(xs: list[float]) -> float | None:
    return round(sum(xs) / len(xs), 1) if xs else None


def _part_of_day(hour: int) -> str:
    return next(name for name, lo, hi in DAY_PARTS if lo <= hour < hi)


def daily_report(rows: list[VisitRow], day: date, settings: Settings) -> dict[str, Any]:
    tz = site_timezone(settings)
    budgets, visit_budget = settings.timing.budgets, settings.timing.visit_budget
    ended = [r for r in rows if r.outcome]
    per_hour = [0] * 24
    for r in ended:
        per_hour[_local(r.ended_at or r.started_at, tz).hour] += 1
    durations = sorted(s for r in ended if (s := _seconds(r)) is not None)
    completed = [r for r in ended if r.outcome == "completed"]
    within = [r for r in completed if (s := _seconds(r)) is not None and s <= visit_budget]
    door_to_door = sorted(s for r in ended if (s := _door_to_door(r)) is not None)
    within_door = [r for r in completed if (s := _door_to_door(r)) is not None and s <= visit_budget]
    stages = []
    for stage in STAGE_ORDER:
        name = stage.value
        goal = budgets.get(name)
        by_part: dict[str, dict[str, Any]] = {}
        all_times: list[float] = []
        for part, _lo, _hi in DAY_PARTS:
            times = [float(r.stage_seconds[name]) for r in ended if name in (r.stage_seconds or {})
                     and _part_of_day(_local(r.started_at, tz).hour) == part]
            all_times += times
            met = sum(1 for t in times if goal is None or t <= goal)
            by_part[part] = {"visits": len(times), "mean_seconds": _mean(times), "goal_met_pct": _pct(met, len(times))}
        met_all = sum(1 for t in all_times if goal is None or t <= goal)
        stages.append({"stage": name, "goal_seconds": goal, "visits": len(all_times),
                       "mean_seconds": _mean(all_times), "goal_met_pct": _pct(met_all, len(all_times)),
                       "by_part_of_day": by_part})
    outcomes: dict[str, int] = {}
    for r in ended:
        outcomes[r.outcome or "open"] = outcomes.get(r.outcome or "open", 0) + 1
    p95 = _p95(durations)
    queued = [stored_times(r)[1] for r in ended]
    return {
        "day": day.isoformat(), "timezone": str(tz), "visits": len(rows), "finished": len(ended),
        "open": len(rows) - len(ended), "outcomes": outcomes,
        "throughput_per_hour": [{"hour": h, "visits": n} for h, n in enumerate(per_hour)],
        "peak_per_hour": max(per_hour),
        "mean_seconds": _mean(durations), "p95_seconds": p95,
        "visit_goal_seconds": visit_budget,
        "within_goal_pct": _pct(len(within), len(completed)),
        "mean_door_to_door_seconds": _mean(door_to_door), "p95_door_to_door_seconds": _p95(door_to_door),
        "within_goal_door_to_door_pct": _pct(len(within_door), len(completed)),
        "mean_queued_seconds": _mean(queued), "p95_queued_seconds": _p95(queued),
        "stages": stages,
    }


LANE_STAGES = [s.value for s in STAGE_ORDER if s not in BEFORE_ENTRY]
QUEUE_STAGES = [s.value for s in STAGE_ORDER if s in BEFORE_ENTRY]
CSV_COLUMNS = ["id", "lane", "seq", "plate", "outcome", "reason", "started_local", "seconds", "within_goal",
               *LANE_STAGES, *QUEUE_STAGES, "door_to_door_seconds", "within_goal_door_to_door"]
"""New columns go at the end: a site's spreadsheet reads the old ones where they were."""


def visits_csv(rows: list[VisitRow], settings: Settings) -> str:
    """One line per visit; no personal data beyond the plate."""
    tz = site_timezone(settings)
    visit_budget = settings.timing.visit_budget
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(CSV_COLUMNS)
    for r in rows:
        s, _queued, d = stored_times(r)
        w.writerow([r.id, r.lane, r.seq, r.plate or "", r.outcome or "", r.reason or "",
                    _local(r.started_at, tz).strftime("%Y-%m-%d %H:%M:%S"), "" if s is None else s,
                    "" if s is None or r.outcome != "completed" else ("yes" if s <= visit_budget else "no"),
                    *[(r.stage_seconds or {}).get(st, "") for st in (*LANE_STAGES, *QUEUE_STAGES)],
                    "" if d is None else d,
                    "" if d is None or r.outcome != "completed" else ("yes" if d <= visit_budget else "no")])
    return out.getvalue()
