"""What each station's display and signal show the driver, through the one message catalogue.

The last message per station is kept (``shown``) for the console and the web driver displays, and
published as a ``display`` event. A dark display never stops the lane: its error is logged.

A one-shot message (a refusal, "payment received, take your receipt", "collect your card", a stop
by the officer) stays at least ``timing.display_hold_seconds`` before another message *for the same
car* replaces it: a driver needs a few seconds to read it, and "please wait, the window is busy" a
moment later must not wipe it out. The car moving on ends the hold at once: a green "drive on", or
a message for another car (or none: the car has gone) is shown straight away.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import TYPE_CHECKING

from lane.errors import DeviceError
from lane.events import LaneEvent
from lane.messages import message
from lane.ports import DisplayMessage, Signal
from lane.rules import format_plate
from lane.visit import Visit
from lane.workflow import Station

if TYPE_CHECKING:
    from lane.controller import LaneController

log = logging.getLogger(__name__)

ONE_SHOT = frozenset({"refused", "aborted", "declined", "receipt", "handover"})
"""Messages a driver must have time to read (see the module's docstring)."""


class Displays:
    def __init__(self, lane: LaneController) -> None:
        self.lane = lane
        self.shown: dict[str, DisplayMessage] = {}
        """The last message shown per station (the console's and the web driver display's copy)."""
        self._since: dict[str, float] = {}
        """Station -> lane-clock time its message was shown."""
        self._pending: dict[str, asyncio.Task[None]] = {}
        """Station -> the message waiting for a one-shot's hold to end."""
        self._before_hold: dict[str, DisplayMessage] = {}
        """What a station said before a hold replaced it with "an officer is coming"."""

    async def show(self, station: Station, step: str, *, plate: str | None = None, fee: int | None = None,
                   signal: Signal = Signal.RED, queue_length: int | None = None,
                   expected_wait: int | None = None, holder_name: str | None = None,
                   sim_class: str | None = None) -> None:
        """``holder_name`` and ``sim_class``: only for the applicant's own confirmation at window 1."""
        msg = message(station.value, step, plate=format_plate(plate) if plate else None, fee=fee, signal=signal,
                      queue_length=queue_length, expected_wait=expected_wait, holder_name=holder_name,
                      sim_class=sim_class)
        key = station.value
        self._before_hold.pop(key, None)
        left = self._hold_left(key, msg)
        self.cancel(key)
        if left > 0:
            self._pending[key] = asyncio.create_task(self._later(station, msg, left),
                                                     name=f"{self.lane.name}:display-{key}")
            return
        await self._put(station, msg)

    def _hold_left(self, key: str, msg: DisplayMessage) -> float:
        """Simulated seconds the station's one-shot message still holds against ``msg`` (0: none)."""
        current = self.shown.get(key)
        if (current is None or current.step not in ONE_SHOT or current.step == msg.step
                or msg.signal is not Signal.RED or msg.plate is None or msg.plate != current.plate):
            return 0.0
        hold = self.lane.settings.timing.display_hold_seconds
        return self._since.get(key, 0.0) + hold - self.lane.clock.monotonic()

    async def _later(self, station: Station, msg: DisplayMessage, delay: float) -> None:
        await self.lane.clock.sleep(delay)
        self._pending.pop(station.value, None)
        await self._put(station, msg)

    def cancel(self, key: str | None = None) -> None:
        """Drop the message waiting at ``key`` (every station's: None), e.g. when the lane stops."""
        for k in [key] if key is not None else list(self._pending):
            task = self._pending.pop(k, None)
            if task is not None and task is not asyncio.current_task():
                task.cancel()

    async def hold(self, visit: Visit) -> None:
        """The visit is held: the driver, where they stand, reads that an officer is coming (red)."""
        station = self.lane.stations.where(visit)
        if station is None:
            return
        before = self.shown.get(station.value)
        if before is not None and before.step == "held":
            return  # held again after a retry: what it said before the first hold is kept
        await self.show(station, "held", plate=visit.state.plate)
        if before is not None and before.step != "held":
            self._before_hold[station.value] = before

    async def unhold(self, visit: Visit) -> None:
        """The hold is over: the station says again what it said before, unless it has moved on since."""
        station = self.lane.stations.where(visit)
        if station is None:
            return
        before = self._before_hold.pop(station.value, None)
        now = self.shown.get(station.value)
        if before is not None and now is not None and now.step == "held":
            await self._put(station, before)

    async def _put(self, station: Station, shown: DisplayMessage) -> None:
        lane = self.lane
        self.shown[station.value] = shown
        self._since[station.value] = lane.clock.monotonic()
        lane.bus.publish(LaneEvent(lane.name, "display", dataclasses.asdict(shown)))
        display = lane.devices.displays.get(station.value)
        if display is None:
            return
        try:
            await display.show(shown)
        except DeviceError as exc:  # a dark display must not stop the lane
            log.warning("%s: display %s: %s", lane.name, station, exc)

    async def replate(self, old: str, new: str) -> None:
        """A plate was corrected: every sign showing the old plate shows the new one, with the same step
        and signal (the driver waits for their own plate; a sign with the old one would hold them)."""
        if not old:
            return
        was = format_plate(old)
        for station, shown in list(self.shown.items()):
            if shown.plate == was:
                await self.show(Station(station), shown.step, plate=new, fee=shown.fee, signal=shown.signal)

    async def show_idle_all(self) -> None:
        """Every station nobody stands at says "welcome"."""
        for st in Station:
            if self.lane.stations.occupancy[st] is None:
                await self.show(st, "idle")
