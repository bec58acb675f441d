"""Arriving (entry): window 1 is free, so the entry gate opens for the vehicle at the head of the
queue, the sign calls it in by its plate, it drives under the boom, and the boom closes behind it.

Runs in the lane's entry task (``lane.stages.runner.entry_loop``), one vehicle at a time, right after
its queued stage (:mod:`lane.stages.queued`, which reads the plate with :func:`read_plate`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lane.alerts import AlertFacts
from lane.commands import ConfirmPlate
from lane.i18n import N_
from lane.notes import Note
from lane.ports import PlateRead, Signal
from lane.recovery import gate_recovered
from lane.visit import Visit
from lane.workflow import Stage, Station

if TYPE_CHECKING:
    from lane.controller import LaneController


async def arrive(lane: LaneController, visit: Visit) -> None:
    gate = lane.devices.entry_gate
    plate = visit.state.plate
    stations = lane.stations
    if not await gate_recovered(lane, visit, gate, "entry-gate"):
        mark = stations.mark(gate, "entry-gate", visit)
        await lane.effects.open_gate(visit, gate, "entry-gate", detail={"passages": mark.passages})
        await lane.displays.show(Station.ENTRY, "enter", plate=plate, signal=Signal.GREEN)
        await stations.vehicle_through(visit, gate, "entry-gate", mark)
    # The boom first, the bookkeeping after: a restart in between finds the gate closed and both
    # loops clear, which gate_recovered reads as "this vehicle went through".
    await lane.effects.close_gate(visit, gate, "entry-gate")
    stations.move(visit, Station.WINDOW_1)
    lane.records.advance(visit, Stage.VERIFYING, note=Note.of(N_("vehicle passed the entry gate")))
    await lane.displays.show(Station.ENTRY, "idle")


async def read_plate(lane: LaneController, visit: Visit) -> None:
    """Bind the entry camera's plate when it is sure; otherwise hold for the officer to confirm or type it."""
    timing = lane.settings.timing
    await lane.displays.show(Station.ENTRY, "plate_check")
    read = await lane.holds.guarded(visit, "entry-camera",
                                    lambda: lane.devices.entry_camera.read_plate(timeout=lane.holds.camera_timeout()))
    if read is not None and getattr(read, "crop_jpeg", None):
        lane.plate_crops[visit.id] = read.crop_jpeg
    guess = read.plate if read else None
    sure = read is not None and read.plate and read.confidence >= timing.plate_min_confidence
    if sure and not visit.has_pending(ConfirmPlate):  # an officer's plate given meanwhile wins
        assert read is not None
        visit.state.plate, visit.state.plate_confidence = read.plate, read.confidence
        lane.records.persist(visit, note=Note.of(N_("plate read %(plate)s (%(confidence)s)"), plate=read.plate,
                                                       confidence=f"{read.confidence:.2f}"))
        return
    visit.state.plate_confidence = read.confidence if read else 0.0
    if not visit.has_pending(ConfirmPlate):
        visit.state.hold("plate_unconfirmed")
        lane.records.persist(visit, note=Note.of(N_("plate needs an officer")))
        lane.records.alert("plate_unconfirmed", f"plate read {guess or 'nothing'} with low confidence; confirm or "
                           "type it", visit=visit, facts=AlertFacts(read=guess or None))
        await lane.waiter.wait(lambda: visit.has_pending(ConfirmPlate), visit=visit)
    accepted = lane.desk.take(visit, ConfirmPlate)
    assert accepted is not None and isinstance(accepted.command, ConfirmPlate)
    visit.state.plate = accepted.command.plate
    visit.state.plate_confidence = 1.0
    visit.state.resume()
    lane.records.persist(visit, note=Note.of(N_("plate confirmed by officer")))
    lane.records.clear_alert("plate_unconfirmed", visit)
    keep_plate_sample(lane, visit, read, "confirmed" if guess == visit.state.plate else "typed")


def keep_plate_sample(lane: LaneController, visit: Visit, read: PlateRead | None, kind: str) -> None:
    """The entry camera's crop labelled by the officer, for the reader's data (``plate_samples_dir``)."""
    crop = lane.plate_crops.get(visit.id)
    if lane.plate_samples is None or not crop or not visit.state.plate:
        return
    lane.plate_samples.record(visit.id, crop, visit.state.plate, read=read.plate if read else None,
                              confidence=read.confidence if read else 0.0, kind=kind, at=lane.clock.now())
