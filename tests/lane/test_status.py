"""The driver's status: the receipt's QR holds the status page's address, and the status says, live,
the stage in plain words, the place in the queue and when the card should be in hand."""

from __future__ import annotations

import asyncio

from lane.status import TOKEN, live_status, mask_plate, status_url
from simulators.traffic import HumanTimes
from tests.lane.test_lane_end_to_end import Lane, running_lane


def test_a_plate_is_masked_to_what_its_owner_recognises():
    assert mask_plate("G1234ABC") == "G ••34 ABC"
    assert mask_plate("AD 5 X") == "AD 5 X"
    assert mask_plate("H12A") == "H 12 A"


async def test_the_receipt_qr_opens_the_status_page_and_the_status_follows_the_car(mqtt_broker, tmp_path):
    times = HumanTimes(capture=300.0, spread=0.05)  # a slow photo: time to look at window 2
    async with running_lane(mqtt_broker.url, tmp_path, times, public_url="https://sim.example.go.id") as lane:
        first, second = lane.driver(), lane.driver()
        drives = [asyncio.create_task(lane.traffic.drive(first))]
        await lane.clock.sleep(20)
        drives.append(asyncio.create_task(lane.traffic.drive(second)))

        def at(stage: str):
            return [v for v in lane.ctl.visits.values() if v.state.stage.value == stage]

        await asyncio.wait_for(Lane._until(lambda: at("capturing")), 60)
        [visit] = at("capturing")
        token = visit.row.status_token
        assert TOKEN.match(token) and token not in visit.id
        status = live_status(lane.ctl, visit, "id")
        assert status["stage_text"] == "Perekaman" and status["cars_ahead"] == 0
        assert status["expected_seconds_to_card"] > 0 and status["expected_card_at"].count(":") == 1
        assert "Silakan" in status["note"] and status["plate"] != visit.state.plate
        # the car behind it waits before window 1 or at it: one vehicle ahead
        behind = next(v for v in lane.ctl.visits.values() if v.id != visit.id)
        assert live_status(lane.ctl, behind, "en")["cars_ahead"] == 1
        [receipt] = [e for e in lane.sim.ledger.effects("receipt_printed") if e["kind"] == "receipt"][:1]
        assert receipt["qr"] == status_url(lane.ctl.settings, token) == f"https://sim.example.go.id/s/{token}"
        await asyncio.wait_for(asyncio.gather(*drives), 90)
