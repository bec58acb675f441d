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
LANG_COOKIE = "lajur_lang"
"""Where a browser without an account (login page, drivers' phones) keeps the language chosen."""
_lock = threading.Lock()



def N_(message: str) -> str:
    """Marks a message for the catalogue where it is defined (a table); it is translated where shown."""
    return message


def NN_(singular: str, plural: str) -> tuple[str, str]:
    """Marks a message with a plural (for :func:`ngettext`) where it is defined."""
    return singular, plural


STAGE_WORDS: dict[str, str] = {
    "queued": N_("Waiting to enter"),
    "arriving": N_("Arrival"),
    "verifying": N_("Verification"),
    "paying": N_("Payment"),
    "capturing": N_("Photo and fingerprint"),
    "printing": N_("Card printing"),
    "handing_over": N_("Card hand-over"),
    "exiting": N_("Leaving"),
    "done": N_("Done"),
}
"""Each stage in the words officers and drivers use (message ids; Bahasa: Antre, Kedatangan,
Verifikasi, Pembayaran, Perekaman, Pencetakan, Penyerahan, Keluar, Selesai)."""


CODE_WORDS: tuple[str, ...] = (
    # roles
    N_("officer"), N_("supervisor"), N_("technician"), N_("admin"),
    # outcomes
    N_("completed"), N_("refused"), N_("aborted"),
    # abort reasons the lane itself gives
    N_("applicant_declined"),
    # a card blank's status (the blank log)
    N_("issued"), N_("printed"), N_("spoiled"),
    # alert kinds
    N_("stage_over_budget"), N_("visit_over_budget"), N_("device_fault"), N_("plate_unconfirmed"),
    N_("payment_failed"), N_("internal_error"), N_("database_unavailable"), N_("gate_close_failed"),
    N_("exit_plate_mismatch"), N_("card_data_missing"), N_("decision_needed"), N_("message_refused"),
    N_("record_refused"), N_("reprint_approval"), N_("watchdog"),
    # audited actions
    N_("confirm_plate"), N_("retry"), N_("take_over"), N_("decide"), N_("approve_decision"),
    N_("reject_decision"), N_("reprint"), N_("approve_reprint"), N_("applicant_answer"),
    N_("handed_over"), N_("abort"), N_("vehicle_left"), N_("open_gate"),
    N_("close_gate"), N_("device_test"), N_("inject_fault"), N_("clear_fault"), N_("login"), N_("login_failed"),
    N_("logout"), N_("user_add"), N_("user_update"), N_("user_delete"), N_("ack_alert"), N_("ack_all_alerts"),
    N_("export_report"), N_("view_personal_data"), N_("purge_personal_data"), N_("user_created"),
    N_("user_updated"), N_("cli"),
)
"""Codes the pages show as words (a role, an outcome, an alert's kind, an audited action): each is
its own message id, so English shows the code and Bahasa Indonesia a word."""


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


def catalogue(lang: str) -> dict[str, str]:
    """Every translated message of ``lang`` (message id -> text): what a page's scripts look up."""
    found = getattr(translations(lang), "_catalog", {})
    return {k: v for k, v in found.items() if isinstance(k, str) and k and isinstance(v, str)}


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
