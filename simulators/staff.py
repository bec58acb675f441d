"""The officers of a simulated lane: which officer serves which window.

A window's human work (checking the documents at window 1, the photo at window 2, the card at
window 3) waits for its officer. With one officer a window nothing waits; an officer who serves two
windows does one car's work at a time and walks between them, which is what "one officer fewer"
costs a lane.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from lane.clock import Clock


class Staff:
    def __init__(self, clock: Clock, assignment: dict[str, str], walk_seconds: float = 10.0) -> None:
        self.clock = clock
        self.assignment = dict(assignment)
        """Window -> officer (the same name twice: one officer serves both windows)."""
        self.walk_seconds = walk_seconds
        self._locks: dict[str, asyncio.Lock] = {}
        self._at: dict[str, str] = {}

    @property
    def officers(self) -> int:
        """Officers per lane."""
        return len(set(self.assignment.values()))

    @contextlib.asynccontextmanager
    async def serving(self, lane: str, window: str) -> AsyncIterator[None]:
        """Hold ``window``'s officer of ``lane`` for the work inside (walking over first if needed)."""
        officer = f"{lane}/{self.assignment.get(window, window)}"
        lock = self._locks.setdefault(officer, asyncio.Lock())
        async with lock:
            if self._at.get(officer, window) != window:
                await self.clock.sleep(self.walk_seconds)
            self._at[officer] = window
            yield


@contextlib.asynccontextmanager
async def serving(staff: Staff | None, lane: str, window: str) -> AsyncIterator[None]:
    """``staff.serving(...)``, or nothing to wait for when no staffing is simulated."""
    if staff is None:
        yield
        return
    async with staff.serving(lane, window):
        yield
