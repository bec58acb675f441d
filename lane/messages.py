"""What drivers read on the station displays, through the one message catalogue (:mod:`lane.i18n`):
Bahasa Indonesia first, English second, always both.

Keys are step ids shown on the station displays; the texts are the catalogue's message ids (English)
translated to Bahasa Indonesia there. The display never shows personal data beyond the plate.
"""

from __future__ import annotations

from lane.i18n import N_, NN_, both, format_rupiah, ngettext
from lane.ports import DisplayMessage, Signal

STEPS: dict[str, str] = {
    "idle": N_("Welcome to the SIM drive-through"),
    "wait": N_("Please wait, the window is busy"),
    "enter": N_("Please drive to window 1"),
    "plate_check": N_("An officer is checking your plate"),
    "tap_ektp": N_("Tap your e-KTP and hand over your old SIM"),
    "verifying": N_("Checking your data"),
    "confirm": N_("Please check your data and the fee, then press OK on the terminal (Cancel if wrong)"),
    "declined": N_("Not confirmed, nothing was charged: please drive to the exit"),
    "pay": N_("Please pay the fee at the terminal (QRIS/EDC)"),
    "receipt": N_("Payment received, take your receipt"),
    "to_window_2": N_("Please drive to window 2"),
    "capture": N_("Photo, fingerprint and signature"),
    "to_window_3": N_("Please drive to window 3"),
    "printing": N_("Your new SIM is being printed"),
    "handover": N_("Collect your new SIM from the officer"),
    "to_exit": N_("Please drive to the exit"),
    "exit_open": N_("Thank you, drive safely"),
    "refused": N_("Renewal refused, take your referral slip"),
    "aborted": N_("Service stopped by the officer, please exit"),
    "held": N_("Please wait, an officer is coming"),
}
QUEUE_LINE = NN_("Queue: %(n)s vehicle, expected wait %(m)s min", "Queue: %(n)s vehicles, expected wait %(m)s min")
"""Appended to the entry sign's text while vehicles wait before the entry."""
CONFIRM_LINE = N_("Name: %(name)s. SIM %(sim_class)s renewal. Fee: %(fee)s")
"""What the applicant confirms before the charge (window 1 only, while they confirm)."""


def message(station: str, step: str, *, plate: str | None = None, fee: int | None = None,
            signal: Signal = Signal.RED, queue_length: int | None = None,
            expected_wait: int | None = None, holder_name: str | None = None,
            sim_class: str | None = None) -> DisplayMessage:
    text_id, text_en = both(STEPS[step])
    if step == "confirm" and holder_name and sim_class and fee is not None:
        figures = {"name": holder_name, "sim_class": sim_class, "fee": format_rupiah(fee)}
        line_id, line_en = both(CONFIRM_LINE)
        text_id, text_en = f"{line_id % figures}. {text_id}", f"{line_en % figures}. {text_en}"
    if fee is not None and step == "pay":
        text_id = f"{text_id}: {format_rupiah(fee)}"
        text_en = f"{text_en}: {format_rupiah(fee)}"
    if queue_length and expected_wait is not None:
        figures = {"n": queue_length, "m": expected_wait // 60}
        text_id = f"{text_id}. {ngettext('id', *QUEUE_LINE, queue_length) % figures}"
        text_en = f"{text_en}. {ngettext('en', *QUEUE_LINE, queue_length) % figures}"
    return DisplayMessage(station=station, signal=signal, step=step, text_id=text_id, text_en=text_en,
                          plate=plate, fee=fee, queue_length=queue_length, expected_wait=expected_wait)
