"""Who may do what: every mutating endpoint refuses anonymous callers (401) and wrong roles (403)
with a JSON reason; cookie sessions need the CSRF header; logins are rate limited; passwords are
argon2 hashes; account changes are audited."""

from __future__ import annotations

import pytest

from api.accounts_cli import user_add_main
from api.app import create_app
from api.auth import PERMISSIONS
from lane.persistence.accounts import AccountStore
from tests.api.conftest import PASSWORD, TestClient, bearer, make_auth

# (method, path template) -> (permission or None for "any logged-in user", concrete path, a valid body)
MUTATING = {
    ("POST", "/api/v1/auth/logout"): (None, "/api/v1/auth/logout", None),
    ("PUT", "/api/v1/auth/me/language"): (None, "/api/v1/auth/me/language", {"language": "id"}),
    ("POST", "/api/v1/visits/{visit_id}/actions"):
        ("visit_action", "/api/v1/visits/lane-1-20260101-0001/actions", {"action": "abort", "reason": "test"}),
    ("POST", "/api/v1/lanes/{lane}/gates/{gate}"):
        ("gate_override", "/api/v1/lanes/lane-1/gates/entry-gate", {"command": "open", "reason": "stuck car"}),
    ("POST", "/api/v1/alerts/{alert_id}/ack"): ("alert_ack", "/api/v1/alerts/1/ack", None),
    ("POST", "/api/v1/alerts/ack"): ("alert_ack", "/api/v1/alerts/ack", None),
    ("POST", "/api/v1/lanes/{lane}/devices/{device}/test"):
        ("device_test", "/api/v1/lanes/lane-1/devices/entry-gate/test", {"command": "status", "reason": "check"}),
    ("POST", "/api/v1/lanes/{lane}/devices/{device}/faults"):
        ("fault_inject", "/api/v1/lanes/lane-1/devices/card-printer/faults", {"fault": "ribbon_out"}),
    ("POST", "/api/v1/users"):
        ("user_admin", "/api/v1/users", {"username": "matrix", "role": "officer", "password": "longenough1"}),
    ("PATCH", "/api/v1/users/{username}"): ("user_admin", "/api/v1/users/nobody", {"disabled": True}),
    ("DELETE", "/api/v1/users/{username}"): ("user_admin", "/api/v1/users/nobody", None),
}
PUBLIC_MUTATING = {("POST", "/api/v1/auth/login")}
CASES = sorted(MUTATING)


def _wrong_role(permission: str) -> str:
    return sorted(set(["officer", "supervisor", "technician", "admin"]) - PERMISSIONS[permission])[0]


def test_every_mutating_route_is_in_the_matrix(app):
    # read from the OpenAPI description: routers included in the app are not flat in app.routes
    routes = {(m.upper(), path) for path, ops in app.openapi()["paths"].items() for m in ops
              if m.upper() in ("POST", "PUT", "PATCH", "DELETE")}
    assert routes == set(MUTATING) | PUBLIC_MUTATING


@pytest.mark.parametrize("key", CASES, ids=lambda k: f"{k[0]} {k[1]}")
def test_anonymous_gets_401_with_a_reason(client, key):
    _perm, path, body = MUTATING[key]
    r = client.request(key[0], path, json=body)
    assert r.status_code == 401
    assert r.json()["reason"] == "not_authenticated" and r.json()["detail"]


@pytest.mark.parametrize("key", [k for k in CASES if MUTATING[k][0]], ids=lambda k: f"{k[0]} {k[1]}")
def test_wrong_role_gets_403_with_a_reason(client, tokens, key):
    perm, path, body = MUTATING[key]
    role = _wrong_role(perm)
    r = client.request(key[0], path, json=body, headers=bearer(tokens[role]))
    assert r.status_code == 403, r.text
    assert r.json()["reason"] == "forbidden_role" and role in r.json()["detail"]


@pytest.mark.parametrize("key", [k for k in CASES if MUTATING[k][0]], ids=lambda k: f"{k[0]} {k[1]}")
def test_right_role_gets_past_the_door(client, tokens, key):
    perm, path, body = MUTATING[key]
    role = sorted(PERMISSIONS[perm])[0]
    r = client.request(key[0], path, json=body, headers=bearer(tokens[role]))
    assert r.status_code not in (401, 403, 500), r.text


def test_anonymous_reads_are_refused_but_health_and_displays_are_open(client):
    for path in ("/api/v1/lanes", "/api/v1/visits", "/api/v1/audit", "/api/v1/reports/daily", "/api/v1/devices"):
        assert client.get(path).status_code == 401, path
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["database"] is True
    assert "lajur_database_up 1.0" in client.get("/metrics").text
    assert client.get("/", follow_redirects=False).headers["location"].startswith("/login")


def test_cookie_session_needs_the_csrf_header(client):
    r = client.post("/api/v1/auth/login", json={"username": "officer", "password": PASSWORD})
    assert r.status_code == 200
    cookies = r.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("lajur_session="))
    assert "HttpOnly" in session and "samesite=strict" in session.lower()
    body = {"action": "abort", "reason": "driver unwell"}
    refused = client.post("/api/v1/visits/v-1/actions", json=body)
    assert refused.status_code == 403 and refused.json()["reason"] == "csrf"
    wrong = client.post("/api/v1/visits/v-1/actions", json=body, headers={"X-CSRF-Token": "guess"})
    assert wrong.status_code == 403
    ok = client.post("/api/v1/visits/v-1/actions", json=body, headers={"X-CSRF-Token": r.json()["csrf_token"]})
    assert ok.status_code == 404  # past auth and CSRF: there is simply no such visit
    assert client.get("/api/v1/auth/me").json()["role"] == "officer"  # reads need no CSRF header


def test_bad_payload_is_422_with_a_message(client, tokens):
    r = client.post("/api/v1/visits/v-1/actions", json={"action": "fly"}, headers=bearer(tokens["officer"]))
    assert r.status_code == 422 and "action" in r.json()["detail"]
    r = client.post("/api/v1/lanes/lane-1/gates/entry-gate", json={"command": "open"},
                    headers=bearer(tokens["supervisor"]))
    assert r.status_code == 422 and "reason" in r.json()["detail"]
    r = client.post("/api/v1/users", json={"username": "x y", "role": "king", "password": "s"},
                    headers=bearer(tokens["admin"]))
    assert r.status_code == 422 and "role" in r.json()["detail"] and "password" in r.json()["detail"]
    r = client.post("/api/v1/auth/login", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 422


def test_login_is_rate_limited(api_store):
    client = TestClient(create_app(api_store, {}, auth=make_auth(api_store)))
    for _ in range(5):
        assert client.post("/api/v1/auth/login", json={"username": "officer", "password": "nope"}).status_code == 401
    r = client.post("/api/v1/auth/login", json={"username": "officer", "password": PASSWORD})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0 and r.json()["reason"] == "rate_limited"


def test_passwords_are_argon2_hashes(api_store):
    row = AccountStore(api_store).get("officer")
    assert row.password_hash.startswith("$argon2id$") and PASSWORD not in row.password_hash


def test_user_management_is_audited_and_ends_old_sessions(client, tokens, api_store):
    admin = bearer(tokens["admin"])
    r = client.post("/api/v1/users", json={"username": "budi", "role": "officer", "password": "longenough1"},
                    headers=admin)
    assert r.status_code == 201 and r.json()["role"] == "officer"
    assert client.post("/api/v1/users", json={"username": "budi", "role": "officer", "password": "longenough1"},
                       headers=admin).status_code == 409
    budi = client.post("/api/v1/auth/login", json={"username": "budi", "password": "longenough1"}).json()["token"]
    client.cookies.clear()
    assert client.get("/api/v1/auth/me", headers=bearer(budi)).status_code == 200
    assert client.patch("/api/v1/users/budi", json={"disabled": True}, headers=admin).status_code == 200
    assert client.get("/api/v1/auth/me", headers=bearer(budi)).status_code == 401
    assert client.delete("/api/v1/users/admin", headers=admin).status_code == 409  # the last admin stays
    actions = [(a.actor, a.action, a.detail.get("target")) for a in api_store.audit_log()]
    assert ("admin", "user_add", "budi") in actions and ("admin", "user_update", "budi") in actions


def test_gate_override_without_lane_is_404_not_500(client, tokens):
    r = client.post("/api/v1/lanes/lane-9/gates/entry-gate", json={"command": "open", "reason": "testing"},
                    headers=bearer(tokens["officer"]))
    assert r.status_code == 404 and "lane-9" in r.json()["detail"]


def test_user_add_command(sqlite_url, capsys, monkeypatch):
    assert user_add_main(["--role", "supervisor", "siti", "--password", "rahasia123", "--url", sqlite_url]) == 0
    assert "siti (supervisor) created" in capsys.readouterr().out
    assert user_add_main(["--role", "supervisor", "siti", "--password", "rahasia123", "--url", sqlite_url]) == 2
    monkeypatch.setenv("LAJUR_PASSWORD", "dari-env-123")
    assert user_add_main(["--role", "officer", "--reset", "siti", "--url", sqlite_url]) == 0
    assert user_add_main(["--role", "officer", "andi", "--password", "short", "--url", sqlite_url]) == 2
    with pytest.raises(SystemExit):
        user_add_main(["--role", "king", "andi", "--url", sqlite_url])
