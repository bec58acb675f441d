"""The drivers' status pages (no login): ``/s/<token>`` from the QR on the receipt, its JSON and its
live feed. Rate-limited per client address (:class:`api.status.LookupLimiter`); an unknown or expired
token is 404 with nothing else said."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse, Response

from api.auth import ApiRefusal
from api.deps import Controllers, SettingsDep, StoreDep
from api.edge import PAGE_CSP
from api.live import lane_buses
from api.models import DriverStatus
from api.rendering import render
from api.reports import lane_now
from api.status import LookupLimiter, find
from lane.events import LaneEvent
from lane.i18n import LANG_COOKIE, STAGE_WORDS, language

router = APIRouter(tags=["status"])
Token = Annotated[str, Path(min_length=1, max_length=64, description="the token on the receipt's QR")]
Lang = Annotated[str | None, Query(max_length=8, description="id (default) or en")]
REFRESH_SECONDS = 20.0
"""The expected time is recomputed at least this often (wall seconds) even when the lane is quiet."""


def limiter(app: Any) -> LookupLimiter:
    return app.state.status_limiter


def _lang(request: Request, lang: str | None) -> str:
    return language(lang or request.cookies.get(LANG_COOKIE))


def _lookup(request: Request, token: str, controllers: Any, store: Any, settings: Any, lang: str) -> dict | None:
    client = request.client.host if request.client else "?"
    lim = limiter(request.app)
    wait = lim.retry_after(client)
    if wait:
        raise ApiRefusal(429, "rate_limited", f"too many lookups; try again in {wait} s", {"Retry-After": str(wait)})
    found = find(token, controllers, store, settings, lang, lane_now(settings, controllers))
    if found is None:
        lim.missed(client)
    return found


@router.get("/api/v1/status/{token}", response_model=DriverStatus, responses={404: {}, 429: {}})
def status(request: Request, token: Token, controllers: Controllers, store: StoreDep, settings: SettingsDep,
           lang: Lang = None) -> dict[str, Any]:
    """Where one renewal stands, for its driver: stage, place in the queue, expected time to the card."""
    found = _lookup(request, token, controllers, store, settings, _lang(request, lang))
    if found is None:
        raise ApiRefusal(404, "not_found", "no such status page (or it has expired)")
    return found


@router.get("/s/{token}", include_in_schema=False)
def status_page(request: Request, token: Token, controllers: Controllers, store: StoreDep, settings: SettingsDep,
                lang: Lang = None) -> Response:
    chosen = _lang(request, lang)
    found = _lookup(request, token, controllers, store, settings, chosen)
    body = render("status.html", chosen, status=found, site_name=settings.site_name or settings.site,
                  steps=[(k, w) for k, w in STAGE_WORDS.items() if k != "arriving"])
    response = HTMLResponse(body, status_code=200 if found else 404,
                            headers={"Cache-Control": "no-store", "Content-Security-Policy": PAGE_CSP})
    if lang:  # the driver chose: the phone remembers it
        response.set_cookie(LANG_COOKIE, chosen, max_age=365 * 86400, samesite="lax", httponly=True)
    return response


@router.websocket("/ws/status/{token}")
async def status_feed(ws: WebSocket, token: str, lang: str | None = None) -> None:
    """The status again whenever the visit's lane changes (at most once a second) and every
    ``REFRESH_SECONDS``; closed (4404) for an unknown token, after the visit has ended."""
    app = ws.app
    client = ws.client.host if ws.client else "?"
    lim = limiter(app)
    chosen = language(lang or ws.cookies.get(LANG_COOKIE))
    settings, controllers, store = app.state.settings, app.state.controllers, app.state.store

    def look() -> dict | None:
        return find(token, controllers, store, settings, chosen, lane_now(settings, controllers))

    if lim.retry_after(client):
        await ws.close(code=4429, reason="too many lookups")
        return
    current = look()
    if current is None:
        lim.missed(client)
        await ws.close(code=4404, reason="no such status page")
        return
    await ws.accept()
    queue: asyncio.Queue[LaneEvent] = asyncio.Queue(200)
    buses = lane_buses(ws)
    for bus in buses:
        bus.subscribe(queue)

    async def writer() -> None:
        nonlocal current
        await ws.send_json(jsonable_encoder({"type": "status", "data": current}))
        last = time.monotonic()
        while current is not None and not current["finished"]:
            with contextlib.suppress(TimeoutError):
                ev = await asyncio.wait_for(queue.get(), REFRESH_SECONDS)
                if ev.lane != current["lane"] or ev.kind not in ("visit", "display"):
                    continue
                await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - last)))  # at most once a second
                while not queue.empty():
                    queue.get_nowait()
            fresh = look()
            last = time.monotonic()
            if fresh != current:
                current = fresh
                await ws.send_json(jsonable_encoder({"type": "status", "data": current}))

    async def reader() -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            while (await ws.receive()).get("type") != "websocket.disconnect":
                pass

    tasks = [asyncio.ensure_future(writer()), asyncio.ensure_future(reader())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        for bus in buses:
            bus.unsubscribe(queue)
        with contextlib.suppress(Exception):
            await ws.close(code=1000)
