"""The engine that walks vehicles through the stage table.

The lane's entry task admits one vehicle at a time (a vehicle on the entry loop becomes a visit,
waits in the queued stage until window 1 is free, then runs the arriving stage); from window 1 on, one task per visit runs the handler of its stage
(:data:`lane.stages.HANDLERS`) and moves it to the table's next stage, until it has left. An
officer's abort ends the stage where it is: the vehicle still leaves by the exit (or, not yet
admitted, backs out of the entry).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC
from typing import TYPE_CHECKING

from lane.alerts import AlertFacts
from lane.commands import Abort
from lane.errors import PersistenceError, RecordRefused, WorkflowError
from lane.i18n import N_
from lane.notes import Note
from lane.persistence.models import VisitRow
from lane.persistence.store import utcnow
from lane.stages import HANDLERS
from lane.stages.verifying import verify_by_hand
from lane.status import new_token
from lane.visit import Visit, VisitAborted
from lane.workflow import BEFORE_ENTRY, NOT_ADMITTED, Stage, Station, VisitState

if TYPE_CHECKING:
    from lane.controller import LaneController

log = logging.getLogger(__name__)


async def entry_loop(lane: LaneController) -> None:
    """Admit vehicles for as long as the lane runs: a vehicle not yet admitted first (one reloaded
    after a restart), otherwise the next one on the entry loop."""
    gate = lane.devices.entry_gate
    stations = lane.stations
    while lane.running:
        try:
            pending = next((v for v in sorted(lane.visits.values(), key=lambda v: v.state.seq)
                            if v.state.stage in NOT_ADMITTED), None)
            if pending is None:
                await lane.waiter.wait(lambda: gate.status.presence_loop and stations.free(Station.ENTRY))
                pending = await new_visit(lane)
            while pending.state.stage in NOT_ADMITTED:
                stage = pending.state.stage
                await HANDLERS[stage](lane, pending)
                if pending.state.stage is stage:
                    lane.records.advance(pending, note=Note.of(N_("window 1 free: the entry opens")))
                if stage in BEFORE_ENTRY:
                    lane.queue.admitted(pending)
            lane.start_runner(pending)
        except asyncio.CancelledError:
            raise
        except VisitAborted as exc:
            visit = lane.visits.get(str(exc))
            if visit:
                await handle_abort(lane, visit)
        except RecordRefused as exc:  # held for the officer, who may retry, take over or abort
            visit = next((v for v in lane.visits.values() if v.state.stage is Stage.ARRIVING), None)
            if visit is not None:
                try:
                    await lane.holds.stuck(visit, exc)
                except VisitAborted:
                    await handle_abort(lane, visit)
        except PersistenceError as exc:  # database away: the next vehicle waits at the entry
            log.warning("%s: entry waits for the database: %s", lane.name, exc)
            await asyncio.sleep(1.0)
        except Exception:  # noqa: BLE001 - the entry must keep working; the failure is logged
            log.exception("%s: entry loop error", lane.name)
            await lane.clock.sleep(1.0)


async def new_visit(lane: LaneController) -> Visit:
    """The vehicle on the entry loop becomes a visit, numbered per lane and day, persisted at once."""
    seq = await lane.store.run(lane.store.next_seq, lane.name)
    now_dt = lane.clock.now()
    visit_id = f"{lane.name}-{now_dt:%Y%m%d}-{seq:04d}"
    state = VisitState(id=visit_id, lane=lane.name, seq=seq, started=lane.clock.monotonic(), started_at=now_dt)
    row = VisitRow(id=visit_id, lane=lane.name, seq=seq, stage=state.stage.value,
                   started_at=now_dt.astimezone(UTC),
                   sim_started=state.started, updated_at=utcnow(), stage_seconds={}, status_token=new_token())
    visit = Visit(state, row)
    lane.visits[visit_id] = visit
    lane.stations.occupancy[Station.ENTRY] = visit_id
    lane.records.persist(visit, note=Note.of(N_("vehicle on entry loop: queued")), transition_from=None)
    lane.queue.joined(visit)
    return visit


async def run_visit(lane: LaneController, visit: Visit) -> None:
    """Run the stage handlers of an admitted visit until it has left the lane. A stage that fails on
    anything but a device (the database refusing the visit's record, a bug) holds the visit for the
    officer (``Holds.stuck``) instead of ending this task: retry, take-over and abort keep working."""
    taken_over = False
    try:
        while not visit.state.finished:
            try:
                await _run_stage(lane, visit, taken_over)
                taken_over = False
            except VisitAborted:
                taken_over = False
                await handle_abort(lane, visit)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - held and alerted in stuck(), never lost
                try:
                    taken_over = await lane.holds.stuck(visit, exc) == "take_over"
                except VisitAborted:
                    taken_over = False
                    await handle_abort(lane, visit)
    except asyncio.CancelledError:
        raise
    except Exception:  # noqa: BLE001 - keep the lane alive; the visit stays open in the database
        log.exception("%s: visit %s failed unexpectedly", lane.name, visit.id)
        lane.records.alert("internal_error", f"visit {visit.id} stopped on an internal error", level="critical",
                           visit=visit, facts=AlertFacts(step="stopped"))


async def _run_stage(lane: LaneController, visit: Visit, taken_over: bool) -> None:
    """The handler of the visit's stage, then the next stage of the table; an officer's take-over of a
    verification stuck on the lane decides it by hand (the decision form); no stage is skipped."""
    stage = visit.state.stage
    if taken_over and stage is Stage.VERIFYING:
        await verify_by_hand(lane, visit)  # the rules are never skipped: the decision form instead
    else:  # no other stage is skipped: a take-over kept from before is a retry (can_take_over)
        await HANDLERS[stage](lane, visit)
    # a record the database refused holds the visit in the stage that wrote it (as a refusal made at
    # once did), where the officer's choices are that stage's
    await lane.records.written(visit)
    if visit.state.stage is stage and not visit.state.finished:
        lane.records.advance(visit, note=Note.of(N_("decided by hand")) if taken_over else None)
        await lane.records.written(visit)


async def handle_abort(lane: LaneController, visit: Visit) -> None:
    """The officer's abort, taken where the stage stopped: the vehicle leaves by the exit, or backs
    out of the entry if it was never admitted (nothing was done for it)."""
    accepted = lane.desk.take(visit, Abort)
    reason = (accepted.command.reason if accepted else None) or "aborted"
    before = visit.state.stage
    try:
        visit.state.abort(lane.clock.monotonic(), reason)
    except WorkflowError as exc:  # e.g. refused meanwhile: it is leaving anyway
        log.info("%s: abort of %s set aside: %s", lane.name, visit.id, exc)
        return
    if visit.state.finished:
        lane.records.persist(visit, note=Note.of(N_("aborted before admission")), transition_from=before)
        lane.stations.release(visit)
        lane.finish(visit)
        return
    lane.records.persist(visit, note=Note.of(N_("aborted: %(reason)s"), reason=reason), transition_from=before)
    log.info("%s: visit %s aborted at %s", lane.name, visit.id, before)
