"""Daily reports as drive-thru timer systems show them, and as a site accounts for its day: visits,
throughput per hour (site time), per-stage time against its goal by part of the day, the share within
the 10-minute promise from the entry and from joining the queue, counts per SIM class and outcome,
PNBP collected per class, refusals per reason. Durations are the lane clock's (simulated) seconds.

The promise is counted honestly: a car still in the lane past the goal (stuck, held, forgotten) is a
visit *not* within it, not one left out; only a car still inside the goal is not counted yet."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from lane.persistence import Store, VisitRow
from lane.rules import REFUSAL_TEXT, Refusal
from lane.settings import Settings
from lane.views import stored_times
from lane.workflow import BEFORE_ENTRY, STAGE_ORDER

DAY_PARTS = (("morning", 0, 11), ("midday", 11, 14), ("afternoon", 14, 24))
LANE_STAGES = [s.value for s in STAGE_ORDER if s not in BEFORE_ENTRY]
QUEUE_STAGES = [s.value for s in STAGE_ORDER if s in BEFORE_ENTRY]


def site_timezone(settings: Settings | None = None) -> ZoneInfo:
    """The site's local time for "today" and hours (WIB unless the ``timezone`` setting says otherwise)."""
    return ZoneInfo((settings or Settings()).timezone)


def lane_now(settings: Settings, controllers: Mapping[str, Any]) -> datetime:
    """Now by the lanes' clock (a demo's day runs fast), in the site's time zone."""
    first = next(iter(controllers.values()), None)
    return (first.clock.now() if first else datetime.now(site_timezone(settings))).astimezone(site_timezone(settings))


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


def _open_seconds(row: VisitRow, now: datetime) -> tuple[float | None, float]:
    """An open visit's (seconds in the lane so far, None while still queued; seconds since joining)."""
    started = row.started_at if row.started_at.tzinfo else row.started_at.replace(tzinfo=ZoneInfo("UTC"))
    door = max(0.0, (now - started).total_seconds())
    if row.stage in QUEUE_STAGES:
        return None, door
    return max(0.0, door - stored_times(row)[1]), door


def promise(rows: list[VisitRow], goal: float, now: datetime) -> dict[str, Any]:
    """Within the goal from the entry and from joining the queue: completed visits within it, over
    completed visits plus open ones already past it (stuck cars count as not within)."""
    completed = [r for r in rows if r.outcome == "completed"]
    open_rows = [(r, *_open_seconds(r, now)) for r in rows if not r.outcome]
    stuck_entry = [r for r, s, _d in open_rows if s is not None and s > goal]
    stuck_door = [r for r, _s, d in open_rows if d > goal]
    within_entry = sum(1 for r in completed if (s := _seconds(r)) is not None and s <= goal)
    within_door = sum(1 for r in completed if (s := _door_to_door(r)) is not None and s <= goal)
    return {
        "within_goal_pct": _pct(within_entry, len(completed) + len(stuck_entry)),
        "within_goal_door_to_door_pct": _pct(within_door, len(completed) + len(stuck_door)),
        "within_goal": within_entry, "within_goal_door_to_door": within_door,
        "counted": len(completed) + len(stuck_entry), "counted_door_to_door": len(completed) + len(stuck_door),
        "stuck": len(stuck_entry), "stuck_door_to_door": len(stuck_door),
    }


def accounts_of_day(rows: list[VisitRow]) -> dict[str, Any]:
    """Counts per SIM class and outcome, PNBP collected per class (rupiah), refusals per reason and
    aborts per reason. A class not yet known (before window 1) is ``"-"``; an open visit is ``open``."""
    by_class: dict[str, dict[str, int]] = {}
    pnbp: dict[str, dict[str, int]] = {}
    refusals: dict[str, int] = {}
    aborts: dict[str, int] = {}
    for r in rows:
        cls = r.sim_class or "-"
        outcome = r.outcome or "open"
        counts = by_class.setdefault(cls, {"completed": 0, "refused": 0, "aborted": 0, "open": 0, "total": 0})
        counts[outcome] = counts.get(outcome, 0) + 1
        counts["total"] += 1
        if r.paid and r.fee:
            paid = pnbp.setdefault(cls, {"paid": 0, "rupiah": 0})
            paid["paid"] += 1
            paid["rupiah"] += int(r.fee)
        if r.outcome == "refused":
            refusals[r.reason or "refused"] = refusals.get(r.reason or "refused", 0) + 1
        elif r.outcome == "aborted":
            aborts[r.reason or "-"] = aborts.get(r.reason or "-", 0) + 1
    return {
        "by_class": dict(sorted(by_class.items())),
        "pnbp": dict(sorted(pnbp.items())),
        "pnbp_total": sum(p["rupiah"] for p in pnbp.values()),
        "refusals": [{"reason": code, "count": n, "text_id": _refusal_text(code)[0],
                      "text_en": _refusal_text(code)[1]} for code, n in sorted(refusals.items(), key=lambda x: (-x[1], x[0]))],
        "aborts": [{"reason": reason, "count": n} for reason, n in sorted(aborts.items(), key=lambda x: (-x[1], x[0]))],
    }


def _refusal_text(code: str) -> tuple[str, str]:
    try:
        return REFUSAL_TEXT[Refusal(code)]
    except (ValueError, KeyError):
        return code, code


def daily_report(rows: list[VisitRow], day: date, settings: Settings, now: datetime | None = None) -> dict[str, Any]:
    """The day's report; ``now`` (the lane clock's time) decides which open visits are past the goal."""
    tz = site_timezone(settings)
    now = now or datetime.now(tz)
    budgets, visit_budget = settings.timing.budgets, settings.timing.visit_budget
    ended = [r for r in rows if r.outcome]
    per_hour = [0] * 24
    for r in ended:
        per_hour[_local(r.ended_at or r.started_at, tz).hour] += 1
    durations = sorted(s for r in ended if (s := _seconds(r)) is not None)
    door_to_door = sorted(s for r in ended if (s := _door_to_door(r)) is not None)
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
        "mean_door_to_door_seconds": _mean(door_to_door), "p95_door_to_door_seconds": _p95(door_to_door),
        "mean_queued_seconds": _mean(queued), "p95_queued_seconds": _p95(queued),
        **promise(rows, visit_budget, now),
        **accounts_of_day(rows),
        "stages": stages,
    }


CSV_COLUMNS = ["id", "lane", "seq", "plate", "outcome", "reason", "started_local", "seconds", "within_goal",
               *LANE_STAGES, *QUEUE_STAGES, "door_to_door_seconds", "within_goal_door_to_door", "sim_class",
               "fee", "paid"]
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
                    "" if d is None or r.outcome != "completed" else ("yes" if d <= visit_budget else "no"),
                    r.sim_class or "", r.fee if r.paid and r.fee else "", "yes" if r.paid else "no"])
    return out.getvalue()


def summary_csv(report: dict[str, Any]) -> str:
    """The day's accounts as CSV, one figure a line (section, key, sub-key, value): what a site's
    spreadsheet sums up, without any visit's details."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["section", "key", "detail", "value"])
    w.writerow(["day", report["day"], report["timezone"], report["visits"]])
    for cls, counts in report["by_class"].items():
        for outcome, n in counts.items():
            w.writerow(["class", cls, outcome, n])
    for cls, paid in report["pnbp"].items():
        w.writerow(["pnbp", cls, "paid", paid["paid"]])
        w.writerow(["pnbp", cls, "rupiah", paid["rupiah"]])
    w.writerow(["pnbp", "total", "rupiah", report["pnbp_total"]])
    for r in report["refusals"]:
        w.writerow(["refusal", r["reason"], r["text_en"], r["count"]])
    for a in report["aborts"]:
        w.writerow(["abort", a["reason"], "", a["count"]])
    for key in ("within_goal_pct", "within_goal_door_to_door_pct", "stuck", "stuck_door_to_door",
                "p95_seconds", "p95_door_to_door_seconds"):
        w.writerow(["promise", key, "", "" if report[key] is None else report[key]])
    for h in report["throughput_per_hour"]:
        if h["visits"]:
            w.writerow(["hour", f"{h['hour']:02d}:00", report["timezone"], h["visits"]])
    return out.getvalue()


def hours_svg(report: dict[str, Any]) -> str:
    """The visits finished per hour (site time) as a small SVG bar chart, for the printed page."""
    hours = [h for h in report["throughput_per_hour"] if h["visits"]]
    first = min([h["hour"] for h in hours], default=7)
    last = max([h["hour"] for h in hours], default=16)
    first, last = min(first, 7), max(last, 16)
    shown = [h for h in report["throughput_per_hour"] if first <= h["hour"] <= last]
    top = max([1, *(h["visits"] for h in shown)])
    w, h, left, bottom = 360, 150, 24, 18
    bw = (w - left) / len(shown)
    parts = [f'<svg viewBox="0 0 {w} {h}" role="img" aria-label="visits per hour" id="print-hours">',
             f'<text x="0" y="10">{top}</text><text x="0" y="{h - bottom}">0</text>']
    for i, row in enumerate(shown):
        bh = (h - bottom - 12) * row["visits"] / top
        x = left + i * bw
        parts.append(f'<rect x="{x + 1:.1f}" y="{h - bottom - bh:.1f}" width="{bw - 2:.1f}" height="{bh:.1f}">'
                     f'<title>{row["hour"]:02d}:00 {row["visits"]}</title></rect>')
        if row["visits"]:
            parts.append(f'<text x="{x + bw / 2 - 4:.1f}" y="{h - bottom - bh - 2:.1f}">{row["visits"]}</text>')
        parts.append(f'<text x="{x + bw / 2 - 6:.1f}" y="{h - 4}">{row["hour"]:02d}</text>')
    parts.append("</svg>")
    return "".join(parts)
