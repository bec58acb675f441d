"""The road queue before the entry and the alerts that follow visits, on the real transports (gates and
printers on pseudo-terminals, the other devices over a private broker): a car waiting for window 1 is
``queued`` (its own stage and budget, its own figures on the entry sign and the console), the
ten-minute clock starts at the entry, alerts come once per visit and cause and clear when the cause
ends, and a visit queued when the controller restarts is let in once."""

from __future__ import annotations

import asyncio

import pytest

from lane.actions import RetryFailed
from lane.workflow import Stage
from simulators.traffic import HumanTimes
from tests.lane.test_lane_end_to_end import Lane
from tests.lane.test_officer_actions import _restart_controller
from tests.lane.test_outages import _until

SLOW_WINDOW_1 = HumanTimes(tap_ektp=240.0, spread=0.01)
"""Window 1 busy for minutes: at the tests' clock speed the entry camera's read alone (a real half
second) is a simulated minute, so a car only waits for window 1 behind a slow one."""


@pytest.fixture
async def slow_lane(mqtt_broker, tmp_path):
    from tests.lane.test_lane_end_to_end import running_lane

    async with running_lane(mqtt_broker.url, tmp_path, SLOW_WINDOW_1) as harness:
        yield harness


async def test_a_car_waiting_for_window_1_is_queued_and_the_entry_sign_says_for_how_long(slow_lane):
    """Two cars arrive together. The second waits on the entry loop while the first is at window 1:
    it is queued (not arriving), the entry sign shows the queue and the expected wait, the console's
    snapshot too; once let in, its arriving stage is the gate alone and its visit time starts there."""
    lane = slow_lane
    signs: list[dict] = []
    queues: list[dict] = []
    events = lane.site.bus.subscribe()

    async def watch() -> None:
        while True:
            ev = await events.get()
            if ev.kind == "display" and ev.data["station"] == "entry" and ev.data["step"] == "wait":
                signs.append(ev.data)
            if ev.kind == "visit" and ev.data["stage"] == "queued":
                queues.append(lane.ctl.snapshot()["queue"])

    watcher = asyncio.create_task(watch())
    try:
        first, second = await lane.run(lane.driver(), lane.driver(), timeout=90)
    finally:
        watcher.cancel()
        lane.site.bus.unsubscribe(events)
    assert second["queued_seconds"] > 120, "the second car waited for window 1 before the entry"
    assert second["stages"]["arriving"] < 30 and first["stages"]["arriving"] < 30
    assert second["seconds"] == pytest.approx(sum(s for k, s in second["stages"].items() if k != "queued"), abs=1)
    assert second["door_to_door_seconds"] == pytest.approx(second["seconds"] + second["queued_seconds"], abs=1)
    [sign, *_] = signs
    assert sign["plate"] and sign["queue_length"] == 1 and sign["expected_wait"] >= 60
    assert "Antrean: 1 kendaraan" in sign["text_id"] and "Queue: 1 vehicle," in sign["text_en"]
    assert any(q["length"] == 1 and q["expected_wait_seconds"] > 0 for q in queues)
    arriving_alerts = [a for a in lane.site.store.alerts("lane-1") if a.cause == "arriving"]
    assert not arriving_alerts, "the wait for window 1 no longer makes the arriving stage late"
    assert lane.ctl.snapshot()["queue"]["length"] == 0


@pytest.mark.parametrize("lane_times", [HumanTimes(capture=200.0, spread=0.01)])
async def test_alerts_come_once_per_visit_and_cause_and_clear_when_it_ends(mqtt_broker, tmp_path, lane_times):
    """The card printer runs out of ribbon; the officer retries before fixing it (still out), then after:
    one device alert, cleared when the card prints. The slow photo's stage alert clears when the car
    leaves window 2; when the visit ends nothing of it is left open."""
    from tests.lane.test_lane_end_to_end import running_lane

    async with running_lane(mqtt_broker.url, tmp_path, lane_times) as harness:
        printer = harness.sim.lanes["lane-1"].card_printer
        await printer.inject("ribbon_out")
        drive = asyncio.create_task(harness.traffic.drive(harness.driver()))
        try:
            await _until(lambda: any("card-printer" in (v.state.held or "") for v in harness.ctl.visits.values()), 60,
                         "the printer fault to hold the visit")
            [visit] = list(harness.ctl.visits.values())
            capturing = _alerts(harness, visit.id, "stage_over_budget", "capturing")
            assert len(capturing) == 1 and capturing[0].cleared_at is not None, "cleared when window 2 was left"
            # what a page words in its language: the stage as a code, the budget in minutes, the plate
            assert capturing[0].facts == {"stage": "capturing", "minutes": round(
                harness.ctl.settings.timing.budgets["capturing"] / 60, 1), "plate": visit.state.plate}
            for _ in range(2):  # retried with the ribbon still out: it says so, held again, no second alert
                with pytest.raises(RetryFailed, match="still fails"):
                    await harness.ctl.act("retry", actor="siti", role="officer", visit_id=visit.id)
                await _until(lambda: not visit.pending and "card-printer" in (visit.state.held or ""), 30,
                             "the retry to fail")
            [fault] = _alerts(harness, visit.id, "device_fault", "card-printer")
            assert fault.cleared_at is None
            assert fault.facts == {"device": "card-printer", "fault": "ribbon_out", "plate": visit.state.plate}
            await printer.inject("ribbon_out", False)
            await harness.ctl.act("retry", actor="siti", role="officer", visit_id=visit.id, reason="ribbon replaced")
            await asyncio.wait_for(drive, 60)
            await _until(lambda: harness.finished, 30, "the visit to end")
        finally:
            drive.cancel()
        [fault] = _alerts(harness, visit.id, "device_fault", "card-printer")
        assert fault.cleared_at is not None
        assert not harness.site.store.uncleared_alerts("lane-1"), "nothing of an ended visit stays open"
        assert not harness.ctl.records.open


def _alerts(harness: Lane, visit_id: str, kind: str, cause: str | None) -> list:
    return [a for a in harness.site.store.alerts("lane-1") if a.visit_id == visit_id and a.kind == kind
            and a.cause == cause]


async def test_a_car_queued_when_the_controller_restarts_is_let_in_once(slow_lane):
    """The controller dies while the second car waits before the entry for window 1. After the restart
    the same visit goes on waiting (its queue time kept), is let in when window 1 frees, and the lane
    counts two visits and two entries, not three."""
    lane = slow_lane
    first, second = lane.driver(), lane.driver()
    drives = [asyncio.create_task(lane.traffic.drive(first)), asyncio.create_task(lane.traffic.drive(second))]

    def queued_behind() -> list:
        return [v for v in lane.ctl.visits.values() if v.state.stage is Stage.QUEUED and v.state.plate == second.plate
                and any(o.state.stage in (Stage.VERIFYING, Stage.PAYING) for o in lane.ctl.visits.values())]

    try:
        await _until(queued_behind, 60, "the second car queued while the first is at window 1")
        [waiting] = queued_behind()
        await lane.ctl.stop()
        await lane.clock.sleep(10)
        await _restart_controller(lane)
        resumed = lane.ctl.visits[waiting.id]
        assert resumed.state.stage is Stage.QUEUED and resumed.state.queued_seconds(lane.clock.monotonic()) >= 10
        await asyncio.wait_for(asyncio.gather(*drives), 90)
        await _until(lambda: len(lane.finished) == 2, 30, "both visits to end")
    finally:
        for d in drives:
            d.cancel()
    assert [v["plate"] for v in lane.finished] == [first.plate, second.plate]
    ledger = lane.sim.ledger
    assert [e["plate"] for e in ledger.effects("vehicle_entered")] == [first.plate, second.plate]
    assert len([e for e in ledger.effects("gate_opened") if e["device"] == "entry-gate"]) == 2
    assert len(lane.site.store.visits(lane="lane-1")) == 2
    row = lane.site.store.get_visit(waiting.id)
    assert row.stage == "done" and row.stage_seconds["queued"] >= 10 and row.stage_seconds["arriving"] < 30
