"""Injectable time.

The workflow never calls ``time`` or ``asyncio.sleep`` directly: it asks a :class:`Clock`. The
:class:`ScaledClock` runs simulated time ``speed`` times faster than the wall, so a simulated day of
traffic runs in minutes and tests of ten-minute budgets take well under a second.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """What the workflow needs to know about time."""

    speed: float

    def now(self) -> datetime:
        """Current (possibly simulated) time, timezone-aware UTC."""

    def monotonic(self) -> float:
        """Simulated seconds from an arbitrary origin; never goes backwards."""

    async def sleep(self, seconds: float) -> None:
        """Sleep ``seconds`` of simulated time."""

    def to_wall(self, seconds: float) -> float:
        """Convert simulated seconds to wall-clock seconds (for timeouts on real I/O)."""


class SystemClock:
    """Real time; speed 1."""

    speed = 1.0

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    def to_wall(self, seconds: float) -> float:
        return seconds


class ScaledClock:
    """Simulated time running ``speed`` times faster than the wall clock.

    ``start`` fixes the simulated date (useful for tests of expiry rules); it defaults to now.
    """

    def __init__(self, speed: float = 1.0, start: datetime | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = float(speed)
        self._origin_wall = time.monotonic()
        self._origin_sim = start or datetime.now(UTC)
        if self._origin_sim.tzinfo is None:
            self._origin_sim = self._origin_sim.replace(tzinfo=UTC)

    def monotonic(self) -> float:
        return (time.monotonic() - self._origin_wall) * self.speed

    def now(self) -> datetime:
        return self._origin_sim + timedelta(seconds=self.monotonic())

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.speed)

    def to_wall(self, seconds: float) -> float:
        return seconds / self.speed
