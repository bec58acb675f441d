"""Recovery after a restart: open visits are reloaded from the database and resume from their stage.

A stage names where a vehicle is *going*, so the physical position is taken from the ``move``
records ``Stations.go_to`` writes before it signals a driver on (falling back to window 1 after
admission, the entry before it). If the crash came between that record and the green signal, the
signal is shown again when the visit resumes (``Visit.reshow``), unless another vehicle now stands
at that station. Side effects are re-commanded with the same idempotency keys (the payment terminal
and card printer recognise a repeated reference / renewal id); gates are re-read rather than
assumed (``gate_recovered``), and a gate left open by the dead process with nobody to let through is
closed once its safety loop is clear (``secure_gates``). Officer actions accepted but not yet taken
are handed back to their visits (``Store.waiting_actions``).
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING

from lane.commands import Actor
from lane.errors import DeviceError
from lane.ports import PASSAGE_MODULUS, BarrierGate, GatePosition
from lane.stations import opened_at_count
from lane.visit import Visit
from lane.workflow import NOT_ADMITTED, STAGE_ORDER, Outcome, Stage, StageTiming, Station, VisitState

if TYPE_CHECKING:
    from lane.controller import LaneController

log = logging.getLogger(__name__)


def recover(lane: LaneController) -> None:
    """Reload this lane's open visits and start a runner for each one past the entry."""
    occupancy = lane.stations.occupancy
    for row in lane.store.open_visits(lane.name):
        now = lane.clock.monotonic()
        stage = Stage(row.stage)
        state = VisitState(id=row.id, lane=row.lane, seq=row.seq, started=now - sum(row.stage_seconds.values()),
                           started_at=row.started_at, stage=stage,
                           outcome=Outcome(row.outcome) if row.outcome else None,
                           reason=row.reason, held=None, plate=row.plate,
                           plate_confidence=row.plate_confidence,
                           timings=timings_until(row.stage_seconds, stage, now))
        visit = Visit(state, row, recovered=True)
        lane.visits[visit.id] = visit
        moves = [e for e in lane.store.side_effects(visit.id) if e.kind == "move"]
        if stage in NOT_ADMITTED:
            station: Station | None = Station.ENTRY
        elif moves:
            last = moves[-1]
            station = Station(last.detail["to"])
            if last.detail.get("from") and last.status == "intended":
                visit.reshow = (Station(last.detail["from"]), str(last.detail.get("step", "")))
        else:
            station = Station.WINDOW_1
        if station is not None and occupancy[station] is None:
            occupancy[station] = visit.id
        log.info("%s: resuming visit %s at %s (vehicle at %s)", lane.name, visit.id, stage,
                 station.value if station else None)
        if stage in NOT_ADMITTED:
            # The entry task owns vehicles not yet let in; it picks these up first, in their order.
            continue
        lane.start_runner(visit)
    for action in lane.store.waiting_actions(lane.name):
        waiting = lane.visits.get(action.visit_id)
        if waiting is None:  # its visit ended before the restart
            lane.store.action_taken(action.id)
            continue
        log.info("%s: %s's %s on %s, accepted before the restart, still applies", lane.name, action.actor,
                 action.action, waiting.id)
        assert action.id is not None
        lane.desk.restore(waiting, action.id, action.action, action.params, Actor(action.actor, action.role))
    for visit in lane.visits.values():
        if visit.reshow and occupancy[visit.reshow[0]] not in (None, visit.id):
            visit.reshow = None  # someone else is there now: the old signal would mislead them


def timings_until(stage_seconds: dict[str, float], stage: Stage, now: float) -> list[StageTiming]:
    """The stage times a visit had when the last run stopped, laid end to end up to ``now``: the
    stages it left keep their durations (so the reports and the door-to-door time stay whole) and
    the current one goes on from what it had."""
    timings: list[StageTiming] = []
    t = now - sum(float(v) for v in stage_seconds.values())
    for s in STAGE_ORDER:
        seconds = float(stage_seconds.get(s.value, 0.0))
        if s is stage:
            timings.append(StageTiming(s, t))
            break
        if s.value in stage_seconds:
            timings.append(StageTiming(s, t, t + seconds))
            t += seconds
    return timings


async def gate_recovered(lane: LaneController, visit: Visit, gate: BarrierGate, name: str) -> bool:
    """After a restart, for a visit whose gate opening was already commanded: has its vehicle
    gone through? Re-read the gate (and, at the entry, the camera): the gate's passage count moved
    since the opening was commanded (stored with its intent) says so for sure; a vehicle on the safety loop
    is passing (wait for it to clear: True); both loops clear means it has gone (True); a
    vehicle on the arming loop is this one unless the entry camera reads another plate (the next
    car may already wait there)."""
    if not (visit.recovered and lane.effects.gate_intended(visit, name)):
        return False
    with contextlib.suppress(TimeoutError):
        await lane.waiter.wait(lambda: gate.online, timeout=30, visit=visit)
    st = gate.status
    opened_at = opened_at_count(lane, visit, name)
    if opened_at is not None and st.passages is not None and (st.passages - opened_at) % PASSAGE_MODULUS:
        log.info("%s: %s went through before the restart (the gate counted it)", lane.name, visit.id)
        await lane.waiter.wait(lambda: not gate.status.safety_loop, visit=visit)
        return True
    if st.safety_loop:
        await lane.waiter.wait(lambda: not gate.status.safety_loop, visit=visit)
        return True
    if not st.presence_loop:
        return True
    if name == "entry-gate":
        read = None
        with contextlib.suppress(DeviceError, TimeoutError):
            read = await lane.devices.entry_camera.read_plate(timeout=lane.holds.camera_timeout())
        if read is not None and read.plate and visit.state.plate and read.plate != visit.state.plate:
            log.info("%s: %s went through before the restart (now %s at the entry)", lane.name, visit.id,
                     read.plate)
            return True
    return False


async def secure_gates(lane: LaneController) -> None:
    """After a start, close a gate the previous process left open with no vehicle to let
    through (never on a vehicle: ``SideEffects.close_gate`` waits for the safety loop)."""
    pairs = (("entry-gate", lane.devices.entry_gate, Stage.ARRIVING),
             ("exit-gate", lane.devices.exit_gate, Stage.EXITING))
    for name, gate, stage in pairs:
        with contextlib.suppress(TimeoutError):
            await lane.waiter.wait(lambda g=gate: g.online, timeout=30)
        owner = any(v.state.stage is stage and lane.effects.gate_intended(v, name) for v in lane.visits.values())
        if owner or gate.status.position not in (GatePosition.OPEN, GatePosition.OPENING):
            continue
        log.info("%s: %s left open by the previous run; closing it", lane.name, name)
        await lane.effects.close_gate(None, gate, name)
