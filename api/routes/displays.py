"""The driver displays' feed: what each station's display shows now, live, with no login (nothing
personal beyond the plate)."""

from __future__ import annotations

import dataclasses
from typing import Any

from fastapi import APIRouter, WebSocket

from api.deps import STATIONS, Lane, LaneStation
from api.live import stream
from api.models import DisplayState
from lane.controller import LaneController

router = APIRouter(tags=["displays"])


def shown(ctl: LaneController, station: str) -> dict[str, Any] | None:
    """The message the display at ``station`` shows now (None before the lane showed anything)."""
    msg = ctl.shown.get(station)
    return dataclasses.asdict(msg) if msg is not None else None


@router.get("/api/v1/displays/{lane}/{station}", response_model=DisplayState)
async def display_state(ctl: Lane, station: LaneStation) -> dict[str, Any]:
    """What the driver display at a station shows now (no login; no personal data beyond the plate)."""
    return {"lane": ctl.name, "station": station, "message": shown(ctl, station)}


@router.websocket("/ws/display/{lane}/{station}")
async def display_feed(ws: WebSocket, lane: str, station: str) -> None:
    ctl = ws.app.state.controllers.get(lane)
    if ctl is None or station not in STATIONS:
        await ws.close(code=4404, reason="no such lane or station")
        return
    await ws.accept()
    first = {"type": "display", "lane": lane, "data": shown(ctl, station)}
    await stream(ws, first, lambda ev: ev.kind == "display" and ev.lane == lane and ev.data.get("station") == station)
