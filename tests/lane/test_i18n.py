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


def test_every_text_people_read_is_in_the_catalogue_and_translated():
    """Every message id the code, the pages and their scripts use (as ``make messages`` extracts them
    with babel.cfg) has its Bahasa Indonesia translation: a text added without one fails here."""
    from pathlib import Path

    from babel.messages.extract import extract_from_dir
    from babel.messages.pofile import read_po

    root = Path(__file__).resolve().parents[2]
    keywords = {"N_": None, "NN_": (1, 2), "both": None, "gettext": (2,), "ngettext": (2, 3), "t": None, "_": None}
    method_map = [("lane/**.py", "python"), ("api/**.py", "python"), ("cli/**.py", "python"),
                  ("api/templates/**.html", "jinja2"), ("api/static/**.js", "javascript")]
    found: set[str] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
            str(root), method_map, {"api/templates/**.html": {"extensions": "jinja2.ext.i18n"}}, keywords=keywords):
        found.add(message if isinstance(message, str) else message[0])
    assert len(found) > 250  # the extraction works (the console alone has a hundred texts)
    with (i18n.LOCALE_DIR / "id" / "LC_MESSAGES" / "lajur.po").open("rb") as fh:
        catalogue = read_po(fh)
    translated = {(m.id if isinstance(m.id, str) else m.id[0]) for m in catalogue
                  if m.id and "fuzzy" not in m.flags and (m.string if isinstance(m.string, str) else any(m.string))}
    missing = sorted(found - translated)
    assert not missing, f"run `make messages` and translate in lajur.po: {missing[:20]}"


def test_the_driver_displays_and_refusals_come_from_the_same_catalogue():
    from lane.messages import message
    from lane.rules import REFUSAL_TEXT, Refusal

    shown = message("window-1", "pay", fee=80_000)
    assert shown.text_id == "Silakan bayar PNBP di terminal (QRIS/EDC): Rp80.000"
    assert shown.text_en == "Please pay the fee at the terminal (QRIS/EDC): Rp80.000"
    queue = message("entry", "wait", queue_length=1, expected_wait=120)
    assert queue.text_id.endswith("Antrean: 1 kendaraan, perkiraan tunggu 2 menit")
    assert queue.text_en.endswith("Queue: 1 vehicle, expected wait 2 min")
    assert message("entry", "wait", queue_length=3, expected_wait=60).text_en.endswith("3 vehicles, expected wait 1 min")
    assert REFUSAL_TEXT[Refusal.EXPIRED][0].startswith("SIM sudah habis masa berlaku")
