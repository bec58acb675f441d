"""Paying (window 1): the fee for the class is charged on the terminal (QRIS/EDC) under a reference
that makes a repeated request harmless, or confirmed by the officer; the receipt is printed once.
A declined payment holds the visit: the driver tries again (a new reference) or the officer takes
the payment by other means."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lane.i18n import both, format_rupiah, gettext
from lane.ports import PaymentOutcome, PrintDocument
from lane.rules import format_plate
from lane.status import new_token, status_url
from lane.visit import Visit
from lane.workflow import Station

if TYPE_CHECKING:
    from lane.controller import LaneController


async def pay(lane: LaneController, visit: Visit) -> None:
    r = visit.row
    fee = int(r.fee or 0)
    plate = visit.state.plate
    if not r.paid:
        await _charge(lane, visit, fee)
        r.paid = True
        lane.records.persist(visit, note="paid")
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
        lane.records.persist(visit, note=f"charge {reference}")
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
        lane.records.persist(visit, note=f"payment {result.outcome.value}")
        lane.records.alert("payment_failed", f"payment {result.outcome.value} for {format_plate(plate or '')}",
                           visit=visit)
        action = await lane.holds.await_resolution(visit, "payment", auto_retry=False, attempt=attempt)
        visit.state.resume()
        if action == "take_over":
            lane.effects.settle(reference, "failed", {"then": "officer confirmed payment"})
            lane.records.clear_alert("payment_failed", visit)
            return
        attempt += 1
