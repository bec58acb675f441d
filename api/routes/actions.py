"""Officer actions: on an open visit (confirm or correct the plate, retry or take over a held step,
reprint, hand over, abort) and on a lane's gates. The lane audits each before it takes effect."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, HTTPException
from fastapi.concurrency import run_in_threadpool

from api.auditing import announce
from api.auth import ApiRefusal
from api.deps import Controllers, GateOperator, LaneName, StoreDep, VisitActor, VisitId, lane_or_404
from api.models import ActionResult, GateCommand, GateResult, VisitAction

router = APIRouter(prefix="/api/v1", tags=["actions"])


@router.post("/visits/{visit_id}/actions", response_model=ActionResult,
             responses={401: {}, 403: {}, 404: {}, 409: {"description": "does not fit the visit's stage"}})
async def visit_action(visit_id: VisitId, body: VisitAction, who: VisitActor, controllers: Controllers,
                       store: StoreDep) -> dict[str, Any]:
    """An officer action on an open visit: confirm or correct the plate, retry or take over a held
    step, reprint the card, confirm the hand-over, or abort (with a reason). Audited."""
    ctl = next((c for c in controllers.values() if visit_id in c.visits), None)
    if ctl is None:
        if await run_in_threadpool(store.get_visit, visit_id) is not None:
            raise HTTPException(409, f"visit {visit_id!r} is no longer open")
        raise HTTPException(404, f"no visit {visit_id!r}")
    params: dict[str, Any] = {"plate": body.plate} if body.plate is not None else {}
    if body.action == "confirm_plate" and not body.plate:
        raise ApiRefusal(422, "invalid", "confirm_plate needs the plate")
    result = await ctl.act(body.action, actor=who.username, role=who.role, visit_id=visit_id, reason=body.reason,
                           **params)
    return {"ok": True, "lane": ctl.name, "visit_id": visit_id, "action": body.action, **(result or {})}


@router.post("/lanes/{lane}/gates/{gate}", response_model=GateResult,
             responses={401: {}, 403: {}, 404: {}, 409: {"description": "safety loop occupied"}})
async def gate_override(lane: LaneName, gate: Literal["entry-gate", "exit-gate"], body: GateCommand,
                        who: GateOperator, controllers: Controllers) -> GateResult:
    """Open or close a gate by hand, with a reason (audited before the gate moves). A close is
    refused while the safety loop is occupied."""
    ctl = lane_or_404(controllers, lane)
    action = f"{body.command}_gate"
    await ctl.act(action, actor=who.username, role=who.role, reason=body.reason, gate=gate)
    announce(ctl, who, action, body.reason, gate=gate)
    return GateResult(ok=True, lane=ctl.name, gate=gate, command=body.command)
