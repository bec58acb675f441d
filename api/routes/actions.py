"""Officer commands: on an open visit (``POST /api/v1/visits/{id}/actions``, one body per command, told
apart by ``action``) and on a lane's gates. The lane checks each (stage, reason, values, who), audits
it with the state before and after, and only then applies it; a refusal is a 4xx with a sentence for
the officer, never a 200 that did nothing."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, HTTPException
from fastapi.concurrency import run_in_threadpool

from api.auth import PERMISSIONS, ApiRefusal
from api.deps import Controllers, GateOperator, LaneName, StoreDep, VisitActor, VisitId, lane_or_404
from api.models import ActionResult, GateCommand, GateResult
from lane.commands import (
    Actor,
    ApproveDecision,
    ApproveReprint,
    GateOverride,
    RejectDecision,
    VisitCommandBody,
)

router = APIRouter(prefix="/api/v1", tags=["actions"])


@router.post("/visits/{visit_id}/actions", response_model=ActionResult,
             responses={401: {}, 403: {"description": "not this role, or the two-person rule"}, 404: {},
                        409: {"description": "does not fit the visit's stage"},
                        422: {"description": "a missing reason or a bad value"},
                        503: {"description": "a retry ran and the device still fails"}})
async def visit_action(visit_id: VisitId, body: VisitCommandBody, who: VisitActor, controllers: Controllers,
                       store: StoreDep) -> dict[str, Any]:
    """An officer command on an open visit: ``confirm_plate`` (or correct it, with a reason, until the
    car leaves window 1), ``retry`` or ``take_over`` a held step, ``decide`` (the decision form after
    the e-KTP reader or the registry was taken over), ``approve_decision`` / ``reject_decision`` (a
    supervisor, not the officer who decided), ``applicant_answer`` (the applicant's OK or no to the name,
    class and fee, passed on by the officer), ``reprint`` (a new card on a new blank; the spoiled one goes to
    the blank log), ``approve_reprint`` (a supervisor, where the site's ``reprint_approval`` asks for one),
    ``handed_over``, ``abort``, ``vehicle_left``.
    Audited before it takes effect."""
    if isinstance(body, ApproveDecision | RejectDecision | ApproveReprint) and (
            who.role not in PERMISSIONS["decision_approve"]):
        what = "a reprint" if isinstance(body, ApproveReprint) else "a decision by hand"
        raise ApiRefusal(403, "forbidden_role", f"{what} is approved by a supervisor; role {who.role!r} may not")
    ctl = next((c for c in controllers.values() if visit_id in c.visits), None)
    if ctl is None:
        if await run_in_threadpool(store.get_visit, visit_id) is not None:
            raise HTTPException(409, f"visit {visit_id!r} is no longer open")
        raise HTTPException(404, f"no visit {visit_id!r}")
    result = await ctl.command(body, Actor(who.username, who.role), visit_id)
    return {"ok": True, "lane": ctl.name, "visit_id": visit_id, "action": body.action, "detail": result.detail,
            "worked": result.worked, **result.data}


@router.post("/lanes/{lane}/gates/{gate}", response_model=GateResult,
             responses={401: {}, 403: {}, 404: {}, 409: {"description": "safety loop occupied"}})
async def gate_override(lane: LaneName, gate: Literal["entry-gate", "exit-gate"], body: GateCommand,
                        who: GateOperator, controllers: Controllers) -> GateResult:
    """Open or close a gate by hand, with a reason (audited before the gate moves). A close is
    refused while the safety loop is occupied. An open lets the vehicle waiting at that gate go (its
    sign turns green) and counts as the held step done by hand if the gate or the exit plate check
    held its visit."""
    ctl = lane_or_404(controllers, lane)
    cmd = GateOverride(action=f"{body.command}_gate", gate=gate, reason=body.reason)
    result = await ctl.command(cmd, Actor(who.username, who.role))
    return GateResult(ok=True, lane=ctl.name, gate=gate, command=body.command, detail=result.detail,
                      released=result.data.get("released"))
