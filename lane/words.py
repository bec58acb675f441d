"""Codes the lane writes (devices, their faults, why a device message was refused, a card's missing
data, what waits for the database) as message ids, for pages to show in their language.

The lane keeps codes in its records and alerts (``lane.alerts.AlertFacts``, the audit's details);
people read words: each table maps a code to an English message id translated in the catalogue
(``lane.i18n``). A code missing from a table is shown as it is (a new device's own fault code), so
a device can never make a page fail."""

from __future__ import annotations

import re

from lane.i18n import N_, gettext

DEVICE_WORDS: dict[str, str] = {
    "entry-gate": N_("Entry gate"), "exit-gate": N_("Exit gate"), "entry-camera": N_("Entry camera"),
    "exit-camera": N_("Exit camera"), "card-reader": N_("e-KTP reader"), "registry": N_("Licence registry"),
    "payment": N_("Payment terminal"), "receipt-printer": N_("Receipt printer"),
    "biometric": N_("Photo and fingerprint station"), "card-printer": N_("Card printer"),
    "lane": N_("Lane controller"), "database": N_("Database"),
}
"""The lane's devices and steps (``card-printer-2`` is the card printer 2, see :func:`device_word`)."""

FAULT_WORDS: dict[str, str] = {
    "paper_out": N_("paper out"), "paper_near_end": N_("paper nearly out"), "cover_open": N_("cover open"),
    "ribbon_out": N_("ribbon out"), "card_jam": N_("card jammed"), "hopper_empty": N_("no blank cards"),
    "safety_loop_occupied": N_("a vehicle is under the boom"), "gate_fault": N_("gate fault"),
    "offline": N_("not answering"), "timeout": N_("no answer in time"), "unreadable": N_("card unreadable"),
    "card_refused": N_("card refused"), "fail": N_("capture failed"), "rejected": N_("command refused"),
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

OUTCOME_WORDS: dict[str, str] = {"failed": N_("failed"), "cancelled": N_("cancelled"), "paid": N_("paid")}
"""A payment terminal's answer."""

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
              "card_data": CARD_DATA_WORDS, "steps": STEP_WORDS, "outcomes": OUTCOME_WORDS, "held": HELD_WORDS}
    return {name: {code: gettext(lang, mid) for code, mid in table.items()} for name, table in tables.items()}
