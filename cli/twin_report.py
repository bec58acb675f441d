"""The figures of a simulated day and their page: per scenario, cars served per hour, cars waiting on
the road, the p95 time from the entry and from joining the queue, the share within ten minutes; a
table for the terminal and a self-contained HTML page with SVG charts (no scripts, no network).

A car still waiting or still in a lane when the day's overtime ran out counts as not within ten
minutes, and a p95 that falls on such a car is shown as "not served", never as a time.
"""

from __future__ import annotations

import html
import math
from datetime import date, timedelta
from typing import Any

from cli.twin import DayRun
from lane.i18n import N_, gettext
from lane.settings import Settings
from simulators.day import DayProfile

GOAL_SECONDS = 600.0
COLOURS = ("#2563eb", "#f59e0b", "#16a34a", "#dc2626", "#7c3aed", "#0891b2")


def p95(values: list[float]) -> float | None:
    """The 95th percentile (nearest rank); inf when it falls on a car that was never served."""
    if not values:
        return None
    xs = sorted(values)
    return xs[max(0, math.ceil(0.95 * len(xs)) - 1)]


def _share(values: list[float], goal: float) -> float | None:
    return round(100.0 * sum(1 for v in values if v <= goal) / len(values), 1) if values else None


def scenario_figures(run: DayRun, profile: DayProfile, goal: float) -> dict[str, Any]:
    cars = run.cars
    inf = math.inf
    from_entry = [(c["visit_seconds"] if c["visit_seconds"] is not None else c["left"] - c["entered"])
                  if c["left"] is not None else inf for c in cars if c["entered"] is not None]
    from_entry += [inf for c in cars if c["entered"] is None]  # never reached the entry: not within
    from_queue = [c["left"] - c["joined"] if c["left"] is not None else inf for c in cars]
    road_wait = [c["entered"] - c["joined"] if c["entered"] is not None else inf for c in cars]
    last_hour = max(profile.closes, profile.opens + math.ceil(max([run.ended_at / 3600.0, 0.0])))
    hours = list(range(profile.opens, last_hour))
    served_per_hour = dict.fromkeys(hours, 0)
    arrived_per_hour = dict.fromkeys(hours, 0)
    for c in cars:
        arrived_per_hour[profile.opens + int(c["joined"] // 3600)] = arrived_per_hour.get(
            profile.opens + int(c["joined"] // 3600), 0) + 1
        if c["left"] is not None:
            h = profile.opens + int(c["left"] // 3600)
            served_per_hour[h] = served_per_hour.get(h, 0) + 1
    road_per_hour: dict[int, list[int]] = {}
    for at, on_road, _in in run.road:
        road_per_hour.setdefault(profile.opens + int(at // 3600), []).append(on_road)
    outcomes: dict[str, int] = {}
    for c in cars:
        key = c["outcome"] or ("in the lane" if c["entered"] is not None and c["left"] is None else
                               "on the road" if c["entered"] is None else "unknown")
        outcomes[key] = outcomes.get(key, 0) + 1
    left = [c["left"] for c in cars if c["left"] is not None]
    queue_by_hour = {}
    for h in hours:
        joined = [fq for c, fq in zip(cars, from_queue, strict=True)
                  if profile.opens + int(c["joined"] // 3600) == h]
        queue_by_hour[h] = p95(joined)
    return {
        "scenario": run.scenario.name, "label": run.scenario.label, "lanes": run.lanes,
        "officers_per_lane": run.officers_per_lane, "card_printers": run.scenario.card_printers,
        "cars": len(cars), "served": len(left), "not_served": len(cars) - len(left), "outcomes": outcomes,
        "p95_from_entry": _finite(p95(from_entry)), "p95_from_queue": _finite(p95(from_queue)),
        "within_goal_from_entry_pct": _share(from_entry, goal), "within_goal_from_queue_pct": _share(from_queue, goal),
        "mean_road_wait": _finite(sum(road_wait) / len(road_wait)) if road_wait else None,
        "max_on_road": max((s[1] for s in run.road), default=0),
        "last_left": max(left) if left else None,
        "per_hour": [{"hour": h, "arrived": arrived_per_hour.get(h, 0), "served": served_per_hour.get(h, 0),
                      "max_on_road": max(road_per_hour.get(h, [0])),
                      "mean_on_road": round(sum(road_per_hour.get(h, [0])) / max(1, len(road_per_hour.get(h, []))), 1),
                      "p95_from_queue_of_arrivals": _finite(queue_by_hour.get(h))}
                     for h in hours],
        "road": run.road, "wall_seconds": round(run.wall_seconds, 1), "slip_p90": run.slip_p90,
    }


def _finite(x: float | None) -> float | str | None:
    """Seconds rounded; "not served" for a percentile that fell on a car never served."""
    if x is None:
        return None
    return "not served" if math.isinf(x) else round(x, 1)


def figures(profile: DayProfile, runs: list[DayRun], settings: Settings, day: date) -> dict[str, Any]:
    goal = settings.timing.visit_budget or GOAL_SECONDS
    return {
        "profile": profile.name, "day": day.isoformat(), "timezone": settings.timezone,
        "opens": profile.opens, "closes": profile.closes, "expected_cars": round(profile.expected_cars, 1),
        "goal_seconds": goal, "times": {k: getattr(profile.times, k) for k in profile.sources
                                        if hasattr(profile.times, k)} | {
            "print_card": profile.print_seconds, "gate": profile.gate_seconds},
        "time_sources": profile.sources, "refused_share": profile.refused_share,
        "scenarios": [scenario_figures(r, profile, goal) for r in runs],
    }


# ---------------------------------------------------------------------- text
def clock_time(opens: int, seconds: float | None) -> str:
    if seconds is None:
        return "—"
    t = timedelta(hours=opens, seconds=seconds)
    return f"{int(t.total_seconds() // 3600) % 24:02d}:{int(t.total_seconds() % 3600 // 60):02d}"


def minutes(x: Any) -> str:
    if x is None:
        return "—"
    if isinstance(x, str):
        return x
    return f"{x / 60:.1f} min"


def render_text(fig: dict[str, Any]) -> str:
    head = f"{'scenario':<11}{'lanes':>6}{'offcr':>6}{'served':>9}{'p95 entry':>11}{'p95 queue':>11}" \
           f"{'≤10m entry':>11}{'≤10m queue':>11}{'max road':>9}{'last out':>9}"
    lines = [head]
    for s in fig["scenarios"]:
        lines.append(f"{s['scenario']:<11}{s['lanes']:>6}{s['officers_per_lane']:>6}"
                     f"{s['served']:>5}/{s['cars']:<3}{minutes(s['p95_from_entry']):>11}"
                     f"{minutes(s['p95_from_queue']):>11}{_pct(s['within_goal_from_entry_pct']):>11}"
                     f"{_pct(s['within_goal_from_queue_pct']):>11}{s['max_on_road']:>9}"
                     f"{clock_time(fig['opens'], s['last_left']):>9}")
    lines.append("served per hour (" + fig["timezone"] + "):")
    hours = [h["hour"] for h in fig["scenarios"][0]["per_hour"]] if fig["scenarios"] else []
    lines.append(f"{'':<11}" + "".join(f"{h:>5}" for h in hours))
    if fig["scenarios"]:
        lines.append(f"{'arrived':<11}" + "".join(f"{h['arrived']:>5}" for h in fig["scenarios"][0]["per_hour"]))
    for s in fig["scenarios"]:
        by = {h["hour"]: h for h in s["per_hour"]}
        lines.append(f"{s['scenario']:<11}" + "".join(f"{by.get(h, {}).get('served', 0):>5}" for h in hours))
    return "\n".join(lines)


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x:.0f} %"


# ---------------------------------------------------------------------- HTML + SVG
def _bars(fig: dict[str, Any], key: str, title: str, unit: str, scale: float = 1.0, tr: Any = str) -> str:
    scen = fig["scenarios"]
    hours = sorted({h["hour"] for s in scen for h in s["per_hour"]})

    def value(s: dict[str, Any], hour: int) -> Any:
        v = next((h[key] for h in s["per_hour"] if h["hour"] == hour), 0) or 0
        return round(v / scale, 1) if isinstance(v, int | float) else v

    values = [[value(s, hour) for hour in hours] for s in scen]
    arrived = [next((h["arrived"] for h in scen[0]["per_hour"] if h["hour"] == hour), 0) for hour in hours] \
        if key == "served" and scen else []
    top = max([1, *(v for row in values for v in row if isinstance(v, int | float)), *arrived])
    w, h, left, bottom = 920, 260, 40, 30
    group = (w - left - 10) / max(1, len(hours))
    bw = max(2.0, (group - 6) / max(1, len(scen)))
    out = [f'<svg viewBox="0 0 {w} {h}" role="img" aria-label="{html.escape(title)}">']
    for i in range(5):
        y = h - bottom - (h - bottom - 10) * i / 4
        out.append(f'<line x1="{left}" x2="{w}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                   f'<text x="2" y="{y + 4:.1f}">{top * i / 4:.0f}</text>')
    for j, hour in enumerate(hours):
        x0 = left + j * group + 3
        out.append(f'<text x="{x0 + group / 2 - 8:.1f}" y="{h - 10}">{hour:02d}</text>')
        for i, row in enumerate(values):
            v = row[j]
            served = isinstance(v, int | float)  # else "not served": drawn to the top, hatched
            bh = (h - bottom - 10) * (v if served else top) / top
            label = f"{v:g} {unit}" if served else tr(str(v))
            mark = "" if served else ' class="unserved"'
            out.append(f'<rect x="{x0 + i * bw:.1f}" y="{h - bottom - bh:.1f}" width="{bw - 1:.1f}" height="{bh:.1f}" '
                       f'fill="{COLOURS[i % len(COLOURS)]}"{mark}>'
                       f'<title>{html.escape(scen[i]["scenario"])} {hour:02d}:00 {html.escape(label)}</title></rect>')
    if arrived:
        pts = " ".join(f"{left + j * group + group / 2:.1f},{h - bottom - (h - bottom - 10) * a / top:.1f}"
                       for j, a in enumerate(arrived))
        out.append(f'<polyline points="{pts}" class="arrived"><title>{html.escape(tr("arrived"))}</title></polyline>')
    out.append("</svg>")
    return "".join(out)


def _road(fig: dict[str, Any], title: str) -> str:
    scen = fig["scenarios"]
    w, h, left, bottom = 920, 240, 40, 30
    end = max([3600.0, *(r[0] for s in scen for r in s["road"])])
    top = max([1, *(r[1] for s in scen for r in s["road"])])
    out = [f'<svg viewBox="0 0 {w} {h}" role="img" aria-label="{html.escape(title)}">']
    for i in range(5):
        y = h - bottom - (h - bottom - 10) * i / 4
        out.append(f'<line x1="{left}" x2="{w}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                   f'<text x="2" y="{y + 4:.1f}">{top * i / 4:.0f}</text>')
    for k in range(int(end // 3600) + 1):
        x = left + (w - left - 10) * k * 3600 / end
        out.append(f'<text x="{x - 8:.1f}" y="{h - 10}">{(fig["opens"] + k) % 24:02d}</text>')
    for i, s in enumerate(scen):
        pts = " ".join(f"{left + (w - left - 10) * at / end:.1f},{h - bottom - (h - bottom - 10) * n / top:.1f}"
                       for at, n, _ in s["road"])
        out.append(f'<polyline points="{pts}" fill="none" stroke="{COLOURS[i % len(COLOURS)]}" stroke-width="2">'
                   f'<title>{html.escape(s["scenario"])}</title></polyline>')
    out.append("</svg>")
    return "".join(out)


def render_html(fig: dict[str, Any], lang: str = "id") -> str:
    """The page of charts, in ``lang`` (Bahasa Indonesia unless asked otherwise), self-contained."""
    from api.rendering import render

    def tr(text: str) -> str:
        return gettext(lang, text)

    times = ", ".join(f"{k} {v:g} s ({_source(fig['time_sources'].get(k, 'default'), tr)})"
                      for k, v in fig["times"].items())
    return render("twin.html", lang, fig=fig, times=times, colours=COLOURS, goal=fig["goal_seconds"] / 60,
                  rows=[{**s, "label": tr(s["label"]), "p95_entry": _minutes(s["p95_from_entry"], tr),
                         "p95_queue": _minutes(s["p95_from_queue"], tr), "within_entry": _pct(s["within_goal_from_entry_pct"]),
                         "within_queue": _pct(s["within_goal_from_queue_pct"]),
                         "road_wait": _minutes(s["mean_road_wait"], tr),
                         "last_out": clock_time(fig["opens"], s["last_left"])} for s in fig["scenarios"]],
                  served_chart=_bars(fig, "served", tr("Cars served per hour"), tr("cars"), tr=tr),
                  road_chart=_road(fig, tr("Cars waiting on the road")),
                  wait_chart=_bars(fig, "p95_from_queue_of_arrivals", tr("p95 time from joining the queue, by hour of arrival"),
                                   "min", 60.0, tr=tr))


def _source(text: str, tr: Any) -> str:
    """"history (n=83)" -> "riwayat (n=83)": where a step's time came from, in the page's language."""
    word, _, rest = text.partition(" (")
    return tr(word) + (f" ({rest}" if rest else "")


SOURCE_WORDS = (N_("history"), N_("profile"), N_("default"), N_("not served"), N_("cars"), N_("arrived"))
"""Words the figures carry that the page shows (translated where shown)."""


def _minutes(x: Any, tr: Any) -> str:
    return tr(x) if isinstance(x, str) else minutes(x)
