"""A driver's status page from the QR: no login, no personal data, Bahasa first, gone a while after
the visit, and lookups rate-limited per client."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from api.app import create_app
from lane.persistence import VisitRow
from lane.status import new_token
from tests.api.conftest import make_auth


def _visit(store, token: str, ended_minutes_ago: float | None, **fields) -> None:
    now = datetime.now(UTC)
    start = now - timedelta(minutes=(ended_minutes_ago or 0) + 9)
    seq = abs(hash(token)) % 100_000
    store.save_visit(VisitRow(
        id=f"lane-1-status-{seq}", lane="lane-1", seq=seq, plate="G1234ABC", stage="done" if ended_minutes_ago is not
        None else "capturing", outcome="completed" if ended_minutes_ago is not None else None, nik="3325014507900001",
        holder_name="Siti Rahayu", sim_number="123456789012", sim_class="A", fee=80_000, paid=True, started_at=start,
        ended_at=now - timedelta(minutes=ended_minutes_ago) if ended_minutes_ago is not None else None,
        sim_started=0.0, sim_ended=540.0 if ended_minutes_ago is not None else None, stage_seconds={},
        updated_at=now, status_token=token, **fields))


def test_a_finished_visits_page_says_so_in_bahasa_then_english_without_personal_data(client, api_store):
    token = new_token()
    _visit(api_store, token, ended_minutes_ago=5)
    page = client.get(f"/s/{token}")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert "Perpanjangan SIM Anda" in page.text and "SIM baru Anda sudah diserahkan" in page.text
    assert "G ••34 ABC" in page.text and "G1234ABC" not in page.text
    for personal in ("3325014507900001", "Siti", "123456789012"):
        assert personal not in page.text
    english = client.get(f"/s/{token}", params={"lang": "en"})
    assert "Your new SIM has been handed over" in english.text
    assert client.get(f"/s/{token}").text.count("Your new SIM") == 1  # the phone remembers English
    data = client.get(f"/api/v1/status/{token}", params={"lang": "id"}).json()
    assert data["finished"] and data["outcome"] == "completed" and data["stage_text"] == "Selesai"
    assert "nik" not in data and "holder_name" not in data


def test_a_link_expires_a_while_after_the_visit_and_unknown_tokens_say_nothing(client, api_store):
    token = new_token()
    _visit(api_store, token, ended_minutes_ago=120)  # past the default 60 minutes
    gone = client.get(f"/s/{token}")
    assert gone.status_code == 404 and "Tautan ini sudah tidak berlaku" in gone.text
    assert client.get(f"/api/v1/status/{token}").status_code == 404
    assert client.get(f"/api/v1/status/{new_token()}").json()["reason"] == "not_found"
    assert client.get("/api/v1/status/lane-1-20260302-0001").status_code == 404  # a visit id is no token


def test_guessing_tokens_is_rate_limited_per_client_address(api_store):
    app = create_app(api_store, {}, auth=make_auth(api_store))
    token = new_token()
    _visit(api_store, token, ended_minutes_ago=1)
    with TestClient(app) as c:
        assert c.get(f"/api/v1/status/{token}").status_code == 200
        misses = [c.get(f"/api/v1/status/{new_token()}").status_code for _ in range(10)]
        assert misses == [404] * 10
        refused = c.get(f"/api/v1/status/{token}")  # even the right one, for a while
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
        assert c.get(f"/s/{token}").status_code == 429


def test_an_open_visit_in_the_database_still_answers_while_no_controller_drives_it(client, api_store):
    token = new_token()
    _visit(api_store, token, ended_minutes_ago=None)
    data = client.get(f"/api/v1/status/{token}").json()
    assert not data["finished"] and data["stage"] == "capturing" and data["stage_text"] == "Perekaman"
