"""The lanes now (live snapshots from the controllers) and the stage table they run."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from api.deps import Controllers, CurrentUser, Lane, SettingsDep
from api.models import LaneSnapshot, StageInfo
from lane.workflow import STAGES

router = APIRouter(prefix="/api/v1", tags=["lanes"])


def with_status_urls(snapshot: dict[str, Any], request: Request, settings: Any) -> dict[str, Any]:
    """Each visit's status page as a full address: the site's public one, else the one asked at."""
    base = (settings.public_url or str(request.base_url)).rstrip("/")
    for v in snapshot["visits"]:
        v["status_url"] = base + v["status_path"] if v.get("status_path") else None
    return snapshot


@router.get("/lanes", response_model=list[LaneSnapshot])
async def lanes(_: CurrentUser, request: Request, controllers: Controllers, settings: SettingsDep) -> list[dict[str, Any]]:
    """Every lane now; each visit carries its ``status_url`` (the driver's status page)."""
    return [with_status_urls(c.snapshot(), request, settings) for c in controllers.values()]


@router.get("/lanes/{lane}", response_model=LaneSnapshot)
async def lane(_: CurrentUser, request: Request, ctl: Lane, settings: SettingsDep) -> dict[str, Any]:
    return with_status_urls(ctl.snapshot(), request, settings)


@router.get("/stages", response_model=list[StageInfo])
def stages(_: CurrentUser, settings: SettingsDep) -> list[StageInfo]:
    return [StageInfo(stage=s.stage.value, station=s.station.value, done_when=s.done_when, on_fault=s.on_fault,
                      budget_seconds=settings.timing.budgets.get(s.stage.value)) for s in STAGES]
