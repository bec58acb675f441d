"""The API's way into the lanes.

The lane controllers live on one asyncio loop; uvicorn may serve the API on another (the demo and
``serve`` run it in a worker thread). Everything that reads or changes controller state therefore
runs *on the controllers' loop*, and lane events cross over to the API's loop through thread-safe
hand-offs. When both are the same loop (tests with an in-process ASGI client) the calls run directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from lane.controller import LaneController
from lane.events import EventBus, LaneEvent

T = TypeVar("T")


class LaneBridge:
    def __init__(self, controllers: dict[str, LaneController], loop: asyncio.AbstractEventLoop | None) -> None:
        self.controllers = controllers
        self.loop = loop
        self._subs: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[LaneEvent]]] = set()
        self._lock = threading.Lock()
        self._pumps: list[asyncio.Future[Any]] = []

    def _same_loop(self) -> bool:
        if self.loop is None or self.loop.is_closed():
            return True
        try:
            return asyncio.get_running_loop() is self.loop
        except RuntimeError:
            return False

    async def run(self, factory: Callable[[], Awaitable[T]], timeout: float = 30.0) -> T:
        """Await a coroutine made by ``factory`` on the controllers' loop."""
        if self._same_loop():
            return await asyncio.wait_for(factory(), timeout)
        assert self.loop is not None

        async def _call() -> T:
            return await factory()

        fut = asyncio.run_coroutine_threadsafe(_call(), self.loop)
        return await asyncio.wait_for(asyncio.wrap_future(fut), timeout)

    async def call(self, fn: Callable[[], T]) -> T:
        """Run a plain function (a snapshot, a read of device state) on the controllers' loop."""

        async def _c() -> T:
            return fn()

        return await self.run(_c)

    # ------------------------------------------------------------ live events
    def _buses(self) -> list[EventBus]:
        seen: dict[int, EventBus] = {}
        for ctl in self.controllers.values():
            seen.setdefault(id(ctl.bus), ctl.bus)
        return list(seen.values())

    async def _pump(self, bus: EventBus) -> None:
        q = bus.subscribe()
        try:
            while True:
                ev = await q.get()
                with self._lock:
                    subs = list(self._subs)
                for loop, sub in subs:
                    with contextlib.suppress(RuntimeError):  # that loop has closed
                        loop.call_soon_threadsafe(_offer, sub, ev)
        finally:
            bus.unsubscribe(q)

    async def _ensure_pumps(self) -> None:
        if self._pumps and not all(p.done() for p in self._pumps):
            return
        self._pumps = [asyncio.ensure_future(self._pump(bus)) for bus in self._buses()]

    async def subscribe(self) -> asyncio.Queue[LaneEvent]:
        """A queue on the caller's loop receiving every lane event from now on."""
        q: asyncio.Queue[LaneEvent] = asyncio.Queue(500)
        with self._lock:
            self._subs.add((asyncio.get_running_loop(), q))
        if self.controllers:
            await self.run(self._ensure_pumps)
        return q

    def unsubscribe(self, q: asyncio.Queue[LaneEvent]) -> None:
        with self._lock:
            self._subs = {(lp, s) for lp, s in self._subs if s is not q}
            idle = not self._subs
        if idle:  # nobody listens: stop pumping (and leave no task behind when the lanes stop)
            self.close()

    def close(self) -> None:
        pumps, self._pumps = self._pumps, []
        for p in pumps:
            if self.loop is not None and not self.loop.is_closed() and not self._same_loop():
                self.loop.call_soon_threadsafe(p.cancel)
            else:
                p.cancel()


def _offer(q: asyncio.Queue[LaneEvent], ev: LaneEvent) -> None:
    """Queue an event; a slow subscriber loses its oldest event (the client re-reads the snapshot)."""
    if q.full():
        with contextlib.suppress(asyncio.QueueEmpty):
            q.get_nowait()
    q.put_nowait(ev)
