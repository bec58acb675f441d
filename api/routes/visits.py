"""Stored visits (personal data masked except for supervisors) and a live visit's plate crop."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query, Response

from api.auditing import audit
from api.auth import Principal
from api.deps import Controllers, CurrentUser, Day, LaneFilter, StoreDep, VisitId
from api.models import VisitDetail, VisitOut
from api.routes.blanks import blank_json
from lane.persistence import Store, VisitRow
from lane.rules import mask_name, mask_nik
from lane.views import stored_times

router = APIRouter(prefix="/api/v1/visits", tags=["visits"])


def audit_unmasked(store: Store, who: Principal, rows: list[VisitRow]) -> None:
    """Who saw which driver's NIK and name in full goes to the audit log, before they see it."""
    shown = [r.id for r in rows if who.sees_personal_data and (r.nik or r.holder_name)]
    if shown:
        audit(store, who, "view_personal_data", visit_id=shown[0] if len(shown) == 1 else None,
              visits=shown[:50], count=len(shown))


def visit_json(row: VisitRow, unmask: bool = False) -> dict[str, Any]:
    """A visit as the API shows it: personal data masked unless the caller is a supervisor."""
    seconds, queued, door_to_door = stored_times(row)
    return {
        "id": row.id, "lane": row.lane, "seq": row.seq, "plate": row.plate,
        "plate_confidence": row.plate_confidence, "stage": row.stage, "outcome": row.outcome,
        "reason": row.reason, "held": row.held,
        "nik": (row.nik or "") if unmask else mask_nik(row.nik),  # "": not read yet, or erased
        "holder_name": (row.holder_name or "") if unmask else mask_name(row.holder_name),
        "sim_class": row.sim_class, "fee": row.fee, "paid": row.paid,
        "started_at": row.started_at.isoformat() if row.started_at else None,
        "ended_at": row.ended_at.isoformat() if row.ended_at else None,
        "stage_seconds": row.stage_seconds,
        "seconds": seconds, "queued_seconds": queued, "door_to_door_seconds": door_to_door,
    }


@router.get("", response_model=list[VisitOut])
def visits(who: CurrentUser, store: StoreDep, lane: LaneFilter = None, day: Day = None,
           limit: int = Query(200, ge=1, le=1000),
           offset: int = Query(0, ge=0, le=10_000_000)) -> list[dict[str, Any]]:
    rows = store.visits(lane=lane, day=day, limit=limit, offset=offset)
    audit_unmasked(store, who, rows)
    return [visit_json(v, who.sees_personal_data) for v in rows]


@router.get("/{visit_id}", response_model=VisitDetail)
def visit(visit_id: VisitId, who: CurrentUser, store: StoreDep) -> dict[str, Any]:
    row = store.get_visit(visit_id)
    if row is None:
        raise HTTPException(404, f"no visit {visit_id!r}")
    audit_unmasked(store, who, [row])
    out = visit_json(row, who.sees_personal_data)
    out["transitions"] = [{"from": t.from_stage, "to": t.to_stage, "at": t.at.isoformat(), "sim_at": t.sim_at,
                           "note": t.note, "note_facts": t.note_facts} for t in store.transitions(visit_id)]
    out["card_blanks"] = [blank_json(b) for b in store.blanks(visit_id=visit_id)]
    return out


@router.get("/{visit_id}/plate.jpg", response_class=Response,
            responses={200: {"content": {"image/jpeg": {}}}, 404: {"description": "no crop for this visit"}})
async def plate_crop(visit_id: VisitId, _: CurrentUser, controllers: Controllers) -> Response:
    """The entry camera's crop of the plate, while the visit is in the lane."""
    crop = next((c.plate_crops.get(visit_id) for c in controllers.values() if visit_id in c.plate_crops), None)
    if not crop:
        raise HTTPException(404, f"no plate crop for {visit_id!r}")
    return Response(crop, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})
