"""The lanes now (live snapshots from the controllers) and the stage table they run."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import Controllers, CurrentUser, Lane, SettingsDep
from api.models import LaneSnapshot, StageInfo
from lane.workflow import STAGES

router = APIRouter(prefix="/api/v1", tags=["lanes"])


@router.get("/lanes", response_model=list[LaneSnapshot])
async def lanes(_: CurrentUser, controllers: Controllers) -> list[dict[str, Any]]:
    return [c.snapshot() for c in controllers.values()]


@router.get("/lanes/{lane}", response_model=LaneSnapshot)
async def lane(_: CurrentUser, ctl: Lane) -> dict[str, Any]:
    return ctl.snapshot()


@router.get("/stages", response_model=list[StageInfo])
def stages(_: CurrentUser, settings: SettingsDep) -> list[StageInfo]:
    return [StageInfo(stage=s.stage.value, station=s.station.value, done_when=s.done_when, on_fault=s.on_fault,
                      budget_seconds=settings.timing.budgets.get(s.stage.value)) for s in STAGES]
