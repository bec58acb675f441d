"""An officer's action the console accepted is kept until the workflow has taken it: a controller
that dies in between acts on it after the restart (real ports, broker, registry; the controller is
restarted in-process: the kill -9 variant of a restart is tests/lane/test_recovery.py)."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from lane.persistence import OfficerAction
from tests.lane.test_lane_end_to_end import Lane
from tests.lane.test_outages import _until, lane  # noqa: F401 - the fixture


async def _restart_controller(harness: Lane) -> None:
    site = harness.site
    await site._stop_lane("lane-1")
    await site._start_lane(site.settings.lanes[0])
    harness.ctl = site.controllers["lane-1"]
    harness.ctl.on_visit_finished.append(harness.finished.append)


async def test_take_over_accepted_just_before_a_crash_is_not_charged_again_after_it(lane):  # noqa: F811
    """The terminal declines; the officer takes the cash and presses "take over"; the controller dies
    before acting on it. After the restart the payment counts as taken: the terminal is not asked to
    charge the driver a second time, and the visit completes."""
    payment = lane.sim.lanes["lane-1"].payment
    await payment.inject("declined")
    driver = lane.driver()
    drive = asyncio.create_task(lane.traffic.drive(driver))
    try:
        await _until(lambda: any((v.state.held or "").startswith("payment") for v in lane.ctl.visits.values()), 60,
                     "payment declined and held")
        [visit] = list(lane.ctl.visits.values())
        await payment.inject("declined", False)  # the terminal would take a second charge now
        await lane.ctl.stop()  # the process dies...
        # ...just after the console had accepted the officer's action (what act() keeps before "ok")
        lane.site.store.audit(actor="siti", role="officer", action="take_over", lane="lane-1", visit_id=visit.id,
                              reason="paid in cash")
        lane.site.store.queue_action(lane="lane-1", visit_id=visit.id, action="take_over", actor="siti",
                                     params={"device": "payment"})
        await _restart_controller(lane)
        await asyncio.wait_for(drive, 90)
        await _until(lambda: lane.finished, 30, "the visit ended")
    finally:
        drive.cancel()
    [summary] = lane.finished
    assert summary["outcome"] == "completed"
    assert not lane.sim.ledger.effects("charge_made"), "no charge at the terminal: the officer took it"
    assert len(lane.sim.ledger.effects("card_printed")) == 1
    effects = lane.site.store.side_effects(visit.id)
    assert [e.detail.get("by") for e in effects if e.kind == "charge" and e.status == "done"] == ["officer"]
    assert not lane.site.store.waiting_actions("lane-1")


async def test_actions_are_kept_until_taken_and_set_aside_when_their_visit_ends(lane):  # noqa: F811
    [summary] = await lane.run(lane.driver(), timeout=60)
    store = lane.site.store
    assert not store.waiting_actions("lane-1"), "the hand-over press was taken"
    with store.session() as s:
        rows = list(s.exec(select(OfficerAction)).scalars())
    assert [(r.action, r.visit_id) for r in rows] == [("handed_over", summary["id"])]
    assert rows[0].taken_at is not None
