import dataclasses
from datetime import date, timedelta

import pytest

from lane.errors import ValidationError
from lane.ports import Certificate, IdentityCard, LicenceRecord, RegistryAnswer
from lane.rules import (
    Refusal,
    SimNumberKind,
    check_card,
    check_digits,
    check_text,
    classify_sim_number,
    evaluate,
    fee_for,
    format_plate,
    mask_nik,
    new_expiry,
    parse_nik,
    validate_plate,
)
from lane.settings import Dispensation, RuleSettings

TODAY = date(2026, 11, 23)
NIK = "3325011505900001"  # man born 15 May 1990, Batang


def good(sim_class: str = "A", *, sim_number: str = "123456789012", expires: date | None = None,
         certs: list[Certificate] | None = None, nik: str = NIK) -> tuple[IdentityCard, RegistryAnswer]:
    birth = parse_nik(nik, today=TODAY).birth_date
    card = IdentityCard(nik=nik, name="Budi Contoh", birth_date=birth, sim_number=sim_number)
    lic = LicenceRecord(nik=nik, name="Budi Contoh", birth_date=birth, sim_number=sim_number,
                        sim_class=sim_class, expires=expires or TODAY + timedelta(days=10))
    certs = certs if certs is not None else [Certificate("health", nik, TODAY - timedelta(days=3)),
                                             Certificate("psychology", nik, TODAY - timedelta(days=30))]
    return card, RegistryAnswer(lic, certs)


def test_nik_derives_birth_date_and_sex():
    man = parse_nik(NIK, today=TODAY)
    assert man.birth_date == date(1990, 5, 15) and not man.female
    woman = parse_nik("3325015505900001", today=TODAY)
    assert woman.birth_date == date(1990, 5, 15) and woman.female


@pytest.mark.parametrize("bad", ["", "123", "33250115059000011", "33250115059O0001", "3325013202900001",
                                 "0025011505900001", "3325011505900000", "3325011513900001"])
def test_invalid_nik_is_a_clear_error(bad):
    with pytest.raises(ValidationError) as exc:
        parse_nik(bad, today=TODAY)
    assert exc.value.field == "nik"


def test_two_digit_year_never_lands_in_the_future():
    assert parse_nik("3325011505050001", today=TODAY).birth_date.year == 2005
    assert parse_nik("3325011505300001", today=TODAY).birth_date.year == 1930


def test_sim_numbers_new_and_legacy_formats():
    assert classify_sim_number(NIK) is SimNumberKind.NIK
    assert classify_sim_number("123456789012") is SimNumberKind.LEGACY
    assert classify_sim_number("12345678901234") is SimNumberKind.LEGACY
    for bad in ("12345", "123456789012345", "12345678901a", "9999999999999999"):
        with pytest.raises(ValidationError):
            classify_sim_number(bad)


def test_plates_are_normalised_and_validated():
    assert validate_plate("g 1234 abc") == "G1234ABC"
    assert validate_plate("AD-5678-XY") == "AD5678XY"
    assert validate_plate("H 12 A") == "H12A"
    assert format_plate("AD5678XY") == "AD 5678 XY"
    for bad in ("1234", "ABC 1234", "G 12345", "G 1234 ABCD", ""):
        with pytest.raises(ValidationError):
            validate_plate(bad)


def test_eligible_driver_gets_fee_and_new_expiry_five_years_from_issue():
    rules = RuleSettings()
    d = evaluate(*good("A"), TODAY, rules)
    assert d.eligible and d.fee == 80_000 and d.new_expiry == date(2031, 11, 23)
    d = evaluate(*good("C"), TODAY, rules)
    assert d.fee == 75_000
    assert fee_for("C", rules) == 75_000
    assert new_expiry(date(2024, 2, 29), rules) == date(2029, 2, 28)


def test_expired_sim_is_refused_even_one_day_late():
    d = evaluate(*good(expires=TODAY - timedelta(days=1)), TODAY, RuleSettings())
    assert not d.eligible and d.refusal is Refusal.EXPIRED


def test_expiry_on_the_day_is_still_renewable():
    assert evaluate(*good(expires=TODAY), TODAY, RuleSettings()).eligible


def test_dispensation_window_allows_a_late_renewal():
    rules = RuleSettings(dispensations=[Dispensation(expired_from=TODAY - timedelta(days=10),
                                                     expired_to=TODAY - timedelta(days=1),
                                                     renew_until=TODAY + timedelta(days=7))])
    assert evaluate(*good(expires=TODAY - timedelta(days=5)), TODAY, rules).eligible
    # outside the window: still refused
    assert not evaluate(*good(expires=TODAY - timedelta(days=20)), TODAY, rules).eligible


def test_nik_mismatch_between_ektp_and_sim_holder():
    card, answer = good()
    other = "3325014403850002"
    card = IdentityCard(nik=other, name="X", birth_date=parse_nik(other, today=TODAY).birth_date,
                        sim_number=card.sim_number)
    assert evaluate(card, answer, TODAY, RuleSettings()).refusal is Refusal.NIK_MISMATCH


def test_new_format_sim_number_must_be_the_holders_nik():
    card, answer = good(sim_number=NIK)
    assert evaluate(card, answer, TODAY, RuleSettings()).eligible
    # A legacy number that happens to be typed where the NIK-format one is registered does not match.
    card2 = IdentityCard(card.nik, card.name, card.birth_date, "123456789012")
    assert evaluate(card2, answer, TODAY, RuleSettings()).refusal is Refusal.SIM_MISMATCH


@pytest.mark.parametrize("certs,code", [
    ([Certificate("psychology", NIK, TODAY)], Refusal.HEALTH_MISSING),
    ([Certificate("health", NIK, TODAY)], Refusal.PSYCHOLOGY_MISSING),
    ([Certificate("health", NIK, TODAY - timedelta(days=15)), Certificate("psychology", NIK, TODAY)],
     Refusal.HEALTH_EXPIRED),
    ([Certificate("health", NIK, TODAY), Certificate("psychology", NIK, TODAY - timedelta(days=190))],
     Refusal.PSYCHOLOGY_EXPIRED),
    ([Certificate("health", "3325014403850002", TODAY), Certificate("psychology", NIK, TODAY)],
     Refusal.CERTIFICATE_NIK_MISMATCH),
])
def test_certificates(certs, code):
    assert evaluate(*good(certs=certs), TODAY, RuleSettings()).refusal is code


def test_health_certificate_valid_for_14_days():
    certs = [Certificate("health", NIK, TODAY - timedelta(days=14)), Certificate("psychology", NIK, TODAY)]
    assert evaluate(*good(certs=certs), TODAY, RuleSettings()).eligible


def test_class_not_served_and_minimum_age():
    rules = RuleSettings()
    assert evaluate(*good("CI"), TODAY, rules).refusal is Refusal.CLASS_NOT_SERVED
    young = "3325011505100001"  # born 2010: 16 years old
    assert evaluate(*good(nik=young), TODAY, rules).refusal is Refusal.UNDERAGE
    rules = RuleSettings(classes_served=["A", "C", "CII"])
    nineteen_minus = "3325012412070001"  # born 24 Dec 2007: 18
    assert evaluate(*good("CII", nik=nineteen_minus), TODAY, rules).refusal is Refusal.UNDERAGE


def test_unknown_registry_entry_and_bad_inputs_refuse_not_crash():
    card, _ = good()
    assert evaluate(card, RegistryAnswer(None), TODAY, RuleSettings()).refusal is Refusal.NOT_FOUND
    bad = IdentityCard("12", "X", TODAY, "123456789012")
    assert evaluate(bad, RegistryAnswer(None), TODAY, RuleSettings()).refusal is Refusal.INVALID_NIK


def test_nik_is_masked_for_logs():
    assert mask_nik(NIK) == "3325**********01"
    assert NIK not in mask_nik(NIK)


@pytest.mark.parametrize("text,says", [("BUDI\x00SANTOSO", "control character U+0000 at position 5"),
                                       ("BUDI\u202eOTNAS", "control character U+202E"),
                                       ("x" * 201, "0 to 200 characters, got 201")])
def test_text_from_outside_is_refused_with_the_character_never_the_text(text, says):
    with pytest.raises(ValidationError) as refused:
        check_text(text, "name", max_length=200)
    assert says in str(refused.value) and "BUDI" not in str(refused.value)
    assert check_text("Sri Rahayu Ningsih-Putri", "name", max_length=200) == "Sri Rahayu Ningsih-Putri"


def test_only_ascii_digits_count_as_digits():
    with pytest.raises(ValidationError, match="digits 0-9"):
        parse_nik("٣٣٢٥٠١١٥٠٥٩٠٠٠٠١")  # Arabic-Indic digits: digits to Python, not a NIK
    with pytest.raises(ValidationError, match="digits 0-9"):
        validate_plate("B ١٢٣٤ XY")
    with pytest.raises(ValidationError, match="digits 0-9"):
        check_digits("١٢٣٤٥٦٧٨٩٠١٢", "sim_number", lengths=(12,))
    assert check_digits("123456789012", "sim_number", lengths=(12, 16)) == "123456789012"


def test_a_card_fit_to_keep_or_refused_by_field():
    card = IdentityCard(nik=NIK, name="Budi Contoh", birth_date=date(1990, 5, 15), sim_number="123456789012")
    assert check_card(card) is card
    for field, value in (("name", "Budi\x1bContoh"), ("sim_number", "1" * 17), ("nik", NIK + "\n"), ("name", " ")):
        with pytest.raises(ValidationError) as refused:
            check_card(dataclasses.replace(card, **{field: value}))
        assert refused.value.field == field
