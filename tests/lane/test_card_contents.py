"""What comes out of the card printer (issue 24): the card carries the photo, signature and fingerprint
the biometric station took, on a blank whose serial the lane logs; a reprint is a new job on a new
blank, the spoiled one kept in the blank log with the reason and who asked, and where the site says
so a supervisor approves it first. Real ports (pseudo-terminal printer, private broker)."""

from __future__ import annotations

import asyncio

import pytest

from lane.commands import Reprint
from lane.errors import NotPermitted
from lane.workflow import Stage
from tests.lane.test_commands import _driver_on, _only_visit
from tests.lane.test_lane_end_to_end import running_lane
from tests.lane.test_outages import _until


def _refs(renewal_id: str) -> dict[str, str]:
    """What the simulated biometric station names for a renewal's capture."""
    return {"photo_ref": f"biometric/{renewal_id}/photo.jpg", "signature_ref": f"biometric/{renewal_id}/signature.png",
            "fingerprint_ref": f"biometric/{renewal_id}/fingerprint.wsq"}


async def test_the_card_carries_the_capture_and_an_approved_reprint_goes_on_a_new_blank(mqtt_broker, tmp_path):
    async with running_lane(mqtt_broker.url, tmp_path, reprint_approval=True) as lane:
        await lane.officer.stop()  # the hand-over is ours: the car waits at window 3
        _driver, drive = _driver_on(lane)
        try:
            await _until(lambda: any(v.state.stage is Stage.HANDING_OVER for v in lane.ctl.visits.values()), 60,
                         "window 3")
            visit = _only_visit(lane)
            [first] = lane.sim.ledger.effects("card_printed")
            assert {k: first[k] for k in _refs(visit.id)} == _refs(visit.id), "the station's capture on the card"
            assert first["card_serial"].startswith("SIM-")
            [blank] = lane.site.store.blanks(visit_id=visit.id)
            assert (blank.serial, blank.status, blank.card_copy) == (first["card_serial"], "printed", 1)

            result = await lane.ctl.act("reprint", actor="budi", role="officer", visit_id=visit.id,
                                        reason="photo smudged")
            assert "supervisor" in result["detail"]
            await _until(lambda: visit.state.held and "reprint" in visit.state.held, 30, "the reprint held")
            assert any(a.kind == "reprint_approval" and a.cleared_at is None
                       for a in lane.site.store.alerts("lane-1"))
            with pytest.raises(NotPermitted):
                await lane.ctl.act("approve_reprint", actor="budi", role="supervisor", visit_id=visit.id)
            with pytest.raises(NotPermitted):
                await lane.ctl.act("approve_reprint", actor="siti", role="officer", visit_id=visit.id)
            await lane.clock.sleep(60)
            assert len(lane.sim.ledger.effects("card_printed")) == 1, "no second blank before the approval"

            await lane.ctl.act("approve_reprint", actor="rina", role="supervisor", visit_id=visit.id)
            await _until(lambda: len(lane.sim.ledger.effects("card_printed")) == 2, 30, "the second copy")
            await _until(lambda: not visit.has_pending(Reprint), 30, "the reprint taken")
            assert not visit.state.held and visit.state.stage is Stage.HANDING_OVER
            await lane.ctl.act("handed_over", actor="budi", role="officer", visit_id=visit.id)
            await asyncio.wait_for(drive, 60)
            await _until(lambda: lane.finished, 30, "the visit ended")
        finally:
            drive.cancel()
        assert lane.finished[0]["outcome"] == "completed"
        first, second = lane.sim.ledger.effects("card_printed")
        assert (first["copy"], second["copy"]) == (1, 2)
        assert second["card_serial"] != first["card_serial"] and second["card_serial"].startswith("SIM-")
        assert {k: second[k] for k in _refs(visit.id)} == _refs(visit.id)
        spoiled, printed = lane.site.store.blanks(visit_id=visit.id)
        assert (spoiled.serial, spoiled.status, spoiled.reason, spoiled.spoiled_by) == (
            first["card_serial"], "spoiled", "photo smudged", "budi")
        assert (printed.serial, printed.status, printed.card_copy) == (second["card_serial"], "printed", 2)
        audit = {a.action: a for a in lane.site.store.audit_log() if a.visit_id == visit.id}
        assert audit["reprint"].detail["before"]["card_serial"] == first["card_serial"]
        assert audit["reprint"].detail["after"]["approval"] == "waiting"
        assert audit["approve_reprint"].actor == "rina"
        assert all(a.cleared_at is not None for a in lane.site.store.alerts("lane-1") if a.kind == "reprint_approval")
