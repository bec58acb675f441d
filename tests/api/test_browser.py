"""The console in a real browser (headless Chromium via Playwright) against a live simulated lane:
gates and printers on pseudo-terminals, the other devices over a private broker, the API served by
uvicorn exactly as ``lajur demo`` serves it. An officer logs in, watches a visit move through the
stages, overrides (abort with a reason, close a gate with a reason) and finds both in the audit log;
the driver display follows the same visit with no login."""

from __future__ import annotations

import asyncio
import os
import random
from datetime import timedelta

import pytest

from api.accounts_cli import add_user
from cli.compose import Site
from cli.run import settings_for_simulated_site
from lane.clock import ScaledClock
from lane.settings import load_settings
from simulators.ledger import Ledger
from simulators.officer import OfficerSimulator
from simulators.site import SimulatedSite
from simulators.traffic import HumanTimes, LaneTraffic, make_driver

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SPEED = 40
PASSWORD = "browser-test-pw"

if not os.path.exists(CHROMIUM):
    pytest.skip(f"browser tests need Debian's chromium at {CHROMIUM} (apt-get install chromium)",
                allow_module_level=True)
playwright_api = pytest.importorskip("playwright.async_api", reason="browser tests need playwright (pip)")


@pytest.fixture
async def live(mqtt_broker, tmp_path):
    """A running one-lane site with its console; yields (url, site, traffic, clock)."""
    clock = ScaledClock(SPEED)
    sim = SimulatedSite(site="test-site", lanes=1, clock=clock, mqtt_url=mqtt_broker.url,
                        ledger=Ledger(tmp_path / "ledger.jsonl"))
    await sim.start()
    settings = settings_for_simulated_site(load_settings(database_url=f"sqlite:///{tmp_path}/lajur.db"), sim)
    site = Site(settings, clock, poll_interval=0.01)
    officer = traffic = None
    try:
        await site.start()
        url = site.serve_api("127.0.0.1", 0)
        add_user(site.store, "siti", "supervisor", PASSWORD)
        # A slow photo station keeps the visit at window 2 long enough to act on it, however busy the
        # machine (an hour at window 2, 90 wall seconds: the test aborts the visit long before)
        traffic = LaneTraffic(sim.lanes["lane-1"], sim.camera, clock, random.Random(5),
                              HumanTimes(capture=3600.0, spread=0.01))
        officer = OfficerSimulator(lambda _lane: site.controllers["lane-1"].act, site.bus, clock,
                                   plate_at_entry=lambda _l: traffic.at["entry"].plate if traffic.at["entry"] else None)
        officer.start()
        driver = make_driver(1, random.Random(11), clock.now().date(), "lane-1")
        sim.registry.add(driver.person)
        yield url, site, traffic, driver
    finally:
        if officer:
            await officer.stop()
        if traffic:
            traffic.close()
        await site.stop()
        await sim.stop()


@pytest.fixture
async def browser():
    async with playwright_api.async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            await b.close()


def _spaced(plate: str) -> str:
    import re

    m = re.fullmatch(r"([A-Z]{1,2})(\d{1,4})([A-Z]{0,3})", plate)
    return " ".join(p for p in m.groups() if p) if m else plate


async def test_officer_watches_a_visit_live_aborts_it_and_finds_it_in_the_audit_log(live, browser):
    url, site, traffic, driver = live
    page = await browser.new_page(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)

    # Log in (the console redirects anonymous visitors to the login page).
    await page.goto(url + "/")
    assert "/login" in page.url
    await page.fill("#username", "siti")
    await page.fill("#password", "wrong password")
    await page.click("#login-submit")
    await page.wait_for_selector("#login-error:has-text('salah')")  # "wrong", in Bahasa
    await page.fill("#password", PASSWORD)
    await page.click("#login-submit")
    await page.wait_for_url(url + "/")
    await page.wait_for_selector("section.lane[data-lane='lane-1']")
    assert "siti" in await page.inner_text("#who")

    display = await browser.new_page(viewport={"width": 1280, "height": 720})
    await display.goto(url + "/display/lane-1/window-2")

    # A driver arrives; the console shows the vehicle moving through the stages without a reload.
    drive = asyncio.create_task(traffic.drive(driver))
    try:
        row = page.locator("tr[data-visit]").first
        await row.wait_for(timeout=20_000)
        visit_id = await row.get_attribute("data-visit")
        seen: list[str] = []
        for stage, word in (("verifying", "Verifikasi"), ("capturing", "Perekaman")):  # the officers' words
            # stage and word in one look: a busy machine may move the car on between two looks
            await page.wait_for_selector(f"tr[data-visit='{visit_id}'] .stage[data-stage='{stage}']:text-is('{word}')",
                                         timeout=30_000)
            seen.append(stage)
        assert seen == ["verifying", "capturing"]
        plate = _spaced(driver.plate)
        assert plate in await page.inner_text(f"tr[data-visit='{visit_id}']")
        station = page.locator(".station[data-station='window-2'] .car")
        assert plate in await station.inner_text()

        # The driver display at window 2 shows the plate and the step, live, without a login.
        await display.wait_for_selector(f"#plate:has-text('{plate}')", timeout=10_000)
        assert "Foto" in await display.inner_text("#text-id")
        assert "Photo" in await display.inner_text("#text-en")

        # The slow photo goes over its stage's budget: one alert, open while the car is at window 2.
        # (a busy machine may also push an earlier stage over its budget: that alert is another cause)
        late = page.locator(".alert[data-kind='stage_over_budget'][data-cause='capturing']")
        await late.first.wait_for(timeout=15_000)
        assert await late.count() == 1 and await late.first.get_attribute("data-cleared") == ""
        # said in the officers' words, not the lane's English with a stage code
        said = await late.first.inner_text()
        assert f"Kunjungan {visit_id} ({plate}) melewati batas waktu tahap Perekaman" in said, said
        assert "capturing" not in said and "over budget" not in said
        assert "Antrean kosong" in await page.inner_text(".queue[data-queue='lane-1']")
        assert await page.inner_text(".chip[data-device='display-window-2']") == "Layar Loket 2"
        # the visit's history says why it moved in Bahasa too (the lane's notes, worded from their values)
        await page.click(f"tr[data-visit='{visit_id}'] .stage")
        await page.wait_for_selector("#detail .transitions :text('dibayar')")
        history = await page.inner_text("#detail .transitions")
        assert "Pembayaran — penagihan" in history and "charge" not in history and "paid" not in history, history

        # Abort needs a reason: the dialog refuses an empty one, then the abort goes through.
        await page.click(f"tr[data-visit='{visit_id}'] button[data-action='abort']")
        await page.click("#act-ok")
        await page.wait_for_selector("#toast:has-text('alasan')")
        await page.fill("#act-reason", "driver felt unwell")
        await page.click("#act-ok")
        await page.wait_for_selector("#toast:has-text('Hentikan: selesai')")
        await page.wait_for_selector("#audit :text('driver felt unwell')", timeout=10_000)
        audit_line = await page.inner_text("#audit div[data-audit-action='abort']")
        assert "siti" in audit_line and "(supervisor)" in audit_line
        assert "Tahap Perekaman → Keluar" in audit_line and "capturing" not in audit_line, audit_line

        # The vehicle leaves by the exit; the console drops it when it is gone.
        await page.wait_for_selector(f"tr[data-visit='{visit_id}'] .stage[data-stage='exiting']", timeout=20_000)
        await asyncio.wait_for(drive, 60)
        await page.wait_for_selector(f"tr[data-visit='{visit_id}']", state="detached", timeout=20_000)
        # Its cause ended with it: the alert is shown cleared; one press acknowledges every alert.
        await page.wait_for_selector(".alert[data-kind='stage_over_budget'][data-cause='capturing'][data-cleared='1']",
                                     timeout=10_000)
        await page.click("#ack-all")
        await page.wait_for_selector("#toast:has-text('ditandai sudah dibaca')")
        await page.wait_for_selector("#ack-all", state="hidden")
        assert await page.locator(".alert:not(.acked)").count() == 0
    finally:
        if not drive.done():
            drive.cancel()
    row_db = site.store.get_visit(visit_id)
    assert row_db.outcome == "aborted" and row_db.reason == "driver felt unwell"

    # A gate override with a reason is audited too.
    await page.click("section.lane[data-lane='lane-1'] button[data-gate='exit-gate'][data-command='close']")
    await page.fill("#act-reason", "boom check after abort")
    await page.click("#act-ok")
    await page.wait_for_selector("#toast:has-text('Tutup Pintu keluar: selesai')")
    await page.wait_for_selector("#audit :text('boom check after abort')", timeout=10_000)
    # English one click away: the same alert and audit line in English words, still no codes
    await page.click("#language")
    await page.wait_for_selector("#language:has-text('Bahasa Indonesia')")
    said = await page.locator(".alert[data-kind='stage_over_budget']").first.inner_text()
    assert f"Visit {visit_id} ({plate}) over its time at Photo and fingerprint" in said, said
    audit_line = await page.inner_text("#audit div[data-audit-action='abort']")
    assert "Stage Photo and fingerprint → Leaving" in audit_line and "capturing" not in audit_line, audit_line
    entries = [(a.actor, a.role, a.action, a.reason) for a in site.store.audit_log()]
    assert ("siti", "supervisor", "abort", "driver felt unwell") in entries
    assert ("siti", "supervisor", "close_gate", "boom check after abort") in entries
    assert ("siti", "supervisor", "ack_all_alerts", None) in entries
    assert not site.store.alerts(active=True)
    assert not errors, errors


async def test_reports_and_technician_pages_render_in_the_browser(live, browser):
    url, site, _traffic, _driver = live
    page = await browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    await page.goto(url + "/login?next=/reports")
    await page.fill("#username", "siti")
    await page.fill("#password", PASSWORD)
    await page.click("#login-submit")
    await page.wait_for_url(url + "/reports")
    await page.wait_for_selector("#hours-chart rect", state="attached")
    await page.wait_for_selector("#stages-chart")
    assert "kunjungan" in (await page.inner_text("#kpis")).lower()
    href = await page.get_attribute("#csv", "href")
    csv = await page.request.get(url + href)
    assert csv.status == 200 and csv.text and (await csv.text()).startswith("id,lane,seq,plate")
    await page.wait_for_selector("#pnbp-total")
    # The A4 page to print and sign opens from the report, in Bahasa Indonesia.
    await page.click("#print")
    await page.wait_for_selector("text=Laporan Harian Layanan SIM Drive-Thru")
    assert "Diperiksa oleh" in await page.inner_text(".signatures")
    await page.goto(url + "/technician")
    await page.wait_for_selector("tr[data-device='lane-1/entry-gate'] .chip.on", timeout=10_000)
    gate = await page.inner_text("tr[data-device='lane-1/entry-gate']")  # the device and its boom in words
    assert "Palang pintu masuk" in gate and "palang tertutup" in gate and "position" not in gate, gate
    # The API docs render from local assets: a lane network has no internet.
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(url) else None)
    await page.goto(url + "/docs")
    await page.wait_for_selector(".opblock", timeout=15_000)
    assert not outside, outside
    assert not errors, errors


async def _log_in(browser, url: str, username: str):
    page = await browser.new_page(viewport={"width": 1500, "height": 950})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    await page.goto(url + "/login")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("#login-submit")
    await page.wait_for_url(url + "/")
    await page.wait_for_selector("section.lane[data-lane='lane-1']")
    return page, errors


async def test_a_decision_by_hand_is_proposed_in_the_form_and_approved_by_a_supervisor(live, browser):
    """The e-KTP reader fails. An officer takes it over and fills in the decision form: a SIM number
    that is no SIM number is refused with the reason shown; the old SIM C, expired, is proposed and the
    rules refuse it. The officer has no Approve button; a supervisor, in their own session, approves:
    the driver leaves with a referral slip, not charged, no card."""
    url, site, traffic, driver = live
    add_user(site.store, "budi", "officer", PASSWORD)
    sim_lane = site.controllers["lane-1"]
    await traffic.lane.card_reader.inject("unreadable")
    officer, errors = await _log_in(browser, url, "budi")
    drive = asyncio.create_task(traffic.drive(driver))
    try:
        row = officer.locator("tr[data-visit]").first
        await row.wait_for(timeout=20_000)
        visit_id = await row.get_attribute("data-visit")
        take_over = f"tr[data-visit='{visit_id}'] button[data-action='take_over']:not([disabled])"
        await officer.click(take_over, timeout=30_000)
        await officer.fill("#act-reason", "reader cannot read the card")
        await officer.click("#act-ok")
        await officer.wait_for_selector("#toast:has-text('decision form')")

        await officer.click(f"tr[data-visit='{visit_id}'] button[data-action='decide']:not([disabled])",
                            timeout=20_000)
        today = sim_lane.clock.now().date()
        person = driver.person
        await officer.fill("#d-nik", person.nik)
        await officer.fill("#d-name", person.name)
        await officer.select_option("#d-class", "C")
        await officer.fill("#d-expires", (today - timedelta(days=3)).isoformat())
        await officer.fill("#d-sim", "12345")  # not a SIM number: the lane says why
        for field_id, value in (("#d-health", today - timedelta(days=2)), ("#d-psych", today - timedelta(days=30))):
            await officer.fill(field_id, value.isoformat())
        await officer.fill("#d-health-nik", person.nik)
        await officer.fill("#d-psych-nik", person.nik)
        await officer.fill("#d-reason", "read from the old SIM by eye")
        await officer.click("#decide-ok")
        await officer.wait_for_selector("#toast:has-text('Keputusan ditolak')")
        assert "sim_number" in await officer.inner_text("#toast")
        await officer.fill("#d-sim", person.sim_number)
        await officer.click("#decide-ok")
        await officer.wait_for_selector("#toast:has-text('ditolak (sim_expired)')")
        await officer.wait_for_selector(f"tr[data-visit='{visit_id}'] .decision-tag:has-text('sim_expired')")
        assert await officer.locator(f"tr[data-visit='{visit_id}'] button[data-action='approve_decision']"
                                     ).is_hidden(), "an officer cannot approve"

        supervisor, errors2 = await _log_in(browser, url, "siti")
        await supervisor.click(f"tr[data-visit='{visit_id}'] button[data-action='approve_decision']:not([disabled])",
                               timeout=20_000)
        assert "budi" in await supervisor.inner_text("#act-what")
        await supervisor.click("#act-ok")
        await supervisor.wait_for_selector("#toast:has-text('Setujui: selesai')")
        await asyncio.wait_for(drive, 60)
    finally:
        if not drive.done():
            drive.cancel()
    row_db = site.store.get_visit(visit_id)
    assert row_db.outcome == "refused" and row_db.reason == "sim_expired"
    kinds = {e.kind for e in site.store.side_effects(visit_id)}
    assert "charge" not in kinds and "card_print" not in kinds and "referral" in kinds
    assert not [job for job in traffic.lane.card_printer.printed if job[0] == visit_id]
    actions = [(a.actor, a.action) for a in site.store.audit_log()]
    assert ("budi", "take_over") in actions and ("budi", "decide") in actions
    assert ("siti", "approve_decision") in actions
    assert not errors and not errors2, errors + errors2
