"""The login page in a real browser (headless Chromium): after logging in it goes only to a path of
this site, whatever ``next`` says; and its Content-Security-Policy lets the page work."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

import pytest

from api.app import create_app
from api.server import ApiServer
from tests.api.conftest import PASSWORD, make_auth
from tests.api.test_browser import CHROMIUM, CHROMIUM_ARGS, playwright_api

NEXT = {
    "/%5Cevil.example/x": "/",  # a backslash is a slash to the browser: //evil.example/x
    "//evil.example/x": "/",
    "https://evil.example/x": "/",
    "/reports?day=2026-01-02": "/reports?day=2026-01-02",
}


@pytest.fixture
async def served(api_store):
    server = ApiServer(create_app(api_store, {}, auth=make_auth(api_store)), "127.0.0.1", 0)
    server.start()
    try:
        yield server.url
    finally:
        await server.stop()


async def test_login_goes_only_to_a_local_path_whatever_next_says(served):
    async with playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            landed: dict[str, str] = {}
            violations: list[str] = []
            for nxt in NEXT:
                page = await browser.new_page()
                page.on("console", lambda m: violations.append(m.text) if "Content Security" in m.text else None)
                await page.route(lambda u: urlsplit(u).hostname == "evil.example",
                                 lambda route: route.fulfill(body="evil"))
                await page.goto(f"{served}/login?next={nxt if nxt.startswith('/%') else quote(nxt, safe='/?=')}")
                await page.fill("#username", "officer")
                await page.fill("#password", PASSWORD)
                await page.click("#login-submit")
                await page.wait_for_url(lambda u: urlsplit(u).path != "/login")
                landed[nxt] = page.url.removeprefix(served)
                await page.close()
        finally:
            await browser.close()
    assert landed == NEXT
    assert not violations, violations
