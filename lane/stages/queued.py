"""Queued (before the entry): the vehicle waits on the entry gate's arming loop until window 1 is
free. The entry camera reads its plate meanwhile (or the officer types it), so the gate opens the
moment window 1 frees, and the entry sign tells the driver how long the wait should be.

This wait is the road queue's, not the lane's: it has its own budget, and the ten-minute promise
runs from the entry (:attr:`lane.workflow.VisitState.entered`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lane.stages.arriving import read_plate
from lane.visit import Visit
from lane.workflow import Station

if TYPE_CHECKING:
    from lane.controller import LaneController


async def wait_in_queue(lane: LaneController, visit: Visit) -> None:
    if visit.state.plate is None:
        await read_plate(lane, visit)
    stations = lane.stations
    if not stations.free(Station.WINDOW_1, visit):
        await lane.queue.show(visit)
    await lane.waiter.wait(lambda: stations.free(Station.WINDOW_1, visit), visit=visit)
