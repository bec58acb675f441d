"""Alerts the lanes raised, and their acknowledgement by an officer."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query

from api.auditing import audit
from api.deps import AlertHandler, CurrentUser, LaneFilter, StoreDep
from api.models import AlertAck, AlertOut
from lane.persistence import AlertRow

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])


def alert_json(a: AlertRow) -> dict[str, Any]:
    return {"id": a.id, "lane": a.lane, "visit_id": a.visit_id, "kind": a.kind, "level": a.level,
            "message": a.message, "at": a.at.isoformat(), "acknowledged_by": a.acknowledged_by}


@router.get("", response_model=list[AlertOut])
def alerts(_: CurrentUser, store: StoreDep, lane: LaneFilter = None,
           limit: int = Query(100, ge=1, le=1000)) -> list[dict[str, Any]]:
    return [alert_json(a) for a in store.alerts(lane=lane, limit=limit)]


@router.post("/{alert_id}/ack", response_model=AlertAck, responses={401: {}, 403: {}, 404: {}})
def ack_alert(alert_id: Annotated[int, Path(ge=1, le=2**62)], who: AlertHandler, store: StoreDep) -> AlertAck:
    with store.session() as s:
        row = s.get(AlertRow, alert_id)
        if row is None:
            raise HTTPException(404, f"no alert {alert_id}")
        row.acknowledged_by = who.username
        s.add(row)
        lane, visit_id = row.lane, row.visit_id
    audit(store, who, "ack_alert", lane=lane, visit_id=visit_id, alert=alert_id)
    return AlertAck(ok=True, id=alert_id, acknowledged_by=who.username)
