import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from vision.grammar import (
    CLASS_INDEX,
    CLASSES,
    ID_REGION_CODES,
    PlateFormat,
    canonical,
    decode,
    is_valid,
    normalise,
    parse_id_plate,
    plates_match,
)


def onehot(text: str, p: float = 1.0) -> np.ndarray:
    out = np.full((len(text), len(CLASSES)), (1 - p) / (len(CLASSES) - 1))
    for i, ch in enumerate(text):
        out[i, CLASS_INDEX[ch]] = p
    return out


def with_choices(probs: np.ndarray, i: int, choices: dict[str, float]) -> np.ndarray:
    """``probs`` with position ``i`` read as ``choices`` (the rest of its mass spread thin)."""
    probs[i] = (1 - sum(choices.values())) / len(CLASSES)
    for ch, p in choices.items():
        probs[i, CLASS_INDEX[ch]] = p
    return probs


def test_normalise():
    assert normalise(" ad 1234-xy ") == "AD1234XY"
    assert normalise("B.9140.BCD") == "B9140BCD"
    assert normalise(None) == ""


@pytest.mark.parametrize("plate,parts", [
    ("G 1234 ABC", ("G", "1234", "ABC")),
    ("H 12 A", ("H", "12", "A")),
    ("AD 5678 XY", ("AD", "5678", "XY")),
    ("K 1", ("K", "1", "")),
])
def test_parse_valid(plate, parts):
    assert parse_id_plate(plate) == parts
    assert is_valid(plate)


@pytest.mark.parametrize("plate", ["1234 AB", "ABC 1234", "AD 12345 X", "AD 1234 WXYZ", "AD", "", "AD XY"])
def test_parse_invalid(plate):
    assert parse_id_plate(plate) is None
    assert not is_valid(plate)


def test_generic_format():
    assert is_valid("7ABC123", PlateFormat.GENERIC)
    assert not is_valid("A", PlateFormat.GENERIC)
    assert not is_valid("ABCDEFGHIJK", PlateFormat.GENERIC)


@pytest.mark.parametrize("read,expected", [
    ("AD1Z34XY", "AD1234XY"),   # Z among the digits is 2
    ("0D1234XY", "OD1234XY"),   # 0 in the region is O
    ("B914OBCD", "B9140BCD"),   # O among digits is 0
    ("H8518NA", "H8518NA"),
    ("8G1352AE", "BG1352AE"),   # 8 in the region is B
    ("AD5678X5", "AD5678XS"),   # 5 in the suffix is S
    ("AD56I8XY", "AD5618XY"),   # I among the digits is 1
])
def test_position_aware_fixes(read, expected):
    assert decode(onehot(read, 0.9), PlateFormat.ID).plate == expected


def test_decode_uses_second_choice_for_grammar():
    # the last position is read as 7 (a digit) with 0.6 and Y with 0.35: grammar forces a letter
    probs = with_choices(onehot("AD1234XY", 0.9), 7, {"7": 0.6, "Y": 0.35})
    res = decode(probs, PlateFormat.ID)
    assert res.plate == "AD1234XY"
    assert res.confidence < 0.9


def test_region_is_a_listed_code_when_the_glyphs_allow():
    # the first glyph looks a little more like O than D: "OK" is no region, "DK" (Bali) is
    probs = with_choices(onehot("DK1234AB", 0.95), 0, {"O": 0.55, "D": 0.4})
    res = decode(probs, PlateFormat.ID)
    assert res.plate == "DK1234AB"
    assert res.char_probs[0] == pytest.approx(0.4, abs=0.01)


def test_unlisted_region_is_read_but_not_trusted():
    # a clear glyph is not overruled, but a region no plate has goes to the officer (low confidence)
    res = decode(onehot("Q1234AB", 0.99), PlateFormat.ID)
    assert res.plate == "Q1234AB"
    assert res.confidence < 0.1
    assert decode(onehot("AD1234AB", 0.99), PlateFormat.ID).confidence > 0.9
    assert {"B", "G", "H", "AD", "AA", "K", "R"} <= ID_REGION_CODES  # Jakarta, Central Java (the spec's list)


def test_gap_breaks_decide_section():
    # "H41OY": with a wide gap after "41", O is a letter; with the gap after "410", it is a digit
    probs = onehot("H41OY", 0.95)
    assert decode(probs, "id", breaks=[0.9, 0.1, 0.9, 0.1]).plate == "H41OY"
    assert decode(probs, "id", breaks=[0.9, 0.1, 0.1, 0.9]).plate == "H410Y"


def test_decode_rejects_impossible_lengths():
    assert decode(onehot("A"), "id").plate is None
    assert decode(onehot("ABCDEFGHIJ"), "id").plate is None
    assert decode(onehot("ABCDEFGHIJK"), "generic").plate is None


def test_confidence_is_product_and_bounded():
    res = decode(onehot("AD1234XY", 0.8), "id")
    assert 0 < res.confidence <= 1
    assert res.confidence == pytest.approx(np.prod(res.char_probs))


def test_plates_match_exit():
    assert plates_match("AD 1234 XY", "ad1234xy")
    assert plates_match("B 914O BCD", "B 9140 BCD")   # O/0 one glyph on Indonesian plates
    assert not plates_match("AD 1234 XY", "AD 1234 XZ")
    assert not plates_match(None, "AD1234XY")
    assert not plates_match("", "")
    assert plates_match("7ABC123", "7abc123", "generic")
    assert not plates_match("7ABC1O3", "7ABC103", "generic")


@settings(max_examples=60, deadline=None)
@given(st.from_regex(r"\A[A-Z]{1,2}[1-9][0-9]{0,3}[A-Z]{0,3}\Z"))
@example("AO1000")  # found by hypothesis: "A 0100 O" is not a plate (the number never starts with 0)
def test_decode_roundtrip_valid_plates(plate):
    assert decode(onehot(plate, 0.9), "id").plate == canonical(plate, "id")
    assert is_valid(canonical(plate, "id"))


def test_generic_reads_o_as_zero():
    # O and 0 are one glyph on most plates: generic reports the digit (as the OpenALPR US ground truth)
    res = decode(onehot("SHOR7X", 0.9), "generic")
    assert res.plate == "SH0R7X"
    assert res.confidence == pytest.approx(np.prod(res.char_probs))
