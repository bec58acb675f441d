"""Lane events to WebSocket clients, on the controllers' own loop (the API is served there too).

A client gets a first message, then every lane event it keeps, and, for the console, a fresh
snapshot every few seconds. A slow client loses its oldest events (the bus drops them) and catches
up on the next snapshot; a lane never waits for a browser.

A console socket belongs to a session (:class:`LiveSockets`): logging out, or an admin disabling
the account, closes its sockets at once (code 4401); a session ended by another controller
process is noticed within ``RECHECK_SECONDS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect
from fastapi.encoders import jsonable_encoder

from lane.events import EventBus, LaneEvent

QUEUE_SIZE = 500
RECHECK_SECONDS = 5.0
"""How often an open console socket asks whether its session still holds (another process may
have ended it)."""
SESSION_ENDED = 4401


class LiveSockets:
    """The console sockets open now, by session and account, so ending a session closes them.

    Sessions are ended from FastAPI's worker threads; the sockets live on the loop: ``end_*`` hands
    the news over thread-safely."""

    def __init__(self) -> None:
        self._open: dict[int, tuple[str, str, asyncio.AbstractEventLoop, asyncio.Event]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._open)

    def add(self, session_id: str, username: str) -> tuple[int, asyncio.Event]:
        ended = asyncio.Event()
        key = id(ended)
        with self._lock:
            self._open[key] = (session_id, username, asyncio.get_running_loop(), ended)
        return key, ended

    def remove(self, key: int) -> None:
        with self._lock:
            self._open.pop(key, None)

    def end_session(self, session_id: str) -> int:
        return self._end(lambda sid, _user: sid == session_id)

    def end_user(self, username: str) -> int:
        return self._end(lambda _sid, user: user == username)

    def _end(self, match: Callable[[str, str], bool]) -> int:
        with self._lock:
            hits = [(loop, ev) for sid, user, loop, ev in self._open.values() if match(sid, user)]
        for loop, ev in hits:
            with contextlib.suppress(RuntimeError):  # the loop is closing: the socket goes with it
                loop.call_soon_threadsafe(ev.set)
        return len(hits)


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
                 refresh: Callable[[], Awaitable[dict[str, Any]]] | None = None, every: float = 2.0, *,
                 ended: asyncio.Event | None = None, still_valid: Callable[[], Awaitable[bool]] | None = None) -> None:
    """Send ``first``, then each kept lane event (and ``refresh()`` every ``every`` s) until the client
    goes away, the server shuts down, or the session ends: ``ended`` is set (logout, account
    disabled, in this process) or ``still_valid()`` says no (checked every ``RECHECK_SECONDS``); the
    socket is then closed with code 4401."""
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

    async def watch_session() -> None:
        while True:
            if ended is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ended.wait(), RECHECK_SECONDS)
                    return
            else:
                await asyncio.sleep(RECHECK_SECONDS)
            if still_valid is not None and not await still_valid():
                return

    tasks = [asyncio.ensure_future(reader()), asyncio.ensure_future(writer())]
    session = asyncio.ensure_future(watch_session()) if ended is not None or still_valid is not None else None
    if session is not None:
        tasks.append(session)
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
        code, why = ((SESSION_ENDED, "session ended") if session is not None and session.done()
                     and not session.cancelled() else (1000, ""))
        with contextlib.suppress(Exception):
            await ws.close(code=code, reason=why)
