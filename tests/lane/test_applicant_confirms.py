"""The applicant confirms name, class and fee before the charge (issue 24): the window display and the
terminal show them, nothing is charged before the applicant's OK (on the terminal, or passed on by
the officer), and a no ends the renewal cleanly: no charge, no receipt, no card, out by the exit.
Real ports (private broker, pseudo-terminals), the virtual driver at the terminal."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from lane.commands import ApplicantAnswer
from lane.errors import WorkflowError
from lane.i18n import format_rupiah
from lane.ports import ChargeSummary
from lane.status import ended_status
from lane.workflow import Stage
from tests.lane.test_commands import _driver_on, _only_visit, _visit
from tests.lane.test_outages import _until, lane  # noqa: F401 - the fixture


def _window_1(lane_) -> list:
    """Every picture window 1's display was sent, in order (from the lane's bus)."""
    seen: list = []
    queue = lane_.site.bus.subscribe()

    async def pump() -> None:
        while True:
            ev = await queue.get()
            if ev.kind == "display" and ev.data.get("station") == "window-1":
                seen.append(ev.data)

    seen.append(asyncio.create_task(pump()))  # the first item: the pump, cancelled by the test
    return seen


async def test_nothing_is_charged_before_the_applicant_confirms_what_the_display_shows(lane):  # noqa: F811
    terminal = lane.sim.lanes["lane-1"].payment
    release = asyncio.Event()
    applicant = terminal.confirmer

    async def reads_slowly(summary: ChargeSummary) -> bool:
        await release.wait()
        return await applicant(summary)

    terminal.confirmer = reads_slowly
    shown = _window_1(lane)
    driver, drive = _driver_on(lane)
    try:
        await _until(lambda: any(v.confirming for v in lane.ctl.visits.values()), 60, "the confirmation")
        await lane.clock.sleep(60)
        visit = _only_visit(lane)
        assert visit.state.stage is Stage.PAYING and visit.confirming
        assert not lane.sim.ledger.effects("charge_made"), "no charge before the applicant's OK"
        release.set()
        await asyncio.wait_for(drive, 90)
        await _until(lambda: lane.finished, 30, "the visit ended")
    finally:
        drive.cancel()
        shown.pop(0).cancel()
    person = driver.person
    fee = 80_000 if person.sim_class == "A" else 75_000
    assert terminal.shown == [ChargeSummary(f"{visit.id}-confirm", driver.card.name, person.sim_class, fee)]
    steps = [m["step"] for m in shown]
    assert steps.index("confirm") < steps.index("pay")
    confirm = next(m for m in shown if m["step"] == "confirm")
    for text in (confirm["text_id"], confirm["text_en"]):
        assert driver.card.name in text and f"SIM {person.sim_class}" in text and format_rupiah(fee) in text
    assert "Periksa" in confirm["text_id"] and "OK" in confirm["text_id"]
    assert lane.finished[0]["outcome"] == "completed"
    assert [c["amount"] for c in lane.sim.ledger.effects("charge_made")] == [fee]


async def test_an_applicant_who_declines_leaves_by_the_exit_with_nothing_charged(lane):  # noqa: F811
    shown = _window_1(lane)
    driver = lane.driver()
    driver.declines = True
    try:
        [summary] = await lane.run(driver, timeout=90)
    finally:
        shown.pop(0).cancel()
    assert summary["outcome"] == "aborted" and summary["reason"] == "applicant_declined"
    ledger = lane.sim.ledger
    assert not ledger.effects("charge_made") and not ledger.effects("receipt_printed")
    assert not ledger.effects("card_printed")
    assert [e["plate"] for e in ledger.effects("vehicle_left")] == [driver.plate]
    assert "declined" in [m["step"] for m in shown]
    assert "paying" in summary["stages"] and "capturing" not in summary["stages"]
    effects = lane.site.store.side_effects(summary["id"])
    assert not [e for e in effects if e.kind == "charge"], "no charge even intended"
    row = lane.site.store.get_visit(summary["id"])
    status = ended_status(row, lane.site.settings, "id", datetime.now(UTC))
    assert status["note"].startswith("Anda tidak mengonfirmasi"), "the QR status page says why, in Bahasa"


async def test_the_officer_passes_on_the_applicants_ok_when_they_cannot_use_the_terminal(lane):  # noqa: F811
    terminal = lane.sim.lanes["lane-1"].payment
    never = asyncio.Event()

    async def cannot_press(summary: ChargeSummary) -> bool:
        await never.wait()
        return False

    terminal.confirmer = cannot_press
    _driver, drive = _driver_on(lane)
    try:
        await _until(lambda: any(v.confirming for v in lane.ctl.visits.values()), 60, "the confirmation")
        visit = _only_visit(lane)
        [view] = lane.ctl.snapshot()["visits"]
        assert "applicant_answer" in view["commands"], "the console offers the officer the applicant's answer"
        result = await lane.ctl.act("applicant_answer", actor="siti", role="officer", visit_id=visit.id,
                                    confirmed=True)
        assert "charged next" in result["detail"]
        await asyncio.wait_for(drive, 90)
        await _until(lambda: lane.finished, 30, "the visit ended")
    finally:
        drive.cancel()
        never.set()
    assert lane.finished[0]["outcome"] == "completed"
    assert len(lane.sim.ledger.effects("charge_made")) == 1
    [entry] = [a for a in lane.site.store.audit_log() if a.action == "applicant_answer"]
    assert entry.actor == "siti" and entry.detail["after"] == {"confirmation": "confirmed", "by": "officer"}


def test_the_applicants_answer_fits_only_while_a_confirmation_waits():
    with pytest.raises(WorkflowError, match="nothing waits for the applicant"):
        ApplicantAnswer(confirmed=True).check(_visit(Stage.PAYING))
    with pytest.raises(WorkflowError, match="not possible while capturing"):
        ApplicantAnswer(confirmed=True).check(_visit(Stage.CAPTURING))
    waiting = _visit(Stage.PAYING)
    waiting.confirming = True
    ApplicantAnswer(confirmed=False).check(waiting)
