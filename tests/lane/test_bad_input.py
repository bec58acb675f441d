"""One bad character, or one write the database refuses, never freezes a lane (real PostgreSQL, the
real transports): a card whose name holds a NUL is refused where it enters, and a visit whose record
the database refuses is held with an alert, and the officer's abort or take-over still work."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest
from sqlalchemy import create_engine, text

from lane.commands import TakeOver
from lane.errors import WorkflowError
from tests.lane.test_lane_end_to_end import Lane, running_lane

pytestmark = pytest.mark.postgres


async def _until(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def _held(lane: Lane, word: str) -> list:
    return [v for v in lane.ctl.visits.values() if v.state.held and word in v.state.held]


async def test_a_card_name_with_a_nul_is_refused_at_the_reader_and_the_next_car_goes_through(
        mqtt_broker, postgres_url, tmp_path, caplog):
    async with running_lane(mqtt_broker.url, tmp_path, database_url=postgres_url) as lane:
        poisoned = lane.driver()
        poisoned.card = dataclasses.replace(poisoned.card, name="BUDI\x00SANTOSO")
        drive = asyncio.create_task(lane.traffic.drive(poisoned))

        def refused() -> list:
            return [a for a in lane.site.store.alerts("lane-1") if a.kind == "message_refused"]

        try:
            await _until(refused, 60, "the card refused, and the console told")
            [alert] = refused()
            assert alert.message.startswith("card-reader: refused a message: malformed") and alert.level == "warning"
            [visit] = lane.ctl.visits.values()
            assert visit.state.stage.value == "verifying", "nothing believed: the visit waits for a card"
            await lane.ctl.act("abort", actor="siti", role="officer", visit_id=visit.id, reason="card unreadable")
            await asyncio.wait_for(drive, 60)
            await _until(lambda: lane.finished, 30, "the aborted visit left")
        finally:
            drive.cancel()
        assert lane.finished[0]["outcome"] == "aborted"
        assert lane.site.store.get_visit(visit.id).holder_name is None, "the refused name was never kept"
        [after] = await lane.run(lane.driver(), timeout=90)
        assert after["outcome"] == "completed"
    assert "SANTOSO" not in caplog.text and poisoned.card.nik not in caplog.text


async def test_a_visit_record_the_database_refuses_is_held_and_abort_and_take_over_still_work(
        mqtt_broker, postgres_url, tmp_path):
    """The database refuses the visit's record once the card is read (a constraint a site's DBA added;
    the NUL did the same before the card reader refused it): the visit is held with an alert instead
    of freezing, the officer takes the step over, and when the database refuses again, aborts; the
    car leaves and the next one is served."""
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    async with running_lane(mqtt_broker.url, tmp_path, database_url=postgres_url) as lane:
        with admin.connect() as conn:
            conn.execute(text("ALTER TABLE visits ADD CONSTRAINT no_poison "
                              "CHECK (holder_name IS NULL OR holder_name NOT LIKE '%POISON%')"))
        poisoned = lane.driver()
        poisoned.card = dataclasses.replace(poisoned.card, name="BUDI POISON")
        drive = asyncio.create_task(lane.traffic.drive(poisoned))
        try:
            await _until(lambda: _held(lane, "database"), 60, "the visit held on the refused record")
            [visit] = _held(lane, "database")
            alerts = [a for a in lane.site.store.alerts("lane-1") if a.visit_id == visit.id]
            assert any(a.kind == "record_refused" and a.level == "critical" for a in alerts)
            assert "POISON" not in " ".join(a.message for a in alerts), "no personal data in the alert"
            # take-over answers and acts: the step is done by hand; the record is refused again, held again
            stage = visit.state.stage
            await lane.ctl.act("take_over", actor="siti", role="officer", visit_id=visit.id, reason="by hand")
            await _until(lambda: visit.state.stage is not stage or not visit.has_pending(TakeOver), 30,
                         "the take-over taken")
            await _until(lambda: visit.state.held and "database" in visit.state.held, 30, "held again")
            await lane.ctl.act("abort", actor="siti", role="officer", visit_id=visit.id, reason="record refused")
            await asyncio.wait_for(drive, 60)
            await _until(lambda: lane.finished, 30, "the aborted visit left")
        finally:
            drive.cancel()
        assert lane.finished[0]["outcome"] == "aborted"
        assert lane.sim.ledger.effects("vehicle_left"), "the car left by the exit"
        assert not lane.sim.ledger.effects("card_printed")
        [after] = await lane.run(lane.driver(), timeout=90)
        assert after["outcome"] == "completed"
    admin.dispose()


async def test_a_payment_stuck_on_the_lane_cannot_be_taken_over_and_a_retry_charges_once(
        mqtt_broker, postgres_url, tmp_path):
    """The database refuses the visit's record as the charge starts: the visit holds at paying. A
    take-over there would have skipped the charge (the card printed unpaid): it is refused with a
    sentence for the officer, and nothing changes; once the database takes the record, the retry
    charges the fee once and the card is printed."""
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    async with running_lane(mqtt_broker.url, tmp_path, database_url=postgres_url) as lane:
        with admin.connect() as conn:
            conn.execute(text("ALTER TABLE visits ADD CONSTRAINT no_charge_yet CHECK (payment_reference IS NULL)"))
        drive = asyncio.create_task(lane.traffic.drive(lane.driver()))
        try:
            await _until(lambda: _held(lane, "database"), 60, "the visit held at paying")
            [visit] = _held(lane, "database")
            assert visit.state.stage.value == "paying"
            with pytest.raises(WorkflowError, match="retry it or abort"):
                await lane.ctl.act("take_over", actor="siti", role="officer", visit_id=visit.id, reason="cash")
            assert not [a for a in lane.site.store.audit_log() if a.action == "take_over"], "a refusal changes nothing"
            with admin.connect() as conn:
                conn.execute(text("ALTER TABLE visits DROP CONSTRAINT no_charge_yet"))
            await lane.ctl.act("retry", actor="siti", role="officer", visit_id=visit.id)
            await asyncio.wait_for(drive, 90)
            await _until(lambda: lane.finished, 30, "the visit ended")
        finally:
            drive.cancel()
        assert lane.finished[0]["outcome"] == "completed"
        assert len(lane.sim.ledger.effects("charge_made")) == 1
        assert len(lane.sim.ledger.effects("card_printed")) == 1
    admin.dispose()
