"""Outages mid-visit, on the real transports (private Mosquitto, pseudo-terminals, HTTP registry):
the visit is held, never lost, and resumes when the service is back, without a second card or
charge and without closing a gate on a vehicle."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.lane.test_lane_end_to_end import Lane, running_lane


@pytest.fixture
async def lane(mqtt_broker, tmp_path):
    async with running_lane(mqtt_broker.url, tmp_path) as harness:
        harness.broker = mqtt_broker
        yield harness


async def _until(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def _check_one_visit(lane: Lane, visit: dict) -> None:
    ledger = lane.sim.ledger
    assert visit["outcome"] == "completed"
    assert [e["renewal_id"] for e in ledger.effects("card_printed")] == [visit["id"]]
    assert len(ledger.effects("charge_made")) == 1
    assert not [e for e in ledger.effects("gate_closed") if e.get("safety_loop_occupied")]
    assert lane.site.store.get_visit(visit["id"]).stage == "done"


async def test_broker_down_30_s_mid_visit_holds_and_resumes(lane):
    driver = lane.driver()
    run = asyncio.create_task(lane.run(driver, timeout=80))
    try:
        await _until(lambda: any(v.state.stage.value == "paying" for v in lane.ctl.visits.values()), 30, "paying")
        await asyncio.to_thread(lane.broker.stop)
        await asyncio.sleep(30)
        [visit] = [v for v in lane.ctl.visits.values()]
        assert visit.state.stage.value in ("paying", "capturing"), "the visit is still open (held or waiting)"
        await asyncio.to_thread(lane.broker.start)
        [summary] = await run
    finally:
        run.cancel()
    _check_one_visit(lane, summary)
    alerts = {a.kind for a in lane.site.store.alerts("lane-1")}
    assert "device_fault" in alerts or "stage_over_budget" in alerts


async def test_registry_down_then_back_holds_verification(lane):
    driver = lane.driver()
    await lane.sim.device("lane-1", "registry").inject("down")
    run = asyncio.create_task(lane.run(driver, timeout=60))
    try:
        await _until(lambda: any(v.state.held and "registry" in v.state.held for v in lane.ctl.visits.values()),
                     30, "the visit held on the registry")
        [visit] = list(lane.ctl.visits.values())
        assert visit.state.stage.value == "verifying"
        assert lane.site.store.get_visit(visit.id).held  # persisted as held: a restart would see it too
        await lane.sim.device("lane-1", "registry").inject("down", False)
        [summary] = await run
    finally:
        run.cancel()
    _check_one_visit(lane, summary)


async def test_database_unreachable_mid_visit_holds_side_effects_and_replays_records_in_order(
        mqtt_broker, postgres_url, tmp_path, monkeypatch):
    """The network to PostgreSQL fails for 8 s mid-visit (a relay we cut: every connection reset, new
    ones refused). Nothing is commanded that the database could not record first (the visit holds,
    the officer is alerted), the records of what happened meanwhile are written in order when it
    is back, and the visit completes with one card and one charge."""
    from sqlalchemy.engine import make_url

    from tests.fixtures.net import CuttableLink

    # an outage longer than the lease hands the lane to another controller (test_leases.py); this
    # one is about a single controller riding it out
    monkeypatch.setenv("LAJUR_LEASE_SECONDS", "60")
    url = make_url(postgres_url)
    link = CuttableLink(url.host or "127.0.0.1", url.port or 5432)
    link.start()
    proxied = url.set(host="127.0.0.1", port=link.port).render_as_string(hide_password=False)
    try:
        async with running_lane(mqtt_broker.url, tmp_path, database_url=proxied) as lane:
            alerts: list[str] = []
            q = lane.site.bus.subscribe()

            async def watch() -> None:
                while True:
                    ev = await q.get()
                    if ev.kind == "alert":
                        alerts.append(ev.data["kind"])

            watcher = asyncio.create_task(watch())
            driver = lane.driver()
            run = asyncio.create_task(lane.run(driver, timeout=90))
            try:
                await _until(lambda: any(v.state.stage.value == "verifying" for v in lane.ctl.visits.values()),
                             30, "verifying")
                cards_before = len(lane.sim.ledger.effects("card_printed"))
                link.cut()
                await _until(lambda: any(v.state.held == "database" for v in lane.ctl.visits.values()), 8,
                             "the visit held for the database")
                assert lane.site.store.degraded, "records wait in the journal"
                await asyncio.sleep(4)
                [visit] = list(lane.ctl.visits.values())
                assert visit.state.held == "database", "still waiting: nothing commanded unrecorded"
                assert len(lane.sim.ledger.effects("card_printed")) == cards_before
                assert "database_unavailable" in alerts, "the officer's console was told"
                link.restore()
                [summary] = await run
            finally:
                run.cancel()
                watcher.cancel()
            assert not lane.site.store.degraded
            _check_one_visit(lane, summary)
            store = lane.site.store
            stages = [t.to_stage for t in store.transitions(summary["id"])]
            assert [s for i, s in enumerate(stages) if i == 0 or s != stages[i - 1]] == [
                "queued", "arriving", "verifying", "paying", "capturing", "printing", "handing_over", "exiting",
                "done"]
            notes = [t.note or "" for t in store.transitions(summary["id"])]
            held = next(i for i, n in enumerate(notes) if n.startswith("held: database"))
            back = next(i for i, n in enumerate(notes) if n == "database back")
            assert held < back, "the journaled records were written in their order"
            assert "database_unavailable" in {a.kind for a in store.alerts("lane-1")}
    finally:
        link.cut()


async def test_printer_cable_pulled_mid_visit_holds_and_resumes_by_itself(lane):
    """The card printer stops answering on its serial line (cable pulled; a USB adapter that
    vanishes and returns is tests/devices/test_gate_serial.py): the visit holds at printing with an
    alert, and once the printer answers again it prints the card, once, without an officer."""
    printer = lane.sim.lanes["lane-1"].card_printer
    await printer.inject("offline")
    driver = lane.driver()
    run = asyncio.create_task(lane.run(driver, timeout=90))
    try:
        await _until(lambda: any(v.state.held and "card-printer" in v.state.held for v in lane.ctl.visits.values()),
                     60, "held at the card printer")
        [visit] = list(lane.ctl.visits.values())
        assert visit.state.stage.value == "printing"
        assert not lane.sim.ledger.effects("card_printed")
        assert any(a.kind == "device_fault" for a in lane.site.store.alerts("lane-1"))
        await asyncio.sleep(2)
        await printer.inject("offline", False)
        [summary] = await run
    finally:
        run.cancel()
    _check_one_visit(lane, summary)
    assert not [a for a in lane.site.store.audit_log() if a.action in ("retry", "take_over")], "no officer needed"
