"""The pages in Chromium as officers, site managers and drivers meet them: the console in Bahasa
Indonesia with English one click away (kept with the account), every page on a 390 px phone without
a sideways scroll, the lanes first and the side panels folding, every car drawn where it stands,
the driver display's plate never clipped, and the driver's status page opened from the receipt's QR
following the car live."""

from __future__ import annotations

import asyncio
import random

from api.accounts_cli import add_user
from simulators.traffic import make_driver
from tests.api.test_browser import PASSWORD, _spaced, browser, live  # noqa: F401 - fixtures

PHONE = {"width": 390, "height": 844}


async def _open(browser, url: str, username: str, viewport: dict, target: str = "/"):  # noqa: F811
    page = await browser.new_page(viewport=viewport)
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("console", lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("dialog", lambda d: problems.append(f"browser {d.type} dialog"))
    await page.goto(f"{url}/login?next={target}")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("#login-submit")
    await page.wait_for_url(url + target)
    return page, problems


async def _page_width(page) -> int:
    return await page.evaluate("Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)")


async def test_the_console_speaks_bahasa_and_english_is_one_click_away_for_good(live, browser):  # noqa: F811
    url, site, _traffic, _driver = live
    login = await browser.new_page()
    await login.goto(url + "/login")
    assert await login.get_attribute("html", "lang") == "id"
    assert "Masuk dengan akun petugas Anda" in await login.inner_text("body")
    page, problems = await _open(browser, url, "siti", {"width": 1280, "height": 800})
    await page.wait_for_selector("section.lane[data-lane='lane-1']")
    header = await page.inner_text("header.top")
    assert "Konsol" in header and "Laporan" in header and "Keluar" in header and "English" in header
    strip = await page.inner_text("section.lane[data-lane='lane-1'] .stations")
    assert "pintu masuk" in strip.lower() and "loket 1" in strip.lower()  # the stations in Bahasa
    assert "peringatan" in (await page.inner_text("#alerts-panel summary")).lower()
    await page.click("#language")  # English, kept with the account
    await page.wait_for_selector("html[lang='en']")
    await page.wait_for_selector("header.top:has-text('Reports')")
    assert "alerts" in (await page.inner_text("#alerts-panel summary")).lower()
    await page.click("#logout")
    await page.wait_for_url(url + "/login**")
    again, _ = await _open(browser, url, "siti", {"width": 1280, "height": 800})
    assert await again.get_attribute("html", "lang") == "en"  # another session, the same choice
    await again.click("#language")
    await again.wait_for_selector("html[lang='id']")
    assert not problems, problems


async def test_every_page_fits_a_phone_lanes_first_and_the_side_panels_fold(live, browser):  # noqa: F811
    url, site, traffic, driver = live
    add_user(site.store, "kepala", "admin", PASSWORD)
    drive = asyncio.create_task(traffic.drive(driver))
    try:
        page, problems = await _open(browser, url, "kepala", PHONE)
        car = page.locator("tr[data-visit]").first
        await car.wait_for(timeout=20_000)
        await page.wait_for_selector(".station .car", timeout=20_000)
        assert await _page_width(page) <= 390, "the console is wider than the phone"
        lanes = await page.locator("#lanes").bounding_box()
        alerts = await page.locator("#alerts-panel").bounding_box()
        assert alerts["y"] >= lanes["y"] + lanes["height"] - 1, "a panel lies over the lanes"
        # the side panels fold away with a tap on their heading, and open again
        assert await page.locator("#audit").is_visible()
        await page.click("#audit-panel summary")
        assert not await page.locator("#audit").is_visible()
        await page.click("#alerts-panel summary")
        assert not await page.locator("#alerts").is_visible()
        # a tap on the car reaches the car (nothing lies over it)
        await page.locator(".station .car").first.click()
        await page.wait_for_selector("#detail dd[data-field='visit']")
        for target in ("/reports", "/technician", "/admin"):
            await page.goto(url + target)
            await page.wait_for_selector("header.top")
            await page.wait_for_timeout(300)
            assert await _page_width(page) <= 390, f"{target} is wider than the phone"
        login = await browser.new_page(viewport=PHONE)
        await login.goto(url + "/login")
        assert await _page_width(login) <= 390
        assert not problems, problems
    finally:
        drive.cancel()


async def test_the_station_strip_shows_every_car_where_it_stands(live, browser):  # noqa: F811
    """The first car takes long at window 2; the second is refused at window 1 (the registry does not
    know its SIM) and waits there for the way out. Both are drawn: the refused one at window 1,
    leaving, not hidden behind another car."""
    url, site, traffic, first = live
    refused = make_driver(2, random.Random(23), site.controllers["lane-1"].clock.now().date(), "lane-1")
    page, problems = await _open(browser, url, "siti", {"width": 1280, "height": 900})
    drives = [asyncio.create_task(traffic.drive(first))]
    try:
        await page.wait_for_selector(".station[data-station='window-2'] .car", timeout=30_000)
        drives.append(asyncio.create_task(traffic.drive(refused)))
        leaving = ".station[data-station='window-1'] .car.leaving"
        await page.wait_for_selector(leaving, timeout=30_000)
        assert _spaced(refused.plate) in await page.inner_text(leaving)
        assert _spaced(first.plate) in await page.inner_text(".station[data-station='window-2']")
        assert not problems, problems
    finally:
        for d in drives:
            d.cancel()


async def test_the_display_never_clips_a_long_plate(live, browser):  # noqa: F811
    url, site, _traffic, _driver = live
    ctl = site.controllers["lane-1"]
    from lane.ports import Signal
    from lane.workflow import Station

    await ctl.displays.show(Station.WINDOW_1, "tap_ektp", plate="AD5678XYZ", signal=Signal.RED)
    for viewport in (PHONE, {"width": 1280, "height": 720}, {"width": 800, "height": 1280}):
        page = await browser.new_page(viewport=viewport)
        await page.goto(url + "/display/lane-1/window-1")
        await page.wait_for_selector("#plate:has-text('AD 5678 XYZ')")
        box = await page.locator("#plate").bounding_box()
        fits = await page.evaluate("(() => { const p = document.getElementById('plate');"
                                   " return p.scrollWidth <= p.clientWidth + 1; })()")
        assert fits and box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"] + 1, viewport
        assert await _page_width(page) <= viewport["width"]
        assert "LOKET 1" in await page.inner_text("#station-id")
        await page.close()


async def test_the_status_page_from_the_receipts_qr_follows_the_car_on_a_phone(live, browser):  # noqa: F811
    url, site, traffic, driver = live
    drive = asyncio.create_task(traffic.drive(driver))
    try:
        receipt = traffic.lane.receipt_printer
        for _ in range(300):
            if any(d.qr for d in receipt.printed):
                break
            await asyncio.sleep(0.1)
        qr = next(d.qr[0] for d in receipt.printed if d.qr)
        assert qr.startswith(url + "/s/")  # the QR printed on the receipt opens the page
        phone = await browser.new_page(viewport=PHONE)
        problems: list[str] = []
        phone.on("pageerror", lambda e: problems.append(str(e)))
        await phone.goto(qr)
        assert await phone.get_attribute("html", "lang") == "id"
        await phone.wait_for_selector("#stage:has-text('Perekaman')", timeout=30_000)  # window 2, live
        assert await phone.inner_text("#card-at") != ""
        assert "NIK" not in await phone.inner_text("body") and driver.person.name not in await phone.inner_text("body")
        assert _spaced(driver.plate) not in await phone.inner_text("body")  # the plate is masked
        assert await _page_width(phone) <= 390
        await phone.click("#lang")
        await phone.wait_for_selector("#stage:has-text('Photo and fingerprint')")
        await phone.reload()
        assert await phone.get_attribute("html", "lang") == "en"  # the phone remembers
        assert not problems, problems
    finally:
        drive.cancel()
