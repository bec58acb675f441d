"""Window 3: handing over. The officer confirms the driver has the card, or has a spoiled card
reprinted first: the next copy, a new job on a new blank (a new card serial), printed once, on the
printer of the first copy. The spoiled card's blank is kept in the blank log as spoiled, with the
officer's reason and name. Where the site says so (``reprint_approval``), an officer's reprint waits
for a supervisor's approval before a second blank is used; a supervisor's own needs no other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lane.alerts import AlertFacts
from lane.commands import (
    APPROVER_ROLES,
    Accepted,
    Actor,
    ApproveReprint,
    HandedOver,
    Reprint,
    check_reprint_approver,
)
from lane.errors import NotPermitted
from lane.i18n import N_
from lane.notes import Note
from lane.stages.printing import print_copy
from lane.visit import Visit
from lane.workflow import Station

if TYPE_CHECKING:
    from lane.controller import LaneController

REPRINT_HOLD = "reprint: waiting for a supervisor's approval"


def reprint_needs_approval(lane: LaneController, actor: Actor) -> bool:
    """The site wants a second person for a reprint, and the one asking is not a supervisor."""
    return lane.settings.reprint_approval and actor.role not in APPROVER_ROLES


async def hand_over(lane: LaneController, visit: Visit) -> None:
    await lane.displays.show(Station.WINDOW_3, "handover", plate=visit.state.plate)
    while True:
        await lane.waiter.wait(lambda: visit.has_pending(HandedOver, Reprint), visit=visit)
        if lane.desk.take(visit, HandedOver) is not None:
            for asked in [a for a in visit.pending if isinstance(a.command, Reprint | ApproveReprint)]:
                lane.desk.discard(visit, asked)  # the card was good enough after all
            return
        reprint = next(a for a in visit.pending if isinstance(a.command, Reprint))
        if reprint_needs_approval(lane, reprint.actor) and not await _approved(lane, visit, reprint):
            continue
        await reprint_card(lane, visit, reprint)
        lane.desk.discard(visit, reprint)  # taken once printed: a restart in between prints it then
        await lane.displays.show(Station.WINDOW_3, "handover", plate=visit.state.plate)


async def _approved(lane: LaneController, visit: Visit, reprint: Accepted) -> bool:
    """Hold until a supervisor approves the reprint (True), or the officer hands the card over after all
    (False: the loop takes the hand-over)."""
    if visit.state.held != REPRINT_HOLD:
        visit.state.hold(REPRINT_HOLD)
        lane.records.persist(visit, note=Note.of(N_("reprint asked by %(actor)s: waiting for approval"),
                                                     actor=reprint.actor.username))
        lane.records.alert("reprint_approval", f"visit {visit.id}: a reprint waits for a supervisor's approval",
                           visit=visit, facts=AlertFacts())
    while True:
        await lane.waiter.wait(lambda: visit.has_pending(HandedOver, ApproveReprint), visit=visit)
        if visit.has_pending(HandedOver):
            outcome = False
            break
        approval = lane.desk.take(visit, ApproveReprint)
        assert approval is not None
        try:
            check_reprint_approver(approval.actor, visit)  # again: a command kept over a restart too
        except NotPermitted:
            continue
        lane.records.persist(visit, note=Note.of(N_("reprint approved by %(actor)s"), actor=approval.actor.username))
        outcome = True
        break
    visit.state.resume()
    lane.records.clear_alert("reprint_approval", visit)
    return outcome


async def reprint_card(lane: LaneController, visit: Visit, reprint: Accepted) -> None:
    """Print the card again as the next copy (``CardJob.copy``) on a new blank, on the printer of the
    first copy: a job of its own that the printer prints, where a retry of the same copy prints
    nothing; a restart in the middle finishes that copy rather than printing another. The card it
    replaces is recorded spoiled in the blank log."""
    blanks = await lane.store.run(lane.store.blanks, visit_id=visit.id)
    unfinished = next((b for b in blanks if b.status == "issued" and b.card_copy > 1), None)
    copy = unfinished.card_copy if unfinished else max((b.card_copy for b in blanks), default=1) + 1
    for blank in blanks:
        if blank.status == "printed" and blank.card_copy < copy:
            lane.store.spoil_blank(blank.serial, reason=reprint.command.reason or "", by=reprint.actor.username)
    await lane.displays.show(Station.WINDOW_3, "printing", plate=visit.state.plate)
    await print_copy(lane, visit, f"{visit.id}-card-{copy}", copy=copy)
