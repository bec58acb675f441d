"""Alerts in the database: raised (journaled like any record while the database is away), cleared
when their cause ends, acknowledged by officers one at a time or all at once. Mixed into
:class:`lane.persistence.store.Store`, which provides the session and the journal."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import func, select, update
from sqlmodel import Session

from lane.persistence.models import AlertRow, fit, utcnow
from lane.persistence.writer import ordered


class AlertRecords:
    """The alert half of the store (``session`` and ``_record`` come from :class:`Store`)."""

    session: Callable[[], AbstractContextManager[Session]]
    _record: Callable[[str, Callable[[Session], Any]], Any]

    def alert(self, lane: str, kind: str, level: str, message: str, visit_id: str | None = None,
              cause: str | None = None, facts: dict[str, Any] | None = None) -> AlertRow:
        """Record an alert (journaled while the database is away); returns the row as recorded, whose
        ``id`` is None when it waits in the journal (or, with the store's writer, until written)."""
        return self.alert_written(lane, kind, level, message, visit_id, cause, facts)[0]

    def alert_written(self, lane: str, kind: str, level: str, message: str, visit_id: str | None = None,
                      cause: str | None = None, facts: dict[str, Any] | None = None) -> tuple[AlertRow, Any]:
        """:meth:`alert`, with what its write gives back (with the writer: its future; the row's ``id``
        is known once it is done)."""
        row = AlertRow(**fit(AlertRow.__table__, {"lane": lane, "kind": kind, "cause": cause, "level": level,
                                                  "message": message, "visit_id": visit_id, "at": utcnow(),
                                                  "facts": facts or None}))
        values = row.model_dump()

        def op(s: Session) -> None:
            written = AlertRow(**values)
            s.add(written)
            s.flush()
            row.id = written.id

        return row, self._record(f"alert {lane} {kind}", op)

    def clear_alerts(self, lane: str, *, visit_id: str | None, kind: str | None = None,
                     cause: str | None = None) -> Any:
        """Their cause has ended: the open alerts of this visit (None: of the lane itself), of one kind and
        cause when given, are marked cleared (journaled while the database is away, like the alert)."""
        at = utcnow()

        def op(s: Session) -> None:
            q = update(AlertRow).where(AlertRow.lane == lane, AlertRow.cleared_at.is_(None))  # type: ignore[union-attr]
            q = q.where(AlertRow.visit_id == visit_id if visit_id is not None
                        else AlertRow.visit_id.is_(None))  # type: ignore[union-attr]
            if kind is not None:
                q = q.where(AlertRow.kind == kind)
                q = q.where(AlertRow.cause == cause if cause is not None
                            else AlertRow.cause.is_(None))  # type: ignore[union-attr]
            s.execute(q.values(cleared_at=at))

        return self._record(f"clear alerts {lane} {kind}", op)

    @ordered
    def uncleared_alerts(self, lane: str) -> list[AlertRow]:
        """Alerts of ``lane`` whose cause has not ended (what a restarted controller takes over)."""
        with self.session() as s:
            q = select(AlertRow).where(AlertRow.lane == lane, AlertRow.cleared_at.is_(None))  # type: ignore[union-attr]
            return list(s.exec(q.order_by(AlertRow.id)).scalars())

    @ordered
    def alerts(self, lane: str | None = None, limit: int = 200, *, active: bool = False) -> list[AlertRow]:
        """The newest alerts first; ``active``: only those neither cleared nor acknowledged."""
        with self.session() as s:
            q = select(AlertRow)
            if lane:
                q = q.where(AlertRow.lane == lane)
            if active:
                q = q.where(AlertRow.cleared_at.is_(None), AlertRow.acknowledged_by.is_(None))  # type: ignore[union-attr]
            return list(s.exec(q.order_by(AlertRow.id.desc()).limit(limit)).scalars())

    @ordered
    def open_alerts(self) -> list[tuple[str, str, int]]:
        """``(lane, level, count)`` of the alerts nobody has acknowledged yet whose cause lasts (``/metrics``)."""
        with self.session() as s:
            q = (select(AlertRow.lane, AlertRow.level, func.count())
                 .where(AlertRow.acknowledged_by.is_(None), AlertRow.cleared_at.is_(None))  # type: ignore[union-attr]
                 .group_by(AlertRow.lane, AlertRow.level))
            return [(lane, level, int(n)) for lane, level, n in s.exec(q).all()]

    @ordered
    def acknowledge_alert(self, alert_id: int, who: str) -> AlertRow | None:
        """One alert acknowledged by ``who`` (the first acknowledgement stands); None: no such alert."""
        with self.session() as s:
            row = s.get(AlertRow, alert_id)
            if row is None:
                return None
            if row.acknowledged_by is None:
                row.acknowledged_by, row.acknowledged_at = who, utcnow()
                s.add(row)
            return row

    @ordered
    def acknowledge_all_alerts(self, who: str, lane: str | None = None) -> list[int]:
        """Every alert not yet acknowledged (of ``lane``, or of the site) acknowledged by ``who``; their ids."""
        with self.session() as s:
            q = select(AlertRow.id).where(AlertRow.acknowledged_by.is_(None))  # type: ignore[union-attr]
            if lane:
                q = q.where(AlertRow.lane == lane)
            ids = [i for i in s.exec(q).scalars() if i is not None]
            if ids:
                s.execute(update(AlertRow).where(AlertRow.id.in_(ids))  # type: ignore[union-attr]
                          .values(acknowledged_by=who, acknowledged_at=utcnow()))
            return ids

