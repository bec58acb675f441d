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
    rows = [("G1234ABC", "completed", stages_ok, 0), ("H12A", "completed", slow, 1), ("AD5678XY", "refused",
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
    assert r["within_goal_pct"] == 50.0  # one of two completed visits within 10 minutes
    local_hour = (DAY.astimezone(site_timezone())).hour
    per_hour = {h["hour"]: h["visits"] for h in r["throughput_per_hour"]}
    assert sum(per_hour.values()) == 3 and per_hour[local_hour] + per_hour[local_hour + 1] == 3
    capturing = next(s for s in r["stages"] if s["stage"] == "capturing")
    assert capturing["goal_seconds"] == 120 and capturing["goal_met_pct"] == 50.0 and capturing["visits"] == 2
    assert r["stages"][0]["by_part_of_day"]["morning"]["visits"] == 3


def test_csv_export_has_one_line_per_visit_and_no_personal_data(client, tokens, seeded):
    r = client.get("/api/v1/reports/daily.csv", params={"day": "2026-03-02"}, headers=bearer(tokens["officer"]))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["plate"] for row in rows] == ["G1234ABC", "H12A", "AD5678XY"]
    assert [row["within_goal"] for row in rows] == ["yes", "no", ""]
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
