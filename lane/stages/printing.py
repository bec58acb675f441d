"""Window 3: printing. The card job is keyed by the renewal id and copy, so a repeated job prints no
second card; it carries the biometric capture's photo, signature and fingerprint references and the
serial of the blank it goes on (the blank log, :mod:`lane.persistence.blanks`). Handing over and
reprints: :mod:`lane.stages.handing_over`.

The card is sent to the printer as soon as the photo is taken, while the vehicle waits for window 3
to be free and drives up to it (``timing.print_ahead``, on by default): the driver then waits at
window 3 only for what the printer has not finished yet. A lane may have more than one card printer
(``card-printer-2``, ...): a card goes to a printer no other card is printing on, and stays with that
printer for good (a retry, a reprint or a restart asks the same printer, which knows the renewal id,
so no second card comes out of another one). No card is printed without a name, a SIM number, a
class, an expiry, and the photo, signature and fingerprint.
"""

from __future__ import annotations

import asyncio
from datetime import date
from typing import TYPE_CHECKING

from lane.alerts import AlertFacts
from lane.i18n import N_
from lane.notes import Note
from lane.ports import CardJob, CardPrinter
from lane.visit import Visit, VisitAborted
from lane.workflow import Station

if TYPE_CHECKING:
    from lane.controller import LaneController


async def print_card(lane: LaneController, visit: Visit) -> None:
    key = f"{visit.id}-card"
    done = await lane.store.run(lane.store.side_effect, key)
    if done is not None and done.status == "done":
        await _to_window_3(lane, visit)
        return
    if not lane.settings.timing.print_ahead:
        await _to_window_3(lane, visit)
        await print_copy(lane, visit, key, copy=1)
        return
    # Both at once: the card prints while the vehicle waits for window 3 and drives up to it.
    try:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(print_copy(lane, visit, key, copy=1), name=f"{visit.id}:card")
            tg.create_task(_to_window_3(lane, visit), name=f"{visit.id}:to-window-3")
    except BaseExceptionGroup as group:
        aborted = group.subgroup(VisitAborted)
        if aborted is not None:
            raise aborted.exceptions[0] from None
        raise group.exceptions[0] from None


async def _to_window_3(lane: LaneController, visit: Visit) -> None:
    await lane.stations.go_to(visit, Station.WINDOW_3, "to_window_3")
    await lane.displays.show(Station.WINDOW_3, "printing", plate=visit.state.plate)


async def print_copy(lane: LaneController, visit: Visit, key: str, *, copy: int) -> None:
    """Print ``copy`` of this renewal's card under ``key``: the job's intent and its blank (the card
    serial) are recorded first, in one transaction; the blank is marked printed once the card is out."""
    await _require_card_data(lane, visit)
    name, printer = await _printer_for(lane, visit)
    _effect, blank = await lane.effects.intend_card(visit, key, copy=copy, printer=name)
    job = card_job(lane, visit, copy=copy, card_serial=blank.serial)
    lane.printing[name] = visit.id
    try:
        await lane.holds.guarded(visit, name, lambda: printer.print_card(job))
    finally:
        if lane.printing.get(name) == visit.id:
            del lane.printing[name]
            lane.waiter.notify()
    lane.store.blank_printed(blank.serial)
    lane.effects.settle(key, "done", {"printer": name})


def card_job(lane: LaneController, visit: Visit, *, copy: int, card_serial: str | None = None) -> CardJob:
    """This renewal's card, as the printer's ``copy`` of it (1: the first card; more: reprints), with
    the photo, signature and fingerprint the biometric station took, on the blank ``card_serial``."""
    r = visit.row
    return CardJob(renewal_id=visit.id, sim_number=r.sim_number or "", holder_name=r.holder_name or "",
                   sim_class=r.sim_class or "", expires=date.fromisoformat(r.new_expiry) if r.new_expiry
                   else lane.clock.now().date(), photo_ref=r.photo_ref, signature_ref=r.signature_ref,
                   fingerprint_ref=r.fingerprint_ref, copy=copy, card_serial=card_serial)


async def _printer_for(lane: LaneController, visit: Visit) -> tuple[str, CardPrinter]:
    """The printer this card was sent to before (after a retry, reprint or restart), else the first
    one no other card is printing on (waiting for one to finish when all are busy)."""
    printers = lane.devices.card_printers()
    effect = await lane.store.run(lane.store.side_effect, f"{visit.id}-card")
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


async def _require_card_data(lane: LaneController, visit: Visit) -> None:
    """Never a card without a name, a SIM number, a class and an expiry: hold (only an abort or
    "vehicle left" ends it) and tell the officers, loudly."""
    r = visit.row
    missing = [what for what, value in (("name", r.holder_name), ("SIM number", r.sim_number),
                                        ("class", r.sim_class), ("expiry", r.new_expiry), ("photo", r.photo_ref),
                                        ("signature", r.signature_ref), ("fingerprint", r.fingerprint_ref))
               if not value]
    if not missing:
        return
    visit.state.hold(f"card data missing: {', '.join(missing)}")
    lane.records.persist(visit, note=Note.of(N_("not printed: no %(missing)s"), missing=", ".join(missing)))
    lane.records.alert("card_data_missing", f"visit {visit.id}: no card printed without its {', '.join(missing)}; "
                       "abort the visit", level="critical", visit=visit, facts=AlertFacts(missing=missing))
    await lane.waiter.wait(lambda: False, visit=visit)
