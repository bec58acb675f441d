"""Verifying (window 1): the e-KTP is read, NIK and old SIM are checked with the registry and the
certificates checked; the rules of :mod:`lane.rules` decide. A refusal prints the referral slip
and sends the vehicle to the exit."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from lane.errors import DeviceFault, ValidationError
from lane.ports import IdentityCard, PrintDocument
from lane.rules import REFUSAL_TEXT, Decision, check_card, evaluate, format_plate, mask_nik
from lane.visit import Visit
from lane.workflow import Stage, Station

if TYPE_CHECKING:
    from lane.controller import LaneController

log = logging.getLogger(__name__)


async def verify(lane: LaneController, visit: Visit) -> None:
    plate = visit.state.plate
    human = lane.settings.timing.human_timeouts
    await lane.displays.show(Station.WINDOW_1, "tap_ektp", plate=plate)
    async def read_card() -> IdentityCard:
        card = await lane.devices.card_reader.read(timeout=lane.clock.to_wall(human["card_reader"]))
        try:
            return check_card(card)
        except ValidationError as exc:  # held for the officer: tap again (retry), by hand, or abort
            raise DeviceFault("card-reader", f"card refused: {exc}") from None

    card = await lane.holds.guarded(visit, "card-reader", read_card)
    if card is None:  # taken over: the officer decides by hand
        params = lane.desk.take(visit, "decide") or {}
        decision = Decision(True, sim_class=params.get("sim_class", "A"))
    else:
        await lane.displays.show(Station.WINDOW_1, "verifying", plate=plate)
        answer = await lane.holds.guarded(visit, "registry", lambda: lane.devices.registry.lookup(
            card.nik, card.sim_number))
        today = lane.clock.now().date()
        decision = evaluate(card, answer, today, lane.settings.rules) if answer else Decision(
            True, sim_class="A")
        r = visit.row
        r.nik, r.holder_name, r.sim_number = card.nik, card.name, card.sim_number
        if answer and answer.licence:
            r.sim_class = answer.licence.sim_class
    log.info("%s: visit %s NIK %s -> %s", lane.name, visit.id, mask_nik(visit.row.nik),
             "eligible" if decision.eligible else decision.refusal)
    if not decision.eligible:
        code = decision.refusal.value if decision.refusal else "refused"
        # Persist the refusal first, then print the referral slip (idempotent by key).
        visit.state.refuse(lane.clock.monotonic(), code)
        lane.records.persist(visit, note=f"refused: {code}", transition_from=Stage.VERIFYING)
        await lane.displays.show(Station.WINDOW_1, "refused", plate=plate)
        await lane.effects.print_once(visit, "referral", referral(visit, decision))
        return
    visit.row.sim_class = decision.sim_class or visit.row.sim_class
    visit.row.fee = decision.fee if decision.fee is not None else lane.settings.rules.fees.get(
        visit.row.sim_class or "A", 0)
    visit.row.new_expiry = (decision.new_expiry or lane.clock.now().date()).isoformat()
    lane.records.persist(visit, note="eligible")


def referral(visit: Visit, decision: Decision) -> PrintDocument:
    """The referral slip: why the renewal was refused, in both languages, with the reason code."""
    code = decision.refusal
    text_id, text_en = REFUSAL_TEXT[code] if code else ("Ditolak", "Refused")
    return PrintDocument(kind="referral", reference=visit.id, title="SURAT RUJUKAN / REFERRAL",
                         lines=[f"Plat: {format_plate(visit.state.plate or '')}", text_id, text_en,
                                f"Kode: {code.value if code else 'refused'}", decision.message])
