"""Console sessions as an officer (and an intruder) meets them: logging out or disabling an account
ends its token and closes its live sockets at once; failed logins slow down the address that
guesses, never the officer at their own terminal, in a table that stays small; security headers on
every response; a restart keeps sessions; out-of-range dates are refused with a reason."""

from __future__ import annotations

import logging
import stat

import httpx
import pytest
from starlette.websockets import WebSocketDisconnect

from api.accounts_cli import add_user
from api.app import create_app
from api.auth import LoginLimiter, secret_from_file
from cli.compose import Site
from lane.clock import SystemClock
from lane.persistence import Store, upgrade_database
from lane.settings import load_settings
from tests.api.conftest import PASSWORD, TestClient, bearer, make_auth

ATTACKER = ("10.0.0.66", 40000)
OFFICER_DESK = ("10.0.0.12", 50000)


def _login(client: TestClient, username: str, password: str = PASSWORD) -> httpx.Response:
    return client.post("/api/v1/auth/login", json={"username": username, "password": password})


def test_logout_ends_the_token_for_good_cookie_and_bearer(app):
    client = TestClient(app)
    r = _login(client, "officer")
    token, csrf = r.json()["token"], r.json()["csrf_token"]
    assert client.get("/api/v1/auth/me").status_code == 200  # the cookie
    assert client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 200
    stolen = TestClient(app)  # someone who copied the token before the logout
    assert stolen.get("/api/v1/auth/me", headers=bearer(token)).status_code == 401
    stolen.cookies.set("lajur_session", token)
    assert stolen.get("/api/v1/auth/me").status_code == 401
    # another login of the same officer (another terminal) is not touched
    other = TestClient(app)
    assert _login(other, "officer").status_code == 200
    assert other.get("/api/v1/auth/me").status_code == 200


def test_logout_closes_the_sessions_live_socket_at_once(app):
    client = TestClient(app)
    csrf = _login(client, "officer").json()["csrf_token"]
    with client.websocket_connect("/ws/live") as ws:
        assert ws.receive_json()["type"] == "snapshot"
        assert client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 200
        with pytest.raises(WebSocketDisconnect) as closed:
            while True:
                ws.receive_json()
        assert closed.value.code == 4401


def test_disabling_an_account_closes_its_open_sockets_and_refuses_its_tokens(app, tokens):
    admin = TestClient(app)
    assert admin.post("/api/v1/users", json={"username": "rina", "role": "officer", "password": "longenough1"},
                      headers=bearer(tokens["admin"])).status_code == 201
    rina = TestClient(app)
    token = _login(rina, "rina", "longenough1").json()["token"]
    with rina.websocket_connect("/ws/live") as ws:
        assert ws.receive_json()["user"] == "rina"
        assert admin.patch("/api/v1/users/rina", json={"disabled": True},
                           headers=bearer(tokens["admin"])).status_code == 200
        with pytest.raises(WebSocketDisconnect) as closed:
            while True:
                ws.receive_json()
        assert closed.value.code == 4401
    assert rina.get("/api/v1/auth/me", headers=bearer(token)).status_code == 401
    assert not app.state.live_sockets, "no socket left registered"


def test_an_intruder_cannot_lock_an_officer_out(api_store):
    app = create_app(api_store, {}, auth=make_auth(api_store))
    intruder = TestClient(app, client=ATTACKER)
    answers = [_login(intruder, "supervisor", "guess").status_code for _ in range(12)]
    assert answers[:5] == [401] * 5 and answers[-1] == 429, answers
    r = _login(intruder, "supervisor")  # even the right password waits, from the guessing address
    assert r.status_code == 429 and 0 < int(r.headers["Retry-After"]) <= 300
    # the supervisor at her own desk logs in at once
    assert _login(TestClient(app, client=OFFICER_DESK), "supervisor").status_code == 200


def test_one_address_guessing_many_accounts_is_slowed_down_too(api_store):
    app = create_app(api_store, {}, auth=make_auth(api_store))
    intruder = TestClient(app, client=ATTACKER)
    answers = [_login(intruder, f"user{i}", "guess").status_code for i in range(25)]
    assert answers[0] == 401 and answers[-1] == 429


def test_the_failed_login_table_stays_bounded_and_forgets():
    now = [0.0]
    limiter = LoginLimiter(capacity=1000, window=900, now=lambda: now[0])
    for i in range(50_000):  # a flood of distinct names from distinct addresses
        limiter.failed(f"name{i}", f"10.{i // 65536}.{i // 256 % 256}.{i % 256}")
    assert len(limiter) <= 1000
    for _ in range(30):  # one address keeps guessing one account: its own entries stay
        limiter.failed("siti", "10.9.9.9")
        limiter.failed("x", "10.1.1.1")
    assert limiter.retry_after("siti", "10.9.9.9") == 300, "backed off to the cap"
    now[0] += 901
    assert limiter.retry_after("siti", "10.9.9.9") == 0 and len(limiter) == 0, "forgotten after the window"


def test_back_off_grows_with_each_failure_past_the_free_tries():
    now = [0.0]
    limiter = LoginLimiter(per_user=5, now=lambda: now[0])
    waits = []
    for _ in range(9):
        limiter.failed("siti", "10.0.0.66")
        waits.append(limiter.retry_after("siti", "10.0.0.66"))
    assert waits == [0, 0, 0, 0, 2, 4, 8, 16, 32]
    limiter.succeeded("siti", "10.0.0.66")
    assert limiter.retry_after("siti", "10.0.0.66") == 0


PAGES = ["/login", "/docs", "/display", "/healthz", "/openapi.json", "/api/v1/lanes", "/static/app.css",
         "/no-such-page", "/api/v1/reports/daily?day=0001-01-01"]


@pytest.mark.parametrize("path", PAGES)
def test_every_response_carries_the_security_headers(client, path):
    r = client.get(path, follow_redirects=False)
    h = r.headers
    assert h["x-content-type-options"] == "nosniff"
    assert h["referrer-policy"] == "no-referrer"
    assert h["x-frame-options"] == "DENY"
    csp = h["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "unsafe-eval" not in csp
    if path in ("/login", "/display"):
        assert "script-src 'self';" in csp and "unsafe-inline" not in csp
    if path == "/docs":
        assert "script-src 'self' 'sha256-" in csp, "Swagger's one inline script, by its hash"
    if path.startswith("/api/"):
        assert h["cache-control"] == "no-store"


def test_console_redirect_to_login_also_carries_headers(client):
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    assert r.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize("path", ["/api/v1/reports/daily?day=0001-01-01", "/api/v1/reports/daily.csv?day=9999-12-31",
                                  "/api/v1/visits?day=0001-01-01"])
def test_out_of_range_days_are_422_with_a_reason(client, tokens, path):
    r = client.get(path, headers=bearer(tokens["officer"]))
    assert r.status_code == 422 and r.json()["reason"] == "invalid"
    assert "day" in r.json()["detail"] and ("2000-01-01" in r.json()["detail"] or "2999-12-31" in r.json()["detail"])


def test_secret_key_is_made_once_private_and_logged(tmp_path, caplog):
    path = tmp_path / "data" / "secret_key"
    with caplog.at_level(logging.WARNING, logger="api.auth"):
        first = secret_from_file(path)
    assert str(path) in caplog.text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert secret_from_file(path) == first and len(first) >= 32
    path.chmod(0o644)
    assert secret_from_file(path) == first and stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_a_restart_keeps_sessions_without_a_configured_key(tmp_path, caplog):
    """The console served twice in a row by the composition root, as two runs of ``lajur serve``
    with no LAJUR_SECRET_KEY: a token from before the restart still works after it, and the log
    says where the key is kept (beside the SQLite database)."""
    url = f"sqlite:///{tmp_path}/lajur.db"
    upgrade_database(url)
    store = Store(url)
    add_user(store, "siti", "officer", PASSWORD, auth=make_auth(store))
    store.close()

    async def serve_once(token: str | None) -> str:
        site = Site(load_settings(database_url=url), SystemClock())
        site.store = Store(url)
        server_url = site.serve_api("127.0.0.1", 0)
        try:
            async with httpx.AsyncClient(base_url=server_url) as c:
                if token is None:
                    r = await c.post("/api/v1/auth/login", json={"username": "siti", "password": PASSWORD})
                    return r.json()["token"]
                assert (await c.get("/api/v1/auth/me", headers=bearer(token))).status_code == 200
                return token
        finally:
            await site.stop()

    with caplog.at_level(logging.WARNING, logger="api.auth"):
        await serve_once(await serve_once(None))
    assert f"{tmp_path}/secret_key" in caplog.text
    assert stat.S_IMODE((tmp_path / "secret_key").stat().st_mode) == 0o600
