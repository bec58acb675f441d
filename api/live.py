"""Lane events to WebSocket clients, on the controllers' own loop (the API is served there too).

A client gets a first message, then every lane event it keeps, and, for the console, a fresh
snapshot every few seconds. A slow client loses its oldest events (the bus drops them) and catches
up on the next snapshot; a lane never waits for a browser.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect
from fastapi.encoders import jsonable_encoder

from lane.events import EventBus, LaneEvent

QUEUE_SIZE = 500


def lane_buses(ws: WebSocket) -> list[EventBus]:
    """The site's bus, or the distinct buses of the lanes served (controllers built apart from a site)."""
    state = ws.app.state
    if state.bus is not None:
        return [state.bus]
    seen: dict[int, EventBus] = {}
    for ctl in state.controllers.values():
        seen.setdefault(id(ctl.bus), ctl.bus)
    return list(seen.values())


async def stream(ws: WebSocket, first: dict[str, Any], keep: Callable[[LaneEvent], bool],
                 refresh: Callable[[], Awaitable[dict[str, Any]]] | None = None, every: float = 2.0) -> None:
    """Send ``first``, then each kept lane event (and ``refresh()`` every ``every`` s) until the client
    goes away or the server shuts down."""
    queue: asyncio.Queue[LaneEvent] = asyncio.Queue(QUEUE_SIZE)
    buses = lane_buses(ws)
    for bus in buses:
        bus.subscribe(queue)

    async def reader() -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            while True:
                msg = await ws.receive()
                if msg.get("type") == "websocket.disconnect":
                    return

    async def writer() -> None:
        await ws.send_json(jsonable_encoder(first))
        next_refresh = time.monotonic() + every
        while True:
            try:
                ev = await asyncio.wait_for(queue.get(), timeout=max(0.05, next_refresh - time.monotonic()))
            except TimeoutError:
                ev = None
            if ev is not None and keep(ev):
                await ws.send_json(jsonable_encoder({"type": ev.kind, "lane": ev.lane, "data": ev.data}))
            if refresh is not None and time.monotonic() >= next_refresh:
                await ws.send_json(jsonable_encoder(await refresh()))
            if time.monotonic() >= next_refresh:
                next_refresh = time.monotonic() + every

    tasks = [asyncio.ensure_future(reader()), asyncio.ensure_future(writer())]
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
            await ws.close()
