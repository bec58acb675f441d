"""Paying (window 1): first the applicant confirms what they pay for: the window display and the
terminal show the name read from their e-KTP, the class renewed and the fee, and they press OK on
the terminal (or tell the officer, who passes it on: :class:`~lane.commands.ApplicantAnswer`). Nothing
is charged before that; a no ends the renewal with nothing charged, and the car leaves by the exit.
Then the fee is charged on the terminal (QRIS/EDC) under a reference that makes a repeated request
harmless, or confirmed by the officer; the receipt is printed once. A declined payment holds the
visit: the driver tries again (a new reference) or the officer takes the payment by other means."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from lane.alerts import AlertFacts
from lane.commands import ApplicantAnswer
from lane.i18n import N_, both, format_rupiah, gettext
from lane.notes import Note
from lane.ports import ChargeSummary, PaymentOutcome, PrintDocument
from lane.rules import format_plate
from lane.status import new_token, status_url
from lane.visit import Visit
from lane.workflow import DECLINED, Station

if TYPE_CHECKING:
    from lane.controller import LaneController


async def pay(lane: LaneController, visit: Visit) -> None:
    r = visit.row
    fee = int(r.fee or 0)
    plate = visit.state.plate
    if not r.paid and not r.payment_reference and not await confirm(lane, visit, fee):  # (asked once: a
        before = visit.state.stage  # charge under way after a restart was confirmed before it)
        visit.state.abort(lane.clock.monotonic(), DECLINED)
        lane.records.persist(visit, note=Note.of(N_("the applicant did not confirm: nothing charged")),
                             transition_from=before)
        await lane.displays.show(Station.WINDOW_1, "declined", plate=plate)
        return
    if not r.paid:
        await _charge(lane, visit, fee)
        r.paid = True
        lane.records.persist(visit, note=Note.of(N_("paid")))
    await lane.displays.show(Station.WINDOW_1, "receipt", plate=plate)
    if not r.status_token:  # a visit from before status pages existed
        r.status_token = new_token()
        lane.records.persist(visit)
    scan_id, scan_en = both("Scan the QR code: where your renewal stands, live")
    plate_word, renewal_word = gettext("id", "Plate"), gettext("id", "renewal")
    await lane.effects.print_once(visit, "receipt", PrintDocument(
        kind="receipt", reference=r.payment_reference or visit.id, title=gettext("id", "SIM PNBP payment receipt").upper(),
        lines=[f"{plate_word}: {format_plate(plate or '')}", f"SIM {r.sim_class}: {renewal_word}",
               f"PNBP: {format_rupiah(fee)}", f"Ref: {r.payment_reference}", scan_id, scan_en],
        qr=status_url(lane.settings, r.status_token)))


async def _charge(lane: LaneController, visit: Visit, fee: int) -> None:
    """Until the fee is paid: one charge per reference, a new reference after a decline."""
    r = visit.row
    plate = visit.state.plate
    human = lane.settings.timing.human_timeouts
    attempt = 1
    while True:
        reference = f"{visit.id}-fee-{attempt}"
        effect = await lane.effects.intend(visit, reference, kind="charge", detail={"amount": fee})
        if effect.status == "failed":
            attempt += 1
            continue
        r.payment_reference = reference
        lane.records.persist(visit, note=Note.of(N_("charge %(reference)s"), reference=reference))
        await lane.displays.show(Station.WINDOW_1, "pay", plate=plate, fee=fee)
        retries, visit.retrying = visit.retrying, []  # a retry after a decline is told how the charge went
        result = await lane.holds.guarded(visit, "payment", lambda ref=reference: lane.devices.payment.charge(
            ref, fee, timeout=lane.clock.to_wall(human["payment"])))
        if result is None:  # officer confirmed payment by other means
            lane.effects.settle(reference, "done", {"by": "officer"})
            lane.records.clear_alert("payment_failed", visit)
            lane.holds.report(retries, None)
            return
        if result.outcome is PaymentOutcome.PAID:
            lane.effects.settle(reference, "done", {"outcome": "paid"})
            lane.records.clear_alert("payment_failed", visit)
            lane.holds.report(retries, None)
            return
        lane.holds.report(retries, f"payment {result.outcome.value}")
        lane.effects.settle(reference, "failed", {"outcome": result.outcome.value, "detail": result.detail})
        visit.state.hold(f"payment: {result.outcome.value}")
        lane.records.persist(visit, note=Note.of(N_("payment %(outcome)s"), outcome=result.outcome.value))
        lane.records.alert("payment_failed", f"payment {result.outcome.value} for {format_plate(plate or '')}",
                           visit=visit, facts=AlertFacts(outcome=result.outcome.value, plate=plate or None))
        action = await lane.holds.await_resolution(visit, "payment", auto_retry=False, attempt=attempt)
        visit.state.resume()
        if action == "take_over":
            lane.effects.settle(reference, "failed", {"then": "officer confirmed payment"})
            lane.records.clear_alert("payment_failed", visit)
            return
        attempt += 1


async def confirm(lane: LaneController, visit: Visit, fee: int) -> bool:
    """The applicant's answer to the name, class and fee shown: from the terminal, or passed on by the
    officer, whichever comes first. A terminal that does not answer holds the visit as any device
    step does (retry, or the officer's take-over: the applicant confirmed to the officer)."""
    r = visit.row
    summary = ChargeSummary(reference=f"{visit.id}-confirm", holder_name=r.holder_name or "",
                            sim_class=r.sim_class or "", amount=fee)
    await lane.displays.show(Station.WINDOW_1, "confirm", plate=visit.state.plate, fee=fee,
                             holder_name=r.holder_name, sim_class=r.sim_class)
    timeout = lane.clock.to_wall(lane.settings.timing.human_timeouts["payment"])
    terminal = asyncio.ensure_future(lane.holds.guarded(
        visit, "payment", lambda: lane.devices.payment.confirm(summary, timeout=timeout)))
    officer = asyncio.ensure_future(lane.waiter.wait(lambda: visit.has_pending(ApplicantAnswer), visit=visit))
    visit.confirming = True
    lane.records.emit(visit)  # the console offers the officer the applicant's answer from now on
    try:
        await asyncio.wait({terminal, officer}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        visit.confirming = False
        for task in (terminal, officer):
            task.cancel()
        await asyncio.gather(terminal, officer, return_exceptions=True)
        lane.records.emit(visit)
    if officer.done() and not officer.cancelled() and officer.exception() is None:
        answer = lane.desk.take(visit, ApplicantAnswer)
        assert answer is not None and isinstance(answer.command, ApplicantAnswer)
        await _terminal_left(lane, visit)
        lane.records.persist(visit, note=Note.of(N_("applicant's answer passed on by %(actor)s: %(answer)s"),
                                                  actor=answer.actor.username,
                                                  answer="confirmed" if answer.command.confirmed else "declined"))
        return answer.command.confirmed
    if terminal.cancelled():  # (cancelled from outside: this task is being stopped)
        raise asyncio.CancelledError
    if terminal.exception() is not None:
        raise terminal.exception()  # type: ignore[misc]  # an abort (VisitAborted), or a bug
    confirmed = terminal.result()
    if confirmed is None:  # taken over while the terminal was held: the applicant told the officer
        return True
    lane.records.persist(visit, note=Note.of(N_("confirmed by the applicant")) if confirmed
                         else Note.of(N_("declined by the applicant")))
    return bool(confirmed)


async def _terminal_left(lane: LaneController, visit: Visit) -> None:
    """The officer answered while the terminal's step was held: that hold and its alerts end."""
    if visit.held_device != "payment":
        return
    visit.state.resume()
    for kind in ("device_fault", "watchdog"):
        lane.records.clear_alert(kind, visit, cause="payment")
    await lane.displays.unhold(visit)
