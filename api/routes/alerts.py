"""Alerts the lanes raised, and their acknowledgement by an officer: one at a time, or all at once.

An alert lasts while its cause does (``cleared_at`` is set when the stage is left, the device is back,
the visit has gone); acknowledging it says an officer has seen it. ``active=true`` lists those that
are neither.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query
from fastapi.concurrency import run_in_threadpool

from api.auditing import audit
from api.deps import AlertHandler, Controllers, CurrentUser, LaneFilter, StoreDep
from api.models import AlertAck, AlertOut, AlertsAcked
from lane.controller import LaneController
from lane.events import LaneEvent
from lane.persistence import AlertRow

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])


def alert_json(a: AlertRow) -> dict[str, Any]:
    return {"id": a.id, "lane": a.lane, "visit_id": a.visit_id, "kind": a.kind, "cause": a.cause, "level": a.level,
            "message": a.message, "facts": a.facts, "at": a.at.isoformat(), "acknowledged_by": a.acknowledged_by,
            "acknowledged_at": a.acknowledged_at.isoformat() if a.acknowledged_at else None,
            "cleared_at": a.cleared_at.isoformat() if a.cleared_at else None}


@router.get("", response_model=list[AlertOut])
def alerts(_: CurrentUser, store: StoreDep, lane: LaneFilter = None,
           limit: int = Query(100, ge=1, le=1000),
           active: bool = Query(False, description="only alerts neither cleared nor acknowledged")) -> list[dict[str, Any]]:
    return [alert_json(a) for a in store.alerts(lane=lane, limit=limit, active=active)]


@router.post("/ack", response_model=AlertsAcked, responses={401: {}, 403: {}})
async def ack_all_alerts(who: AlertHandler, store: StoreDep, controllers: Controllers,
                         lane: LaneFilter = None) -> AlertsAcked:
    """Acknowledge every alert not acknowledged yet (of one lane, or of the site): one audit entry."""

    def write() -> list[int]:
        ids = store.acknowledge_all_alerts(who.username, lane)
        audit(store, who, "ack_all_alerts", lane=lane, count=len(ids))
        return ids

    ids = await run_in_threadpool(write)
    _announce(controllers, lane, ids, who.username)
    return AlertsAcked(ok=True, acknowledged=len(ids), ids=ids, acknowledged_by=who.username)


@router.post("/{alert_id}/ack", response_model=AlertAck, responses={401: {}, 403: {}, 404: {}})
async def ack_alert(alert_id: Annotated[int, Path(ge=1, le=2**62)], who: AlertHandler, store: StoreDep,
                    controllers: Controllers) -> AlertAck:
    def write() -> AlertRow | None:
        row = store.acknowledge_alert(alert_id, who.username)
        if row is not None:
            audit(store, who, "ack_alert", lane=row.lane, visit_id=row.visit_id, alert=alert_id)
        return row

    row = await run_in_threadpool(write)
    if row is None:
        raise HTTPException(404, f"no alert {alert_id}")
    _announce(controllers, row.lane, [alert_id], row.acknowledged_by or who.username)
    return AlertAck(ok=True, id=alert_id, acknowledged_by=row.acknowledged_by or who.username)


def _announce(controllers: dict[str, LaneController], lane: str | None, ids: list[int], who: str) -> None:
    """Every console hears it (their alert panes mark them), not only the one that pressed: once per bus
    (a site's lanes share one)."""
    buses = {id(c.bus): (name, c.bus) for name, c in controllers.items() if lane is None or name == lane}
    for name, bus in buses.values():
        if ids:
            bus.publish(LaneEvent(name, "alerts_acknowledged", {"ids": ids, "acknowledged_by": who}))
