"""The HTML pages: the console, reports, technician, accounts, login, and the driver displays (no
login), rendered in the reader's language: the account's (Bahasa Indonesia unless the officer chose
English), else the browser's choice (``lajur_lang`` cookie, ``?lang=``), else Bahasa Indonesia.

Each page carries its catalogue for its scripts (:func:`page_data`): the scripts look texts up there,
so a page and its live parts speak one language."""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.auditing import audit
from api.auth import PERMISSIONS, Principal
from api.deps import STATIONS, Controllers, Day, Lane, LaneFilter, LaneStation, SettingsDep, StoreDep
from api.edge import PAGE_CSP
from api.rendering import render
from api.reports import hours_svg, lane_now
from api.routes.reports import report_of
from lane.i18n import (
    LANG_COOKIE,
    LANGUAGE_NAMES,
    LANGUAGES,
    N_,
    STAGE_WORDS,
    both,
    catalogue,
    gettext,
    language,
)
from lane.settings import Settings
from lane.words import words

router = APIRouter(include_in_schema=False)

PAGE_HEADERS = {"Cache-Control": "no-store", "Content-Security-Policy": PAGE_CSP}
STATION_NAMES = {"entry": N_("Entry"), "window-1": N_("Window 1"), "window-2": N_("Window 2"),
                 "window-3": N_("Window 3"), "exit": N_("Exit")}
"""Station names as message ids (``lane.i18n``: Pintu masuk, Loket 1...)."""


def page_data(lang: str, settings: Settings) -> dict[str, Any]:
    """What a page's scripts need to speak its language: the catalogue, the stages' and stations'
    words, the codes' words (devices, faults... ``lane.words``), the site's time zone (times are shown in it, 24-hour, dates dd/mm/yyyy)."""
    return {"lang": lang, "languages": {code: LANGUAGE_NAMES[code] for code in LANGUAGES},
            "messages": catalogue(lang), "timezone": settings.timezone,
            "stages": {k: gettext(lang, v) for k, v in STAGE_WORDS.items()},
            "stations": {k: gettext(lang, v) for k, v in STATION_NAMES.items()}, "words": words(lang)}


def page(request: Request, name: str, lang: str, **context: Any) -> HTMLResponse:
    settings: Settings = request.app.state.settings
    body = render(name, lang, page_data=page_data(lang, settings), **context)
    return HTMLResponse(body, headers=PAGE_HEADERS)


def browser_language(request: Request) -> str:
    """Without an account: ``?lang=``, else the browser's remembered choice, else Bahasa Indonesia."""
    return language(request.query_params.get("lang") or request.cookies.get(LANG_COOKIE))


def account_language(request: Request, who: Principal) -> str:
    account = request.app.state.auth.accounts.get(who.username)
    return language(account.language if account else None)


def _page_or_login(request: Request, name: str, permission: str | None = None) -> Response:
    who = request.app.state.auth.authenticate(request)
    if who is None:
        return RedirectResponse(f"/login?next={quote(request.url.path)}", 303)
    lang = account_language(request, who)
    if permission and who.role not in PERMISSIONS[permission]:
        text = gettext(lang, "Role %(role)s cannot open this page.") % {"role": who.role}
        return HTMLResponse(f"<p>{text} <a href='/'>{gettext(lang, 'Console')}</a></p>", 403, headers=PAGE_HEADERS)
    return page(request, name, lang)


@router.get("/")
def console_page(request: Request) -> Response:
    return _page_or_login(request, "console.html")


@router.get("/reports")
def reports_page(request: Request) -> Response:
    return _page_or_login(request, "reports.html")


@router.get("/reports/print")
def report_print_page(request: Request, store: StoreDep, settings: SettingsDep, controllers: Controllers,
                      day: Day = None, lane: LaneFilter = None, lang: str | None = None) -> Response:
    """The day's report on an A4 page with the signature lines (prepared by the officer on duty,
    checked by the site manager), in the account's language unless asked otherwise."""
    who = request.app.state.auth.authenticate(request)
    if who is None:
        return RedirectResponse(f"/login?next={quote(str(request.url.path))}", 303)
    report = report_of(store, settings, controllers, day, lane)
    audit(store, who, "export_report", lane=lane, format="print", day=report["day"])  # it leaves the building
    account = request.app.state.auth.accounts.get(who.username)
    body = render("report_print.html", lang or account_language(request, who), report=report,
                  day=date.fromisoformat(report["day"]), lane=lane, site_name=settings.site_name or settings.site,
                  printed=lane_now(settings, controllers), goal_minutes=round(settings.timing.visit_budget / 60),
                  prepared_by=(account.full_name or account.username) if account else who.username,
                  chart=hours_svg(report))
    return HTMLResponse(body, headers=PAGE_HEADERS)


@router.get("/technician")
def technician_page(request: Request) -> Response:
    return _page_or_login(request, "technician.html")


@router.get("/admin")
def admin_page(request: Request) -> Response:
    """Accounts: add, change role, reset password, disable (admins only)."""
    return _page_or_login(request, "admin.html", "user_admin")


@router.get("/login")
def login_page(request: Request) -> Response:
    lang = browser_language(request)
    response = page(request, "login.html", lang)
    if request.query_params.get("lang"):
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="strict", httponly=True, path="/")
    return response


@router.get("/display/{lane}/{station}")
def display_page(request: Request, ctl: Lane, station: LaneStation) -> Response:
    """A driver display: Bahasa Indonesia first, English beneath, always both (drivers choose nothing)."""
    number = ctl.name.removeprefix("lane-")
    name_id, name_en = both(STATION_NAMES[station])
    lane_id, lane_en = both("Lane %(n)s")
    return page(request, "display.html", "id", station_id=name_id.upper(), station_en=name_en,
                lane_label=f"{lane_id % {'n': number}} · {lane_en % {'n': number}}")


@router.get("/display")
def display_index(request: Request, controllers: Controllers) -> Response:
    links = "".join(f"<li><a href='/display/{lane}/{st}'>{lane} {st}</a></li>" for lane in controllers for st in STATIONS)
    title = gettext(browser_language(request), "Driver displays")
    return HTMLResponse(f"<!doctype html><title>{title}</title><ul>{links}</ul>", headers=PAGE_HEADERS)
