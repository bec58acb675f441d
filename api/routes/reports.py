"""The daily report and its CSV export (no personal data beyond the plate)."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import PlainTextResponse

from api.auditing import audit
from api.deps import Controllers, CurrentUser, Day, LaneFilter, SettingsDep, StoreDep
from api.models import DailyReport
from api.reports import daily_report, lane_now, local_today, summary_csv, visits_csv, visits_of_day

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])


def _day(day: date | None, settings: Any, controllers: Controllers) -> date:
    """The asked day, or today at the site."""
    return day if day is not None else local_today(settings, lane_now(settings, controllers))


def report_of(store: Any, settings: Any, controllers: dict[str, Any], day: date | None,
              lane: str | None) -> dict[str, Any]:
    d = _day(day, settings, controllers)
    return daily_report(visits_of_day(store, d, lane, settings), d, settings, lane_now(settings, controllers))


@router.get("/daily", response_model=DailyReport)
def report(_: CurrentUser, store: StoreDep, settings: SettingsDep, controllers: Controllers,
           day: Day = None, lane: LaneFilter = None) -> dict[str, Any]:
    """Visits, throughput per hour (site time), per-stage mean and goal-met share by part of day, the
    share within the 10-minute goal from the entry and from joining the queue (cars still in the lane
    past the goal count as not within), counts per SIM class and outcome, PNBP per class, refusals
    per reason. ``day`` defaults to today (site time)."""
    return report_of(store, settings, controllers, day, lane)


@router.get("/daily-summary.csv", response_class=PlainTextResponse)
def report_summary_csv(who: CurrentUser, store: StoreDep, settings: SettingsDep, controllers: Controllers,
                       day: Day = None, lane: LaneFilter = None) -> Response:
    """The day's accounts (classes, PNBP, refusals, the promise, hours) as CSV, no visit details.
    Audited as an export."""
    r = report_of(store, settings, controllers, day, lane)
    audit(store, who, "export_report", lane=lane, format="summary_csv", day=r["day"])
    return Response(summary_csv(r), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="lajur-day-{r["day"]}.csv"'})


@router.get("/daily.csv", response_class=PlainTextResponse)
def report_csv(who: CurrentUser, store: StoreDep, settings: SettingsDep, controllers: Controllers,
               day: Day = None, lane: LaneFilter = None) -> Response:
    """The day's visits, one line each (no personal data beyond the plate). Who exported which day
    goes to the audit log."""
    d = _day(day, settings, controllers)
    body = visits_csv(visits_of_day(store, d, lane, settings), settings)
    audit(store, who, "export_report", lane=lane, format="csv", day=d.isoformat())
    return Response(body, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="lajur-visits-{d}.csv"'})
