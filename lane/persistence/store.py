"""The store: the only code that talks to the database.

Synchronous SQLAlchemy sessions, one short transaction per call: the controller persists a state
change and only then commands the side effect, so each call commits before it returns.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlmodel import Session

from lane.errors import PersistenceError
from lane.persistence.models import (
    AlertRow,
    AuditEntry,
    DeviceEventRow,
    LaneRow,
    SideEffect,
    StageTransition,
    VisitRow,
)

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def utcnow() -> datetime:
    return datetime.now(UTC)


def _prepare_sqlite_path(url: str) -> None:
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url.removeprefix("sqlite:///")).expanduser().parent.mkdir(parents=True, exist_ok=True)


def make_engine(url: str) -> Engine:
    _prepare_sqlite_path(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def upgrade_database(url: str, revision: str = "head") -> None:
    """Apply Alembic migrations up to ``revision``."""
    from alembic import command
    from alembic.config import Config

    _prepare_sqlite_path(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    try:
        command.upgrade(cfg, revision)
    except SQLAlchemyError as exc:
        raise PersistenceError(f"database migration failed: {exc}") from exc


class Store:
    def __init__(self, url: str, *, engine: Engine | None = None) -> None:
        self.url = url
        self.engine = engine or make_engine(url)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def session(self) -> Iterator[Session]:
        try:
            with Session(self.engine, expire_on_commit=False) as s:
                yield s
                s.commit()
        except IntegrityError:
            raise
        except OperationalError as exc:
            raise PersistenceError(f"database unavailable: {exc.orig}") from exc

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
            return True
        except SQLAlchemyError:
            return False

    # ------------------------------------------------------------ lanes
    def ensure_lane(self, name: str, site: str) -> None:
        with self.session() as s:
            if s.get(LaneRow, name) is None:
                s.add(LaneRow(name=name, site=site, created_at=utcnow()))

    def lanes(self) -> list[LaneRow]:
        with self.session() as s:
            return list(s.exec(select(LaneRow).order_by(LaneRow.name)).scalars())

    def try_lease(self, lane: str, owner: str, seconds: float) -> bool:
        """Take or renew the lease on ``lane`` for ``owner``; False if another live owner holds it."""
        with self.session() as s:
            row = s.get(LaneRow, lane, with_for_update=True)
            if row is None:
                return False
            now = utcnow()
            if row.owner not in (None, owner) and row.lease_until and row.lease_until > now:
                return False
            row.owner = owner
            row.lease_until = now + timedelta(seconds=seconds)
            s.add(row)
            return True

    # ------------------------------------------------------------ visits
    def next_seq(self, lane: str) -> int:
        with self.session() as s:
            cur = s.exec(select(func.max(VisitRow.seq)).where(VisitRow.lane == lane)).scalar()
            return (cur or 0) + 1

    def save_visit(self, row: VisitRow) -> VisitRow:
        row.updated_at = utcnow()
        with self.session() as s:
            merged = s.merge(row)
            s.flush()
            return merged

    def get_visit(self, visit_id: str) -> VisitRow | None:
        with self.session() as s:
            return s.get(VisitRow, visit_id)

    def open_visits(self, lane: str) -> list[VisitRow]:
        with self.session() as s:
            q = select(VisitRow).where(VisitRow.lane == lane, VisitRow.stage != "done").order_by(VisitRow.seq)
            return list(s.exec(q).scalars())

    def visits(
        self, *, lane: str | None = None, day: date | None = None, limit: int = 500, offset: int = 0
    ) -> list[VisitRow]:
        with self.session() as s:
            q = select(VisitRow)
            if lane:
                q = q.where(VisitRow.lane == lane)
            if day:
                start = datetime(day.year, day.month, day.day, tzinfo=UTC)
                q = q.where(VisitRow.started_at >= start, VisitRow.started_at < start + timedelta(days=1))
            q = q.order_by(VisitRow.started_at, VisitRow.seq).offset(offset).limit(limit)
            return list(s.exec(q).scalars())

    def record_transition(
        self, visit_id: str, from_stage: str | None, to_stage: str, sim_at: float, note: str | None = None
    ) -> None:
        with self.session() as s:
            s.add(StageTransition(visit_id=visit_id, from_stage=from_stage, to_stage=to_stage,
                                  at=utcnow(), sim_at=sim_at, note=note))

    def transitions(self, visit_id: str) -> list[StageTransition]:
        with self.session() as s:
            q = select(StageTransition).where(StageTransition.visit_id == visit_id).order_by(StageTransition.id)
            return list(s.exec(q).scalars())

    # ------------------------------------------------------------ side effects (idempotency)
    def intend(self, key: str, *, lane: str, kind: str, visit_id: str | None = None,
               detail: dict[str, Any] | None = None) -> SideEffect:
        """Record that a side effect is about to be commanded; returns the existing record if the key
        is known (a restart finds what it had already asked for)."""
        with self.session() as s:
            row = s.get(SideEffect, key)
            if row is not None:
                return row
            now = utcnow()
            row = SideEffect(key=key, lane=lane, kind=kind, visit_id=visit_id, status="intended",
                             detail=detail or {}, created_at=now, updated_at=now)
            s.add(row)
            return row

    def settle(self, key: str, status: str, detail: dict[str, Any] | None = None) -> None:
        with self.session() as s:
            row = s.get(SideEffect, key)
            if row is None:
                raise PersistenceError(f"unknown side effect {key}")
            row.status = status
            if detail:
                row.detail = {**row.detail, **detail}
            row.updated_at = utcnow()
            s.add(row)

    def side_effect(self, key: str) -> SideEffect | None:
        with self.session() as s:
            return s.get(SideEffect, key)

    def side_effects(self, visit_id: str) -> list[SideEffect]:
        with self.session() as s:
            q = select(SideEffect).where(SideEffect.visit_id == visit_id).order_by(SideEffect.created_at)
            return list(s.exec(q).scalars())

    # ------------------------------------------------------------ events, alerts, audit
    def device_event(self, lane: str, device: str, kind: str, detail: dict[str, Any] | None = None) -> None:
        with self.session() as s:
            s.add(DeviceEventRow(lane=lane, device=device, kind=kind, detail=detail or {}, at=utcnow()))

    def device_events(self, lane: str | None = None, limit: int = 200) -> list[DeviceEventRow]:
        with self.session() as s:
            q = select(DeviceEventRow)
            if lane:
                q = q.where(DeviceEventRow.lane == lane)
            return list(s.exec(q.order_by(DeviceEventRow.id.desc()).limit(limit)).scalars())

    def alert(self, lane: str, kind: str, level: str, message: str, visit_id: str | None = None) -> AlertRow:
        with self.session() as s:
            row = AlertRow(lane=lane, kind=kind, level=level, message=message, visit_id=visit_id, at=utcnow())
            s.add(row)
            s.flush()
            return row

    def alerts(self, lane: str | None = None, limit: int = 200) -> list[AlertRow]:
        with self.session() as s:
            q = select(AlertRow)
            if lane:
                q = q.where(AlertRow.lane == lane)
            return list(s.exec(q.order_by(AlertRow.id.desc()).limit(limit)).scalars())

    def audit(self, *, actor: str, role: str, action: str, lane: str | None = None,
              visit_id: str | None = None, reason: str | None = None,
              detail: dict[str, Any] | None = None) -> AuditEntry:
        with self.session() as s:
            row = AuditEntry(at=utcnow(), actor=actor, role=role, action=action, lane=lane,
                             visit_id=visit_id, reason=reason, detail=detail or {})
            s.add(row)
            s.flush()
            return row

    def audit_log(self, limit: int = 200) -> list[AuditEntry]:
        with self.session() as s:
            return list(s.exec(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)).scalars())
