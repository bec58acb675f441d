"""Codes the lane writes (devices, their faults, why a device message was refused, a card's missing
data, what waits for the database) as message ids, for pages to show in their language.

The lane keeps codes in its records and alerts (``lane.alerts.AlertFacts``, the audit's details);
people read words: each table maps a code to an English message id translated in the catalogue
(``lane.i18n``). A code missing from a table is shown as it is (a new device's own fault code), so
a device can never make a page fail."""

from __future__ import annotations

import re

from lane.i18n import N_, gettext
from lane.rules import REFUSAL_MESSAGES
from lane.workflow import DECLINED

DEVICE_WORDS: dict[str, str] = {
    "entry-gate": N_("Entry gate"), "exit-gate": N_("Exit gate"), "entry-camera": N_("Entry camera"),
    "exit-camera": N_("Exit camera"), "card-reader": N_("e-KTP reader"), "registry": N_("Licence registry"),
    "payment": N_("Payment terminal"), "receipt-printer": N_("Receipt printer"),
    "biometric": N_("Photo and fingerprint station"), "card-printer": N_("Card printer"),
    "lane": N_("Lane controller"), "database": N_("Database"), "display": N_("Display"),
}
"""The lane's devices and steps (``card-printer-2`` is the card printer 2, see :func:`device_word`; a
driver display ``display-window-1`` is worded with its station by the page)."""

FAULT_WORDS: dict[str, str] = {
    "paper_out": N_("paper out"), "paper_near_end": N_("paper nearly out"), "cover_open": N_("cover open"),
    "ribbon_out": N_("ribbon out"), "card_jam": N_("card jammed"), "hopper_empty": N_("no blank cards"),
    "safety_loop_occupied": N_("a vehicle is under the boom"), "gate_fault": N_("gate fault"),
    "offline": N_("not answering"), "timeout": N_("no answer in time"), "unreadable": N_("card unreadable"),
    "card_refused": N_("card refused"), "fail": N_("capture failed"), "rejected": N_("command refused"),
    # faults a technician injects into the simulators (technician page)
    "stuck": N_("boom stuck"), "slow": N_("slow"), "loop_stuck": N_("loop stuck"), "noise": N_("noise on the line"),
    "declined": N_("declined"), "blurred": N_("blurred image"), "blank": N_("blank image"),
    "no_plate": N_("no plate in view"), "down": N_("camera down"),
    "database": N_("database unreachable"), "error": N_("error"), "unknown": N_("unknown fault"),
    # watchdogs (lane.stations): what the road did not do in time
    "stood_under_boom": N_("a vehicle has stood under the boom too long"),
    "not_passed": N_("no vehicle seen passing after the boom opened"),
    "not_arrived": N_("sent to the exit, nobody arrived on its loop"),
}
"""A device's fault codes (and the watchdogs'), in words."""

REFUSAL_WORDS: dict[str, str] = {
    "unsolicited": N_("nothing was asked"), "not_outstanding": N_("answers a command not waiting"),
    "wrong_answer": N_("wrong kind of answer"), "wrong_amount": N_("wrong amount"), "wrong_job": N_("wrong card job"),
    "malformed": N_("malformed"), "retained": N_("replayed (retained)"), "wrong_topic": N_("wrong topic"),
}
"""Why a device's message was refused (``lane.refusals``)."""

CARD_DATA_WORDS: dict[str, str] = {
    "name": N_("name"), "SIM number": N_("SIM number"), "class": N_("class"), "expiry": N_("expiry"),
    "photo": N_("photo"), "signature": N_("signature"), "fingerprint": N_("fingerprint"),
}
"""What a card cannot be printed without (``lane.stages.printing``)."""

STEP_WORDS: dict[str, str] = {
    "card_print": N_("the card print"), "charge": N_("the charge"), "gate_open": N_("opening a gate"),
    "move": N_("moving on"), "receipt": N_("the receipt"), "referral": N_("the referral slip"),
}
"""What a visit waits to record before it goes on (``lane.side_effects``)."""

HELD_WORDS: dict[str, str] = {
    "plate_unconfirmed": N_("the plate needs an officer"), "database": N_("waiting for the database"),
    "exit-camera: plate mismatch": N_("the exit camera read another plate"),
    "database refused the visit's record": N_("the database refuses the visit's record"),
    "internal error": N_("internal error"),
    "reprint: waiting for a supervisor's approval": N_("the reprint waits for a supervisor's approval"),
    "decision: waiting for the officer's form": N_("decision by hand: waiting for the officer's form"),
    "decision: waiting for a supervisor's approval": N_("decision by hand: waiting for a supervisor's approval"),
}
"""Why a visit is held, where it is one fixed text (``Visit.state.held``); a held step is
``device: fault code`` (``lane.holds``), worded from the devices' and faults' tables."""

DEVICE_FIELD_WORDS: dict[str, str] = {
    "missed_polls": N_("missed polls"), "protocol_errors": N_("protocol errors"), "refused": N_("refused messages"),
    "commands_seen": N_("commands seen"), "reads": N_("reads"), "errors": N_("errors"), "failures": N_("failures"),
    "malformed": N_("malformed messages"), "presence_loop": N_("arming loop"),
    "safety_loop": N_("safety loop"), "faults": N_("faults"), "passages": N_("passages"),
}
"""A device's counters and status fields (``api.devices``), for the technician page."""

POSITION_WORDS: dict[str, str] = {
    "closed": N_("boom closed"), "opening": N_("boom opening"), "open": N_("boom open"),
    "closing": N_("boom closing"), "fault": N_("boom in fault"), "unknown": N_("boom position unknown"),
}
"""A boom's position (``lane.ports.GatePosition``)."""

DEVICE_EVENT_WORDS: dict[str, str] = {
    "fault": N_("fault"), "message_refused": N_("message refused"), "close_failed": N_("did not close"),
}
"""What the device event log records (``Store.device_event``)."""

OUTCOME_WORDS: dict[str, str] = {"failed": N_("failed"), "cancelled": N_("cancelled"), "paid": N_("paid")}
"""A payment terminal's answer."""

VISIT_REASON_WORDS: dict[str, str] = {**{str(code): text for code, text in REFUSAL_MESSAGES.items()},
                                      DECLINED: N_("the applicant did not confirm; nothing was charged")}
"""A visit's reason when the lane wrote it (a refusal code, the applicant's no); an officer's own reason
for an abort is shown as typed."""

_NUMBERED = re.compile(r"^(?P<base>.+?)-(?P<n>\d+)$")


def device_word(lang: str, device: str) -> str:
    """``card-printer-2`` -> "Printer kartu 2"; an unknown device stays as it is."""
    if device in DEVICE_WORDS:
        return gettext(lang, DEVICE_WORDS[device])
    m = _NUMBERED.match(device)
    if m and m["base"] in DEVICE_WORDS:
        return f"{gettext(lang, DEVICE_WORDS[m['base']])} {m['n']}"
    return device


def words(lang: str) -> dict[str, dict[str, str]]:
    """Every table in ``lang``: what a page's scripts look codes up in (``page_data``)."""
    tables = {"devices": DEVICE_WORDS, "faults": FAULT_WORDS, "refusals": REFUSAL_WORDS,
              "card_data": CARD_DATA_WORDS, "steps": STEP_WORDS, "outcomes": OUTCOME_WORDS, "held": HELD_WORDS,
              "device_fields": DEVICE_FIELD_WORDS, "positions": POSITION_WORDS, "device_events": DEVICE_EVENT_WORDS,
              "visit_reasons": VISIT_REASON_WORDS}
    return {name: {code: gettext(lang, mid) for code, mid in table.items()} for name, table in tables.items()}
