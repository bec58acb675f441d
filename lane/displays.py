"""What each station's display and signal show the driver, through the one message catalogue.

The last message per station is kept (``shown``) for the console and the web driver displays, and
published as a ``display`` event. A dark display never stops the lane: its error is logged.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING

from lane.errors import DeviceError
from lane.events import LaneEvent
from lane.messages import message
from lane.ports import DisplayMessage, Signal
from lane.rules import format_plate
from lane.workflow import Station

if TYPE_CHECKING:
    from lane.controller import LaneController

log = logging.getLogger(__name__)


class Displays:
    def __init__(self, lane: LaneController) -> None:
        self.lane = lane
        self.shown: dict[str, DisplayMessage] = {}
        """The last message shown per station (the console's and the web driver display's copy)."""

    async def show(self, station: Station, step: str, *, plate: str | None = None, fee: int | None = None,
                   signal: Signal = Signal.RED, queue_length: int | None = None,
                   expected_wait: int | None = None) -> None:
        lane = self.lane
        shown = message(station.value, step, plate=format_plate(plate) if plate else None, fee=fee, signal=signal,
                        queue_length=queue_length, expected_wait=expected_wait)
        self.shown[station.value] = shown
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
