"""A decision by hand: when the e-KTP reader or the registry was taken over, the officer fills in the
decision form (:class:`~lane.commands.Decide`) and a supervisor approves it from their own session.

The form goes through the very rules a device's data goes through: it becomes the identity card and
the registry answer :func:`lane.rules.evaluate` decides on (expiry and dispensations, age,
certificates and the NIK they name, class served, fee by class, SIM and NIK formats). An expired
SIM C typed by hand is refused with the referral slip, exactly as if the registry had said so.
Nothing counts before a second person approved it: the officer who proposed a decision cannot
approve it (:func:`lane.commands.check_approver`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from lane.alerts import AlertFacts
from lane.commands import Accepted, ApproveDecision, Decide, RejectDecision, check_approver
from lane.errors import NotPermitted
from lane.i18n import N_
from lane.notes import Note
from lane.ports import Certificate, IdentityCard, LicenceRecord, RegistryAnswer
from lane.rules import Decision, evaluate, parse_nik
from lane.settings import RuleSettings
from lane.visit import DECISION_HOLD, Visit
from lane.workflow import Station

if TYPE_CHECKING:
    from lane.controller import LaneController

log = logging.getLogger(__name__)

WAITING_FORM = f"{DECISION_HOLD}: waiting for the officer's form"
WAITING_APPROVAL = f"{DECISION_HOLD}: waiting for a supervisor's approval"


@dataclass
class Proposal:
    """A filled-in decision form and what the rules made of it, waiting for approval."""

    form: Accepted
    decision: Decision
    card: IdentityCard

    @property
    def id(self) -> int | None:
        """The form's row in the store: an approval names the proposal it approves."""
        return self.form.action_id

    @property
    def by(self) -> str:
        return self.form.actor.username

    def preview(self) -> dict[str, Any]:
        """What the console shows of it (no personal data)."""
        d = self.decision
        return {"id": self.id, "proposed_by": self.by, "eligible": d.eligible,
                "refusal": d.refusal.value if d.refusal else None, "sim_class": d.sim_class, "fee": d.fee,
                "message": d.message}


def evaluate_form(form: Decide, card: IdentityCard | None, today: date, rules: RuleSettings) -> tuple[Decision,
                                                                                                   IdentityCard]:
    """The rules' decision on what the officer entered (and what the reader read, if it did)."""
    if card is None:
        assert form.nik is not None and form.holder_name is not None  # Decide.check_values makes sure
        card = IdentityCard(nik=form.nik, name=form.holder_name, birth_date=parse_nik(form.nik).birth_date,
                            sim_number=form.sim_number)
    certificates = [Certificate(kind, nik, issued) for kind, nik, issued in (
        ("health", form.health_nik, form.health_issued), ("psychology", form.psychology_nik, form.psychology_issued))
        if issued is not None and nik is not None]
    licence = LicenceRecord(nik=card.nik, name=card.name, birth_date=card.birth_date, sim_number=form.sim_number,
                            sim_class=form.sim_class, expires=form.sim_expires)
    return evaluate(card, RegistryAnswer(licence, certificates), today, rules), card


async def decide_by_hand(lane: LaneController, visit: Visit) -> tuple[Decision, IdentityCard]:
    """Hold verifying until an officer's decision form is approved by a supervisor; the approved
    decision and the identity it is about."""
    visit.state.hold(WAITING_FORM)
    lane.records.persist(visit, note=Note.of(N_("decision by hand: waiting for the form")))
    lane.records.alert("decision_needed", f"visit {visit.id}: decide by hand (the decision form), then a "
                       "supervisor approves", visit=visit, facts=AlertFacts())
    await lane.displays.show(Station.WINDOW_1, "held", plate=visit.state.plate)
    desk = lane.desk

    def unproposed() -> bool:
        forms = _forms(visit)
        return bool(forms) and (visit.proposal is None or visit.proposal.form is not forms[-1])

    while True:
        await lane.waiter.wait(lambda: unproposed() or visit.has_pending(ApproveDecision, RejectDecision),
                               visit=visit)
        if unproposed():  # a newer form first: an answer to the older one no longer applies
            _propose(lane, visit)
            continue
        answer = desk.take(visit, ApproveDecision, RejectDecision)
        proposal = visit.proposal
        if answer is None or proposal is None or getattr(answer.command, "decision_id", None) != proposal.id:
            continue  # answers a proposal since replaced: set aside
        if isinstance(answer.command, RejectDecision):
            for form in _forms(visit):
                desk.discard(visit, form)
            visit.proposal = None
            visit.state.hold(WAITING_FORM)
            lane.records.persist(visit, note=Note.of(N_("decision sent back by %(actor)s"), actor=answer.actor.username))
            continue
        try:
            check_approver(answer.actor, visit)  # again: a command kept over a restart is checked too
        except NotPermitted as exc:
            log.warning("%s: approval of %s set aside: %s", lane.name, visit.id, exc)
            continue
        for form in _forms(visit):
            desk.discard(visit, form)  # answered by this approval
        visit.proposal = None
        visit.state.resume()
        lane.records.persist(visit, note=Note.of(N_("decision by hand approved by %(actor)s"),
                                                         actor=answer.actor.username))
        return proposal.decision, proposal.card


def _forms(visit: Visit) -> list[Accepted]:
    return [a for a in visit.pending if isinstance(a.command, Decide)]


def _propose(lane: LaneController, visit: Visit) -> None:
    """The newest form becomes the proposal, decided by the rules (older forms are set aside)."""
    *older, newest = _forms(visit)
    for old in older:
        lane.desk.discard(visit, old)
    form = newest.command
    assert isinstance(form, Decide)
    decision, card = evaluate_form(form, visit.card, lane.clock.now().date(), lane.settings.rules)
    visit.proposal = Proposal(newest, decision, card)
    visit.state.hold(WAITING_APPROVAL)
    who = newest.actor.username
    lane.records.persist(visit, note=Note.of(N_("decision by hand proposed by %(actor)s: eligible"), actor=who)
                         if decision.eligible else
                         Note.of(N_("decision by hand proposed by %(actor)s: refused (%(reason)s)"), actor=who,
                                 reason=decision.refusal.value if decision.refusal else "?"))
