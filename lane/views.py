"""What the console and the demo read of a lane: read models built from the live state, never
written back. The console gets these over the API and the live feed; personal data stays out
(the plate is all a view of a visit carries)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lane.commands import VISIT_COMMANDS
from lane.persistence.models import VisitRow
from lane.settings import LaneTiming
from lane.visit import Visit
from lane.workflow import BEFORE_ENTRY, STAGE_ORDER, Station

if TYPE_CHECKING:
    from lane.controller import LaneController

QUEUE_STAGES = frozenset(s.value for s in BEFORE_ENTRY)


def visit_view(visit: Visit, now: float, timing: LaneTiming, at: Station | None = None) -> dict[str, Any]:
    """A visit in the lane now: where it is, how long it has taken against its budgets, what holds it,
    and which officer commands fit it now (the console offers those)."""
    s = visit.state
    return {
        "id": s.id, "lane": s.lane, "seq": s.seq, "plate": s.plate, "plate_confidence": s.plate_confidence,
        "stage": s.stage.value, "station": s.station.value if s.station else None,
        "at": at.value if at else None,
        "outcome": s.outcome.value if s.outcome else None, "reason": s.reason, "held": s.held,
        "elapsed": round(s.elapsed(now), 1), "stage_elapsed": round(s.stage_elapsed(now), 1),
        "stage_budget": timing.budgets.get(s.stage.value), "visit_budget": timing.visit_budget,
        "queued_seconds": round(s.queued_seconds(now), 1), "door_to_door_seconds": round(s.door_to_door(now), 1),
        "held_device": visit.held_device,
        "commands": allowed_commands(visit),
        "decision": visit.proposal.preview() if visit.proposal else None,
        "needs_identity": visit.awaiting_decision and visit.card is None,
        "status_path": status_path(visit.row.status_token),
    }


def allowed_commands(visit: Visit) -> list[str]:
    """The visit commands that fit the visit now (before their values, reason and sender are checked)."""
    if visit.state.finished:
        return []
    return [kind.model_fields["action"].default for kind in VISIT_COMMANDS if kind.refusal(visit) is None]


def status_path(token: str | None) -> str | None:
    """Where the driver's status page of a visit lives (``/s/<token>``; the QR adds the site's address)."""
    return f"/s/{token}" if token else None


def visit_summary(visit: Visit, now: float) -> dict[str, Any]:
    """A visit that ended, as the demo's summary and the benchmarks count it: ``seconds`` from the
    entry to the exit (the ten-minute promise), ``queued_seconds`` before the entry, and
    ``door_to_door_seconds`` from joining the queue; ``started`` and ``entered`` on the lane clock."""
    s = visit.state
    return {
        "id": s.id, "lane": s.lane, "plate": s.plate, "outcome": s.outcome.value if s.outcome else None,
        "reason": s.reason, "seconds": round(s.elapsed(now), 1), "started": s.started, "entered": s.entered,
        "queued_seconds": round(s.queued_seconds(now), 1), "door_to_door_seconds": round(s.door_to_door(now), 1),
        "stages": {k: round(v, 1) for k, v in s.stage_seconds(now).items()},
    }


def stored_times(row: VisitRow) -> tuple[float | None, float, float | None]:
    """A stored visit's (seconds from the entry to the exit, seconds queued before the entry, seconds
    door to door), simulated; the first and last are None while the visit is open."""
    queued = round(sum(float(v) for k, v in (row.stage_seconds or {}).items() if k in QUEUE_STAGES), 1)
    if row.sim_ended is None:
        return None, queued, None
    door_to_door = round(row.sim_ended - row.sim_started, 1)
    return round(door_to_door - queued, 1), queued, door_to_door


def lane_snapshot(lane: LaneController) -> dict[str, Any]:
    """The whole lane: who is at each station, every open visit in order, which devices answer."""
    now = lane.clock.monotonic()
    visits = sorted(lane.visits.values(), key=lambda v: v.state.seq)
    return {
        "lane": lane.name,
        "stations": {st.value: lane.stations.occupancy[st] for st in Station},
        "visits": [visit_view(v, now, lane.settings.timing, lane.stations.where(v)) for v in visits],
        "devices": {getattr(d, "name", "?"): bool(d.online) for d in lane.devices.all_devices()},
        "stage_order": [s.value for s in STAGE_ORDER],
        "queue": lane.queue.view(),
    }
