from datetime import UTC, datetime

import pytest
from sqlalchemy import inspect

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
