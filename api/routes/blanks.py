"""The card blank log: every blank a card job was given, printed or spoiled (with why and by whom), so
the site can account for every blank it was sent. The lane writes it (:mod:`lane.persistence.blanks`)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from api.deps import Controllers, CurrentUser, Day, LaneFilter, SettingsDep, StoreDep
from api.models import CardBlankOut
from api.reports import lane_now, local_today, site_timezone
from lane.persistence import CardBlank

router = APIRouter(prefix="/api/v1/blanks", tags=["blanks"])


@router.get("", response_model=list[CardBlankOut])
async def blank_log(_: CurrentUser, store: StoreDep, settings: SettingsDep, controllers: Controllers,
                    day: Day = None, lane: LaneFilter = None) -> list[dict[str, Any]]:
    """The blanks issued on ``day`` (site time; default today), oldest first."""
    d = day if day is not None else local_today(settings, lane_now(settings, controllers))
    start = datetime.combine(d, time(), site_timezone(settings)).astimezone(UTC)
    rows = await run_in_threadpool(lambda: store.blanks(lane=lane, since=start, until=start + timedelta(days=1),
                                                        limit=10_000))
    return [blank_json(b) for b in rows]


def blank_json(b: CardBlank) -> dict[str, Any]:
    return {"serial": b.serial, "lane": b.lane, "visit_id": b.visit_id, "card_copy": b.card_copy,
            "printer": b.printer, "status": b.status, "reason": b.reason, "spoiled_by": b.spoiled_by,
            "issued_at": b.issued_at.isoformat(), "updated_at": b.updated_at.isoformat()}
