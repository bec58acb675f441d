"""Window 3's card printers: the card goes to the printer while the vehicle drives up, and a lane
with two printers prints the next card on the second while the first is still busy."""

from __future__ import annotations

import asyncio

from simulators.traffic import HumanTimes
from tests.lane.test_lane_end_to_end import running_lane


async def test_with_two_card_printers_the_next_card_prints_while_the_first_is_still_printing(mqtt_broker, tmp_path):
    # A slow printer (four minutes a card) and a quick photo: the second car's card is ready to
    # print long before the first card is out.
    times = HumanTimes(capture=15.0, tap_ektp=10.0, pay=10.0, spread=0.05)
    async with running_lane(mqtt_broker.url, tmp_path, times, card_printers=2, print_seconds=240.0) as lane:
        first, second = lane.driver(), lane.driver()
        visits = await lane.run(first, second, gap=5.0, timeout=90)
        assert [v["outcome"] for v in visits] == ["completed", "completed"]
        printed = lane.sim.ledger.effects("card_printed")
        by_visit = {e["renewal_id"]: e["device"] for e in printed}
        assert len(printed) == 2 and len(by_visit) == 2  # one card each, no second card
        assert set(by_visit.values()) == {"card-printer", "card-printer-2"}
        store = lane.site.store
        for v in visits:
            [card] = [e for e in store.side_effects(v["id"]) if e.kind == "card_print"]
            assert card.status == "done" and card.detail["printer"] == by_visit[v["id"]]
        # the second card began while its car still waited at window 2 for the first to leave window
        # 3: printed one after the other, it would have taken two whole prints
        second_visit = next(v for v in visits if by_visit[v["id"]] == "card-printer-2")
        assert second_visit["stages"]["printing"] < 1.6 * 240


async def test_a_card_sent_ahead_is_held_on_a_printer_fault_and_prints_once_after_the_retry(mqtt_broker, tmp_path):
    async with running_lane(mqtt_broker.url, tmp_path, HumanTimes(spread=0.05)) as lane:
        printer = lane.sim.lanes["lane-1"].card_printer
        await printer.inject("card_jam")
        driver = lane.driver()
        drive = asyncio.create_task(lane.traffic.drive(driver))

        def held():
            return [v for v in lane.ctl.visits.values() if v.state.held and "card-printer" in v.state.held]

        await asyncio.wait_for(lane._until(held), 60)
        await printer.inject("card_jam", False)
        await lane.ctl.act("retry", actor="siti", role="officer", visit_id=held()[0].id, reason="jam cleared")
        await asyncio.wait_for(drive, 60)
        await asyncio.wait_for(lane._until(lambda: lane.finished), 30)
        assert lane.finished[0]["outcome"] == "completed"
        assert len(lane.sim.ledger.effects("card_printed")) == 1
