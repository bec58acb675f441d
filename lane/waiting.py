"""How a lane waits: for a loop, a gate, a free station or an officer, without polling.

Every coroutine that waits registers a condition; whatever changes something a condition may read
(a device listener, a station move, an officer action) calls :meth:`Waiter.notify`, which resolves,
right there, every waiter whose condition now holds. An abort pending on the waiting visit ends any
wait with :class:`~lane.visit.VisitAborted`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from lane.clock import Clock
from lane.visit import Visit, VisitAborted

RECHECK_SECONDS = 0.5
"""Wall seconds after which a waiter re-checks its condition even if nobody announced a change."""


class Waiter:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []
        """(ready, future) of every coroutine in ``wait``; ``notify`` resolves those now ready."""

    def notify(self) -> None:
        """Something changed (a device, a station, an officer action): wake, right now, every waiter
        whose condition now holds. The conditions are evaluated here, in the listener, so the
        waiting coroutine runs in the next turn of the loop: with 32 lanes on one loop, every extra
        turn between a loop detector and the gate command it causes is latency."""
        for ready, future in list(self._waiters):
            if future.done():
                continue
            try:
                if ready():
                    future.set_result(None)
            except Exception as exc:  # noqa: BLE001 - raised where the waiter evaluates it too
                future.set_exception(exc)

    async def wait(self, predicate: Callable[[], bool], timeout: float | None = None,
                   visit: Visit | None = None) -> None:
        """Wait until ``predicate()`` holds; ``timeout`` in simulated seconds -> TimeoutError. Wakes on
        device changes, station moves and officer actions (an abort of ``visit`` raises VisitAborted)."""
        loop = asyncio.get_running_loop()

        def ready() -> bool:
            return predicate() or (visit is not None and (visit.abort_requested or visit.refused is not None))

        async def _loop() -> None:
            while not predicate():
                check_abort(visit)
                entry = (ready, loop.create_future())
                self._waiters.append(entry)
                # Re-check every half second too (a change nobody announced): a timer that wakes
                # the waiter, not a timeout that cancels it (no exception every half second per waiter).
                timer = loop.call_later(RECHECK_SECONDS, _wake, entry[1])
                try:
                    await entry[1]
                finally:
                    timer.cancel()
                    self._waiters.remove(entry)
            check_abort(visit)

        if timeout is None:
            await _loop()
        else:
            async with asyncio.timeout(self.clock.to_wall(timeout)):
                await _loop()


def check_abort(visit: Visit | None) -> None:
    """Raise VisitAborted when an officer's abort of ``visit`` waits to be taken, and RecordRefused
    (once) when the database refused the visit's last row, written behind the lane (``lane.records``):
    the stage holds where it waits, as if the write had been refused at once."""
    if visit is None:
        return
    if visit.abort_requested:
        raise VisitAborted(visit.id)
    if visit.refused is not None:
        exc, visit.refused = visit.refused, None
        raise exc


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
