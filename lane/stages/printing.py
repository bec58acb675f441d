"""Window 3: printing (the card job keyed by the renewal id, so a repeated job prints no second
card) and handing over (the officer confirms the driver has the card)."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from lane.ports import CardJob
from lane.visit import Visit
from lane.workflow import Station

if TYPE_CHECKING:
    from lane.controller import LaneController


async def print_card(lane: LaneController, visit: Visit) -> None:
    await lane.stations.go_to(visit, Station.WINDOW_3, "to_window_3")
    await lane.displays.show(Station.WINDOW_3, "printing", plate=visit.state.plate)
    r = visit.row
    key = f"{visit.id}-card"
    effect = await lane.effects.intend(visit, key, kind="card_print")
    if effect.status == "done" and not lane.desk.take(visit, "reprint"):
        return
    job = CardJob(renewal_id=visit.id, sim_number=r.sim_number or "", holder_name=r.holder_name or "",
                  sim_class=r.sim_class or "A",
                  expires=date.fromisoformat(r.new_expiry) if r.new_expiry else lane.clock.now().date())
    await lane.holds.guarded(visit, "card-printer", lambda: lane.devices.card_printer.print_card(job))
    lane.effects.settle(key, "done")


async def hand_over(lane: LaneController, visit: Visit) -> None:
    await lane.displays.show(Station.WINDOW_3, "handover", plate=visit.state.plate)
    await lane.waiter.wait(lambda: visit.has_pending("handed_over"), visit=visit)
    lane.desk.take(visit, "handed_over")
