"""Bahasa Indonesia first on every page, English one click away and remembered with the account."""

from __future__ import annotations

from api.accounts_cli import add_user
from tests.api.conftest import PASSWORD, TestClient, make_auth


def _login(client: TestClient, username: str) -> None:
    assert client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD}).status_code == 200


def test_pages_speak_bahasa_until_an_officer_chooses_english_and_every_session_remembers(app, api_store):
    add_user(api_store, "wulan", "officer", PASSWORD, auth=make_auth(api_store))
    with TestClient(app) as first:
        login = first.get("/login")
        assert 'lang="id"' in login.text and "Masuk dengan akun petugas Anda" in login.text
        _login(first, "wulan")
        console = first.get("/")
        assert 'lang="id"' in console.text and "Konsol Petugas" in console.text and "Peringatan" in console.text
        assert first.get("/api/v1/auth/me").json()["language"] == "id"
        csrf = first.cookies.get("lajur_csrf")
        chosen = first.put("/api/v1/auth/me/language", json={"language": "en"}, headers={"X-CSRF-Token": csrf})
        assert chosen.status_code == 200 and chosen.json()["language"] == "en"
        english = first.get("/")
        assert 'lang="en"' in english.text and "Officer console" in english.text and "Alerts" in english.text
    with TestClient(app) as other_terminal:
        _login(other_terminal, "wulan")
        assert 'lang="en"' in other_terminal.get("/reports").text  # kept with the account, not the browser
        bad = other_terminal.put("/api/v1/auth/me/language", json={"language": "fr"},
                                 headers={"X-CSRF-Token": other_terminal.cookies.get("lajur_csrf")})
        assert bad.status_code == 422


def test_a_page_carries_its_catalogue_stage_words_and_the_site_time_zone(app, api_store):
    add_user(api_store, "dewi", "supervisor", PASSWORD, auth=make_auth(api_store))
    with TestClient(app) as c:
        _login(c, "dewi")
        page = c.get("/technician").text
        assert 'id="page-data"' in page and '"Verifikasi"' in page and '"Pencetakan"' in page
        assert '"Asia/Jakarta"' in page and '"Loket 1"' in page


def test_the_login_page_switches_language_without_an_account(client):
    english = client.get("/login", params={"lang": "en"})
    assert "Log in with your officer account" in english.text
    assert "Log in with your officer account" in client.get("/login").text  # the browser remembers
    assert "Masuk dengan akun petugas Anda" in client.get("/login", params={"lang": "id"}).text
