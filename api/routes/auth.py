"""Log in and out, and who am I: a session cookie (+ CSRF token) for browsers, a bearer token for scripts."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from api.auditing import audit
from api.auth import CSRF_COOKIE, PERMISSIONS, SESSION_COOKIE, ApiRefusal
from api.deps import AuthDep, CurrentUser, SettingsDep, StoreDep
from api.models import LanguageChoice, LoginBody, Me, Ok, Session
from lane.i18n import LANG_COOKIE, language

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.post("/login", response_model=Session, responses={401: {}, 429: {}})
def login(body: LoginBody, request: Request, response: Response, auth: AuthDep, store: StoreDep) -> Session:
    client = request.client.host if request.client else "?"
    wait = auth.limiter.retry_after(body.username, client)
    if wait:
        raise ApiRefusal(429, "rate_limited", f"too many failed logins; try again in {wait} s",
                         {"Retry-After": str(wait)})
    account = auth.check_password(body.username, body.password)
    if account is None:
        auth.limiter.failed(body.username, client)
        store.audit(actor=body.username[:64], role="-", action="login_failed", detail={"client": client})
        raise ApiRefusal(401, "bad_credentials", "wrong username or password")
    auth.limiter.succeeded(body.username, client)
    token, csrf = auth.issue(account, client)
    secure = request.url.scheme == "https"
    response.set_cookie(SESSION_COOKIE, token, max_age=auth.session_seconds, httponly=True, samesite="strict",
                        secure=secure, path="/")
    response.set_cookie(CSRF_COOKIE, csrf, max_age=auth.session_seconds, httponly=False, samesite="strict",
                        secure=secure, path="/")
    store.audit(actor=account.username, role=account.role, action="login", detail={"client": client})
    return Session(username=account.username, role=account.role, token=token, csrf_token=csrf,
                   expires_in=auth.session_seconds)


@router.post("/logout", response_model=Ok)
def logout(request: Request, response: Response, who: CurrentUser, auth: AuthDep, store: StoreDep) -> Ok:
    """End this session for good: its token no longer works anywhere (cookie or bearer), and its
    live sockets close at once."""
    auth.end_session(who)
    request.app.state.live_sockets.end_session(who.session_id)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    audit(store, who, "logout")
    return Ok()


@router.get("/me", response_model=Me)
def me(request: Request, who: CurrentUser, auth: AuthDep, settings: SettingsDep) -> Me:
    allowed = sorted(p for p, roles in PERMISSIONS.items() if who.role in roles)
    account = auth.accounts.get(who.username)
    return Me(username=who.username, role=who.role, permissions=allowed, sees_personal_data=who.sees_personal_data,
              fault_injection=request.app.state.fault_injector is not None,
              language=language(account.language if account else None), timezone=settings.timezone)


@router.put("/me/language", response_model=Me)
def set_language(request: Request, response: Response, body: LanguageChoice, who: CurrentUser, auth: AuthDep,
                 settings: SettingsDep) -> Me:
    """The pages' language for this account (Bahasa Indonesia first; English one click away), kept
    with the account so every page and every terminal it logs in from speaks it."""
    account = auth.accounts.get(who.username)
    if account is not None and account.language != body.language:
        account.language = body.language
        auth.accounts.save(account)
    response.set_cookie(LANG_COOKIE, body.language, max_age=365 * 86400, samesite="strict", httponly=True, path="/")
    return me(request, who, auth, settings)
