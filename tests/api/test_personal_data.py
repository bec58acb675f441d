"""Personal data through the console (UU 27/2022): who saw a NIK in full and who took a report out
of the building is in the audit log; 30 days after a visit its NIK, name, SIM number and plate are
erased and the day's report still counts it; ``lajur db purge`` does the same by hand; the SQLite file
is private to the service's user."""

from __future__ import annotations

import csv
import io
import itertools
import stat
from datetime import UTC, datetime, timedelta

import pytest

from cli.main import main
from lane.i18n import N_
from lane.notes import Note
from lane.persistence import Store, VisitRow, upgrade_database
from lane.persistence.retention import purge_personal_data
from tests.api.conftest import bearer

NIK, NAME, SIM = "3325014507900001", "Siti Rahayu", "332501450790"
OLD_DAY = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)  # 09:00 WIB
SEQ = itertools.count(1000)


def _seed(store: Store, day: datetime, n: int = 3, prefix: str = "lane-1-20260105") -> list[str]:
    ids = []
    for i in range(1, n + 1):
        start = day + timedelta(minutes=20 * i)
        stages = {"arriving": 20, "verifying": 100, "paying": 60, "capturing": 90, "printing": 100,
                  "handing_over": 30, "exiting": 30}
        total = float(sum(stages.values()))
        vid = f"{prefix}-{i:04d}"
        store.save_visit(VisitRow(
            id=vid, lane="lane-1", seq=next(SEQ), plate=f"G{1230 + i}ABC", plate_confidence=0.95, stage="done",
            outcome="completed", nik=NIK, holder_name=NAME, sim_number=SIM, sim_class="A", fee=80_000, paid=True,
            started_at=start, ended_at=start + timedelta(seconds=total), sim_started=0.0, sim_ended=total,
            stage_seconds=stages, updated_at=start))
        store.record_transition(vid, "arriving", "arriving", 0.0,
                                Note.of(N_("plate read %(plate)s (%(confidence)s)"), plate=f"G{1230 + i}ABC",
                                        confidence="0.95"))
        store.alert("lane-1", "plate_unconfirmed", "warning", f"plate read G{1230 + i}ABK with low confidence", vid,
                    facts={"plate": f"G{1230 + i}ABC", "read": f"G{1230 + i}ABK"})
        store.audit(actor="siti", role="officer", action="confirm_plate", lane="lane-1", visit_id=vid,
                    detail={"plate": f"G{1230 + i}ABC"})
        ids.append(vid)
    return ids


def _actions(store: Store, action: str) -> list:
    return [a for a in store.audit_log(limit=1000) if a.action == action]


def test_who_saw_a_nik_in_full_is_audited_and_masked_views_are_not(client, tokens, api_store):
    [vid] = _seed(api_store, OLD_DAY - timedelta(days=3), n=1, prefix="lane-1-20260102")
    before = len(_actions(api_store, "view_personal_data"))
    assert client.get(f"/api/v1/visits/{vid}", headers=bearer(tokens["officer"])).json()["nik"] != NIK
    assert len(_actions(api_store, "view_personal_data")) == before, "masked: nothing to record"
    assert client.get(f"/api/v1/visits/{vid}", headers=bearer(tokens["supervisor"])).json()["nik"] == NIK
    client.get("/api/v1/visits", params={"day": "2026-01-02"}, headers=bearer(tokens["supervisor"]))
    seen = _actions(api_store, "view_personal_data")[:2]
    assert {(a.actor, a.role) for a in seen} == {("supervisor", "supervisor")}
    assert seen[1].visit_id == vid and seen[0].detail == {"visits": [vid], "count": 1}
    assert NIK not in str([a.detail for a in seen]), "the audit says whose, not what"


def test_csv_exports_and_prints_are_audited(client, tokens, api_store):
    r = client.get("/api/v1/reports/daily.csv", params={"day": "2026-01-05", "lane": "lane-1"},
                   headers=bearer(tokens["officer"]))
    assert r.status_code == 200
    r = client.get("/api/v1/reports/daily-summary.csv", params={"day": "2026-01-05"}, headers=bearer(tokens["officer"]))
    assert r.status_code == 200
    r = client.get("/reports/print", params={"day": "2026-01-05"}, headers=bearer(tokens["admin"]))
    assert r.status_code == 200
    printed, summary, exported = _actions(api_store, "export_report")[:3]
    assert (exported.actor, exported.lane, exported.detail) == ("officer", "lane-1", {"format": "csv",
                                                                                     "day": "2026-01-05"})
    assert summary.detail == {"format": "summary_csv", "day": "2026-01-05"}
    assert (printed.actor, printed.detail) == ("admin", {"format": "print", "day": "2026-01-05"})


def test_after_the_retention_a_visit_keeps_only_anonymised_figures_and_the_report_still_counts_it(
        client, tokens, api_store):
    ids = _seed(api_store, OLD_DAY)
    officer = bearer(tokens["officer"])
    report_before = client.get("/api/v1/reports/daily", params={"day": "2026-01-05"}, headers=officer).json()
    assert purge_personal_data(api_store, OLD_DAY + timedelta(days=1)) >= len(ids)
    assert purge_personal_data(api_store, OLD_DAY + timedelta(days=1)) == 0, "idempotent"
    report_after = client.get("/api/v1/reports/daily", params={"day": "2026-01-05"}, headers=officer).json()
    assert report_after == report_before and report_after["visits"] == 3
    row = api_store.get_visit(ids[0])
    assert (row.nik, row.holder_name, row.sim_number, row.plate) == (None, None, None, None)
    assert row.purged_at is not None and row.outcome == "completed" and row.stage_seconds["printing"] == 100
    assert client.get(f"/api/v1/visits/{ids[0]}", headers=bearer(tokens["supervisor"])).json()["nik"] == ""
    notes = " ".join(t.note or "" for t in api_store.transitions(ids[0]))
    alerts = " ".join(a.message for a in api_store.alerts(limit=1000) if a.visit_id in ids)
    details = [a.detail for a in api_store.audit_log(limit=1000) if a.visit_id in ids]
    assert "G1231" not in notes + alerts and "[erased]" in notes and "[erased]" in alerts
    assert all(d.get("plate") in (None, "[erased]") for d in details)
    assert [t.note_facts for t in api_store.transitions(ids[0])] == [
        {"id": "plate read %(plate)s (%(confidence)s)", "plate": "[erased]", "confidence": "0.95"}]
    facts = [a.facts for a in api_store.alerts(limit=1000) if a.visit_id in ids]
    assert facts and all(f == {"plate": "[erased]", "read": "[erased]"} for f in facts)
    rows = list(csv.DictReader(io.StringIO(client.get("/api/v1/reports/daily.csv", params={"day": "2026-01-05"},
                                                      headers=officer).text)))
    assert len(rows) == 3 and {r["plate"] for r in rows} == {""} and {r["within_goal"] for r in rows} == {"yes"}


def test_open_visits_and_recent_ones_keep_their_data(api_store):
    recent = _seed(api_store, datetime.now(UTC) - timedelta(days=2), n=1, prefix="lane-1-recent")[0]
    purge_personal_data(api_store, datetime.now(UTC) - timedelta(days=30))
    assert api_store.get_visit(recent).nik == NIK


def test_db_purge_command_erases_what_is_older_than_the_setting(tmp_path, capsys, monkeypatch):
    url = f"sqlite:///{tmp_path}/site/lajur.db"
    upgrade_database(url)
    store = Store(url)
    old = _seed(store, datetime.now(UTC) - timedelta(days=40), n=2, prefix="lane-1-old")
    young = _seed(store, datetime.now(UTC) - timedelta(days=10), n=1, prefix="lane-1-young")
    store.close()
    monkeypatch.setenv("LAJUR_DATABASE_URL", url)
    assert main(["db", "purge"]) == 0
    assert "personal data of 2 visits that ended more than 30 days ago erased" in capsys.readouterr().out
    assert main(["db", "purge", "--days", "7"]) == 0
    assert "of 1 visits" in capsys.readouterr().out
    store = Store(url)
    try:
        assert all(store.get_visit(v).nik is None for v in old + young)
        assert [a.action for a in store.audit_log()][:2] == ["purge_personal_data"] * 2
    finally:
        store.close()
    with pytest.raises(SystemExit):
        main(["db", "purge", "--days", "-1"])


def test_the_sqlite_database_is_private_to_the_service_user(tmp_path):
    url = f"sqlite:///{tmp_path}/data/lajur.db"
    upgrade_database(url)
    store = Store(url)
    _seed(store, OLD_DAY, n=1)
    db = tmp_path / "data" / "lajur.db"
    for f in (db, tmp_path / "data" / "lajur.db-wal"):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700
    store.close()
    db.chmod(0o644)  # a file copied in by hand, readable by all
    Store(url).close()
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
