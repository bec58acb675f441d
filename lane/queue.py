"""The road queue before the entry: how many vehicles wait to be let in, and how long they should wait.

A vehicle waiting before the entry is a visit in a stage of :data:`lane.workflow.BEFORE_ENTRY`
(``queued``); the lane lets one in each time window 1 frees. The expected wait is read from the lane
itself: the time between admissions while vehicles were waiting (the lane's headway, the median of
the last few), and, before there are any, the budgets of the stages that keep window 1 busy.

The entry sign and the console show both figures; the sign is refreshed when its rounded minutes
change, not every second (``tick``).
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from typing import TYPE_CHECKING, Any

from lane.visit import Visit
from lane.workflow import BEFORE_ENTRY, Stage, Station

if TYPE_CHECKING:
    from lane.controller import LaneController

HEADWAY_SAMPLES = 9
"""Admission intervals kept for the headway (an odd number: the median is one of them)."""
WINDOW_1_STAGES = (Stage.ARRIVING, Stage.VERIFYING, Stage.PAYING)


class RoadQueue:
    def __init__(self, lane: LaneController) -> None:
        self.lane = lane
        self._admitted_at: float | None = None
        """Lane-clock time of the last admission (None: none since start)."""
        self._gaps: deque[float] = deque(maxlen=HEADWAY_SAMPLES)
        self._shown: tuple[str | None, int, int] | None = None
        """(visit, queue length, minutes) the entry sign shows now, to refresh it only on a change."""

    # ---------------------------------------------------------------- what the lane tells it
    def joined(self, visit: Visit) -> None:
        """A vehicle joined the queue (the console hears it with the visit itself)."""
        self._shown = None

    def admitted(self, visit: Visit) -> None:
        """Window 1 was free and the entry opened for ``visit``. An interval counts towards the
        headway only when the vehicle had to wait: an empty lane says nothing about its pace."""
        now = self.lane.clock.monotonic()
        waited = visit.state.queued_seconds(now) > 1.0
        if self._admitted_at is not None and waited:
            self._gaps.append(now - self._admitted_at)
        self._admitted_at = now
        self._shown = None

    # ---------------------------------------------------------------- figures
    def waiting(self) -> list[Visit]:
        """Vehicles before the entry, first in line first."""
        return sorted((v for v in self.lane.visits.values() if v.state.stage in BEFORE_ENTRY),
                      key=lambda v: v.state.seq)

    @property
    def length(self) -> int:
        return len(self.waiting())

    def headway(self) -> float:
        """Seconds between two admissions while vehicles wait: the median of the last few, or, before
        any, the budgets of the stages that keep window 1 busy."""
        if self._gaps:
            return statistics.median(self._gaps)
        budgets = self.lane.settings.timing.budgets
        return float(sum(budgets.get(s.value, 0.0) for s in WINDOW_1_STAGES))

    def expected_wait(self, position: int = 0) -> float:
        """Seconds until the vehicle ``position`` places from the front is let in (0: the first)."""
        lane = self.lane
        front = 0.0
        if not lane.stations.free(Station.WINDOW_1, self._first()):
            since = lane.clock.monotonic() - self._admitted_at if self._admitted_at is not None else 0.0
            front = max(0.0, self.headway() - since)
        return front + position * self.headway()

    def view(self) -> dict[str, Any]:
        """What the console shows: the queue's length, the first vehicle's expected wait, the headway."""
        return {"length": self.length, "expected_wait_seconds": round(self.expected_wait(), 1),
                "headway_seconds": round(self.headway(), 1)}

    def _first(self) -> Visit | None:
        waiting = self.waiting()
        return waiting[0] if waiting else None

    # ---------------------------------------------------------------- the entry sign
    async def show(self, visit: Visit) -> None:
        """The entry sign for the vehicle at the front: wait, how many are in the queue, for how long."""
        minutes = wait_minutes(self.expected_wait())
        length = self.length
        self._shown = (visit.id, length, minutes)
        await self.lane.displays.show(Station.ENTRY, "wait", plate=visit.state.plate, queue_length=length,
                                      expected_wait=minutes * 60)

    async def tick(self) -> None:
        """Once a lane-clock second: refresh the entry sign when its figures changed."""
        first = self._first()
        if first is None or self._shown is None or self._shown[0] != first.id:
            return  # the queued stage shows the sign when it starts waiting
        if self.lane.stations.free(Station.WINDOW_1, first):
            return  # the entry opens now: the arriving stage shows the sign
        if self._shown != (first.id, self.length, wait_minutes(self.expected_wait())):
            await self.show(first)


def wait_minutes(seconds: float) -> int:
    """Whole minutes for a sign, rounded up, and never "0" for a wait that is still on."""
    return max(1, math.ceil(seconds / 60.0)) if seconds > 0 else 0
