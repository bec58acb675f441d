"""Capturing (window 2): the vehicle drives on from window 1 once window 2 is free, and the biometric
station takes the photo, fingerprint and signature. Their references (not the images) are kept with
the visit: the card job carries them to the printer, which prints the photo and signature on the
card and encodes the fingerprint (a reprint, or a restart, needs them again)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lane.errors import WorkflowError
from lane.i18n import N_
from lane.notes import Note
from lane.visit import Visit
from lane.workflow import Station

if TYPE_CHECKING:
    from lane.controller import LaneController


async def capture(lane: LaneController, visit: Visit) -> None:
    human = lane.settings.timing.human_timeouts
    await lane.stations.go_to(visit, Station.WINDOW_2, "to_window_2")
    await lane.displays.show(Station.WINDOW_2, "capture", plate=visit.state.plate)
    result = await lane.holds.guarded(visit, "biometric", lambda: lane.devices.biometric.capture(
        visit.id, timeout=lane.clock.to_wall(human["biometric"])))
    if result is None:  # never by hand (lane.commands.can_take_over): no card without its photo
        raise WorkflowError("the capture was not taken by the biometric station")
    r = visit.row
    r.photo_ref, r.signature_ref, r.fingerprint_ref = result.photo_ref, result.signature_ref, result.fingerprint_ref
    lane.records.persist(visit, note=Note.of(N_("photo, fingerprint and signature captured")))
