from datetime import UTC, datetime

import pytest
from sqlalchemy import inspect

from lane.errors import RecordRefused
from lane.persistence import Store, VisitRow, upgrade_database
from lane.persistence.store import utcnow

TABLES = {"lanes", "visits", "stage_transitions", "side_effects", "device_events", "alerts", "audit_log"}


def _exercise(store: Store) -> None:
    store.ensure_lane("lane-1", "mpp-batang")
    store.ensure_lane("lane-1", "mpp-batang")  # idempotent
    seq = store.next_seq("lane-1")
    row = VisitRow(id="lane-1-x-0001", lane="lane-1", seq=seq, stage="arriving", started_at=datetime(2026, 11, 23, 8, tzinfo=UTC),
                   updated_at=utcnow(), stage_seconds={})
    store.save_visit(row)
    store.record_transition(row.id, None, "arriving", 0.0, "vehicle on entry loop")
    row.stage = "verifying"
    row.stage_seconds = {"arriving": 12.5}
    store.save_visit(row)
    store.record_transition(row.id, "arriving", "verifying", 12.5)
    assert store.get_visit(row.id).stage_seconds == {"arriving": 12.5}
    assert [t.to_stage for t in store.transitions(row.id)] == ["arriving", "verifying"]
    assert [v.id for v in store.open_visits("lane-1")] == [row.id]
    assert store.next_seq("lane-1") == seq + 1

    first = store.intend("lane-1-x-0001-fee-1", lane="lane-1", kind="charge", visit_id=row.id, detail={"amount": 80000})
    again = store.intend("lane-1-x-0001-fee-1", lane="lane-1", kind="charge", visit_id=row.id)
    assert first.status == again.status == "intended"
    store.settle("lane-1-x-0001-fee-1", "done", {"outcome": "paid"})
    assert store.side_effect("lane-1-x-0001-fee-1").status == "done"
    assert store.intend("lane-1-x-0001-fee-1", lane="lane-1", kind="charge").detail["outcome"] == "paid"

    store.device_event("lane-1", "entry-gate", "offline", {"missed": 3})
    store.alert("lane-1", "stage_over_budget", "warning", "over budget", row.id)
    store.audit(actor="siti", role="officer", action="abort", lane="lane-1", visit_id=row.id, reason="left")
    assert store.audit_log()[0].reason == "left"
    assert store.alerts("lane-1")[0].kind == "stage_over_budget"
    assert store.device_events("lane-1")[0].kind == "offline"

    assert store.try_lease("lane-1", "ctl-a", 30)
    assert not store.try_lease("lane-1", "ctl-b", 30)
    assert store.try_lease("lane-1", "ctl-a", 30)


def test_migrations_create_every_table_and_store_roundtrips_on_sqlite(sqlite_url):
    upgrade_database(sqlite_url)
    upgrade_database(sqlite_url)  # a second upgrade is a no-op
    s = Store(sqlite_url)
    try:
        assert TABLES <= set(inspect(s.engine).get_table_names())
        _exercise(s)
    finally:
        s.close()


@pytest.mark.postgres
def test_same_schema_and_store_on_real_postgresql(postgres_url):
    upgrade_database(postgres_url)
    s = Store(postgres_url)
    try:
        assert TABLES <= set(inspect(s.engine).get_table_names())
        _exercise(s)
    finally:
        s.close()


def _our_own_long_and_odd_text_is_stored(store: Store) -> VisitRow:
    store.ensure_lane("lane-1", "mpp-batang")
    row = VisitRow(id="lane-1-x-0002", lane="lane-1", seq=1, stage="verifying", updated_at=utcnow(),
                   started_at=datetime(2026, 11, 23, 8, tzinfo=UTC), stage_seconds={},
                   held="card-printer: " + "a device's long error \x00 " * 40 + "\ud800")
    store.save_visit(row)  # a held reason quoting a device: cut to the column, NUL and lone surrogate gone
    kept = store.get_visit(row.id).held
    assert len(kept) == 200 and "\x00" not in kept and kept.startswith("card-printer: ")
    store.alert("lane-1", "device_fault", "critical", "x" * 1000 + "\x00", row.id)
    assert len(store.alerts("lane-1")[0].message) == 300
    return row


def test_sqlite_stores_our_own_long_and_odd_text(store):
    _our_own_long_and_odd_text_is_stored(store)


@pytest.mark.postgres
def test_postgresql_stores_our_own_text_and_a_refused_record_is_never_journaled(postgres_url):
    from sqlalchemy import create_engine, text

    upgrade_database(postgres_url)
    s = Store(postgres_url)
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    try:
        row = _our_own_long_and_odd_text_is_stored(s)
        with admin.connect() as conn:
            conn.execute(text("ALTER TABLE visits ADD CONSTRAINT no_poison CHECK (holder_name NOT LIKE '%POISON%')"))
        row.holder_name = "BUDI POISON"
        with pytest.raises(RecordRefused) as refused:
            s.save_visit(row)
        assert "no_poison" in str(refused.value) and "BUDI" not in str(refused.value), "no personal data in it"
        assert not s.degraded, "a refused record does not block the journal behind it"
        s.device_event("lane-1", "card-reader", "fault", {"visit": row.id})  # the next write goes straight in
        assert s.device_events("lane-1")[0].kind == "fault"
    finally:
        s.close()
        admin.dispose()


def test_the_migrations_build_exactly_the_tables_the_models_describe(sqlite_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    import lane.persistence.accounts  # noqa: F401 - registers the accounts and sessions tables

    upgrade_database(sqlite_url)
    s = Store(sqlite_url)
    try:
        with s.engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), SQLModel.metadata) == []
    finally:
        s.close()
