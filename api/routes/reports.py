"""The daily report and its CSV export (no personal data beyond the plate)."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import PlainTextResponse

from api.deps import Controllers, CurrentUser, Day, LaneFilter, SettingsDep, StoreDep
from api.models import DailyReport
from api.reports import daily_report, local_today, visits_csv, visits_of_day

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])


def _day(day: date | None, settings: Any, controllers: Controllers) -> date:
    """The asked day, or today at the site; the lane clock's today (a demo's day runs fast)."""
    if day is not None:
        return day
    first = next(iter(controllers.values()), None)
    return local_today(settings, first.clock.now() if first else None)


@router.get("/daily", response_model=DailyReport)
def report(_: CurrentUser, store: StoreDep, settings: SettingsDep, controllers: Controllers,
           day: Day = None, lane: LaneFilter = None) -> dict[str, Any]:
    """Visits, throughput per hour, per-stage mean and goal-met share by part of day, share of
    completed visits within the 10-minute goal. ``day`` defaults to today (site time)."""
    d = _day(day, settings, controllers)
    rows = visits_of_day(store, d, lane, settings)
    return daily_report(rows, d, settings)


@router.get("/daily.csv", response_class=PlainTextResponse)
def report_csv(_: CurrentUser, store: StoreDep, settings: SettingsDep, controllers: Controllers,
               day: Day = None, lane: LaneFilter = None) -> Response:
    d = _day(day, settings, controllers)
    body = visits_csv(visits_of_day(store, d, lane, settings), settings)
    return Response(body, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="lajur-visits-{d}.csv"'})
