"""Station occupancy: the lane as a pipeline of stations (entry, windows 1-3, exit), one vehicle at each.

A vehicle moves on only when every station it passes is free (no overtaking), and the driver is
signalled green only then. A vehicle's station is where it physically stands, which is not always
the station of its stage (a stage names where it is *going*).

The gates' loops are watched here too. A vehicle that drove under a boom is known by the gate's own
passage count when the gate keeps one (latched in the gate: nothing is lost between two polls), and
otherwise by what the lane saw of its loops: the safety loop cleared, or the arming loop cleared
(the next car may already stand on it, so "both loops clear" alone would wait for ever). What never
comes raises a watchdog (:class:`lane.errors.WatchdogExpired`) that holds the visit with an alert.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lane.errors import WatchdogExpired
from lane.ports import PASSAGE_MODULUS, BarrierGate, GateStatus, Signal
from lane.rules import format_plate
from lane.visit import Visit
from lane.workflow import Station, stations_between

if TYPE_CHECKING:
    from lane.controller import LaneController


RECHECK_SECONDS = 5.0
"""Simulated seconds a held watch looks again for (an officer's retry, the lane's own back-off)."""


@dataclass(frozen=True)
class PassageMark:
    """What a gate's loops had counted when its boom was commanded up for one vehicle."""

    left: int
    """Arming-loop clearings the lane had seen."""
    cleared: int
    """Safety-loop clearings the lane had seen."""
    passages: int | None
    """The gate's own count (None: the gate keeps none)."""


class Stations:
    def __init__(self, lane: LaneController) -> None:
        self.lane = lane
        self.occupancy: dict[Station, str | None] = {s: None for s in Station}
        """Which visit stands at each station (None: free)."""
        self.left: dict[str, int] = {}
        """Vehicles that left each gate's arming loop since start, as the lane saw them (``edge_counter``)."""
        self.cleared: dict[str, int] = {}
        """Vehicles that left each gate's safety loop since start, as the lane saw them."""

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
            self.lane.records.emit(visit)  # the console draws the car where it now stands

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
        """Count vehicles leaving a gate's arming loop and its safety loop, as the statuses show them
        (a change shorter than a poll is not seen: the gate's own count does not have that gap)."""
        self.left[name] = self.cleared[name] = 0
        last = {"presence": gate.status.presence_loop, "safety": gate.status.safety_loop}

        def on_status(_event: Any) -> None:
            st = gate.status
            if last["presence"] and not st.presence_loop:
                self.left[name] += 1
            if last["safety"] and not st.safety_loop:
                self.cleared[name] += 1
            last["presence"], last["safety"] = st.presence_loop, st.safety_loop

        return on_status

    def mark(self, gate: BarrierGate, name: str, visit: Visit | None = None) -> PassageMark:
        """Taken before the boom is commanded up: what counts as "this vehicle went through" is
        measured from here. After a restart, the gate's count stored with the first opening's intent
        (``opened_at_count``) is the baseline: a vehicle that went through meanwhile is not waited for."""
        stored = opened_at_count(self.lane, visit, name) if visit is not None and visit.recovered else None
        return PassageMark(self.left[name], self.cleared[name], stored if stored is not None else gate.status.passages)

    def went_through(self, gate: BarrierGate, name: str, mark: PassageMark) -> bool:
        st = gate.status
        if st.passages is not None and mark.passages is not None:
            return (st.passages - mark.passages) % PASSAGE_MODULUS > 0
        return (self.cleared[name] > mark.cleared or self.left[name] > mark.left
                or (not st.presence_loop and not st.safety_loop))

    async def vehicle_through(self, visit: Visit, gate: BarrierGate, name: str, mark: PassageMark) -> None:
        """Wait until the vehicle the boom opened for has driven under it and cleared the safety loop.
        Watched: not seen within ``timing.watchdogs["passage"]``, the visit is held on the gate with an
        alert, and the lane keeps looking; the officer may say it went through (take over), that it
        left (vehicle left), or look again (retry)."""
        limit = self.lane.settings.timing.watchdogs["passage"]

        def done() -> bool:
            return self.went_through(gate, name, mark) and not gate.status.safety_loop

        def missing(st: GateStatus) -> tuple[str, str]:
            if self.went_through(gate, name, mark):
                return "stood_under_boom", (f"a vehicle has stood on the safety loop for over {limit:.0f} s "
                                            "(stopped under the boom?)")
            return "not_passed", (f"no vehicle seen passing {limit:.0f} s after the boom opened for "
                                  f"{format_plate(visit.state.plate or '')} ({_loops(st)}); went through: take over; "
                                  "gone: vehicle left")

        await self.watch(visit, name, gate, done, limit, missing)

    async def arrival(self, visit: Visit, gate: BarrierGate, name: str) -> None:
        """Wait for the vehicle sent to ``name`` to stand on its arming loop (``watchdogs["exit_arrival"]``)."""
        limit = self.lane.settings.timing.watchdogs["exit_arrival"]

        def missing(st: GateStatus) -> tuple[str, str]:
            return "not_arrived", (f"{format_plate(visit.state.plate or '')} was sent to the exit {limit:.0f} s ago and its arming loop "
                    f"has seen nobody ({_loops(st)}); there: take over (opens the gate); gone: vehicle left")

        await self.watch(visit, name, gate, lambda: gate.status.presence_loop, limit, missing)

    async def watch(self, visit: Visit, name: str, gate: BarrierGate, done: Callable[[], bool], limit: float,
                    missing: Callable[[GateStatus], tuple[str, str]]) -> None:
        """Wait for ``done()``, held on ``name`` with a watchdog alert after ``limit`` simulated seconds
        (see :meth:`lane.holds.Holds.guarded`). Held, the visit goes on as soon as ``done()`` holds; an
        officer's retry looks again for ``RECHECK_SECONDS`` and says whether it saw it."""
        lane = self.lane
        looks = 0

        async def look() -> None:
            nonlocal looks
            looks += 1
            try:
                await lane.waiter.wait(done, timeout=limit if looks == 1 else RECHECK_SECONDS, visit=visit)
            except TimeoutError:
                code, text = missing(gate.status)
                raise WatchdogExpired(name, text, code=code, seconds=limit) from None

        await lane.holds.guarded(visit, name, look, settled=done)


def opened_at_count(lane: LaneController, visit: Visit, name: str) -> int | None:
    """The gate's passage count when ``name`` was first commanded open for ``visit`` (None: not recorded)."""
    effect = lane.store.side_effect(f"{visit.id}-{name}-open")
    count = effect.detail.get("passages") if effect is not None else None
    return count if isinstance(count, int) else None


def _loops(st: GateStatus) -> str:
    counted = f", the gate counted {st.passages} passages" if st.passages is not None else ""
    return (f"arming loop {'occupied' if st.presence_loop else 'clear'}, safety loop "
            f"{'occupied' if st.safety_loop else 'clear'}{counted}")
