"""The message catalogue and the site's formats: Bahasa Indonesia first, English the message ids."""

from __future__ import annotations

import shutil
from datetime import date, datetime, timedelta, timezone

from lane import i18n


def test_rupiah_dates_and_times_read_as_indonesians_write_them():
    assert i18n.format_rupiah(80_000) == "Rp80.000"
    assert i18n.format_rupiah(1_234_567) == "Rp1.234.567"
    assert i18n.format_day(date(2026, 5, 12)) == "12/05/2026"
    wib = timezone(timedelta(hours=7))
    assert i18n.format_clock(datetime(2026, 5, 12, 14, 5, tzinfo=wib)) == "14:05"


def test_bahasa_is_the_default_and_english_one_word_away():
    assert i18n.language(None) == "id" and i18n.language("fr") == "id"
    assert i18n.language("en-GB") == "en" and i18n.language("id_ID") == "id"
    assert i18n.gettext("id", "Prepared by") == "Dibuat oleh"
    assert i18n.gettext("en", "Prepared by") == "Prepared by"
    assert i18n.both("Checked by") == ("Diperiksa oleh", "Checked by")


def test_a_catalogue_without_its_compiled_file_is_compiled_at_first_use(tmp_path, monkeypatch):
    po = i18n.LOCALE_DIR / "id" / "LC_MESSAGES" / "lajur.po"
    target = tmp_path / "id" / "LC_MESSAGES"
    target.mkdir(parents=True)
    shutil.copy(po, target / "lajur.po")  # no .mo beside it
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    i18n.translations.cache_clear()
    try:
        assert i18n.gettext("id", "Officer on duty") == "Petugas jaga"
    finally:
        i18n.translations.cache_clear()
