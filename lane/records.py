"""What a lane writes down as its visits move: the visit row and its stage transitions, alerts, and
the live events the console follows.

The rule this module keeps: a state change is in the database before anything it leads to is
commanded, so callers persist (``persist``/``advance``) and only then command the side effect.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from lane.errors import RecordRefused
from lane.events import LaneEvent
from lane.views import visit_view
from lane.visit import Visit
from lane.workflow import Stage

if TYPE_CHECKING:
    from lane.controller import LaneController

log = logging.getLogger(__name__)


class Records:
    def __init__(self, lane: LaneController) -> None:
        self.lane = lane

    def persist(self, visit: Visit, note: str | None = None, transition_from: Stage | None = None) -> None:
        """Copy the visit's state into its row and save it (with a transition record when the stage
        changed or a note says why), then tell the console."""
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
            lane.store.save_visit(r)  # our row stays the one source of truth; the store merges a copy
        except RecordRefused as exc:
            if s.outcome is None:
                raise  # the caller holds the visit (``Holds.stuck``): nothing goes on unrecorded
            self._save_ended_without_card(visit, exc)
        if transition_from is not None or note:
            lane.store.record_transition(visit.id, transition_from.value if transition_from else None,
                                         s.stage.value, now, note)
        self.emit(visit)

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
                       f"{outcome}", level="critical", visit=visit)

    def emit(self, visit: Visit) -> None:
        lane = self.lane
        lane.bus.publish(LaneEvent(lane.name, "visit", visit_view(visit, lane.clock.monotonic(),
                                                                  lane.settings.timing)))
        lane.waiter.notify()

    def advance(self, visit: Visit, to: Stage | None = None, note: str | None = None) -> None:
        """The next stage of the table (or ``to``, which must lie ahead), persisted."""
        before = visit.state.stage
        visit.state.advance(self.lane.clock.monotonic(), to)
        self.persist(visit, note=note, transition_from=before)

    def alert(self, kind: str, message: str, *, level: str = "warning", visit: Visit | None = None) -> None:
        lane = self.lane
        row = lane.store.alert(lane.name, kind, level, message, visit.id if visit else None)
        log.warning("%s alert %s: %s", lane.name, kind, message)
        lane.bus.publish(LaneEvent(lane.name, "alert", {
            "id": row.id, "kind": kind, "level": level, "message": message,
            "visit_id": visit.id if visit else None, "at": row.at.isoformat()}))
