"""Station occupancy: the lane as a pipeline of stations (entry, windows 1-3, exit), one vehicle at each.

A vehicle moves on only when every station it passes is free (no overtaking), and the driver is
signalled green only then. A vehicle's station is where it physically stands, which is not always
the station of its stage (a stage names where it is *going*). The gates' arming loops are counted
here too: a car that drove under a boom is known by its loop's falling edge.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lane.ports import BarrierGate, Signal
from lane.visit import Visit
from lane.workflow import Station, stations_between

if TYPE_CHECKING:
    from lane.controller import LaneController


class Stations:
    def __init__(self, lane: LaneController) -> None:
        self.lane = lane
        self.occupancy: dict[Station, str | None] = {s: None for s in Station}
        """Which visit stands at each station (None: free)."""
        self.left: dict[str, int] = {}
        """Vehicles that left each gate's arming loop since start (``edge_counter``)."""

    # ---------------------------------------------------------------- who stands where
    def where(self, visit: Visit) -> Station | None:
        """The station the vehicle physically occupies (a stage names where it is *going*)."""
        return next((st for st in Station if self.occupancy[st] == visit.id), None)

    def free(self, station: Station, visit: Visit | None = None) -> bool:
        """Nobody (or only ``visit`` itself) stands at ``station``."""
        return self.occupancy[station] in (None, visit.id if visit else None)

    def move(self, visit: Visit, target: Station) -> None:
        current = self.where(visit)
        for st in Station:
            if self.occupancy[st] == visit.id:
                self.occupancy[st] = None
        self.occupancy[target] = visit.id
        if current is not None and current is not target:
            self.lane.waiter.notify()

    def release(self, visit: Visit) -> None:
        for st in Station:
            if self.occupancy[st] == visit.id:
                self.occupancy[st] = None
        self.lane.waiter.notify()

    async def go_to(self, visit: Visit, target: Station, step: str) -> None:
        """Drive to ``target`` once every station on the way is free (no overtaking). The display at
        the current station says ``step`` with a green signal only then, so nobody drives into a
        window that is still busy."""
        lane = self.lane
        previous = self.where(visit)
        if previous is target:
            if visit.reshow is not None:  # restarted between the move record and the signal
                station, shown_step = visit.reshow
                visit.reshow = None
                if self.occupancy[station] is None:
                    await lane.displays.show(station, shown_step or step, plate=visit.state.plate,
                                             signal=Signal.GREEN)
            return
        path = stations_between(previous, target)
        if not all(self.free(s, visit) for s in path) and previous is not None:
            await lane.displays.show(previous, "wait", plate=visit.state.plate)
        await lane.waiter.wait(lambda: all(self.free(s, visit) for s in path), visit=visit)
        # Where the vehicle goes is a state change: recorded before the driver is signalled on, so a
        # restart knows which station it stands at (see lane.recovery).
        key = f"{visit.id}-move-{target.value}"
        await lane.effects.intend(visit, key, kind="move",
                                  detail={"from": previous.value if previous else None, "to": target.value,
                                          "step": step})
        if previous is not None:
            await lane.displays.show(previous, step, plate=visit.state.plate, signal=Signal.GREEN)
        lane.effects.settle(key, "done")
        self.move(visit, target)

    # ---------------------------------------------------------------- gate loops
    def edge_counter(self, name: str, gate: BarrierGate) -> Callable[[Any], None]:
        """Count vehicles leaving a gate's arming loop. A car that drove under the boom is known by
        that falling edge: the next car may already be on the loop, so "both loops clear" would wait
        for ever in a busy lane."""
        self.left[name] = 0
        last = {"presence": gate.status.presence_loop}

        def on_status(_event: Any) -> None:
            presence = gate.status.presence_loop
            if last["presence"] and not presence:
                self.left[name] += 1
            last["presence"] = presence

        return on_status

    async def vehicle_through(self, visit: Visit, gate: BarrierGate, name: str, left_before: int) -> None:
        """Wait until the vehicle that was on the arming loop has driven under the boom and cleared it."""
        waiter = self.lane.waiter
        await waiter.wait(lambda: self.left[name] > left_before
                          or (not gate.status.presence_loop and not gate.status.safety_loop), visit=visit)
        await waiter.wait(lambda: not gate.status.safety_loop, visit=visit)
