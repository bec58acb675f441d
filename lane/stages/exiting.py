"""Exiting: the vehicle drives to the exit once it is free (a refused or aborted one too, with its
own message), the exit gate opens (optionally after the exit camera matches the plate), the
vehicle drives under it, and the boom closes behind it. The visit ends here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lane.alerts import AlertFacts
from lane.i18n import N_
from lane.notes import Note
from lane.ports import Signal
from lane.recovery import gate_recovered
from lane.visit import Visit
from lane.workflow import DECLINED, Outcome, Stage, Station

if TYPE_CHECKING:
    from lane.controller import LaneController


async def leave(lane: LaneController, visit: Visit) -> None:
    gate = lane.devices.exit_gate
    stations = lane.stations
    step = {Outcome.REFUSED: "refused", Outcome.ABORTED: "aborted"}.get(visit.state.outcome, "to_exit")
    if visit.state.outcome is Outcome.ABORTED and visit.state.reason == DECLINED:
        step = "declined"  # the applicant's own no: not "stopped by the officer"
    previous = stations.where(visit)
    await stations.go_to(visit, Station.EXIT, step)
    if not await gate_recovered(lane, visit, gate, "exit-gate"):
        await lane.displays.show(Station.EXIT, "to_exit", plate=visit.state.plate)
        await stations.arrival(visit, gate, "exit-gate")
        if lane.settings.timing.exit_plate_match and lane.devices.exit_camera is not None:
            await match_exit_plate(lane, visit)
        mark = stations.mark(gate, "exit-gate", visit)
        await lane.effects.open_gate(visit, gate, "exit-gate", detail={"passages": mark.passages})
        await lane.displays.show(Station.EXIT, "exit_open", plate=visit.state.plate, signal=Signal.GREEN)
        await stations.vehicle_through(visit, gate, "exit-gate", mark)
    await lane.effects.close_gate(visit, gate, "exit-gate", after_exit=True)  # boom first, as at the entry
    lane.records.advance(visit, Stage.DONE, note=Note.of(N_("vehicle left by the exit")))
    stations.release(visit)
    await lane.displays.show(Station.EXIT, "idle")
    if previous is not None and previous is not Station.EXIT and stations.occupancy[previous] is None:
        await lane.displays.show(previous, "idle")
    lane.finish(visit)


async def match_exit_plate(lane: LaneController, visit: Visit) -> None:
    """The exit camera must read the visit's plate before the gate opens; otherwise hold for the officer."""
    cam = lane.devices.exit_camera
    assert cam is not None
    read = await lane.holds.guarded(visit, "exit-camera", lambda: cam.read_plate(timeout=lane.holds.camera_timeout()))
    if read is None or (read.plate and read.plate == visit.state.plate):
        return  # matched, or the officer took the check over (looked at the plate, or opened the exit)
    visit.state.hold("exit-camera: plate mismatch")
    lane.records.persist(visit, note=Note.of(N_("exit plate %(read)s != %(plate)s"),
                                                     read=read.plate if read else None, plate=visit.state.plate))
    lane.records.alert("exit_plate_mismatch", f"exit camera read {read.plate if read else 'nothing'}, "
                       f"expected {visit.state.plate}", visit=visit,
                       facts=AlertFacts(read=(read.plate or None) if read else None))
    await lane.holds.await_resolution(visit, "exit-camera", auto_retry=False, attempt=1)
    visit.state.resume()
    lane.records.clear_alert("exit_plate_mismatch", visit)
