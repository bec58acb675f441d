"""Window 3: printing (the card job keyed by the renewal id, so a repeated job prints no second
card) and handing over (the officer confirms the driver has the card).

The card is sent to the printer as soon as the photo is taken, while the vehicle waits for window 3
to be free and drives up to it (``timing.print_ahead``, on by default): the driver then waits at
window 3 only for what the printer has not finished yet. A lane may have more than one card printer
(``card-printer-2``, ...): a card goes to a printer no other card is printing on, and stays with that
printer for good (a retry or a restart asks the same printer, which knows the renewal id, so no
second card comes out of another one).
"""

from __future__ import annotations

import asyncio
from datetime import date
from typing import TYPE_CHECKING

from lane.ports import CardJob, CardPrinter
from lane.visit import Visit, VisitAborted
from lane.workflow import Station

if TYPE_CHECKING:
    from lane.controller import LaneController


async def print_card(lane: LaneController, visit: Visit) -> None:
    key = f"{visit.id}-card"
    done = lane.store.side_effect(key)
    reprint = lane.desk.take(visit, "reprint") is not None
    needed = done is None or done.status != "done" or reprint
    if not needed:
        await _to_window_3(lane, visit)
        return
    if not lane.settings.timing.print_ahead:
        await _to_window_3(lane, visit)
        await _print(lane, visit, key)
        return
    # Both at once: the card prints while the vehicle waits for window 3 and drives up to it.
    try:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(_print(lane, visit, key), name=f"{visit.id}:card")
            tg.create_task(_to_window_3(lane, visit), name=f"{visit.id}:to-window-3")
    except BaseExceptionGroup as group:
        aborted = group.subgroup(VisitAborted)
        if aborted is not None:
            raise aborted.exceptions[0] from None
        raise group.exceptions[0] from None


async def _to_window_3(lane: LaneController, visit: Visit) -> None:
    await lane.stations.go_to(visit, Station.WINDOW_3, "to_window_3")
    await lane.displays.show(Station.WINDOW_3, "printing", plate=visit.state.plate)


async def _print(lane: LaneController, visit: Visit, key: str) -> None:
    r = visit.row
    name, printer = await _printer_for(lane, visit, key)
    await lane.effects.intend(visit, key, kind="card_print", detail={"printer": name})
    job = CardJob(renewal_id=visit.id, sim_number=r.sim_number or "", holder_name=r.holder_name or "",
                  sim_class=r.sim_class or "A",
                  expires=date.fromisoformat(r.new_expiry) if r.new_expiry else lane.clock.now().date())
    lane.printing[name] = visit.id
    try:
        await lane.holds.guarded(visit, name, lambda: printer.print_card(job))
    finally:
        if lane.printing.get(name) == visit.id:
            del lane.printing[name]
            lane.waiter.notify()
    lane.effects.settle(key, "done", {"printer": name})


async def _printer_for(lane: LaneController, visit: Visit, key: str) -> tuple[str, CardPrinter]:
    """The printer this card was sent to before (after a retry, reprint or restart), else the first
    one no other card is printing on (waiting for one to finish when all are busy)."""
    printers = lane.devices.card_printers()
    effect = lane.store.side_effect(key)
    pinned = (effect.detail or {}).get("printer") if effect is not None else None
    if pinned is None and effect is not None:
        pinned = "card-printer"  # recorded before a lane had several printers
    if pinned in printers:
        return pinned, printers[pinned]

    def free() -> str | None:
        ready = [n for n in printers if n not in lane.printing and getattr(printers[n], "online", True)]
        idle = [n for n in printers if n not in lane.printing]
        return (ready or idle or [None])[0]

    await lane.waiter.wait(lambda: free() is not None, visit=visit)
    name = free()
    assert name is not None
    return name, printers[name]


async def hand_over(lane: LaneController, visit: Visit) -> None:
    await lane.displays.show(Station.WINDOW_3, "handover", plate=visit.state.plate)
    await lane.waiter.wait(lambda: visit.has_pending("handed_over"), visit=visit)
    lane.desk.take(visit, "handed_over")
