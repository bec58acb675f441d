"""The HTML pages: the console, reports, technician, login, and the driver displays (no login)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.auditing import audit
from api.auth import PERMISSIONS
from api.deps import STATIONS, Controllers, Day, Lane, LaneFilter, LaneStation, SettingsDep, StoreDep
from api.edge import PAGE_CSP
from api.rendering import render
from api.reports import hours_svg, lane_now
from api.routes.reports import report_of

router = APIRouter(include_in_schema=False)
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


PAGE_HEADERS = {"Cache-Control": "no-store", "Content-Security-Policy": PAGE_CSP}


def page(name: str) -> HTMLResponse:
    return HTMLResponse((TEMPLATES / name).read_text(encoding="utf-8"), headers=PAGE_HEADERS)


def _page_or_login(request: Request, name: str, permission: str | None = None) -> Response:
    who = request.app.state.auth.authenticate(request)
    if who is None:
        return RedirectResponse(f"/login?next={quote(request.url.path)}", 303)
    if permission and who.role not in PERMISSIONS[permission]:
        return HTMLResponse(f"<p>Role {who.role} cannot open this page. <a href='/'>Console</a></p>", 403)
    return page(name)


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
    checked by the site manager), in Bahasa Indonesia unless asked otherwise."""
    who = request.app.state.auth.authenticate(request)
    if who is None:
        return RedirectResponse(f"/login?next={quote(str(request.url.path))}", 303)
    report = report_of(store, settings, controllers, day, lane)
    audit(store, who, "export_report", lane=lane, format="print", day=report["day"])  # it leaves the building
    account = request.app.state.auth.accounts.get(who.username)
    body = render("report_print.html", lang or request.cookies.get("lajur_lang"), report=report,
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
def login_page() -> Response:
    return page("login.html")


@router.get("/display/{lane}/{station}")
def display_page(_ctl: Lane, _station: LaneStation) -> Response:
    return page("display.html")


@router.get("/display")
def display_index(controllers: Controllers) -> Response:
    links = "".join(f"<li><a href='/display/{lane}/{st}'>{lane} {st}</a></li>" for lane in controllers for st in STATIONS)
    return HTMLResponse(f"<!doctype html><title>Displays</title><ul>{links}</ul>", headers=PAGE_HEADERS)
