"""The codes the lane writes (devices, faults, holds, refusal reasons) have words in Bahasa Indonesia
and English: an officer never reads ``card-printer-2: ribbon_out`` or ``handing_over``."""

from __future__ import annotations

from devices.card_printer.codec import FAULT_CODES
from lane.decisions import WAITING_APPROVAL, WAITING_FORM
from lane.refusals import FORGERY_SIGNS, MALFORMED
from lane.stages.handing_over import REPRINT_HOLD
from lane.visit import DEVICE_STEPS
from lane.words import FAULT_WORDS, HELD_WORDS, REFUSAL_WORDS, device_word, words


def test_every_device_fault_and_refusal_reason_has_its_words_in_both_languages():
    id_words, en_words = words("id"), words("en")
    assert DEVICE_STEPS <= set(id_words["devices"])
    assert set(FAULT_CODES.values()) <= set(FAULT_WORDS)
    assert FORGERY_SIGNS | {MALFORMED} == set(REFUSAL_WORDS)
    for table, entries in id_words.items():
        for code, text in entries.items():
            assert text != en_words[table][code] or text in {"supervisor"}, (table, code, text)
    assert id_words["devices"]["card-reader"] == "Pembaca e-KTP" and id_words["faults"]["ribbon_out"] == "pita habis"


def test_a_numbered_device_and_an_unknown_one():
    assert device_word("id", "card-printer-2") == "Printer kartu 2"
    assert device_word("en", "card-printer-2") == "Card printer 2"
    assert device_word("id", "fog-machine") == "fog-machine", "a new device shows its own name, never fails"


def test_the_fixed_holds_are_worded():
    assert {REPRINT_HOLD, WAITING_FORM, WAITING_APPROVAL, "plate_unconfirmed", "database"} <= set(HELD_WORDS)


def test_every_reason_the_lane_writes_on_a_visit_is_worded():
    from lane.rules import Refusal
    from lane.workflow import DECLINED

    reasons = words("id")["visit_reasons"]
    assert {str(r) for r in Refusal} | {DECLINED} == set(reasons)
    assert reasons[DECLINED] == "pemohon tidak mengonfirmasi; tidak ada biaya yang ditagih"
