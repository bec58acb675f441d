"""What officers and technicians do past the workflow's own steps: open or close a gate by hand, test
a device, and end the visit of a vehicle that is gone. Each is audited by the desk before it acts.

A gate opened by hand releases the vehicle waiting there: its sign turns green with its plate (the
driver waits for that), and a visit held on that gate (or on the exit camera's plate check) takes
the opening as the held step done by hand, so the lane goes on instead of waiting for a retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from lane.commands import Accepted, Actor, CommandResult, DeviceTest, GateOverride, TakeOver
from lane.errors import WorkflowError
from lane.i18n import N_
from lane.notes import Note
from lane.ports import BarrierGate, Signal
from lane.recovery import secure_gates
from lane.visit import Visit
from lane.workflow import Station

if TYPE_CHECKING:
    from lane.controller import LaneController

log = logging.getLogger(__name__)

GATES = ("entry-gate", "exit-gate")


async def gate_override(lane: LaneController, cmd: GateOverride, actor: Actor) -> CommandResult:
    gate: BarrierGate = lane.devices.entry_gate if cmd.gate == "entry-gate" else lane.devices.exit_gate
    opening = cmd.action == "open_gate"
    lane.desk.audit(cmd, actor, None, {"position": gate.status.position.value},
                    {"position": "open" if opening else "closed"})
    if not opening:
        await gate.close()  # raises GateSafetyError while a vehicle is under the boom
        return CommandResult(f"{cmd.gate} closed")
    await gate.open()
    released = await _release(lane, cmd, actor)
    if released is None:
        return CommandResult(f"{cmd.gate} open; no vehicle was waiting to go through", data={"released": None})
    return CommandResult(f"{cmd.gate} open; {released.state.plate} signalled through",
                         data={"released": released.id})


async def _release(lane: LaneController, cmd: GateOverride, actor: Actor) -> Visit | None:
    """The vehicle at the opened gate may go: green sign with its plate; a hold on that gate is resolved."""
    station = Station.ENTRY if cmd.gate == "entry-gate" else Station.EXIT
    visit = lane.visits.get(lane.stations.occupancy[station] or "")
    if visit is None or not visit.state.plate:
        return None
    if station is Station.ENTRY and not lane.stations.free(Station.WINDOW_1, visit):
        return None  # window 1 is busy: the car may not enter yet, open boom or not
    step = "enter" if station is Station.ENTRY else "exit_open"
    await lane.displays.show(station, step, plate=visit.state.plate, signal=Signal.GREEN)
    held = visit.held_device
    if held in (cmd.gate, "exit-camera" if station is Station.EXIT else cmd.gate):
        lane.desk.queue(visit, Accepted(TakeOver(reason=f"{cmd.gate} opened by hand: {cmd.reason}"), actor,
                                        device=held))
    return visit


async def device_test(lane: LaneController, cmd: DeviceTest, actor: Actor) -> CommandResult:
    device = lane.devices.named(cmd.device)
    if device is None:
        raise WorkflowError(f"no device {cmd.device!r} in {lane.name}")
    if cmd.command in ("open", "close") and cmd.device not in GATES:
        raise WorkflowError(f"{cmd.device} has no {cmd.command} command (gates only)")
    lane.desk.audit(cmd, actor, None, {"online": bool(getattr(device, "online", False))}, {"sent": cmd.command})
    if cmd.command == "open":
        await device.open()
    elif cmd.command == "close":
        await device.close()  # a gate refuses to close on a vehicle
    return CommandResult(f"{cmd.device}: {cmd.command} sent")


async def vehicle_gone(lane: LaneController, visit: Visit, reason: str) -> None:
    """End the visit of a vehicle that is no longer in the lane, wherever it was, and free its stations.

    Its runner stops first (for a vehicle not yet admitted, the lane's entry task, which starts again
    for the next car); a gate left open for it closes once nobody is under it (``secure_gates``)."""
    freed = [st for st in Station if lane.stations.occupancy[st] == visit.id]
    at_entry = visit.task is None
    if at_entry:
        await lane.stop_entry()
    elif visit.task is not asyncio.current_task():
        visit.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await visit.task
    try:
        before = visit.state.stage
        visit.state.vehicle_gone(lane.clock.monotonic(), reason)
        lane.records.persist(visit, note=Note.of(N_("vehicle left: %(reason)s"), reason=reason), transition_from=before)
        lane.stations.release(visit)
        for st in freed:
            if lane.stations.occupancy[st] is None:
                await lane.displays.show(st, "idle")
        lane.finish(visit)
    finally:
        if at_entry:
            lane.start_entry()
    lane.spawn(secure_gates(lane), "secure-gates")
    log.info("%s: visit %s ended: vehicle left (%s)", lane.name, visit.id, reason)
