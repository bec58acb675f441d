"""Server-rendered pages (Jinja2) in the reader's language: the message catalogue's gettext
(:mod:`lane.i18n`) and the site's formats (dates dd/mm/yyyy, 24-hour times, ``Rp80.000``) as filters."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from lane.i18n import format_clock, format_day, format_rupiah, language, translations

TEMPLATES = Path(__file__).resolve().parent / "templates"


def minutes(seconds: float | None) -> str:
    """``7:05`` (minutes:seconds) or an en dash when there is nothing to show."""
    if seconds is None:
        return "–"
    s = max(0, round(seconds))
    return f"{s // 60}:{s % 60:02d}"


def percent(value: float | None) -> str:
    return "–" if value is None else f"{value:g} %"


@cache
def environment(lang: str) -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                      extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True)
    env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
    env.filters.update(rupiah=format_rupiah, day=format_day, clock=format_clock, minutes=minutes, percent=percent)
    return env


def render(name: str, lang: str | None, **context: Any) -> str:
    lang = language(lang)
    return environment(lang).get_template(name).render(lang=lang, **context)
