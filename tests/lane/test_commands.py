"""Officer commands, typed: each is refused outside its stages with a sentence for the officer, needs a
reason where it changes the outcome, and goes through the workflow's rules. The lane tests drive a
real simulated lane (pseudo-terminals, a private broker, the HTTP registry): a decision by hand is
decided by the same rules as a device's data and needs a second person's approval; a plate cannot
be changed where it would strand the lane; "vehicle left" frees the lane for the next car; a retry
says whether it worked; audit lines show what changed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from lane.commands import (
    Abort,
    ApproveDecision,
    ConfirmPlate,
    Decide,
    HandedOver,
    Reprint,
    Retry,
    TakeOver,
    VehicleLeft,
)
from lane.errors import NotPermitted, ValidationError, WorkflowError
from lane.persistence.models import VisitRow
from lane.visit import Visit
from lane.workflow import Outcome, Stage, VisitState
from tests.lane.test_lane_end_to_end import Lane
from tests.lane.test_outages import _until, lane  # noqa: F401 - the fixture


def _visit(stage: Stage, held: str | None = None, plate: str | None = "G1234AB") -> Visit:
    state = VisitState(id="lane-1-20260101-0001", lane="lane-1", seq=1, started=0.0,
                       started_at=datetime(2026, 1, 1, tzinfo=UTC), stage=stage, held=held, plate=plate)
    return Visit(state, VisitRow(id=state.id, lane="lane-1", seq=1, stage=stage.value, started_at=state.started_at,
                                 sim_started=0.0, updated_at=state.started_at, stage_seconds={}))


# ================================================================ where each command fits (pure rules)
@pytest.mark.parametrize("command,stage,fragment", [
    (ConfirmPlate(plate="H 12 A", reason="misread"), Stage.PRINTING, "cannot be changed while printing"),
    (ConfirmPlate(plate="H 12 A", reason="misread"), Stage.EXITING, "cannot be changed while exiting.*window 1"),
    (HandedOver(), Stage.PRINTING, "not possible while printing"),
    (Reprint(reason="smudged"), Stage.PAYING, "not possible while paying"),
    (Decide(sim_class="A", sim_number="123456789012", sim_expires="2030-01-01", reason="reader broken"),
     Stage.PAYING, "not possible while paying"),
    (ApproveDecision(decision_id=1), Stage.CAPTURING, "not possible while capturing"),
])
def test_a_command_outside_its_stages_is_refused_with_the_stages_it_fits(command, stage, fragment):
    with pytest.raises(WorkflowError, match=fragment):
        command.check(_visit(stage))


def test_retry_and_take_over_need_a_step_held_on_a_device():
    for cmd in (Retry(), TakeOver(reason="by hand")):
        with pytest.raises(WorkflowError, match="held on a device"):
            cmd.check(_visit(Stage.CAPTURING))
        with pytest.raises(WorkflowError, match="held on a device"):
            cmd.check(_visit(Stage.ARRIVING, held="plate_unconfirmed"))
        cmd.check(_visit(Stage.PAYING, held="payment: declined"))


@pytest.mark.parametrize("stage,held,fragment", [
    (Stage.CAPTURING, "biometric: capture_failed", "biometric cannot be done by hand"),
    (Stage.PRINTING, "card-printer: ribbon_out", "card-printer cannot be done by hand"),
    (Stage.PRINTING, "card-printer-2: card_jam", "card-printer-2 cannot be done by hand"),
    (Stage.PAYING, "internal error", "stuck while paying is not done by hand"),
    (Stage.PRINTING, "database refused the visit's record", "retry it or abort"),
])
def test_a_take_over_that_would_skip_the_charge_the_photo_or_the_card_is_refused(stage, held, fragment):
    """Only steps the rules still cover are done by hand: the terminal (paid by other means), a gate,
    the reader or registry (the decision form), a verification stuck on the lane (the form too)."""
    with pytest.raises(WorkflowError, match=fragment):
        TakeOver(reason="by hand").check(_visit(stage, held=held))
    Retry().check(_visit(stage, held=held))
    for stage_, held_ in ((Stage.PAYING, "payment: declined"), (Stage.VERIFYING, "internal error"),
                          (Stage.ARRIVING, "entry-gate: no vehicle seen passing")):
        TakeOver(reason="by hand").check(_visit(stage_, held=held_))


def test_commands_that_change_the_outcome_need_a_reason():
    held = _visit(Stage.VERIFYING, held="card-reader: unreadable")
    for cmd in (TakeOver(), Abort(reason="  "), VehicleLeft()):
        with pytest.raises(ValidationError, match="reason"):
            cmd.check(held)
    # a plate typed for an unreadable one needs none; changing a plate that was read does
    ConfirmPlate(plate="G 1234 AB").check(_visit(Stage.ARRIVING, held="plate_unconfirmed", plate=None))
    with pytest.raises(ValidationError, match="reason"):
        ConfirmPlate(plate="H 12 A").check(_visit(Stage.VERIFYING))


def test_a_decision_by_hand_is_only_taken_after_a_take_over_and_needs_the_identity_the_reader_did_not_read():
    form = Decide(sim_class="C", sim_number="123456789012", sim_expires="2030-01-01", reason="reader broken")
    with pytest.raises(WorkflowError, match="taken over"):
        form.check(_visit(Stage.VERIFYING))
    with pytest.raises(ValidationError, match="NIK"):
        form.check(_visit(Stage.VERIFYING, held="decision: waiting for the officer's form"))


def test_bad_values_are_refused_where_they_come_in():
    from lane.commands import parse_command

    with pytest.raises(ValidationError, match="plate"):
        parse_command("confirm_plate", {"plate": "not a plate"})
    with pytest.raises(ValidationError, match="sim_number"):
        parse_command("decide", {"sim_class": "A", "sim_number": "12345678901x", "sim_expires": "2030-01-01"})
    with pytest.raises(ValidationError, match="nik"):
        parse_command("decide", {"sim_class": "A", "sim_number": "123456789012", "sim_expires": "2030-01-01",
                                 "nik": "3325014507909999"[:15]})
    with pytest.raises(ValidationError, match="sim_class"):
        parse_command("decide", {"sim_class": "B", "sim_number": "123456789012", "sim_expires": "2030-01-01"})


# ================================================================ on a real lane
def _driver_on(lane_: Lane, problem: int = 1):
    driver = lane_.driver(problem)
    return driver, asyncio.create_task(lane_.traffic.drive(driver))


def _only_visit(lane_: Lane) -> Visit:
    [visit] = list(lane_.ctl.visits.values())
    return visit


def _form(person, *, expires, sim_class=None, nik=True) -> dict:
    today = datetime.now(UTC).date()
    form = {"sim_class": sim_class or person.sim_class, "sim_number": person.sim_number,
            "sim_expires": expires.isoformat(), "health_issued": (today - timedelta(days=2)).isoformat(),
            "health_nik": person.nik, "psychology_issued": (today - timedelta(days=30)).isoformat(),
            "psychology_nik": person.nik, "reason": "e-KTP reader broken, read by eye"}
    if nik:
        form.update(nik=person.nik, holder_name=person.name)
    return form


async def _decision_form_after_taking_over(lane_: Lane, device: str) -> Visit:
    await _until(lambda: any(v.held_device == device for v in lane_.ctl.visits.values()), 60, f"{device} held")
    visit = _only_visit(lane_)
    await lane_.ctl.act("take_over", actor="budi", role="officer", visit_id=visit.id, reason=f"{device} down")
    await _until(lambda: visit.awaiting_decision, 30, "the decision form")
    return visit


async def test_an_expired_sim_c_decided_by_hand_is_refused_and_nothing_is_charged_or_printed(lane):  # noqa: F811
    """The e-KTP reader fails; the officer takes it over and types what the old SIM says: class C,
    expired yesterday. The rules refuse it (sim_expired) as they would the registry's answer; the
    officer who proposed it cannot approve it, nor can an officer; a supervisor's approval makes it
    count: referral slip, no charge, no card."""
    await lane.sim.device("lane-1", "card-reader").inject("unreadable")
    driver, drive = _driver_on(lane)
    try:
        visit = await _decision_form_after_taking_over(lane, "card-reader")
        assert lane.ctl.visit_view(visit)["needs_identity"] is True
        today = lane.clock.now().date()
        result = await lane.ctl.act("decide", actor="budi", role="officer", visit_id=visit.id,
                                    **_form(driver.person, sim_class="C", expires=today - timedelta(days=1)))
        assert result["decision"]["eligible"] is False and result["decision"]["refusal"] == "sim_expired"
        await _until(lambda: visit.proposal is not None, 30, "the proposal")
        decision_id = result["decision_id"]
        with pytest.raises(NotPermitted, match="another person"):
            await lane.ctl.act("approve_decision", actor="budi", role="supervisor", visit_id=visit.id,
                               decision_id=decision_id)
        with pytest.raises(NotPermitted, match="supervisor"):
            await lane.ctl.act("approve_decision", actor="ani", role="officer", visit_id=visit.id,
                               decision_id=decision_id)
        assert visit.state.stage is Stage.VERIFYING and visit.awaiting_decision  # nothing counted yet
        await lane.ctl.act("approve_decision", actor="siti", role="supervisor", visit_id=visit.id,
                           decision_id=decision_id)
        await asyncio.wait_for(drive, 60)
        await _until(lambda: lane.finished, 30, "the visit ended")
    finally:
        drive.cancel()
    [summary] = lane.finished
    assert summary["outcome"] == "refused" and summary["reason"] == "sim_expired"
    ledger = lane.sim.ledger
    assert not ledger.effects("charge_made") and not ledger.effects("card_printed")
    assert [e["kind"] for e in ledger.effects("receipt_printed")] == ["referral"]
    audit = {a.action: a for a in lane.site.store.audit_log()}
    assert audit["decide"].detail["after"]["proposal"]["refusal"] == "sim_expired"
    assert driver.person.nik not in str(audit["decide"].detail), "the audit keeps no NIK in clear"
    assert audit["approve_decision"].actor == "siti"


async def test_a_decision_by_hand_charges_the_class_fee_and_prints_the_card_with_its_data(lane):  # noqa: F811
    """The registry is down; the officer takes it over and fills in the form (the e-KTP was read: no
    NIK typed). A supervisor approves: the fee of the class typed is charged and the card carries the
    holder's name, SIM number and that class."""
    await lane.sim.device("lane-1", "registry").inject("down")
    driver, drive = _driver_on(lane)
    try:
        visit = await _decision_form_after_taking_over(lane, "registry")
        assert lane.ctl.visit_view(visit)["needs_identity"] is False
        today = lane.clock.now().date()
        result = await lane.ctl.act("decide", actor="budi", role="officer", visit_id=visit.id,
                                    **_form(driver.person, sim_class="C", expires=today + timedelta(days=20),
                                            nik=False))
        assert result["decision"] == {"eligible": True, "refusal": None, "sim_class": "C", "fee": 75_000,
                                      "message": "eligible"}
        await _until(lambda: visit.proposal is not None, 30, "the proposal")
        await lane.ctl.act("approve_decision", actor="siti", role="supervisor", visit_id=visit.id,
                           decision_id=result["decision_id"])
        await asyncio.wait_for(drive, 60)
        await _until(lambda: lane.finished, 30, "the visit ended")
    finally:
        drive.cancel()
        await lane.sim.device("lane-1", "registry").inject("down", False)
    [summary] = lane.finished
    assert summary["outcome"] == "completed"
    [charge] = lane.sim.ledger.effects("charge_made")
    assert charge["amount"] == 75_000
    card = lane.sim.lanes["lane-1"].card_printer.printed[(summary["id"], 1)]
    assert card["holder_name"] == driver.person.name and card["sim_number"] == driver.person.sim_number
    assert card["sim_class"] == "C"


async def test_a_plate_edit_at_window_3_is_refused_and_a_reprint_prints_the_next_copy(lane):  # noqa: F811
    """At window 3 the plate is on the receipt and the signs call the car on by it: the edit is refused
    with a reason the officer can read, nothing changes. The card is spoiled: a reprint (with a reason)
    prints the next copy at window 3, without moving the visit back, and the car leaves as it should."""
    await lane.officer.stop()  # the hand-over is ours, so the car waits at window 3
    driver, drive = _driver_on(lane)
    try:
        await _until(lambda: any(v.state.stage is Stage.HANDING_OVER for v in lane.ctl.visits.values()), 60,
                     "window 3")
        visit = _only_visit(lane)
        with pytest.raises(WorkflowError, match="window 1"):
            await lane.ctl.act("confirm_plate", actor="budi", role="officer", visit_id=visit.id, plate="H 9999 ZZ",
                               reason="typo")
        assert visit.state.plate == driver.plate
        assert lane.ctl.shown["window-3"].plate.replace(" ", "") == driver.plate
        await lane.ctl.act("reprint", actor="budi", role="officer", visit_id=visit.id, reason="card smudged")
        await _until(lambda: len(lane.sim.ledger.effects("card_printed")) == 2, 30, "the second copy")
        await _until(lambda: not visit.has_pending(Reprint), 30, "the reprint taken")
        assert visit.state.stage is Stage.HANDING_OVER
        await lane.ctl.act("handed_over", actor="budi", role="officer", visit_id=visit.id)
        await asyncio.wait_for(drive, 60)
        await _until(lambda: lane.finished, 30, "the visit ended")
    finally:
        drive.cancel()
    assert lane.finished[0]["outcome"] == "completed"
    assert not [a for a in lane.site.store.audit_log() if a.action == "confirm_plate"], "a refusal changes nothing"
    assert [e["copy"] for e in lane.sim.ledger.effects("card_printed")] == [1, 2]
    stages = [t.to_stage for t in lane.site.store.transitions(visit.id)]
    assert stages.index("handing_over") < stages.index("exiting") and "printing" not in stages[
        stages.index("handing_over"):], "a reprint does not move the visit back"


async def test_vehicle_left_frees_the_lane_and_the_next_car_proceeds(lane):  # noqa: F811
    """A car at window 3 is gone without the loops seeing it (it backed out round the barrier): its
    visit would hold window 3 for ever. "Vehicle left" ends it, frees the station, and the next car
    goes through the whole lane."""
    await lane.officer.stop()
    first, drive = _driver_on(lane)
    await _until(lambda: any(v.state.stage is Stage.HANDING_OVER for v in lane.ctl.visits.values()), 60, "window 3")
    drive.cancel()
    lane.traffic.at["window-3"] = None  # the car is gone from the lane
    visit = _only_visit(lane)
    with pytest.raises(ValidationError, match="reason"):
        await lane.ctl.act("vehicle_left", actor="budi", role="officer", visit_id=visit.id)
    result = await lane.ctl.act("vehicle_left", actor="budi", role="officer", visit_id=visit.id,
                                reason="drove off round the barrier")
    assert "window-3" in result["detail"]
    assert not lane.ctl.visits and all(v is None for v in lane.ctl.occupancy.values())
    row = lane.site.store.get_visit(visit.id)
    assert row.stage == "done" and row.outcome == "aborted" and row.reason.startswith("vehicle left")
    second, drive = _driver_on(lane)
    try:
        await _until(lambda: any(v.state.stage is Stage.HANDING_OVER for v in lane.ctl.visits.values()), 60,
                     "the next car at window 3")
        await lane.ctl.act("handed_over", actor="budi", role="officer", visit_id=_only_visit(lane).id)
        await asyncio.wait_for(drive, 60)
        await _until(lambda: len(lane.finished) == 2, 30, "the next car left")
    finally:
        drive.cancel()
    assert [s["outcome"] for s in lane.finished] == ["aborted", "completed"]
    assert lane.finished[1]["plate"] == second.plate
    [left] = [a for a in lane.site.store.audit_log() if a.action == "vehicle_left"]
    assert left.detail["before"] == {"stage": "handing_over", "station": "window-3"}
    assert left.detail["after"] == {"stage": "done", "station": None}


def test_abort_of_a_car_on_its_way_out_is_recorded_and_it_still_leaves():
    """Pure rule: a car already exiting keeps going; its renewal is recorded aborted; a refused one
    cannot be aborted on top."""
    v = _visit(Stage.EXITING).state
    v.abort(1.0, "card taken back: wrong class")
    assert v.stage is Stage.EXITING and v.outcome is Outcome.ABORTED
    with pytest.raises(WorkflowError, match="already aborted"):
        v.abort(2.0, "again")


async def test_open_exit_by_hand_lets_the_held_car_out(mqtt_broker, tmp_path):
    """The exit camera must match the plate before the gate opens, and it cannot (no plate seen): the
    visit holds at the exit. The officer looks, and opens the exit by hand: the gate opens, the sign
    turns green for that car, the held check counts as done by hand, and the car leaves."""
    from lane.settings import LaneTiming
    from tests.lane.test_lane_end_to_end import running_lane

    async with running_lane(mqtt_broker.url, tmp_path, timing=LaneTiming(exit_plate_match=True)) as lane_:
        await lane_.sim.device("lane-1", "exit-camera").inject("no_plate")
        driver, drive = _driver_on(lane_)
        try:
            await _until(lambda: any(v.held_device == "exit-camera" for v in lane_.ctl.visits.values()), 60,
                         "the exit check held")
            visit = _only_visit(lane_)
            result = await lane_.ctl.act("open_gate", actor="budi", role="officer", gate="exit-gate",
                                         reason="plate checked by eye")
            assert result["released"] == visit.id and driver.plate in result["detail"].replace(" ", "")
            await asyncio.wait_for(drive, 60)
            await _until(lambda: lane_.finished, 30, "the visit ended")
        finally:
            drive.cancel()
        assert lane_.finished[0]["outcome"] == "completed"
        assert [e["plate"] for e in lane_.sim.ledger.effects("vehicle_left")] == [driver.plate]
        [override] = [a for a in lane_.site.store.audit_log() if a.action == "open_gate"]
        assert override.detail["gate"] == "exit-gate" and override.detail["after"] == {"position": "open"}
