"""What officers read: personal data masked except for supervisors, the daily report with its
throughput, stage times and 10-minute share, and the CSV export."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from api.reports import site_timezone
from lane.persistence import VisitRow
from tests.api.conftest import bearer

DAY = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 09:00 WIB


@pytest.fixture(scope="module")
def seeded(api_store):
    stages_ok = {"arriving": 20, "verifying": 100, "paying": 60, "capturing": 90, "printing": 100,
                 "handing_over": 30, "exiting": 30}  # 430 s
    slow = {**stages_ok, "capturing": 300}  # 640 s: over the 10-minute goal
    queued = {"queued": 400, **stages_ok}  # 430 s in the lane after 400 s before the entry
    rows = [("G1234ABC", "completed", queued, 0), ("H12A", "completed", slow, 1), ("AD5678XY", "refused",
            {"arriving": 20, "verifying": 90, "exiting": 30}, 1)]
    for i, (plate, outcome, stages, hour) in enumerate(rows, start=1):
        start = DAY + timedelta(hours=hour, minutes=i)
        total = float(sum(stages.values()))
        api_store.save_visit(VisitRow(
            id=f"lane-1-20260302-{i:04d}", lane="lane-1", seq=i, plate=plate, plate_confidence=0.93, stage="done",
            outcome=outcome, reason="sim_expired" if outcome == "refused" else None, nik="3325014507900001",
            holder_name="Siti Rahayu", sim_class="A", fee=80_000, paid=outcome == "completed", started_at=start,
            ended_at=start + timedelta(seconds=total), sim_started=1000.0 * i, sim_ended=1000.0 * i + total,
            stage_seconds=stages, updated_at=start))
    return rows


def test_nik_is_masked_for_officers_and_shown_to_supervisors(client, tokens, seeded):
    vid = "lane-1-20260302-0001"
    officer = client.get(f"/api/v1/visits/{vid}", headers=bearer(tokens["officer"])).json()
    assert officer["nik"] != "3325014507900001" and "Siti Rahayu" not in officer["holder_name"]
    supervisor = client.get(f"/api/v1/visits/{vid}", headers=bearer(tokens["supervisor"])).json()
    assert supervisor["nik"] == "3325014507900001" and supervisor["holder_name"] == "Siti Rahayu"
    listed = client.get("/api/v1/visits", params={"day": "2026-03-02"}, headers=bearer(tokens["admin"])).json()
    assert all(v["nik"] != "3325014507900001" for v in listed)


def test_daily_report_counts_throughput_stage_goals_and_the_ten_minute_share(client, tokens, seeded):
    r = client.get("/api/v1/reports/daily", params={"day": "2026-03-02"}, headers=bearer(tokens["officer"])).json()
    assert r["visits"] == 3 and r["outcomes"] == {"completed": 2, "refused": 1}
    assert r["within_goal_pct"] == 50.0  # one of two completed visits within 10 minutes of the entry
    # ... but not of joining the queue: the first waited 400 s before the entry
    assert r["within_goal_door_to_door_pct"] == 0.0 and r["p95_door_to_door_seconds"] == 830
    assert r["mean_seconds"] == round((430 + 640 + 140) / 3, 1)
    local_hour = (DAY.astimezone(site_timezone())).hour
    per_hour = {h["hour"]: h["visits"] for h in r["throughput_per_hour"]}
    assert sum(per_hour.values()) == 3 and per_hour[local_hour] + per_hour[local_hour + 1] == 3
    capturing = next(s for s in r["stages"] if s["stage"] == "capturing")
    assert capturing["goal_seconds"] == 120 and capturing["goal_met_pct"] == 50.0 and capturing["visits"] == 2
    arriving = next(s for s in r["stages"] if s["stage"] == "arriving")
    assert arriving["by_part_of_day"]["morning"]["visits"] == 3
    queue = next(s for s in r["stages"] if s["stage"] == "queued")
    assert queue["visits"] == 1 and queue["goal_seconds"] == 300 and queue["goal_met_pct"] == 0.0


def test_csv_export_has_one_line_per_visit_and_no_personal_data(client, tokens, seeded):
    r = client.get("/api/v1/reports/daily.csv", params={"day": "2026-03-02"}, headers=bearer(tokens["officer"]))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["plate"] for row in rows] == ["G1234ABC", "H12A", "AD5678XY"]
    assert [row["within_goal"] for row in rows] == ["yes", "no", ""]
    assert [row["seconds"] for row in rows] == ["430.0", "640.0", "140.0"]
    assert [(row["queued"], row["door_to_door_seconds"]) for row in rows] == [("400", "830.0"), ("", "640.0"),
                                                                            ("", "140.0")]
    assert list(rows[0])[9] == "arriving"  # the old columns stay where they were
    assert "3325014507900001" not in r.text and "Siti" not in r.text


def test_pages_need_a_login_but_displays_do_not(client, tokens):
    assert client.get("/reports", follow_redirects=False).status_code == 303
    assert client.get("/display/lane-1/entry").status_code == 404  # no such lane in this app
    login = client.post("/api/v1/auth/login", json={"username": "technician", "password": "correct horse battery"})
    assert login.status_code == 200
    page = client.get("/technician")
    assert page.status_code == 200 and "Devices" in page.text


def test_openapi_docs_work_offline_without_a_cdn(client):
    page = client.get("/docs")
    assert page.status_code == 200
    assert "/docs-assets/swagger-ui-bundle.js" in page.text
    assert "cdn" not in page.text.lower() and "https://" not in page.text.split("<body>")[-1]
    js = client.get("/docs-assets/swagger-ui-bundle.js")
    assert js.status_code == 200 and len(js.content) > 100_000
    assert client.get("/docs-assets/swagger-ui.css").status_code == 200
    assert client.get("/openapi.json").json()["info"]["title"] == "Lajur"


def test_acknowledge_all_takes_every_open_alert_at_once_and_is_audited_once(client, tokens, api_store):
    """Twelve alerts on two lanes: one press acknowledges lane-2's, a second the rest; the active list
    (neither cleared nor acknowledged) is then empty, a cleared alert says when, and a third press
    finds nothing to do."""
    for i in range(10):
        api_store.alert("lane-1", "stage_over_budget", "warning", f"visit {i} over budget in paying",
                        f"lane-1-20260302-{i:04d}", cause="paying")
    api_store.alert("lane-2", "device_fault", "critical", "card-printer: ribbon_out", "lane-2-x-0001",
                    cause="card-printer", facts={"device": "card-printer", "fault": "ribbon_out", "plate": "G1234AB"})
    api_store.alert("lane-2", "gate_close_failed", "warning", "exit-gate did not close", cause="exit-gate")
    api_store.clear_alerts("lane-2", visit_id=None, kind="gate_close_failed", cause="exit-gate")
    officer = bearer(tokens["officer"])
    active = client.get("/api/v1/alerts", params={"active": "true", "limit": 1000}, headers=officer).json()
    assert len(active) == 11 and {a["cause"] for a in active} == {"paying", "card-printer"}
    # the facts a page says the alert from, in its language (null for an alert raised without them)
    assert {a["kind"]: a["facts"] for a in active} == {
        "stage_over_budget": None, "device_fault": {"device": "card-printer", "fault": "ribbon_out", "plate": "G1234AB",
                                                    "stage": None, "minutes": None, "seconds": None, "reason": None,
                                                    "count": None, "read": None, "outcome": None, "missing": None,
                                                    "step": None, "error": None}}
    cleared = next(a for a in client.get("/api/v1/alerts", headers=officer).json() if a["kind"] == "gate_close_failed")
    assert cleared["cleared_at"] and cleared["acknowledged_by"] is None

    r = client.post("/api/v1/alerts/ack", params={"lane": "lane-2"}, headers=officer)
    assert r.status_code == 200 and r.json()["acknowledged"] == 2 and r.json()["acknowledged_by"] == "officer"
    r = client.post("/api/v1/alerts/ack", headers=officer)
    assert r.json()["acknowledged"] == 10
    assert client.get("/api/v1/alerts", params={"active": "true"}, headers=officer).json() == []
    assert all(a["acknowledged_by"] == "officer" and a["acknowledged_at"]
               for a in client.get("/api/v1/alerts", params={"limit": 1000}, headers=officer).json())
    assert client.post("/api/v1/alerts/ack", headers=officer).json()["acknowledged"] == 0
    presses = [a for a in api_store.audit_log() if a.action == "ack_all_alerts"]
    assert [(a.actor, a.lane, a.detail["count"]) for a in presses] == [("officer", None, 0), ("officer", None, 10),
                                                                       ("officer", "lane-2", 2)]


STUCK_DAY = datetime(2026, 3, 3, 1, 30, tzinfo=UTC)  # 08:30 WIB


@pytest.fixture(scope="module")
def accounted_day(api_store):
    """A day with five quick renewals, two refusals, one abort after paying, and three cars stuck at
    window 2 for over half an hour when the report is read."""
    quick = {"arriving": 20, "verifying": 60, "paying": 50, "capturing": 80, "printing": 60,
             "handing_over": 20, "exiting": 30}  # 320 s
    rows = [("completed", "A", None, True, quick)] * 4 + [("completed", "C", None, True, quick)] + [
        ("refused", "A", "sim_expired", False, {"arriving": 20, "verifying": 60, "exiting": 30}),
        ("refused", "C", "health_certificate_expired", False, {"arriving": 20, "verifying": 60, "exiting": 30}),
        ("aborted", "A", "driver felt unwell", True, {"arriving": 20, "verifying": 60, "paying": 50, "exiting": 30}),
    ] + [(None, "A", None, True, {"arriving": 20, "verifying": 60, "paying": 50, "capturing": 1900})] * 3
    for i, (outcome, cls, reason, paid, stages) in enumerate(rows, start=1):
        start = STUCK_DAY + timedelta(minutes=5 * i)
        total = float(sum(stages.values()))
        api_store.save_visit(VisitRow(
            id=f"lane-1-20260303-{i:04d}", lane="lane-1", seq=100 + i, plate=f"G{1000 + i}AB", stage="done" if outcome
            else "capturing", outcome=outcome, reason=reason, sim_class=cls, fee=80_000 if cls == "A" else 75_000,
            paid=paid, started_at=start, ended_at=start + timedelta(seconds=total) if outcome else None,
            sim_started=0.0, sim_ended=total if outcome else None, stage_seconds=stages, updated_at=start))


def test_the_days_report_counts_classes_pnbp_refusals_and_stuck_cars_as_not_within(client, tokens, accounted_day):
    r = client.get("/api/v1/reports/daily", params={"day": "2026-03-03"}, headers=bearer(tokens["officer"])).json()
    assert r["by_class"]["A"] == {"completed": 4, "refused": 1, "aborted": 1, "open": 3, "total": 9}
    assert r["by_class"]["C"] == {"completed": 1, "refused": 1, "aborted": 0, "open": 0, "total": 2}
    assert r["pnbp"] == {"A": {"paid": 8, "rupiah": 640_000}, "C": {"paid": 1, "rupiah": 75_000}}
    assert r["pnbp_total"] == 715_000
    assert [(x["reason"], x["count"]) for x in r["refusals"]] == [("health_certificate_expired", 1),
                                                                  ("sim_expired", 1)]
    assert "Satpas" in next(x["text_id"] for x in r["refusals"] if x["reason"] == "sim_expired")
    assert r["aborts"] == [{"reason": "driver felt unwell", "count": 1, "text_id": None, "text_en": None}]
    # Five renewals within ten minutes, three cars stuck for over half an hour: not "100 %".
    assert r["stuck"] == 3 and r["counted"] == 8 and r["within_goal"] == 5
    assert r["within_goal_pct"] == 62.5 and r["within_goal_door_to_door_pct"] == 62.5


def test_the_days_report_prints_on_a4_with_signature_lines_in_bahasa_first(client, accounted_day):
    assert client.get("/reports/print", follow_redirects=False).status_code == 303
    client.post("/api/v1/auth/login", json={"username": "supervisor", "password": "correct horse battery"})
    page = client.get("/reports/print", params={"day": "2026-03-03"})
    assert page.status_code == 200
    text = page.text
    assert "Laporan Harian Layanan SIM Drive-Thru" in text and "03/03/2026" in text
    assert "Rp715.000" in text and "Rp640.000" in text and "62.5 %" in text
    assert "Dibuat oleh" in text and "Petugas jaga" in text and "Diperiksa oleh" in text and "supervisor" in text
    assert "SIM sudah habis masa berlaku" in text and "<svg" in text and "size: A4" in client.get(
        "/static/print.css").text
    english = client.get("/reports/print", params={"day": "2026-03-03", "lang": "en"}).text
    assert "Prepared by" in english and "Checked by" in english and "Rp715.000" in english
    assert "Siti" not in text and "3325" not in text  # nothing personal on the sheet


def test_the_days_accounts_export_as_csv(client, tokens, accounted_day):
    r = client.get("/api/v1/reports/daily-summary.csv", params={"day": "2026-03-03"},
                   headers=bearer(tokens["officer"]))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert ["pnbp", "total", "rupiah", "715000"] in rows
    assert ["class", "C", "refused", "1"] in rows and ["refusal", "sim_expired",
                                                        "SIM has expired: please apply for a new SIM at the Satpas",
                                                        "1"] in rows
    assert ["promise", "stuck", "", "3"] in rows


def test_the_blank_log_shows_each_card_blank_and_the_spoiled_one_with_why_and_who(client, tokens, api_store):
    visit = "lane-1-20260302-0099"
    _, first = api_store.intend_card(f"{visit}-card", lane="lane-1", visit_id=visit, copy=1, printer="card-printer")
    effect, again = api_store.intend_card(f"{visit}-card", lane="lane-1", visit_id=visit, copy=1,
                                          printer="card-printer")
    assert again.serial == first.serial and effect.detail["card_serial"] == first.serial, "a retry keeps its blank"
    api_store.blank_printed(first.serial)
    api_store.spoil_blank(first.serial, reason="photo smudged", by="budi")
    _, second = api_store.intend_card(f"{visit}-card-2", lane="lane-1", visit_id=visit, copy=2, printer="card-printer")
    assert second.serial != first.serial
    res = client.get("/api/v1/blanks", headers=bearer(tokens["officer"]))
    assert res.status_code == 200
    log = [b for b in res.json() if b["visit_id"] == visit]
    assert [(b["serial"], b["card_copy"], b["status"], b["reason"], b["spoiled_by"]) for b in log] == [
        (first.serial, 1, "spoiled", "photo smudged", "budi"), (second.serial, 2, "issued", None, None)]
    assert client.get("/api/v1/blanks").status_code == 401
    api_store.save_visit(VisitRow(id=visit, lane="lane-1", seq=99, stage="handing_over", started_at=DAY,
                                  sim_started=0.0, updated_at=DAY, stage_seconds={}))
    detail = client.get(f"/api/v1/visits/{visit}", headers=bearer(tokens["officer"])).json()
    assert [(b["serial"], b["status"]) for b in detail["card_blanks"]] == [(first.serial, "spoiled"),
                                                                          (second.serial, "issued")]
