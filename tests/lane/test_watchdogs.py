"""Watchdogs: what the lane expects from the road and never sees holds the visit with an alert and a way
out, instead of a lane stuck for good (issue 24: "one demo run in four froze" with the visit in
arriving and the entry gate open). Real transports: the gates on pseudo-terminals, polled as in the
field, the other devices over a private broker.

The freeze came from the entry loop's falling edge never reaching the lane: a polled gate shows its
loops as they are at each poll, so a car that leaves the arming loop while the next one rolls onto it
(bumper to bumper, or a poll late on a busy machine) leaves no "clear" for the lane to see, and the
lane waited for one. Now the gate counts passages itself (latched, nothing lost between polls), the
lane also reads the safety loop clearing, and what is still missing after ``timing.watchdogs`` is
held with an alert."""

from __future__ import annotations

import pytest

from lane.actions import RetryFailed
from lane.workflow import Stage
from tests.lane.test_lane_end_to_end import Lane
from tests.lane.test_outages import _until, lane  # noqa: F401 - the fixture


async def _car_at_the_open_entry(harness: Lane) -> tuple:
    """A car on the entry loop, read and let in: the entry boom is up and the sign says go."""
    driver = harness.driver()
    model = harness.sim.lanes["lane-1"].entry_gate
    harness.traffic.camera.show("lane-1", "entry-camera", driver.plate, driver.seed)
    model.set_presence(True)
    await _until(lambda: harness.traffic._signalled(driver, "entry", "enter")
                 and model.status.position.value == "open", 30, "the entry to open for the car")
    [visit] = list(harness.ctl.visits.values())
    return driver, model, visit


def _drive_under_unseen(model) -> None:
    """The car drives under the boom and off the loops while the next one rolls onto the arming loop,
    all between two polls: no status the controller reads shows a loop clear."""
    model.set_safety(True)
    model.set_presence(False)
    model.set_safety(False)
    model.set_presence(True)  # the next car


async def test_a_car_rolling_on_as_the_one_ahead_leaves_does_not_freeze_the_entry(lane):  # noqa: F811
    """The gate counts the passage itself: the lane sees it although no poll showed a loop clear."""
    _driver, model, visit = await _car_at_the_open_entry(lane)
    _drive_under_unseen(model)
    await _until(lambda: visit.state.stage is not Stage.ARRIVING, 30, "the visit to leave arriving")
    assert visit.state.stage in (Stage.VERIFYING, Stage.PAYING) and not visit.state.held
    assert lane.sim.lanes["lane-1"].entry_gate.status.position.value in ("closing", "closed")
    assert not [a for a in lane.site.store.alerts("lane-1") if a.kind == "watchdog"]


async def test_a_gate_without_a_counter_still_sees_the_safety_loop_clear(lane):  # noqa: F811
    """An older gate (no passage count): the safety loop clearing, which the polls do see, is enough."""
    _driver, model, visit = await _car_at_the_open_entry(lane)
    model.counts_passages = False
    model.set_safety(True)
    model.set_presence(False)
    model.set_presence(True)  # the next car is on the arming loop at once: it never reads clear
    await lane.clock.sleep(4)
    model.set_safety(False)
    await _until(lambda: visit.state.stage is not Stage.ARRIVING, 30, "the visit to leave arriving")
    assert not visit.state.held


async def test_a_passage_nobody_saw_holds_the_visit_with_an_alert_until_the_officer_says(lane):  # noqa: F811
    """An older gate, and a passage no poll saw at all: after the passage watchdog the visit is held on
    the entry gate with one alert saying what is missing, the driver's sign says an officer is coming,
    the lane keeps looking; the officer, who saw the car go through, takes the step over and the lane
    goes on (alert cleared, the car at window 1, the gate closed behind it)."""
    _driver, model, visit = await _car_at_the_open_entry(lane)
    lane.officer._handled.add((visit.id, "watchdog entry-gate"))  # the officer here is the test
    model.counts_passages = False
    await lane.clock.sleep(1)
    _drive_under_unseen(model)
    await _until(lambda: (visit.state.held or "").startswith("entry-gate"), 30, "the passage watchdog")
    [alert] = [a for a in lane.site.store.alerts("lane-1") if a.kind == "watchdog"]
    assert alert.visit_id == visit.id and alert.cause == "entry-gate" and alert.cleared_at is None
    assert "no vehicle seen passing" in alert.message and "vehicle left" in alert.message
    assert alert.facts == {"device": "entry-gate", "fault": "not_passed", "plate": visit.state.plate,
                           "seconds": round(lane.ctl.settings.timing.watchdogs["passage"])}
    sign = lane.ctl.shown["entry"]
    assert sign.step == "held" and "petugas segera datang" in sign.text_id and "officer is coming" in sign.text_en
    await lane.clock.sleep(60)  # still held (the lane goes on by itself as soon as it sees the passage)
    assert visit.state.stage is Stage.ARRIVING and visit.state.held
    assert len([a for a in lane.site.store.alerts("lane-1") if a.kind == "watchdog"]) == 1
    await lane.ctl.act("take_over", actor="siti", role="officer", visit_id=visit.id,
                       reason="saw it drive through on the camera")
    await _until(lambda: visit.state.stage is not Stage.ARRIVING, 30, "the visit to go on")
    [alert] = [a for a in lane.site.store.alerts("lane-1") if a.kind == "watchdog"]
    assert alert.cleared_at is not None
    assert lane.ctl.where(visit).value == "window-1" and lane.ctl.shown["entry"].step != "held"
    await _until(lambda: model.status.position.value == "closed", 30, "the entry gate to close")


async def test_the_virtual_officer_answers_a_watchdog_as_a_person_would(lane):  # noqa: F811
    """In the demo nobody else would: the simulated officer walks over, sees the car went through and
    says so (audited with a reason), so a 20-driver demo never waits for ever."""
    _driver, model, visit = await _car_at_the_open_entry(lane)
    model.counts_passages = False
    await lane.clock.sleep(1)
    _drive_under_unseen(model)
    await _until(lambda: visit.state.stage is not Stage.ARRIVING, 30, "the officer to take the step over")
    [entry] = [a for a in lane.site.store.audit_log() if a.action == "take_over"]
    assert entry.actor == "officer-sim" and "went through" in entry.reason


async def test_a_car_that_backs_out_after_the_boom_opened_is_freed_by_vehicle_left(lane):  # noqa: F811
    """The boom opens, the driver reverses off the arming loop and drives away: the passage the lane
    waits for never comes. The watchdog holds the visit with an alert; a retry looks again and says it
    still fails; the officer's "vehicle left" ends the visit, the boom comes down with nobody under it,
    the alert clears, and the next car is let in as if nothing happened."""
    _driver, model, visit = await _car_at_the_open_entry(lane)
    lane.officer._handled.add((visit.id, "watchdog entry-gate"))  # the officer here is the test
    model.set_presence(False)  # reverses away; the gate counted no passage
    await _until(lambda: (visit.state.held or "").startswith("entry-gate"), 30, "the passage watchdog")
    [alert] = [a for a in lane.site.store.alerts("lane-1") if a.kind == "watchdog"]
    with pytest.raises(RetryFailed, match="still fails"):
        await lane.ctl.act("retry", actor="siti", role="officer", visit_id=visit.id)
    assert (visit.state.held or "").startswith("entry-gate") and visit.state.stage is Stage.ARRIVING
    await lane.ctl.act("vehicle_left", actor="siti", role="officer", visit_id=visit.id,
                       reason="reversed out and drove off")
    await _until(lambda: lane.finished, 30, "the visit to end")
    [summary] = lane.finished
    assert summary["outcome"] == "aborted" and "reversed out" in summary["reason"]
    [alert] = [a for a in lane.site.store.alerts("lane-1") if a.kind == "watchdog"]
    assert alert.cleared_at is not None
    await _until(lambda: model.status.position.value == "closed", 30, "the entry boom to come down")
    assert not lane.ctl.visits and all(v is None for v in lane.ctl.occupancy.values())
    assert not [e for e in lane.sim.ledger.effects("gate_closed") if e.get("safety_loop_occupied")]
    # the next car goes through the lane as usual
    [nxt] = await lane.run(lane.driver(), timeout=90)
    assert nxt["outcome"] == "completed"
    audit = {a.action: a for a in lane.site.store.audit_log()}
    assert audit["vehicle_left"].reason == "reversed out and drove off"


async def test_a_passage_while_the_controller_was_down_is_known_from_the_gates_count(lane):  # noqa: F811
    """The controller dies with the entry boom up; the car drives through while it is down and the next
    one rolls onto the arming loop; the camera is down too, so nothing but the gate can tell. The
    count stored with the opening's intent and the gate's count now differ: the restarted lane knows
    the car went through, lets it on to window 1 and holds nothing."""
    from tests.lane.test_officer_actions import _restart_controller

    _driver, model, visit = await _car_at_the_open_entry(lane)
    effect = lane.site.store.side_effect(f"{visit.id}-entry-gate-open")
    assert effect.detail["passages"] == model.status.passages
    await lane.ctl.stop()
    _drive_under_unseen(model)
    await lane.sim.device("lane-1", "entry-camera").inject("down")
    await _restart_controller(lane)
    resumed = lane.ctl.visits[visit.id]
    await _until(lambda: resumed.state.stage is not Stage.ARRIVING, 30, "the recovered visit to go on")
    assert not resumed.state.held and lane.ctl.where(resumed).value == "window-1"
    assert not [a for a in lane.site.store.alerts("lane-1") if a.kind == "watchdog"]
