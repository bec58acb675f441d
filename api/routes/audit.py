"""The audit log: who did what, when, where and why."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from api.deps import CurrentUser, StoreDep
from api.models import AuditOut

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


@router.get("", response_model=list[AuditOut])
def audit_log(_: CurrentUser, store: StoreDep, limit: int = Query(100, ge=1, le=1000)) -> list[dict[str, Any]]:
    return [{"id": a.id, "at": a.at.isoformat(), "actor": a.actor, "role": a.role, "action": a.action,
             "lane": a.lane, "visit_id": a.visit_id, "reason": a.reason, "detail": a.detail}
            for a in store.audit_log(limit=limit)]
