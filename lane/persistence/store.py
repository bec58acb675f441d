"""The store: the only code that talks to the database.

SQLAlchemy sessions, one short transaction per call. Used as it is (the API, the command line,
tests), each call commits before it returns. A running controller starts the store's writer
(:meth:`Store.start_writer`, :mod:`lane.persistence.writer`): from then on every call runs on that
one thread, in the order the calls were made, so no commit blocks the event loop. Records
(``save_visit``, ``record_transition``, ``settle``, ``device_event``, alerts...) return at once
with a future; what the lane must know before it acts (an intent, a read) it awaits through
:meth:`Store.run`, and a lane about to command a device awaits its last write first (``persist
before acting``, :meth:`lane.records.Records.written`). Called synchronously from another thread
(the API's routes), a call waits for its turn and its answer.

When the database is unreachable (a PostgreSQL restart, a network blip), records of what happened
(visit state, stage transitions, device events, alerts, settled side effects) are kept in an
in-memory journal and written, in their original order, once it answers again (``replay``; the
composition root calls it while ``degraded``). What must be durable *before* it happens cannot
wait in a journal: a side-effect intent (``intend``) and an officer's audited action raise
PersistenceError instead, so the controller holds that step and nothing is commanded that the
database does not know about. The journal lives in the process: a crash during an outage loses it,
and the restarted controller resumes from the last state the database has (side effects are
idempotent by key, so a step repeated from there is not repeated at the device).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import create_engine, event, func, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlmodel import Session

from lane.errors import PersistenceError, RecordRefused
from lane.notes import note_facts
from lane.persistence.actions import ActionRecords, copy_value
from lane.persistence.alerts import AlertRecords
from lane.persistence.blanks import BlankRecords
from lane.persistence.models import (
    LaneRow,
    SideEffect,
    StageTransition,
    VisitRow,
    fit,
    utcnow,
)
from lane.persistence.writer import Writer, ordered
from lane.settings import sqlite_path

log = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")
Written = Future[bool] | bool
"""What a record call gives back: with the writer running, the future of its write (True: written,
False: kept in the journal; RecordRefused: refused); without it, that answer itself."""
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def _prepare_sqlite_path(url: str) -> None:
    """A SQLite database holds NIKs and names: its file is the service user's alone (0600, in a 0700
    directory when we make it; SQLite gives its -wal and -shm files the database file's mode). A file
    found readable by others is made private, and the log says so."""
    path = sqlite_path(url)
    if path is None:
        return
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))  # an empty file is a new database
        return
    except FileExistsError:
        pass
    for f in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        try:
            if f.stat().st_mode & 0o077:
                f.chmod(0o600)
                log.warning("%s was readable by other users; made private (0600)", f)
        except FileNotFoundError:
            continue


def make_engine(url: str) -> Engine:
    _prepare_sqlite_path(url)
    # hide_parameters: a failed statement's error never carries the values (a NIK, a name) into a log
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    connect_args: dict[str, Any] = {}
    if url.startswith("postgresql"):
        # Fail fast instead of blocking the event loop when the server or the network is gone:
        # a bounded connect, and a dead peer noticed within seconds rather than TCP's minutes.
        connect_args = {"connect_timeout": 3, "keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2,
                        "keepalives_count": 2, "tcp_user_timeout": 5000}
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args, hide_parameters=True)


SCHEMA_LOCK = 0x6C616A7572
"""PostgreSQL advisory lock key ("lajur") held while the schema is upgraded."""


def upgrade_database(url: str, revision: str = "head") -> None:
    """Apply Alembic migrations up to ``revision``.

    Every ``lajur serve`` does this at start, so on PostgreSQL two controllers (re)started at the same
    moment would both create the same tables and one would fail; the upgrade is serialised by an
    advisory lock instead: the second waits, then finds the schema already at ``revision``."""
    from alembic import command
    from alembic.config import Config

    _prepare_sqlite_path(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    lock_engine = make_engine(url) if url.startswith("postgresql") else None
    try:
        with contextlib.ExitStack() as stack:
            if lock_engine is not None:
                conn = stack.enter_context(lock_engine.connect())
                conn.exec_driver_sql(f"SELECT pg_advisory_lock({SCHEMA_LOCK})")
                stack.callback(conn.exec_driver_sql, f"SELECT pg_advisory_unlock({SCHEMA_LOCK})")
            command.upgrade(cfg, revision)
    except SQLAlchemyError as exc:
        raise PersistenceError(f"database migration failed: {exc}") from exc
    finally:
        if lock_engine is not None:
            lock_engine.dispose()


class Store(AlertRecords, BlankRecords, ActionRecords):
    def __init__(self, url: str, *, engine: Engine | None = None) -> None:
        self.url = url
        self.engine = engine or make_engine(url)
        self._writer: Writer | None = None
        self._journal: deque[tuple[str, Callable[[Session], Any]]] = deque()
        self._journal_lock = threading.Lock()  # short sections only: append, peek, pop
        self._replay_lock = threading.Lock()
        self.journaled_total = 0
        """Writes that ever waited in the journal (a figure for /metrics and the tests)."""

    # ------------------------------------------------------------ the journal (database away)
    @property
    def degraded(self) -> bool:
        """True while writes wait in the journal for the database to answer again."""
        return bool(self._journal)

    @property
    def journal_size(self) -> int:
        return len(self._journal)

    # ------------------------------------------------------------ the writer (never block the lanes)
    def start_writer(self) -> None:
        """From now on every call runs on the writer's thread, in order (see the module's docstring)."""
        if self._writer is None:
            self._writer = Writer()

    @property
    def writer_backlog(self) -> int:
        """Calls waiting for the writer (0 without one)."""
        return self._writer.backlog if self._writer is not None else 0

    async def run(self, method: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``method(*args, **kwargs)`` (a method of this store) in its turn on the writer's thread,
        awaited without blocking the event loop; without the writer, called at once."""
        if self._writer is None or self._writer.on_thread:
            return method(*args, **kwargs)
        return await asyncio.wrap_future(self._writer.submit(method, *args, **kwargs))

    async def flushed(self) -> None:
        """Every call made so far has run (its record written, or journaled while the database is away)."""
        last = self._writer.last() if self._writer is not None else None
        if last is not None:
            with contextlib.suppress(Exception):  # its caller has the error; here only the order counts
                await asyncio.wrap_future(last)

    def _record(self, what: str, op: Callable[[Session], Any]) -> Written:
        """Write a record now, or keep it in the journal (behind any earlier ones) when the database
        cannot take it. True when written now; with the writer running, a future of that answer
        (the values were taken by the caller: ``op`` only writes them)."""
        if self._writer is not None and not self._writer.on_thread:
            fut = self._writer.submit(self._record_now, what, op)
            fut.add_done_callback(_log_refused)
            return fut
        return self._record_now(what, op)

    def _record_now(self, what: str, op: Callable[[Session], Any]) -> bool:
        with self._journal_lock:
            if self._journal:
                self._journal.append((what, op))
                self.journaled_total += 1
                return False
        try:
            with self.session() as s:
                op(s)
            return True
        except RecordRefused:
            raise
        except IntegrityError as exc:
            raise RecordRefused(f"the database refused {what}: {_why(exc)}") from None
        except PersistenceError as exc:
            with self._journal_lock:
                if not self._journal:
                    log.warning("database unavailable; keeping records until it is back: %s", exc)
                self._journal.append((what, op))
                self.journaled_total += 1
            return False

    def _require_current(self, what: str) -> None:
        if self._journal:
            raise PersistenceError(f"database unavailable: {len(self._journal)} records wait to be written "
                                   f"before {what}")

    def replay(self) -> bool:
        """Write what the journal holds, oldest first; True when it is empty. Safe to call from any
        thread and from several controllers at once (one replays, the others return)."""
        if not self._replay_lock.acquire(blocking=False):
            return not self._journal
        try:
            written = 0
            while True:
                with self._journal_lock:
                    if not self._journal:
                        break
                    what, op = self._journal[0]
                try:
                    with self.session() as s:
                        op(s)
                except RecordRefused as exc:  # refused for good: logged, not retried for ever
                    log.error("journaled %s could not be written; dropped: %s", what, exc)
                except PersistenceError:
                    return False
                except SQLAlchemyError as exc:
                    log.error("journaled %s could not be written; dropped: %s", what, _why(exc))
                with self._journal_lock:
                    self._journal.popleft()
                written += 1
            if written:
                log.warning("database back: %d journaled records written in order", written)
            return True
        finally:
            self._replay_lock.release()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.stop()
            self._writer = None
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
        except SQLAlchemyError as exc:  # the database answered, and said no (a value it cannot hold...)
            raise RecordRefused(f"the database refused a write: {_why(exc)}") from None

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
            return True
        except SQLAlchemyError:
            return False

    # ------------------------------------------------------------ lanes
    @ordered
    def ensure_lane(self, name: str, site: str) -> None:
        with self.session() as s:
            if s.get(LaneRow, name) is None:
                s.add(LaneRow(name=name, site=site, created_at=utcnow()))

    @ordered
    def lanes(self) -> list[LaneRow]:
        with self.session() as s:
            return list(s.exec(select(LaneRow).order_by(LaneRow.name)).scalars())

    @ordered
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
    @ordered
    def next_seq(self, lane: str) -> int:
        self._require_current("numbering a visit")  # a journaled visit would be numbered twice
        with self.session() as s:
            cur = s.exec(select(func.max(VisitRow.seq)).where(VisitRow.lane == lane)).scalar()
            return (cur or 0) + 1

    def save_visit(self, row: VisitRow) -> Written:
        """Write the visit's current state (a copy taken now: the caller goes on changing ``row``)."""
        row.updated_at = utcnow()
        table = VisitRow.__table__
        values = fit(table, {c.name: copy_value(getattr(row, c.name)) for c in table.columns})

        def op(s: Session) -> None:
            # One UPDATE (an INSERT the first time), not the ORM's merge (a SELECT, then a flush):
            # a 32-lane controller writes a visit several times a second, on its event loop.
            conn = s.connection()
            if conn.execute(update(table).where(table.c.id == row.id).values(**values)).rowcount == 0:
                conn.execute(insert(table).values(**values))

        return self._record(f"visit {row.id}", op)

    @ordered
    def visit_by_status_token(self, token: str) -> VisitRow | None:
        with self.session() as s:
            return s.exec(select(VisitRow).where(VisitRow.status_token == token)).scalars().first()

    @ordered
    def get_visit(self, visit_id: str) -> VisitRow | None:
        with self.session() as s:
            return s.get(VisitRow, visit_id)

    @ordered
    def open_visits(self, lane: str) -> list[VisitRow]:
        with self.session() as s:
            q = select(VisitRow).where(VisitRow.lane == lane, VisitRow.stage != "done").order_by(VisitRow.seq)
            return list(s.exec(q).scalars())

    @ordered
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
        """``note`` may be a :class:`lane.notes.Note`: its message id and values are kept beside its text."""
        values = fit(StageTransition.__table__, {"visit_id": visit_id, "from_stage": from_stage, "to_stage": to_stage,
                                                 "at": utcnow(), "sim_at": sim_at,
                                                 "note": str(note) if note is not None else None,
                                                 "note_facts": note_facts(note)})
        return self._record(f"transition {visit_id} -> {to_stage}",
                     lambda s: s.connection().execute(insert(StageTransition.__table__).values(**values)))

    @ordered
    def transitions(self, visit_id: str) -> list[StageTransition]:
        with self.session() as s:
            q = select(StageTransition).where(StageTransition.visit_id == visit_id).order_by(StageTransition.id)
            return list(s.exec(q).scalars())

    # ------------------------------------------------------------ side effects (idempotency)
    @ordered
    def intend(self, key: str, *, lane: str, kind: str, visit_id: str | None = None,
               detail: dict[str, Any] | None = None) -> SideEffect:
        """Record that a side effect is about to be commanded; returns the existing record if the key
        is known (a restart finds what it had already asked for). Never journaled: PersistenceError
        while the database is away, so the caller holds the step instead of commanding it."""
        self._require_current(f"side effect {key}")
        with self.session() as s:
            row = s.get(SideEffect, key)
            if row is not None:
                return row
            now = utcnow()
            row = SideEffect(key=key, lane=lane, kind=kind, visit_id=visit_id, status="intended",
                             detail=detail or {}, created_at=now, updated_at=now)
            s.add(row)
            return row

    def settle(self, key: str, status: str, detail: dict[str, Any] | None = None) -> Written:
        at = utcnow()
        detail = copy_value(detail)

        def op(s: Session) -> None:
            t = SideEffect.__table__
            conn = s.connection()
            values: dict[str, Any] = {"status": status, "updated_at": at}
            if detail:
                before = conn.execute(select(t.c.detail).where(t.c.key == key)).scalar_one_or_none()
                values["detail"] = {**(before or {}), **detail}
            if conn.execute(update(t).where(t.c.key == key).values(**values)).rowcount == 0:
                log.error("settling unknown side effect %s (%s)", key, status)

        return self._record(f"side effect {key} {status}", op)

    @ordered
    def side_effect(self, key: str) -> SideEffect | None:
        with self.session() as s:
            return s.get(SideEffect, key)

    @ordered
    def side_effects(self, visit_id: str) -> list[SideEffect]:
        with self.session() as s:
            q = select(SideEffect).where(SideEffect.visit_id == visit_id).order_by(SideEffect.created_at)
            return list(s.exec(q).scalars())

    # ------------------------------------------------------------ history (reports, the day's simulation)
    @ordered
    def visits_between(self, start: datetime, end: datetime) -> list[VisitRow]:
        """Every visit that started in [start, end), in order."""
        with self.session() as s:
            q = select(VisitRow).where(VisitRow.started_at >= start, VisitRow.started_at < end)
            return list(s.exec(q.order_by(VisitRow.started_at, VisitRow.seq)).scalars())

    @ordered
    def history_of(self, visit_ids: list[str]) -> tuple[list[StageTransition], list[SideEffect]]:
        """The stage transitions and side effects of these visits, in bulk (hundreds a day)."""
        transitions: list[StageTransition] = []
        effects: list[SideEffect] = []
        with self.session() as s:
            for i in range(0, len(visit_ids), 500):
                chunk = visit_ids[i:i + 500]
                transitions += s.exec(select(StageTransition).where(StageTransition.visit_id.in_(chunk))
                                      .order_by(StageTransition.id)).scalars()
                effects += s.exec(select(SideEffect).where(SideEffect.visit_id.in_(chunk))).scalars()
        return transitions, effects
    @ordered
    def pending_effects(self, lane: str, kind: str) -> list[SideEffect]:
        """This lane's side effects of ``kind`` asked for and not yet done, oldest first."""
        with self.session() as s:
            q = select(SideEffect).where(SideEffect.lane == lane, SideEffect.kind == kind,
                                         SideEffect.status == "intended")
            return list(s.exec(q.order_by(SideEffect.created_at)).scalars())


def _why(exc: SQLAlchemyError) -> str:
    """What the database said, on one line, without the statement (parameters are hidden anyway)."""
    orig = getattr(exc, "orig", None)
    return str(orig if orig is not None else exc).splitlines()[0][:200]



def _log_refused(fut: Future[bool]) -> None:
    """A record refused by the database, whoever made it: said once in the log (no values in it)."""
    exc = fut.exception()
    if isinstance(exc, RecordRefused):
        log.warning("%s", exc)
    elif exc is not None:
        log.error("a store call failed on the writer's thread", exc_info=exc)
