"""The console's live feed: a snapshot of every lane, then every lane event as it happens, and a
fresh snapshot every 2 s (device health, elapsed times)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter, WebSocket
from fastapi.concurrency import run_in_threadpool

from api.auth import SESSION_COOKIE, Auth, Principal
from api.deps import STATIONS
from api.devices import lane_devices
from api.live import SESSION_ENDED, LiveSockets, stream
from api.routes.alerts import alert_json
from api.routes.displays import shown

router = APIRouter()


@router.websocket("/ws/live")
async def live(ws: WebSocket) -> None:
    state = ws.app.state
    who = await run_in_threadpool(_principal, ws, state.auth)
    if who is None:
        await ws.close(code=SESSION_ENDED, reason="log in first")
        return
    sockets: LiveSockets = state.live_sockets
    key, ended = sockets.add(who.session_id, who.username)
    try:
        await _feed(ws, who, ended)
    finally:
        sockets.remove(key)


async def _feed(ws: WebSocket, who: Principal, ended: asyncio.Event) -> None:
    state = ws.app.state
    await ws.accept()
    with_devices = ws.query_params.get("devices") == "1"
    controllers = state.controllers

    async def snapshot() -> dict[str, Any]:
        first_lane = next(iter(controllers.values()), None)
        out: dict[str, Any] = {
            "type": "snapshot", "lanes": [c.snapshot() for c in controllers.values()],
            "displays": {n: {st: shown(c, st) for st in STATIONS} for n, c in controllers.items()},
            "at": time.time(), "speed": first_lane.clock.speed if first_lane else 1.0}
        if with_devices:
            out["device_details"] = [d for c in controllers.values() for d in lane_devices(c)]
        return out

    first = await snapshot()
    alerts = await run_in_threadpool(state.store.alerts, None, 30)
    first.update(user=who.username, role=who.role, alerts=[alert_json(a) for a in alerts])

    async def still_valid() -> bool:  # ended elsewhere: by another controller process, or expired
        return await run_in_threadpool(_principal, ws, state.auth) is not None

    await stream(ws, first, lambda ev: True, snapshot, ended=ended, still_valid=still_valid)


def _principal(ws: WebSocket, auth: Auth) -> Principal | None:
    origin = ws.headers.get("origin")
    host = ws.headers.get("host")
    if origin and host and origin.split("://", 1)[-1] != host:
        return None  # a page of another site may not open a console feed with our cookie
    token = ws.query_params.get("token")
    if token:
        return auth.principal(token, "bearer")
    cookie = ws.cookies.get(SESSION_COOKIE)
    return auth.principal(cookie, "cookie") if cookie else None
