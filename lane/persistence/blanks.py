"""The card blank log: every card job is given a blank of its own, by serial, in the same transaction
as the job's intent record; the blank is marked printed when its card came out, and spoiled when an
officer had the card reprinted (with the reason and who said so). A reprint is a new job, so it gets
a new blank and a new serial; the spoiled one stays in the log, which the console and the audit
read. Mixed into :class:`lane.persistence.store.Store`, which provides the session and the journal.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlmodel import Session

from lane.persistence.models import CardBlank, SideEffect, fit, utcnow
from lane.persistence.writer import ordered

SERIAL_PREFIX = "SIM-"
"""A card serial reads SIM-00000042: the prefix, then the blank's number in the site's log."""


class BlankRecords:
    """The blank log half of the store (``session``, ``_record`` and ``_require_current`` come from
    :class:`Store`)."""

    session: Callable[[], AbstractContextManager[Session]]
    _record: Callable[[str, Callable[[Session], Any]], Any]
    _require_current: Callable[[str], None]

    @ordered
    def intend_card(self, key: str, *, lane: str, visit_id: str, copy: int, printer: str) -> tuple[SideEffect,
                                                                                                     CardBlank]:
        """The card job's intent record and its blank, in one transaction: both exist before the job is
        sent, and a job asked again (a retry, a restart) finds the same blank. Never journaled (like
        ``Store.intend``): PersistenceError while the database is away."""
        self._require_current(f"card job {key}")
        with self.session() as s:
            effect = s.get(SideEffect, key)
            blank = s.exec(select(CardBlank).where(CardBlank.job_key == key)).scalars().first()  # type: ignore[call-overload]
            now = utcnow()
            if effect is None:
                effect = SideEffect(key=key, lane=lane, kind="card_print", visit_id=visit_id, status="intended",
                                    detail={"printer": printer, "copy": copy}, created_at=now, updated_at=now)
                s.add(effect)
            if blank is None:
                blank = CardBlank(serial=uuid.uuid4().hex, job_key=key, lane=lane, visit_id=visit_id, card_copy=copy,
                                  printer=printer, status="issued", issued_at=now, updated_at=now)
                s.add(blank)
                s.flush()
                blank.serial = f"{SERIAL_PREFIX}{blank.id:08d}"
                effect.detail = {**(effect.detail or {}), "card_serial": blank.serial}
            s.flush()
            return effect, blank

    def blank_printed(self, serial: str) -> None:
        self._set_blank(serial, {"status": "printed"})

    def spoil_blank(self, serial: str, *, reason: str, by: str) -> None:
        """The officer had this card reprinted: its blank is spoiled (why, and who said so)."""
        self._set_blank(serial, fit(CardBlank.__table__, {"status": "spoiled", "reason": reason, "spoiled_by": by}))

    def _set_blank(self, serial: str, values: dict[str, Any]) -> None:
        at = utcnow()
        t = CardBlank.__table__
        self._record(f"card blank {serial} {values['status']}", lambda s: s.connection().execute(
            update(t).where(t.c.serial == serial).values(**values, updated_at=at)))

    @ordered
    def blanks(self, *, visit_id: str | None = None, lane: str | None = None, since: datetime | None = None,
               until: datetime | None = None, limit: int = 500) -> list[CardBlank]:
        """The blank log, oldest first: one visit's blanks, or a lane's or the site's in a period."""
        with self.session() as s:
            q = select(CardBlank)
            if visit_id is not None:
                q = q.where(CardBlank.visit_id == visit_id)
            if lane is not None:
                q = q.where(CardBlank.lane == lane)
            if since is not None:
                q = q.where(CardBlank.issued_at >= since)
            if until is not None:
                q = q.where(CardBlank.issued_at < until)
            return list(s.exec(q.order_by(CardBlank.id).limit(limit)).scalars())  # type: ignore[call-overload]
