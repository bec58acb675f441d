"""Personal data kept for a set time, then erased (UU 27/2022): ``personal_data_days`` after a visit
ended, its NIK, holder name, SIM number and plate are erased from the visit and from what was written
about it (stage notes, alerts, the audit's and the officers' action details). What stays is anonymised:
lane, times, stage durations, outcome, fee, which the daily reports and the CSV still count (the CSV's
plate column is empty for a purged visit). Birth dates are never stored. Open visits are not touched
(they need their data to finish).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from lane.alerts import PLATE_FACTS
from lane.persistence.models import AlertRow, AuditEntry, OfficerAction, StageTransition, VisitRow, utcnow
from lane.persistence.store import Store

PERSONAL = ("nik", "holder_name", "sim_number", "plate", "photo_ref", "signature_ref", "fingerprint_ref")
"""The visit's columns that name a person or their vehicle."""
PLATE_LIKE = re.compile(r"\b[A-Z]{1,2}\s?[0-9]{1,4}\s?[A-Z]{0,3}\b")
"""A plate as our notes and alerts write it (a camera's guess too, which may not be the visit's plate)."""
ERASED = "[erased]"
BATCH = 500


def purge_personal_data(store: Store, ended_before: datetime, *, batch: int = BATCH) -> int:
    """Erase the personal data of every visit that ended before ``ended_before`` and still has them;
    returns how many visits were anonymised. Idempotent, in short transactions of ``batch`` visits."""
    total = 0
    while True:
        with store.session() as s:
            v = VisitRow.__table__
            ids = list(s.connection().execute(
                select(v.c.id).where(v.c.ended_at < ended_before, v.c.purged_at.is_(None)).limit(batch)).scalars())
            if not ids:
                return total
            conn = s.connection()
            conn.execute(update(v).where(v.c.id.in_(ids)).values(purged_at=utcnow(), **dict.fromkeys(PERSONAL)))
            _erase_text(conn, StageTransition.__table__, "note", ids)
            _erase_keys(conn, StageTransition.__table__, "note_facts", ids, PLATE_FACTS)
            _erase_text(conn, AlertRow.__table__, "message", ids)
            _erase_keys(conn, AlertRow.__table__, "facts", ids, PLATE_FACTS)
            _erase_keys(conn, AuditEntry.__table__, "detail", ids)
            _erase_keys(conn, OfficerAction.__table__, "params", ids)
        total += len(ids)


def _erase_text(conn: Any, table: Any, column: str, ids: list[str]) -> None:
    col = table.c[column]
    for row_id, text in conn.execute(select(table.c.id, col).where(table.c.visit_id.in_(ids),
                                                                    col.is_not(None))).all():
        erased = PLATE_LIKE.sub(ERASED, text)
        if erased != text:
            conn.execute(update(table).where(table.c.id == row_id).values({column: erased}))


def _erase_keys(conn: Any, table: Any, column: str, ids: list[str], keys: tuple[str, ...] = PERSONAL) -> None:
    col = table.c[column]
    for row_id, detail in conn.execute(select(table.c.id, col).where(table.c.visit_id.in_(ids))).all():
        if isinstance(detail, dict) and any(k in detail for k in keys):
            kept = {k: (ERASED if k in keys else v) for k, v in detail.items()}
            conn.execute(update(table).where(table.c.id == row_id).values({column: kept}))
