"""Officer actions kept until the workflow takes them, device events, and the audit log. Mixed into
:class:`lane.persistence.store.Store`, which provides the session, the journal and the check that the
database is current (an action or an audit line the database cannot keep now is refused, not queued)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import select, update
from sqlmodel import Session

from lane.persistence.models import AuditEntry, DeviceEventRow, OfficerAction, fit, utcnow
from lane.persistence.writer import ordered


class ActionRecords:
    """The officer-action, device-event and audit half of the store."""

    session: Callable[[], AbstractContextManager[Session]]
    _record: Callable[[str, Callable[[Session], Any]], Any]
    _require_current: Callable[[str], None]

    # ------------------------------------------------------------ officer actions (kept until taken)
    @ordered
    def queue_action(self, *, lane: str, visit_id: str, action: str, params: dict[str, Any], actor: str,
                     role: str = "") -> int:
        """Keep an accepted officer action until the workflow takes it; returns its id. Never
        journaled: an action the database cannot keep is refused, as its audit would be."""
        self._require_current(f"keeping action {action}")
        with self.session() as s:
            row = OfficerAction(lane=lane, visit_id=visit_id, action=action, params=copy_value(params), actor=actor,
                                role=role, at=utcnow())
            s.add(row)
            s.flush()
            assert row.id is not None
            return row.id

    def action_taken(self, action_id: int) -> Any:
        at = utcnow()
        t = OfficerAction.__table__
        return self._record(f"officer action {action_id} taken", lambda s: s.connection().execute(
            update(t).where(t.c.id == action_id).values(taken_at=at)))

    @ordered
    def waiting_actions(self, lane: str) -> list[OfficerAction]:
        with self.session() as s:
            q = select(OfficerAction).where(OfficerAction.lane == lane, OfficerAction.taken_at.is_(None))
            return list(s.exec(q.order_by(OfficerAction.id)).scalars())

    # ------------------------------------------------------------ events, alerts, audit
    def device_event(self, lane: str, device: str, kind: str, detail: dict[str, Any] | None = None) -> Any:
        at = utcnow()
        detail = copy_value(detail)
        return self._record(f"device event {lane}/{device} {kind}", lambda s: s.add(
            DeviceEventRow(lane=lane, device=device, kind=kind, detail=detail or {}, at=at)))

    @ordered
    def device_events(self, lane: str | None = None, limit: int = 200) -> list[DeviceEventRow]:
        with self.session() as s:
            q = select(DeviceEventRow)
            if lane:
                q = q.where(DeviceEventRow.lane == lane)
            return list(s.exec(q.order_by(DeviceEventRow.id.desc()).limit(limit)).scalars())

    @ordered
    def audit(self, *, actor: str, role: str, action: str, lane: str | None = None,
              visit_id: str | None = None, reason: str | None = None,
              detail: dict[str, Any] | None = None) -> AuditEntry:
        """Written before the action takes effect; PersistenceError while the database is away (an
        action nobody could audit is refused, not queued)."""
        self._require_current(f"auditing {action}")
        with self.session() as s:
            row = AuditEntry(**fit(AuditEntry.__table__, {
                "at": utcnow(), "actor": actor, "role": role, "action": action, "lane": lane, "visit_id": visit_id,
                "reason": reason, "detail": detail or {}}))
            s.add(row)
            s.flush()
            return row

    @ordered
    def audit_log(self, limit: int = 200) -> list[AuditEntry]:
        with self.session() as s:
            return list(s.exec(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)).scalars())


def copy_value(value: Any) -> Any:
    """A snapshot of a column value: JSON columns hold dicts and lists the caller may change later."""
    if isinstance(value, dict):
        return {k: copy_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy_value(v) for v in value]
    return value
