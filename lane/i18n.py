"""The one message catalogue: Bahasa Indonesia first, English one click away (gettext, with Babel).

Every text a person reads (the console, reports, the technician's and admin's pages, the driver
displays, the status page, printed slips) is an English message id translated in
``lane/locale/<lang>/LC_MESSAGES/lajur.po``; English is the ids themselves. ``make install``
compiles the ``.po`` files to ``.mo`` (``pybabel compile``); a catalogue whose ``.mo`` is missing or
older than its ``.po`` is compiled in memory at first use, so an install without that step still
speaks Bahasa. Formats follow the site's locale (id_ID): dates dd/mm/yyyy, 24-hour times, rupiah
as ``Rp80.000``.
"""

from __future__ import annotations

import io
import threading
from datetime import date, datetime, time
from functools import cache
from pathlib import Path

from babel.dates import format_date as _babel_date
from babel.dates import format_time as _babel_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency
from babel.support import NullTranslations, Translations

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "lajur"
LANGUAGES: tuple[str, ...] = ("id", "en")
"""Bahasa Indonesia first: the default for every page and account."""
DEFAULT_LANGUAGE = "id"
LANGUAGE_NAMES = {"id": "Bahasa Indonesia", "en": "English"}
_lock = threading.Lock()

STAGE_WORDS: dict[str, str] = {
    "queued": "Waiting to enter",
    "arriving": "Arrival",
    "verifying": "Verification",
    "paying": "Payment",
    "capturing": "Photo and fingerprint",
    "printing": "Card printing",
    "handing_over": "Card hand-over",
    "exiting": "Leaving",
    "done": "Done",
}
"""Each stage in the words officers and drivers use (message ids; Bahasa: Antre, Kedatangan,
Verifikasi, Pembayaran, Perekaman, Pencetakan, Penyerahan, Keluar, Selesai)."""


def stage_word(lang: str, stage: str) -> str:
    return gettext(lang, STAGE_WORDS.get(stage, stage))


def language(lang: str | None) -> str:
    """A supported language code; anything else (None, "fr", "id-ID") falls back sensibly."""
    if lang:
        short = lang.strip().lower().replace("_", "-").split("-")[0]
        if short in LANGUAGES:
            return short
    return DEFAULT_LANGUAGE


@cache
def translations(lang: str) -> NullTranslations:
    """The catalogue of ``lang`` (English: the message ids themselves)."""
    lang = language(lang)
    if lang == "en":
        return NullTranslations()
    po = LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    mo = po.with_suffix(".mo")
    with _lock:
        if mo.exists() and (not po.exists() or mo.stat().st_mtime >= po.stat().st_mtime):
            with mo.open("rb") as fh:
                return Translations(fh, domain=DOMAIN)
        if not po.exists():
            return NullTranslations()
        with po.open("rb") as fh:
            catalog = read_po(fh, locale=lang, domain=DOMAIN)
        buf = io.BytesIO()
        write_mo(buf, catalog)
        buf.seek(0)
        return Translations(buf, domain=DOMAIN)


def gettext(lang: str, message: str) -> str:
    return translations(lang).ugettext(message)


def ngettext(lang: str, singular: str, plural: str, n: int) -> str:
    return translations(lang).ungettext(singular, plural, n)


def both(message: str) -> tuple[str, str]:
    """(Bahasa Indonesia, English) of one message: what a driver display or a slip shows together."""
    return gettext("id", message), message


def format_rupiah(amount: int | float) -> str:
    """``Rp80.000`` (no decimals, dots between thousands)."""
    return format_currency(amount, "IDR", locale="id_ID", format="¤#,##0", currency_digits=False)


def format_day(day: date | datetime) -> str:
    """``12/05/2026``."""
    return _babel_date(day, "dd/MM/yyyy", locale="id_ID")


def format_clock(at: time | datetime) -> str:
    """``14:05`` (24-hour)."""
    return _babel_time(at, "HH:mm", locale="id_ID")
