"""Eligibility rules, data formats and fees: the one place that decides who may renew and for how much.

Everything configurable comes from :class:`lane.settings.RuleSettings`; the functions here are pure
(no I/O, no clock) so they are tested exhaustively and reused by the API for input validation.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from lane.errors import ValidationError
from lane.i18n import N_, both
from lane.ports import Certificate, IdentityCard, RegistryAnswer
from lane.settings import RuleSettings

_PLATE_RE = re.compile(r"^([A-Z]{1,2})([0-9]{1,4})([A-Z]{0,3})$")
_REFUSED_CHARACTERS = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})
"""Unicode categories no name, reason or number of ours holds (all of "other"): control characters
(NUL, escape, line breaks), invisible format controls (a right-to-left override turns a name around
on screen), lone surrogates (no database can store them), private-use and unassigned characters."""


# ---------------------------------------------------------------- text from outside
def check_text(value: str, field: str, *, max_length: int, min_length: int = 0) -> str:
    """Text that came from outside (a device, an officer, an API client), fit to show and to store:
    ``min_length`` to ``max_length`` characters, none of the control characters above, not only blanks
    when it may not be empty. Returned as is; ValidationError names the field and the first offending
    character by its code, never the text (it may be a NIK or a name, and refusals are logged)."""
    if not isinstance(value, str):
        raise ValidationError(field, "must be text")
    if not min_length <= len(value) <= max_length:
        raise ValidationError(field, f"must be {min_length} to {max_length} characters, got {len(value)}")
    for i, ch in enumerate(value):
        if unicodedata.category(ch) in _REFUSED_CHARACTERS:
            raise ValidationError(field, f"control character U+{ord(ch):04X} at position {i + 1}")
    if min_length and not value.strip():
        raise ValidationError(field, "blank")
    return value


def check_card(card: IdentityCard) -> IdentityCard:
    """What the e-KTP reader read, fit to show and to keep: a name and numbers of storable length
    with no control characters. Whether the numbers are a valid NIK and SIM number is
    :func:`evaluate`'s decision (a refusal with a slip), not this check's."""
    check_text(card.nik, "nik", max_length=16)
    check_text(card.name, "name", max_length=200, min_length=1)
    check_text(card.sim_number, "sim_number", max_length=16)
    return card


def check_digits(value: str, field: str, *, lengths: tuple[int, ...] | range) -> str:
    """ASCII digits 0-9 only, of one of these lengths (``"١٢٣"`` is digits to Python, not to us)."""
    if not isinstance(value, str):
        raise ValidationError(field, "must be text")
    if not (value.isascii() and value.isdigit()):
        raise ValidationError(field, "must be ASCII digits 0-9 only")
    if len(value) not in lengths:
        raise ValidationError(field, f"must have {min(lengths)} to {max(lengths)} digits, got {len(value)}")
    return value


# ---------------------------------------------------------------- data formats
@dataclass(frozen=True)
class NikInfo:
    """What a NIK tells: region codes, birth date and sex."""

    nik: str
    province: str
    regency: str
    district: str
    birth_date: date
    female: bool
    serial: str


def parse_nik(nik: str, *, today: date | None = None) -> NikInfo:
    """Validate a 16-digit NIK and derive birth date and sex (women: day + 40).

    Two-digit years are placed in the century that does not put the birth in the future.
    """
    if not isinstance(nik, str):
        raise ValidationError("nik", "must be text")
    nik = nik.strip()
    if len(nik) != 16 or not (nik.isascii() and nik.isdigit()):
        raise ValidationError("nik", "must be exactly 16 digits 0-9")
    province, regency, district = nik[0:2], nik[2:4], nik[4:6]
    if province == "00" or regency == "00" or district == "00":
        raise ValidationError("nik", "region code cannot be 00")
    day, month, yy, serial = int(nik[6:8]), int(nik[8:10]), int(nik[10:12]), nik[12:16]
    female = day > 40
    if female:
        day -= 40
    today = today or date.today()
    year = 2000 + yy if 2000 + yy <= today.year else 1900 + yy
    if not 1 <= month <= 12 or not 1 <= day <= calendar.monthrange(year, month)[1]:
        raise ValidationError("nik", "birth date in the NIK is not a real date")
    if serial == "0000":
        raise ValidationError("nik", "serial part cannot be 0000")
    birth = date(year, month, day)
    if birth > today:
        raise ValidationError("nik", "birth date in the NIK is in the future")
    return NikInfo(nik, province, regency, district, birth, female, serial)


class SimNumberKind(StrEnum):
    NIK = "nik"
    """Cards issued since July 2024 carry the holder's NIK as the SIM number."""
    LEGACY = "legacy"
    """Older cards: 12-14 digits."""


def classify_sim_number(number: str) -> SimNumberKind:
    """Tell a new-format (NIK) SIM number from a legacy one; reject anything else."""
    if not isinstance(number, str):
        raise ValidationError("sim_number", "must be text")
    number = number.strip().replace("-", "").replace(" ", "")
    if not (number.isascii() and number.isdigit()):
        raise ValidationError("sim_number", "must contain digits 0-9 only")
    if len(number) == 16:
        parse_nik(number)  # a 16-digit SIM number is a NIK and must be a valid one
        return SimNumberKind.NIK
    if 12 <= len(number) <= 14:
        return SimNumberKind.LEGACY
    raise ValidationError("sim_number", "must be 12-14 digits (older cards) or a 16-digit NIK (since 2024)")


def normalise_sim_number(number: str) -> str:
    classify_sim_number(number)
    return number.strip().replace("-", "").replace(" ", "")


def normalise_plate(plate: str) -> str:
    """Upper case, no spaces, dots or dashes: how plates are compared."""
    return re.sub(r"[\s.\-]", "", plate or "").upper()


def validate_plate(plate: str) -> str:
    """Normalise and check an Indonesian plate (1-2 letters, 1-4 digits, 0-3 letters)."""
    check_text(plate, "plate", max_length=16)
    norm = normalise_plate(plate)
    if not _PLATE_RE.match(norm):
        raise ValidationError("plate", f"{plate!r} is not a plate like 'G 1234 ABC' (letters A-Z, digits 0-9)")
    return norm


def format_plate(plate: str) -> str:
    """``G1234ABC`` -> ``G 1234 ABC`` for displays and slips."""
    m = _PLATE_RE.match(normalise_plate(plate))
    if not m:
        return plate
    return " ".join(p for p in m.groups() if p)


# ---------------------------------------------------------------- eligibility
class Refusal(StrEnum):
    """Reason codes printed on the referral slip and stored with a refused visit."""

    INVALID_NIK = "invalid_nik"
    INVALID_SIM_NUMBER = "invalid_sim_number"
    NOT_FOUND = "licence_not_found"
    NIK_MISMATCH = "nik_mismatch"
    SIM_MISMATCH = "sim_mismatch"
    IDENTITY_MISMATCH = "identity_mismatch"
    CLASS_NOT_SERVED = "class_not_served"
    EXPIRED = "sim_expired"
    UNDERAGE = "underage"
    HEALTH_MISSING = "health_certificate_missing"
    HEALTH_EXPIRED = "health_certificate_expired"
    PSYCHOLOGY_MISSING = "psychology_certificate_missing"
    PSYCHOLOGY_EXPIRED = "psychology_certificate_expired"
    CERTIFICATE_NIK_MISMATCH = "certificate_nik_mismatch"


REFUSAL_MESSAGES: dict[Refusal, str] = {
    Refusal.INVALID_NIK: N_("The e-KTP NIK is not valid"),
    Refusal.INVALID_SIM_NUMBER: N_("The SIM number is not valid"),
    Refusal.NOT_FOUND: N_("SIM not found in the registry"),
    Refusal.NIK_MISMATCH: N_("The e-KTP NIK does not match the SIM holder"),
    Refusal.SIM_MISMATCH: N_("The SIM number does not match"),
    Refusal.IDENTITY_MISMATCH: N_("The e-KTP data does not match"),
    Refusal.CLASS_NOT_SERVED: N_("This SIM class is not served here"),
    Refusal.EXPIRED: N_("SIM has expired: please apply for a new SIM at the Satpas"),
    Refusal.UNDERAGE: N_("Below the minimum age for this class"),
    Refusal.HEALTH_MISSING: N_("Health certificate missing"),
    Refusal.HEALTH_EXPIRED: N_("Health certificate expired"),
    Refusal.PSYCHOLOGY_MISSING: N_("Psychology certificate missing"),
    Refusal.PSYCHOLOGY_EXPIRED: N_("Psychology certificate expired"),
    Refusal.CERTIFICATE_NIK_MISMATCH: N_("Certificate NIK does not match"),
}
"""Why a renewal was refused, as message ids (English; Bahasa Indonesia in the catalogue)."""
REFUSAL_TEXT: dict[Refusal, tuple[str, str]] = {code: both(text) for code, text in REFUSAL_MESSAGES.items()}
"""(Bahasa Indonesia, English) of each reason: the referral slip and the reports show both."""


@dataclass(frozen=True)
class Decision:
    eligible: bool
    refusal: Refusal | None = None
    message: str = ""
    sim_class: str | None = None
    fee: int | None = None
    new_expiry: date | None = None

    @classmethod
    def refuse(cls, code: Refusal, message: str = "", sim_class: str | None = None) -> Decision:
        return cls(False, code, message or REFUSAL_TEXT[code][1], sim_class)


def add_months(d: date, months: int) -> date:
    month = d.month - 1 + months
    year = d.year + month // 12
    month = month % 12 + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def age_on(birth: date, today: date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def fee_for(sim_class: str, rules: RuleSettings) -> int:
    """PNBP renewal fee in rupiah for a class."""
    try:
        return rules.fees[sim_class]
    except KeyError as exc:
        raise ValidationError("sim_class", f"no fee configured for class {sim_class!r}") from exc


def new_expiry(issued: date, rules: RuleSettings) -> date:
    """Five years from the date of issue (since 2019), not the birthday."""
    try:
        return issued.replace(year=issued.year + rules.validity_years)
    except ValueError:  # 29 February
        return date(issued.year + rules.validity_years, 2, 28)


def renewable_despite_expiry(expires: date, today: date, rules: RuleSettings) -> bool:
    return any(
        d.expired_from <= expires <= d.expired_to and today <= d.renew_until for d in rules.dispensations
    )


def _certificate(certs: list[Certificate], kind: str) -> Certificate | None:
    mine = [c for c in certs if c.kind == kind]
    return max(mine, key=lambda c: c.issued) if mine else None


def evaluate(card: IdentityCard, answer: RegistryAnswer, today: date, rules: RuleSettings) -> Decision:
    """Decide eligibility from what the e-KTP reader read and what the registry answered.

    Checks run in the order an officer would: identity, the licence, then certificates.
    """
    try:
        nik = parse_nik(card.nik, today=today)
    except ValidationError:
        return Decision.refuse(Refusal.INVALID_NIK)
    try:
        presented = normalise_sim_number(card.sim_number)
        kind = classify_sim_number(presented)
    except ValidationError:
        return Decision.refuse(Refusal.INVALID_SIM_NUMBER)
    if card.birth_date != nik.birth_date:
        return Decision.refuse(Refusal.IDENTITY_MISMATCH, "birth date on the e-KTP differs from the NIK")

    lic = answer.licence
    if lic is None:
        return Decision.refuse(Refusal.NOT_FOUND)
    if lic.nik != nik.nik:
        return Decision.refuse(Refusal.NIK_MISMATCH, sim_class=lic.sim_class)
    # A new-format SIM number is the NIK; a legacy one is its own number. Match as text, by kind.
    if kind is SimNumberKind.NIK and presented != nik.nik:
        return Decision.refuse(Refusal.SIM_MISMATCH, "new-format SIM number is not the holder's NIK")
    if presented != lic.sim_number:
        return Decision.refuse(Refusal.SIM_MISMATCH, sim_class=lic.sim_class)
    if lic.sim_class not in rules.classes_served:
        return Decision.refuse(Refusal.CLASS_NOT_SERVED, sim_class=lic.sim_class)
    if lic.expires < today and not renewable_despite_expiry(lic.expires, today, rules):
        return Decision.refuse(
            Refusal.EXPIRED, f"SIM expired on {lic.expires.isoformat()}", sim_class=lic.sim_class
        )
    if age_on(nik.birth_date, today) < rules.min_age.get(lic.sim_class, 17):
        return Decision.refuse(Refusal.UNDERAGE, sim_class=lic.sim_class)

    health = _certificate(answer.certificates, "health")
    psych = _certificate(answer.certificates, "psychology")
    if health is None:
        return Decision.refuse(Refusal.HEALTH_MISSING, sim_class=lic.sim_class)
    if psych is None:
        return Decision.refuse(Refusal.PSYCHOLOGY_MISSING, sim_class=lic.sim_class)
    if health.nik != nik.nik or psych.nik != nik.nik:
        return Decision.refuse(Refusal.CERTIFICATE_NIK_MISMATCH, sim_class=lic.sim_class)
    if not (health.issued <= today and (today - health.issued).days <= rules.health_certificate_days):
        return Decision.refuse(Refusal.HEALTH_EXPIRED, sim_class=lic.sim_class)
    if not (psych.issued <= today <= add_months(psych.issued, rules.psychology_certificate_months)):
        return Decision.refuse(Refusal.PSYCHOLOGY_EXPIRED, sim_class=lic.sim_class)

    return Decision(
        True,
        sim_class=lic.sim_class,
        fee=fee_for(lic.sim_class, rules),
        new_expiry=new_expiry(today, rules),
        message="eligible",
    )


def mask_nik(nik: str | None) -> str:
    """Personal data in logs and for roles that need not see it: keep the region, hide the rest."""
    if not nik:
        return ""
    return nik[:4] + "*" * max(0, len(nik) - 6) + nik[-2:] if len(nik) > 6 else "*" * len(nik)


def mask_name(name: str | None) -> str:
    if not name:
        return ""
    return " ".join(part[0] + "*" * (len(part) - 1) for part in name.split())
