"""What a lane writes down as its visits move: the visit row and its stage transitions, alerts, and
the live events the console follows.

The rule this module keeps: a state change is in the database before anything it leads to is
commanded, so callers persist (``persist``/``advance``) and only then command the side effect. With
the store's writer running (a controller), ``persist`` hands the row to the writer and returns at
once, so the lane's next step and every other lane go on while the database works; before a device
is commanded the lane awaits ``written`` (``Holds.guarded``, ``SideEffects.intend``): its writes
are in the database by then, or the visit's record was refused and the step is held.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from lane.alerts import AlertFacts
from lane.errors import RecordRefused
from lane.events import LaneEvent
from lane.persistence.models import AlertRow
from lane.persistence.store import utcnow
from lane.views import visit_view
from lane.visit import Visit
from lane.workflow import Stage

if TYPE_CHECKING:
    from lane.controller import LaneController

log = logging.getLogger(__name__)


AlertKey = tuple[str | None, str, str | None]
"""(visit id or None for the lane, kind, cause): what makes two alerts the same one."""


class Records:
    def __init__(self, lane: LaneController) -> None:
        self.lane = lane
        self.open: dict[AlertKey, AlertRow | None] = {}
        """Alerts raised and not cleared yet, by what they are about, with their row (its ``id`` is set
        once the store has written it)."""

    def persist(self, visit: Visit, note: str | None = None, transition_from: Stage | None = None, *,
                refusal_holds: bool = True) -> None:
        """Copy the visit's state into its row and save it (with a transition record when the stage
        changed or a note says why), then tell the console. ``refusal_holds=False``: a refusal of this
        row is only logged (the visit is already held for one: ``Holds.stuck``)."""
        lane = self.lane
        s, r = visit.state, visit.row
        now = lane.clock.monotonic()
        r.stage = s.stage.value
        r.outcome = s.outcome.value if s.outcome else None
        r.reason = s.reason
        r.held = s.held
        r.plate = s.plate
        r.plate_confidence = s.plate_confidence
        r.stage_seconds = {k: round(v, 3) for k, v in s.stage_seconds(now).items()}
        if s.finished:
            r.ended_at = lane.clock.now()
            r.sim_ended = s.ended
        try:
            saved = lane.store.save_visit(r)  # our row stays the one source of truth; the store writes a copy
        except RecordRefused as exc:
            if s.outcome is None:
                raise  # the caller holds the visit (``Holds.stuck``): nothing goes on unrecorded
            self._save_ended_without_card(visit, exc)
        else:
            if isinstance(saved, Future):
                self._track(visit, saved, ended=s.outcome is not None, holds=refusal_holds)
        if transition_from is not None or note:
            lane.store.record_transition(visit.id, transition_from.value if transition_from else None,
                                         s.stage.value, now, note)
        self.emit(visit)

    def _track(self, visit: Visit, saved: Future[bool], *, ended: bool, holds: bool) -> None:
        """The writer has the visit's row: ``written`` awaits it. When the database refuses the row
        last asked for (an earlier one is rewritten by it anyway), the visit's next wait or step
        raises the refusal (``Visit.refused``): its stage holds, as a refusal made at once did. An
        ended visit whose record is refused still leaves the lane (written without the card's data)."""
        fut = asyncio.wrap_future(saved)
        visit.last_save = fut

        def done(f: asyncio.Future[bool]) -> None:
            exc = None if f.cancelled() else f.exception()
            latest = visit.last_save is f
            if latest:
                visit.last_save = None
            if not isinstance(exc, RecordRefused):
                return
            if ended:
                self.lane.spawn(self._ended_refused(visit, exc), f"{visit.id}:record-refused")
            elif latest and holds:
                visit.refused = exc
                self.lane.waiter.notify()

        fut.add_done_callback(done)

    async def written(self, visit: Visit) -> None:
        """Persist before acting: wait until what the lane asked the store to write so far (this
        visit's row among it) is in the database, or kept in the journal while the database is away
        (then the side effect's intent holds the step: ``SideEffects.intend``). Raises RecordRefused
        when the database refused the visit's row: the caller holds the visit, as a refusal made at
        once always did. Other lanes run meanwhile."""
        await self.lane.store.flushed()
        saved = visit.last_save
        if saved is not None:
            with contextlib.suppress(Exception):  # its answer reaches the visit through ``_track``
                await saved
        if visit.refused is not None:
            exc, visit.refused = visit.refused, None
            raise exc

    async def _ended_refused(self, visit: Visit, exc: RecordRefused) -> None:
        """The writer's version of :meth:`_save_ended_without_card`."""
        lane, r = self.lane, visit.row
        r.nik = r.holder_name = r.sim_number = None
        outcome = "kept without the card's data"
        try:
            await lane.store.run(lane.store.save_visit, r)
        except RecordRefused as again:
            exc, outcome = again, "it stops at the last stage written"
        if not visit.record_refused:
            visit.record_refused = True
            self.alert("record_refused", f"visit {visit.id} ended but the database refuses its record ({exc}); "
                       f"{outcome}", level="critical", visit=visit)

    def _save_ended_without_card(self, visit: Visit, exc: RecordRefused) -> None:
        """A visit that ended (aborted, refused, done) must leave the lane even when the database
        refuses its record: written again without what the e-KTP gave (the likeliest cause), and if
        even that is refused, its record stops at the last stage written. The officer is told."""
        lane, r = self.lane, visit.row
        r.nik = r.holder_name = r.sim_number = None
        try:
            lane.store.save_visit(r)
            outcome = "kept without the card's data"
        except RecordRefused as again:
            exc, outcome = again, "it stops at the last stage written"
        if not visit.record_refused:
            visit.record_refused = True
            self.alert("record_refused", f"visit {visit.id} ended but the database refuses its record ({exc}); "
                       f"{outcome}", level="critical", visit=visit,
                       facts=AlertFacts(step="ended", error=type(exc).__name__))

    def emit(self, visit: Visit) -> None:
        lane = self.lane
        lane.bus.publish(LaneEvent(lane.name, "visit", visit_view(visit, lane.clock.monotonic(),
                                                                  lane.settings.timing, lane.stations.where(visit))))
        lane.waiter.notify()

    def advance(self, visit: Visit, to: Stage | None = None, note: str | None = None) -> None:
        """The next stage of the table (or ``to``, which must lie ahead), persisted."""
        before = visit.state.stage
        visit.state.advance(self.lane.clock.monotonic(), to)
        self.persist(visit, note=note, transition_from=before)
        self.clear_alert("stage_over_budget", visit, cause=before.value)

    # ---------------------------------------------------------------- alerts
    def alert(self, kind: str, message: str, *, level: str = "warning", visit: Visit | None = None,
              cause: str | None = None, facts: AlertFacts | None = None) -> None:
        """Raise an alert, once per visit (or lane), kind and cause while that cause lasts: a second
        call for the same cause is not a second alert (``clear_alert`` ends it). ``message`` is the
        English sentence for the log; ``facts`` what pages word in their language (a visit's plate is
        added to them here)."""
        lane = self.lane
        key = (visit.id if visit else None, kind, cause)
        if key in self.open:
            return
        told = (facts or AlertFacts()).stored()
        if visit is not None and visit.state.plate and "plate" not in told:
            told["plate"] = visit.state.plate
        row, written = lane.store.alert_written(lane.name, kind, level, message, visit.id if visit else None,
                                                cause=cause, facts=told)
        self.open[key] = row
        log.warning("%s alert %s: %s", lane.name, kind, message)
        self._after(written, lambda: lane.bus.publish(LaneEvent(lane.name, "alert", {
            "id": row.id, "kind": kind, "cause": cause, "level": level, "message": message, "facts": told,
            "visit_id": visit.id if visit else None, "at": row.at.isoformat(), "cleared_at": None,
            "acknowledged_by": None})))

    def _after(self, written: Any, then: Callable[[], None]) -> None:
        """``then`` once the write is done (its row's id known), at once without the writer."""
        if not isinstance(written, Future):
            then()
            return
        asyncio.wrap_future(written).add_done_callback(lambda f: (f.cancelled() or f.exception(), then()))

    def clear_alert(self, kind: str, visit: Visit | None = None, cause: str | None = None) -> None:
        """The cause of an alert has ended (the stage left, the device back): it is marked cleared."""
        key = (visit.id if visit else None, kind, cause)
        if key not in self.open:
            return
        self._cleared([key])

    def clear_visit_alerts(self, visit: Visit) -> None:
        """The visit has left the lane: whatever it was alerted for has ended with it."""
        self._cleared([k for k in self.open if k[0] == visit.id])

    def _cleared(self, keys: list[AlertKey]) -> None:
        lane = self.lane
        for visit_id, kind, cause in keys:
            row = self.open.pop((visit_id, kind, cause))
            cleared_at = utcnow().isoformat()
            written = lane.store.clear_alerts(lane.name, visit_id=visit_id, kind=kind, cause=cause)
            # after the write: the alert's own row (written before it) has its id by then
            self._after(written, lambda row=row, kind=kind, cause=cause, visit_id=visit_id, at=cleared_at:
                        lane.bus.publish(LaneEvent(lane.name, "alert_cleared", {
                            "id": row.id if row is not None else None, "kind": kind, "cause": cause,
                            "visit_id": visit_id, "cleared_at": at})))

    def take_over_alerts(self) -> None:
        """After a start: the alerts a previous run left open are this run's (no second alert for
        the same cause); those of visits that have ended since are cleared."""
        lane = self.lane
        for row in lane.store.uncleared_alerts(lane.name):
            if row.visit_id is not None and row.visit_id not in lane.visits:
                lane.store.clear_alerts(lane.name, visit_id=row.visit_id)
                continue
            self.open.setdefault((row.visit_id, row.kind, row.cause), row)
