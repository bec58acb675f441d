"""Verifying (window 1): the e-KTP is read, NIK and old SIM are checked with the registry and the
certificates checked; the rules of :mod:`lane.rules` decide. When the officer took the reader or the
registry over, the decision form decides instead, through the same rules and a supervisor's approval
(:mod:`lane.decisions`). A refusal prints the referral slip and sends the vehicle to the exit."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from lane.decisions import decide_by_hand
from lane.errors import DeviceFault, ValidationError
from lane.i18n import N_, both, gettext
from lane.notes import Note
from lane.ports import IdentityCard, PrintDocument, RegistryAnswer
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
            raise DeviceFault("card-reader", f"card refused: {exc}", fault="card_refused") from None

    card: IdentityCard | None = await lane.holds.guarded(visit, "card-reader", read_card)
    visit.card = card
    answer = None
    if card is not None:
        await lane.displays.show(Station.WINDOW_1, "verifying", plate=plate)
        answer = await lane.holds.guarded(visit, "registry", lambda: lane.devices.registry.lookup(
            card.nik, card.sim_number))
    if card is None or answer is None:  # the reader or the registry taken over: decided by hand
        decision, card = await decide_by_hand(lane, visit)
    else:
        decision = evaluate(card, answer, lane.clock.now().date(), lane.settings.rules)
    await _decided(lane, visit, decision, card, answer)


async def verify_by_hand(lane: LaneController, visit: Visit) -> None:
    """The officer took over a verification stuck on the lane itself (``Holds.stuck``): it is decided
    by hand too, through the decision form and a supervisor's approval, never skipped."""
    decision, card = await decide_by_hand(lane, visit)
    await _decided(lane, visit, decision, card, None)


async def _decided(lane: LaneController, visit: Visit, decision: Decision, card: IdentityCard,
                   answer: RegistryAnswer | None) -> None:
    """Keep the identity and the decision; a refusal prints the referral and sends the car to the exit."""
    plate = visit.state.plate
    r = visit.row
    r.nik, r.holder_name, r.sim_number = card.nik, card.name, card.sim_number
    r.sim_class = decision.sim_class or (answer.licence.sim_class if answer and answer.licence else r.sim_class)
    log.info("%s: visit %s NIK %s -> %s", lane.name, visit.id, mask_nik(r.nik),
             "eligible" if decision.eligible else decision.refusal)
    if not decision.eligible:
        code = decision.refusal.value if decision.refusal else "refused"
        # Persist the refusal first, then print the referral slip (idempotent by key).
        visit.state.refuse(lane.clock.monotonic(), code)
        lane.records.persist(visit, note=Note.of(N_("refused: %(reason)s"), reason=code),
                             transition_from=Stage.VERIFYING)
        await lane.displays.show(Station.WINDOW_1, "refused", plate=plate)
        await lane.effects.print_once(visit, "referral", referral(visit, decision))
        return
    assert decision.fee is not None and decision.new_expiry is not None  # evaluate sets both when eligible
    r.fee = decision.fee
    r.new_expiry = decision.new_expiry.isoformat()
    lane.records.persist(visit, note=Note.of(N_("eligible")))


def referral(visit: Visit, decision: Decision) -> PrintDocument:
    """The referral slip: why the renewal was refused, in both languages, with the reason code."""
    code = decision.refusal
    text_id, text_en = REFUSAL_TEXT[code] if code else both("Refused")
    plate_word, code_word = gettext("id", "Plate"), gettext("id", "Code")
    return PrintDocument(kind="referral", reference=visit.id, title=" / ".join(t.upper() for t in both("Referral slip")),
                         lines=[f"{plate_word}: {format_plate(visit.state.plate or '')}", text_id, text_en,
                                f"{code_word}: {code.value if code else 'refused'}", decision.message])
