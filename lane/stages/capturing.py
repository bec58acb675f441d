"""Capturing (window 2): the vehicle drives on from window 1 once window 2 is free, and the biometric
station takes the photo, fingerprint and signature."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lane.visit import Visit
from lane.workflow import Station

if TYPE_CHECKING:
    from lane.controller import LaneController


async def capture(lane: LaneController, visit: Visit) -> None:
    human = lane.settings.timing.human_timeouts
    await lane.stations.go_to(visit, Station.WINDOW_2, "to_window_2")
    await lane.displays.show(Station.WINDOW_2, "capture", plate=visit.state.plate)
    await lane.holds.guarded(visit, "biometric", lambda: lane.devices.biometric.capture(
        visit.id, timeout=lane.clock.to_wall(human["biometric"])))
