"""The store's writer (lane/persistence/writer.py) on SQLite and real PostgreSQL: a commit the
database makes wait stalls only the lane that waits for it, never the event loop every lane shares;
writes keep the order they were made in, a read sees every write made before it, and a refused
record is told to the lane that awaits it."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, text

from lane.errors import RecordRefused
from lane.persistence import Store, VisitRow, upgrade_database
from lane.persistence.store import utcnow


def _row(n: int) -> VisitRow:
    return VisitRow(id=f"lane-1-x-{n:04d}", lane="lane-1", seq=n, stage="queued", updated_at=utcnow(),
                    started_at=datetime(2026, 11, 23, 8, tzinfo=UTC), stage_seconds={})


@contextmanager
def _writer_store(url: str) -> Iterator[Store]:
    upgrade_database(url)
    store = Store(url)
    store.ensure_lane("lane-1", "mpp-batang")
    store.start_writer()
    try:
        yield store
    finally:
        store.close()


@contextmanager
def _database_held(url: str) -> Iterator[Callable[[], None]]:
    """Another client holds the visits table (a long report, a DBA's migration): writes to it wait.
    Yields the release."""
    engine = create_engine(url)
    conn = engine.connect()
    if url.startswith("sqlite"):
        conn.exec_driver_sql("BEGIN IMMEDIATE")  # SQLite: the one writer's lock
    else:
        conn.begin()
        conn.execute(text("LOCK TABLE visits IN EXCLUSIVE MODE"))
    released = threading.Event()

    def release() -> None:
        if not released.is_set():
            released.set()
            conn.rollback()
            conn.close()

    try:
        yield release
    finally:
        release()
        engine.dispose()


async def _commit_waits_but_the_loop_runs(url: str) -> None:
    with _writer_store(url) as store:
        row = _row(1)
        with _database_held(url) as release:
            t0 = time.perf_counter()
            saved = store.save_visit(row)  # returns at once: the writer waits, not the caller
            store.record_transition(row.id, None, "queued", 0.0, "vehicle on entry loop")
            row.stage = "arriving"
            store.save_visit(row)  # the caller changes its row at once: the first write keeps its copy
            assert time.perf_counter() - t0 < 0.1
            ticks = 0

            async def other_lane() -> None:  # another lane's work goes on meanwhile
                nonlocal ticks
                while True:
                    ticks += 1
                    await asyncio.sleep(0.01)

            other = asyncio.create_task(other_lane())
            flushed = asyncio.create_task(store.flushed())
            await asyncio.sleep(0.5)
            assert not flushed.done(), "the lane that needs its write still waits for it"
            assert ticks >= 20, f"the event loop kept running while the database was held ({ticks} ticks)"
            release()
            await asyncio.wait_for(flushed, 10)
            other.cancel()
        assert saved.result() is True
        # a read made after the writes sees them, in their order
        visit = await store.run(store.get_visit, row.id)
        assert visit is not None and visit.stage == "arriving"
        assert [t.note for t in await store.run(store.transitions, row.id)] == ["vehicle on entry loop"]
        assert store.get_visit(row.id).stage == "arriving", "a synchronous read (the API) waits its turn"


async def test_sqlite_commit_held_stalls_only_its_lane_not_the_loop(sqlite_url):
    await _commit_waits_but_the_loop_runs(sqlite_url)


@pytest.mark.postgres
async def test_postgresql_commit_held_stalls_only_its_lane_not_the_loop(postgres_url):
    await _commit_waits_but_the_loop_runs(postgres_url)


async def _many_lanes_keep_their_order(url: str) -> None:
    """Eight lanes write at once, interleaved: each lane's transitions come back in its own order,
    and an intent made after them is answered only once they are in."""
    with _writer_store(url) as store:
        rows = [_row(n) for n in range(1, 9)]
        for r in rows:
            store.save_visit(r)
        stages = ["arriving", "verifying", "paying", "capturing", "printing"]
        for i, stage in enumerate(stages):
            for r in rows:
                store.record_transition(r.id, stages[i - 1] if i else "queued", stage, float(i))
        effect = await store.run(store.intend, f"{rows[-1].id}-card", lane="lane-1", kind="card_print",
                                 visit_id=rows[-1].id)
        assert effect.status == "intended"
        for r in rows:
            assert [t.to_stage for t in store.transitions(r.id)] == stages


async def test_sqlite_lanes_keep_their_order(sqlite_url):
    await _many_lanes_keep_their_order(sqlite_url)


@pytest.mark.postgres
async def test_postgresql_lanes_keep_their_order(postgres_url):
    await _many_lanes_keep_their_order(postgres_url)


@pytest.mark.postgres
async def test_postgresql_refused_record_reaches_the_lane_that_awaits_it(postgres_url):
    with _writer_store(postgres_url) as store:
        admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text("ALTER TABLE visits ADD CONSTRAINT no_poison CHECK (holder_name NOT LIKE '%POISON%')"))
            row = _row(1)
            row.holder_name = "BUDI POISON"
            saved = store.save_visit(row)
            with pytest.raises(RecordRefused) as refused:
                await asyncio.wrap_future(saved)
            assert "no_poison" in str(refused.value) and "BUDI" not in str(refused.value)
            assert not store.degraded, "a refused record is not journaled"
            store.device_event("lane-1", "card-reader", "fault")
            assert store.device_events("lane-1")[0].kind == "fault"
        finally:
            admin.dispose()
