"""The accounts page in a real browser (headless Chromium): an admin adds an officer, changes the role,
resets the password and disables the account, each in a form of the page (never a browser prompt);
what the admin did works at the login at once, and the last admin cannot lock everyone out."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.accounts_cli import add_user
from api.app import create_app
from api.server import ApiServer
from lane.persistence import Store, upgrade_database
from tests.api.conftest import make_auth
from tests.api.test_browser import browser  # noqa: F401 - the Chromium fixture

PASSWORD = "admin-page-pw"


@pytest.fixture
async def served(tmp_path):
    url = f"sqlite:///{tmp_path}/lajur.db"
    upgrade_database(url)
    store = Store(url)
    auth = make_auth(store)
    add_user(store, "kepala", "admin", PASSWORD, auth=auth)
    add_user(store, "andi", "officer", PASSWORD, auth=auth)
    app = create_app(store, {}, auth=auth)
    server = ApiServer(app, "127.0.0.1", 0)
    server.start()
    try:
        yield server.url, app
    finally:
        await server.stop()
        store.close()


def _login_status(app, username: str, password: str) -> int:
    with TestClient(app) as c:
        return c.post("/api/v1/auth/login", json={"username": username, "password": password}).status_code


async def _login(page, url: str, username: str, target: str) -> None:
    await page.goto(f"{url}/login?next={target}")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("#login-submit")
    await page.wait_for_url(url + target)


async def test_an_admin_manages_accounts_in_forms_of_the_page(served, browser):  # noqa: F811
    url, app = served
    page = await browser.new_page(viewport={"width": 1200, "height": 800})
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("dialog", lambda d: problems.append(f"browser {d.type} dialog: {d.message}"))
    await _login(page, url, "kepala", "/admin")
    await page.wait_for_selector("tr[data-user='andi']")
    assert await page.locator("header nav a[href='/admin']").count() == 1

    # Add an officer: the form offers a generated password the admin hands over.
    await page.click("#add-account")
    await page.fill("#f-username", "Budi Santoso")
    await page.fill("#f-name", "Budi Santoso")
    await page.click("#f-ok")
    assert "Nama pengguna" in await page.inner_text("#f-error")  # refused in the form, in Bahasa; still open
    await page.fill("#f-username", "budi")
    first_password = await page.input_value("#f-password")
    assert len(first_password) >= 8
    await page.click("#f-ok")
    row = page.locator("tr[data-user='budi']")
    await row.wait_for()
    assert "petugas" in await row.inner_text() and "Budi Santoso" in await row.inner_text()  # officer, in Bahasa
    assert _login_status(app, "budi", first_password) == 200

    # Role, then a new password: the old one stops working.
    await row.locator("button[data-act='role']").click()
    await page.select_option("#f-role", "supervisor")
    await page.click("#f-ok")
    await page.wait_for_selector("tr[data-user='budi'] .stage[data-role='supervisor']")
    assert await page.inner_text("tr[data-user='budi'] .stage") == "supervisor"
    await page.locator("tr[data-user='budi'] button[data-act='password']").click()
    await page.fill("#f-password", "short")
    await page.click("#f-ok")
    assert "minimal 8 karakter" in await page.inner_text("#f-error")
    await page.fill("#f-password", "new-secret-42")
    await page.click("#f-ok")
    await page.wait_for_selector("#toast:has-text('kata sandi baru disimpan')")
    assert _login_status(app, "budi", first_password) == 401
    assert _login_status(app, "budi", "new-secret-42") == 200

    # Disable: the account cannot log in any more; enable gives it back.
    await page.locator("tr[data-user='budi'] button[data-act='toggle']").click()
    await page.click("#f-ok")
    await page.wait_for_selector("tr[data-user='budi'] .chip.off")
    assert _login_status(app, "budi", "new-secret-42") == 401

    # The last admin cannot disable itself: the refusal shows in the form.
    await page.locator("tr[data-user='kepala'] button[data-act='toggle']").click()
    await page.click("#f-ok")
    await page.wait_for_selector("#f-error:has-text('Admin aktif terakhir')")
    await page.click("#f-cancel")
    assert _login_status(app, "kepala", PASSWORD) == 200

    actions = [(a.actor, a.action, a.detail.get("target")) for a in app.state.store.audit_log()]
    assert ("kepala", "user_add", "budi") in actions and ("kepala", "user_update", "budi") in actions
    assert not problems, problems


async def test_the_accounts_page_is_for_admins_only(served):
    url, app = served
    with TestClient(app) as c:
        assert c.get("/admin", follow_redirects=False).status_code == 303  # log in first
        c.post("/api/v1/auth/login", json={"username": "andi", "password": PASSWORD})
        r = c.get("/admin")
        assert r.status_code == 403 and "officer" in r.text
