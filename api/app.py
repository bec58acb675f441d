"""The FastAPI service: the officer console, the driver displays and the JSON API under ``/api/v1/``.

Routes stay thin: reads come from the controllers' live snapshots (on the controllers' own loop, see
:mod:`api.bridge`) and from the store; officer actions go through ``LaneController.act``, which
audits them before they take effect. Every mutating route names the permission it needs
(:data:`api.auth.PERMISSIONS`); refusals are 401/403 JSON with a reason, never a 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from pathlib import Path as FsPath
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.auth import CSRF_COOKIE, PERMISSIONS, SESSION_COOKIE, ApiRefusal, Auth, Principal
from api.bridge import LaneBridge
from api.devices import GATES, find_device, lane_devices
from api.reports import daily_report, site_timezone, visits_csv, visits_of_day
from lane.controller import LaneController
from lane.errors import (
    DeviceError,
    GateSafetyError,
    LajurError,
    PersistenceError,
    ValidationError,
    WorkflowError,
)
from lane.events import LaneEvent
from lane.persistence import AlertRow, Store, VisitRow
from lane.persistence.accounts import ROLES, Account
from lane.rules import mask_name, mask_nik
from lane.settings import Settings
from lane.workflow import STAGES, Station

log = logging.getLogger(__name__)
HERE = FsPath(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIONS = tuple(s.value for s in Station)

FaultInjector = Callable[[str, str, str, bool], Awaitable[None]]
"""(lane, device, fault, active) -> None, run on the controllers' loop; only where simulators exist."""

VisitActionName = Literal["confirm_plate", "retry", "take_over", "abort", "handed_over", "reprint"]
LaneName = Annotated[str, Path(min_length=1, max_length=32, description="lane name, e.g. lane-1")]
VisitId = Annotated[str, Path(min_length=1, max_length=64)]
DeviceName = Annotated[str, Path(min_length=1, max_length=32, description="device name, e.g. entry-gate")]
Reason = Annotated[str, Field(min_length=3, max_length=300, description="why (goes to the audit log)")]


# ================================================================ payloads
class LoginBody(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=200)


class VisitAction(BaseModel):
    action: VisitActionName
    reason: str | None = Field(default=None, max_length=300, description="required for abort")
    plate: str | None = Field(default=None, max_length=16, description="for confirm_plate (typed or corrected)")


class GateCommand(BaseModel):
    command: Literal["open", "close"]
    reason: Reason


class DeviceTest(BaseModel):
    command: Literal["open", "close", "status"]
    reason: Reason


class FaultBody(BaseModel):
    fault: str = Field(min_length=1, max_length=32, pattern=r"^[a-z_]+$")
    active: bool = True
    reason: str | None = Field(default=None, max_length=300)


class UserCreate(BaseModel):
    username: str = Field(min_length=2, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    role: Literal["officer", "supervisor", "technician", "admin"]
    password: str = Field(min_length=8, max_length=200)
    full_name: str | None = Field(default=None, max_length=200)


class UserUpdate(BaseModel):
    role: Literal["officer", "supervisor", "technician", "admin"] | None = None
    password: str | None = Field(default=None, min_length=8, max_length=200)
    disabled: bool | None = None
    full_name: str | None = Field(default=None, max_length=200)


# ================================================================ views
def visit_json(row: VisitRow, unmask: bool = False) -> dict[str, Any]:
    """A visit as the API shows it: personal data masked unless the caller is a supervisor."""
    return {
        "id": row.id, "lane": row.lane, "seq": row.seq, "plate": row.plate,
        "plate_confidence": row.plate_confidence, "stage": row.stage, "outcome": row.outcome,
        "reason": row.reason, "held": row.held,
        "nik": row.nik if unmask else mask_nik(row.nik),
        "holder_name": row.holder_name if unmask else mask_name(row.holder_name),
        "sim_class": row.sim_class, "fee": row.fee, "paid": row.paid,
        "started_at": row.started_at.isoformat() if row.started_at else None,
        "ended_at": row.ended_at.isoformat() if row.ended_at else None,
        "stage_seconds": row.stage_seconds,
        "seconds": round(row.sim_ended - row.sim_started, 1) if row.sim_ended is not None else None,
    }


def alert_json(a: AlertRow) -> dict[str, Any]:
    return {"id": a.id, "lane": a.lane, "visit_id": a.visit_id, "kind": a.kind, "level": a.level,
            "message": a.message, "at": a.at.isoformat(), "acknowledged_by": a.acknowledged_by}


def account_json(a: Account) -> dict[str, Any]:
    return {"username": a.username, "role": a.role, "full_name": a.full_name, "disabled": a.disabled,
            "created_at": a.created_at.isoformat()}


def _page(name: str) -> HTMLResponse:
    return HTMLResponse((TEMPLATES / name).read_text(encoding="utf-8"),
                        headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY",
                                 "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                                                            "style-src 'self' 'unsafe-inline'; "
                                                            "connect-src 'self' ws: wss:"})


# ================================================================ the app
def _offline_docs(app: FastAPI) -> None:
    """Serve the OpenAPI page with Swagger UI from the installed package, not a CDN: a lane's
    network usually has no internet, and the technician still needs `/docs`."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from swagger_ui_bundle import swagger_ui_path

    app.mount("/docs-assets", StaticFiles(directory=swagger_ui_path), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs():  # noqa: ANN202 - FastAPI returns this HTMLResponse as is
        return get_swagger_ui_html(openapi_url=app.openapi_url or "/openapi.json", title="Lajur API",
                                   swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-assets/swagger-ui.css",
                                   swagger_favicon_url="/docs-assets/favicon-32x32.png")


def create_app(store: Store, controllers: dict[str, LaneController], *, fault_injector: FaultInjector | None = None,
               secret: str | None = None, auth: Auth | None = None,
               loop: asyncio.AbstractEventLoop | None = None) -> FastAPI:
    """``loop`` is the controllers' event loop (default: the loop running when this is called, which is
    where ``Site`` builds the app). ``fault_injector`` enables the technician page's simulator faults."""
    if loop is None:
        with contextlib.suppress(RuntimeError):
            loop = asyncio.get_running_loop()
    app = FastAPI(title="Lajur", version="1", docs_url=None, redoc_url=None, description=(
        "Drive-through SIM renewal lane controller. Log in with `POST /api/v1/auth/login`; use the returned "
        "`token` as `Authorization: Bearer`, or the session cookie plus the `X-CSRF-Token` header."))
    _offline_docs(app)
    auth = auth or Auth(store, secret)
    bridge = LaneBridge(controllers, loop)
    first = next(iter(controllers.values()), None)
    settings: Settings = first.settings if first else Settings()
    app.state.store, app.state.controllers, app.state.auth, app.state.bridge = store, controllers, auth, bridge
    app.state.fault_injector = fault_injector
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    metrics = _Metrics()

    # ------------------------------------------------------------ errors: never a 500 for a refusal
    @app.exception_handler(ApiRefusal)
    async def _refusal(_request: Request, exc: ApiRefusal) -> JSONResponse:
        return JSONResponse({"detail": exc.detail, "reason": exc.reason}, exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = jsonable_encoder(exc.errors(), custom_encoder={Exception: str})
        parts = [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in errors]
        return JSONResponse({"detail": "; ".join(parts) or "invalid request", "reason": "invalid", "errors": errors},
                            422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"detail": exc.detail, "reason": _REASONS.get(exc.status_code, "error")},
                            exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(LajurError)
    async def _lajur(_request: Request, exc: LajurError) -> JSONResponse:
        status, reason = _status_for(exc)
        return JSONResponse({"detail": str(exc), "reason": reason}, status)

    @app.middleware("http")
    async def _measure(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        t0 = time.perf_counter()
        try:
            response = await call_next(request)
        except Exception:
            log.exception("unhandled error on %s %s", request.method, request.url.path)
            response = JSONResponse({"detail": "internal error (logged)", "reason": "internal"}, 500)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        metrics.requests.labels(request.method, path, str(response.status_code)).inc()
        metrics.latency.labels(request.method, path).observe(time.perf_counter() - t0)
        return response

    # ------------------------------------------------------------ dependencies
    def user(request: Request) -> Principal:
        return auth.require(request)

    def can(permission: str) -> Callable[[Request], Principal]:
        def dep(request: Request) -> Principal:
            return auth.require(request, permission)

        dep.__name__ = f"can_{permission}"
        return dep

    def controller(lane: str) -> LaneController:
        ctl = controllers.get(lane)
        if ctl is None:
            raise HTTPException(404, f"no lane {lane!r}; lanes: {', '.join(controllers) or 'none'}")
        return ctl

    def audit(who: Principal, action: str, *, lane: str | None = None, visit_id: str | None = None,
              reason: str | None = None, **detail: Any) -> None:
        store.audit(actor=who.username, role=who.role, action=action, lane=lane, visit_id=visit_id,
                    reason=reason, detail=detail)

    async def publish_audit(lane: str, who: Principal, action: str, reason: str | None, **extra: Any) -> None:
        ctl = controllers.get(lane)
        if ctl is not None:
            ev = LaneEvent(lane, "audit", {"actor": who.username, "action": action, "visit_id": None,
                                           "reason": reason, **extra})
            await bridge.call(lambda: ctl.bus.publish(ev))

    # ------------------------------------------------------------ health
    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], responses={503: {"description": "database or broker unavailable"}})
    async def readyz() -> JSONResponse:
        database = store.ping()
        devices = await bridge.call(lambda: {n: c.snapshot()["devices"] for n, c in controllers.items()})
        clients = await bridge.call(lambda: [d.client for c in controllers.values()
                                             for d in c.devices.all_devices() if hasattr(d, "client")])
        broker: bool | None = all(bool(getattr(c, "connected", False)) for c in clients) if clients else None
        offline = sorted(f"{lane}/{d}" for lane, devs in devices.items() for d, ok in devs.items() if not ok)
        ready = database and broker is not False
        status = "ready" if ready and not offline else ("degraded" if ready else "not_ready")
        return JSONResponse({"status": status, "database": database, "broker": broker, "devices": devices,
                             "offline": offline}, 200 if ready else 503)

    @app.get("/metrics", tags=["health"], response_class=PlainTextResponse)
    async def prometheus() -> Response:
        def sample() -> dict[str, Any]:
            return {n: {"visits": len(c.visits), "held": sum(1 for v in c.visits.values() if v.state.held),
                        "devices": c.snapshot()["devices"], "finished": list(c.finished)}
                    for n, c in controllers.items()}

        metrics.update(await bridge.call(sample), store.ping())
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    # ------------------------------------------------------------ auth
    @app.post("/api/v1/auth/login", tags=["auth"], responses={401: {}, 429: {}})
    def login(body: LoginBody, request: Request, response: Response) -> dict[str, Any]:
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
        auth.limiter.succeeded(body.username)
        token, csrf = auth.issue(account)
        secure = request.url.scheme == "https"
        response.set_cookie(SESSION_COOKIE, token, max_age=auth.session_seconds, httponly=True, samesite="strict",
                            secure=secure, path="/")
        response.set_cookie(CSRF_COOKIE, csrf, max_age=auth.session_seconds, httponly=False, samesite="strict",
                            secure=secure, path="/")
        store.audit(actor=account.username, role=account.role, action="login", detail={"client": client})
        return {"username": account.username, "role": account.role, "token": token, "csrf_token": csrf,
                "expires_in": auth.session_seconds}

    @app.post("/api/v1/auth/logout", tags=["auth"])
    def logout(response: Response, who: Principal = Depends(user)) -> dict[str, bool]:
        response.delete_cookie(SESSION_COOKIE, path="/")
        response.delete_cookie(CSRF_COOKIE, path="/")
        audit(who, "logout")
        return {"ok": True}

    @app.get("/api/v1/auth/me", tags=["auth"])
    def me(who: Principal = Depends(user)) -> dict[str, Any]:
        allowed = sorted(p for p, roles in PERMISSIONS.items() if who.role in roles)
        return {"username": who.username, "role": who.role, "permissions": allowed,
                "sees_personal_data": who.sees_personal_data, "fault_injection": app.state.fault_injector is not None}

    # ------------------------------------------------------------ lanes, stages, visits
    @app.get("/api/v1/lanes", tags=["lanes"])
    async def lanes(_: Principal = Depends(user)) -> list[dict[str, Any]]:
        return await bridge.call(lambda: [c.snapshot() for c in controllers.values()])

    @app.get("/api/v1/lanes/{lane}", tags=["lanes"])
    async def lane(lane: LaneName, _: Principal = Depends(user)) -> dict[str, Any]:
        ctl = controller(lane)
        return await bridge.call(ctl.snapshot)

    @app.get("/api/v1/stages", tags=["lanes"])
    def stages(_: Principal = Depends(user)) -> list[dict[str, Any]]:
        return [{"stage": s.stage.value, "station": s.station.value, "done_when": s.done_when,
                 "on_fault": s.on_fault, "budget_seconds": settings.timing.budgets.get(s.stage.value)}
                for s in STAGES]

    @app.get("/api/v1/visits", tags=["visits"])
    def visits(lane: str | None = Query(None, max_length=32), day: date | None = None,
               limit: int = Query(200, ge=1, le=1000), offset: int = Query(0, ge=0, le=10_000_000),
               who: Principal = Depends(user)) -> list[dict[str, Any]]:
        rows = store.visits(lane=lane, day=day, limit=limit, offset=offset)
        return [visit_json(v, who.sees_personal_data) for v in rows]

    @app.get("/api/v1/visits/{visit_id}", tags=["visits"])
    def visit(visit_id: VisitId, who: Principal = Depends(user)) -> dict[str, Any]:
        row = store.get_visit(visit_id)
        if row is None:
            raise HTTPException(404, f"no visit {visit_id!r}")
        out = visit_json(row, who.sees_personal_data)
        out["transitions"] = [{"from": t.from_stage, "to": t.to_stage, "at": t.at.isoformat(), "sim_at": t.sim_at,
                               "note": t.note} for t in store.transitions(visit_id)]
        return out

    @app.get("/api/v1/visits/{visit_id}/plate.jpg", tags=["visits"], response_class=Response,
             responses={200: {"content": {"image/jpeg": {}}}, 404: {"description": "no crop for this visit"}})
    async def plate_crop(visit_id: VisitId, _: Principal = Depends(user)) -> Response:
        """The entry camera's crop of the plate, while the visit is in the lane."""
        crop = await bridge.call(lambda: next((c.plate_crops.get(visit_id) for c in controllers.values()
                                               if visit_id in getattr(c, "plate_crops", {})), None))
        if not crop:
            raise HTTPException(404, f"no plate crop for {visit_id!r}")
        return Response(crop, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})

    @app.post("/api/v1/visits/{visit_id}/actions", tags=["actions"],
              responses={401: {}, 403: {}, 404: {}, 409: {"description": "does not fit the visit's stage"}})
    async def visit_action(visit_id: VisitId, body: VisitAction,
                           who: Principal = Depends(can("visit_action"))) -> dict[str, Any]:
        """An officer action on an open visit: confirm or correct the plate, retry or take over a held
        step, reprint the card, confirm the hand-over, or abort (with a reason). Audited."""
        ctl = await bridge.call(lambda: next((c for c in controllers.values() if visit_id in c.visits), None))
        if ctl is None:
            if store.get_visit(visit_id) is not None:
                raise HTTPException(409, f"visit {visit_id!r} is no longer open")
            raise HTTPException(404, f"no visit {visit_id!r}")
        params: dict[str, Any] = {"plate": body.plate} if body.plate is not None else {}
        if body.action == "confirm_plate" and not body.plate:
            raise ApiRefusal(422, "invalid", "confirm_plate needs the plate")
        result = await bridge.run(lambda: ctl.act(body.action, actor=who.username, role=who.role,
                                                  visit_id=visit_id, reason=body.reason, **params))
        return {"ok": True, "lane": ctl.name, "visit_id": visit_id, "action": body.action, **(result or {})}

    @app.post("/api/v1/lanes/{lane}/gates/{gate}", tags=["actions"],
              responses={401: {}, 403: {}, 404: {}, 409: {"description": "safety loop occupied"}})
    async def gate_override(lane: LaneName, gate: Literal["entry-gate", "exit-gate"], body: GateCommand,
                            who: Principal = Depends(can("gate_override"))) -> dict[str, Any]:
        """Open or close a gate by hand, with a reason (audited before the gate moves). A close is
        refused while the safety loop is occupied."""
        ctl = controller(lane)
        action = f"{body.command}_gate"
        await bridge.run(lambda: ctl.act(action, actor=who.username, role=who.role, reason=body.reason, gate=gate))
        await publish_audit(lane, who, action, body.reason, gate=gate)
        return {"ok": True, "lane": lane, "gate": gate, "command": body.command}

    # ------------------------------------------------------------ alerts and audit
    @app.get("/api/v1/alerts", tags=["alerts"])
    def alerts(lane: str | None = Query(None, max_length=32), limit: int = Query(100, ge=1, le=1000),
               _: Principal = Depends(user)) -> list[dict[str, Any]]:
        return [alert_json(a) for a in store.alerts(lane=lane, limit=limit)]

    @app.post("/api/v1/alerts/{alert_id}/ack", tags=["alerts"], responses={401: {}, 403: {}, 404: {}})
    def ack_alert(alert_id: Annotated[int, Path(ge=1, le=2**62)],
                  who: Principal = Depends(can("alert_ack"))) -> dict[str, Any]:
        with store.session() as s:
            row = s.get(AlertRow, alert_id)
            if row is None:
                raise HTTPException(404, f"no alert {alert_id}")
            row.acknowledged_by = who.username
            s.add(row)
            lane_, visit_id = row.lane, row.visit_id
        audit(who, "ack_alert", lane=lane_, visit_id=visit_id, alert=alert_id)
        return {"ok": True, "id": alert_id, "acknowledged_by": who.username}

    @app.get("/api/v1/audit", tags=["audit"])
    def audit_log(limit: int = Query(100, ge=1, le=1000), _: Principal = Depends(user)) -> list[dict[str, Any]]:
        return [{"id": a.id, "at": a.at.isoformat(), "actor": a.actor, "role": a.role, "action": a.action,
                 "lane": a.lane, "visit_id": a.visit_id, "reason": a.reason, "detail": a.detail}
                for a in store.audit_log(limit=limit)]

    # ------------------------------------------------------------ devices
    @app.get("/api/v1/devices", tags=["devices"])
    async def devices(_: Principal = Depends(user)) -> list[dict[str, Any]]:
        return await bridge.call(lambda: [d for c in controllers.values() for d in lane_devices(c)])

    @app.get("/api/v1/devices/events", tags=["devices"])
    def device_events(lane: str | None = Query(None, max_length=32), limit: int = Query(100, ge=1, le=1000),
                      _: Principal = Depends(user)) -> list[dict[str, Any]]:
        return [{"id": e.id, "lane": e.lane, "device": e.device, "kind": e.kind, "detail": e.detail,
                 "at": e.at.isoformat()} for e in store.device_events(lane=lane, limit=limit)]

    @app.post("/api/v1/lanes/{lane}/devices/{device}/test", tags=["devices"], responses={401: {}, 403: {}, 404: {}})
    async def device_test(lane: LaneName, device: DeviceName, body: DeviceTest,
                          who: Principal = Depends(can("device_test"))) -> dict[str, Any]:
        """A technician's test command: open/close a gate (a close is refused on a vehicle), or ask any
        device for its status. Audited."""
        ctl = controller(lane)
        dev = await bridge.call(lambda: find_device(ctl, device))
        if dev is None:
            raise HTTPException(404, f"no device {device!r} in {lane}")
        if body.command in ("open", "close") and device not in GATES:
            raise HTTPException(409, f"{device} has no {body.command} command (gates only)")
        audit(who, "device_test", lane=lane, reason=body.reason, device=device, command=body.command)
        await publish_audit(lane, who, "device_test", body.reason, device=device, command=body.command)
        if body.command == "open":
            await bridge.run(dev.open)
        elif body.command == "close":
            await bridge.run(dev.close)
        info = await bridge.call(lambda: next(d for d in lane_devices(ctl) if d["name"] == device))
        status = getattr(dev, "status", None)
        if callable(status):
            with contextlib.suppress(Exception):
                info["status"] = str(await bridge.run(status, timeout=5))
        return {"ok": True, "device": info}

    @app.post("/api/v1/lanes/{lane}/devices/{device}/faults", tags=["devices"],
              responses={401: {}, 403: {}, 404: {}, 409: {"description": "no simulators here"}})
    async def inject_fault(lane: LaneName, device: DeviceName, body: FaultBody,
                           who: Principal = Depends(can("fault_inject"))) -> dict[str, Any]:
        """Inject or clear a simulator fault (demo and simulated sites only). Audited."""
        injector: FaultInjector | None = app.state.fault_injector
        if injector is None:
            raise HTTPException(409, "fault injection needs simulated devices (lajur demo)")
        ctl = controller(lane)
        audit(who, "inject_fault" if body.active else "clear_fault", lane=lane, reason=body.reason,
              device=device, fault=body.fault)
        try:
            await bridge.run(lambda: injector(ctl.name, device, body.fault, body.active))
        except (KeyError, ValueError, LookupError) as exc:
            raise HTTPException(409, f"cannot inject {body.fault!r} into {device}: {exc}") from exc
        await publish_audit(lane, who, "inject_fault" if body.active else "clear_fault", body.reason,
                            device=device, fault=body.fault)
        return {"ok": True, "lane": lane, "device": device, "fault": body.fault, "active": body.active}

    # ------------------------------------------------------------ reports
    def report_day(day: date | None) -> date:
        if day is not None:
            return day
        now = first.clock.now() if first else datetime.now(UTC)  # the lane clock: a demo's day runs fast
        return now.astimezone(site_timezone()).date()

    @app.get("/api/v1/reports/daily", tags=["reports"])
    def report(day: date | None = None, lane: str | None = Query(None, max_length=32),
               _: Principal = Depends(user)) -> dict[str, Any]:
        """Visits, throughput per hour, per-stage mean and goal-met share by part of day, share of
        completed visits within the 10-minute goal. ``day`` defaults to today (site time)."""
        d = report_day(day)
        rows = visits_of_day(store, d, lane)
        return daily_report(rows, d, settings.timing.budgets, settings.timing.visit_budget)

    @app.get("/api/v1/reports/daily.csv", tags=["reports"], response_class=PlainTextResponse)
    def report_csv(day: date | None = None, lane: str | None = Query(None, max_length=32),
                   _: Principal = Depends(user)) -> Response:
        d = report_day(day)
        body = visits_csv(visits_of_day(store, d, lane), settings.timing.visit_budget)
        return Response(body, media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="lajur-visits-{d}.csv"'})

    # ------------------------------------------------------------ users
    @app.get("/api/v1/users", tags=["users"])
    def users(_: Principal = Depends(can("user_admin"))) -> list[dict[str, Any]]:
        return [account_json(a) for a in auth.accounts.list()]

    @app.post("/api/v1/users", tags=["users"], status_code=201, responses={401: {}, 403: {}, 409: {}})
    def add_user(body: UserCreate, who: Principal = Depends(can("user_admin"))) -> dict[str, Any]:
        if auth.accounts.get(body.username) is not None:
            raise HTTPException(409, f"user {body.username!r} exists")
        try:
            account = auth.accounts.create(body.username, body.role, auth.hash_password(body.password),
                                           body.full_name)
        except IntegrityError as exc:
            raise HTTPException(409, f"user {body.username!r} exists") from exc
        audit(who, "user_add", target=body.username, new_role=body.role)
        return account_json(account)

    def other_active_admins(username: str) -> int:
        return sum(1 for a in auth.accounts.list() if a.role == "admin" and not a.disabled and a.username != username)

    @app.patch("/api/v1/users/{username}", tags=["users"], responses={401: {}, 403: {}, 404: {}, 409: {}})
    def update_user(username: Annotated[str, Path(max_length=64)], body: UserUpdate,
                    who: Principal = Depends(can("user_admin"))) -> dict[str, Any]:
        account = auth.accounts.get(username)
        if account is None:
            raise HTTPException(404, f"no user {username!r}")
        demoting = account.role == "admin" and ((body.role not in (None, "admin")) or body.disabled)
        if demoting and not other_active_admins(username):
            raise HTTPException(409, "the last admin cannot be demoted or disabled")
        changes: dict[str, Any] = {}
        if body.role is not None:
            changes["role"] = account.role = body.role
        if body.full_name is not None:
            account.full_name = body.full_name
        if body.disabled is not None:
            changes["disabled"] = account.disabled = body.disabled
        if body.password is not None:
            account.password_hash = auth.hash_password(body.password)
            changes["password"] = "changed"
        if body.password is not None or body.disabled or body.role is not None:
            account.session_version += 1  # old sessions end
        account = auth.accounts.save(account)
        audit(who, "user_update", target=username, **changes)
        return account_json(account)

    @app.delete("/api/v1/users/{username}", tags=["users"], responses={401: {}, 403: {}, 404: {}, 409: {}})
    def delete_user(username: Annotated[str, Path(max_length=64)],
                    who: Principal = Depends(can("user_admin"))) -> dict[str, Any]:
        account = auth.accounts.get(username)
        if account is None:
            raise HTTPException(404, f"no user {username!r}")
        if account.role == "admin" and not other_active_admins(username):
            raise HTTPException(409, "the last admin cannot be removed")
        auth.accounts.delete(username)
        audit(who, "user_delete", target=username)
        return {"ok": True, "username": username}

    # ------------------------------------------------------------ driver displays (public, plate only)
    def check_station(lane: str, station: str) -> LaneController:
        ctl = controller(lane)
        if station not in STATIONS:
            raise HTTPException(404, f"no station {station!r}; stations: {', '.join(STATIONS)}")
        return ctl

    def shown(ctl: LaneController, station: str) -> dict[str, Any] | None:
        msg = getattr(ctl, "shown", {}).get(station)
        return dataclasses.asdict(msg) if msg is not None else None

    @app.get("/api/v1/displays/{lane}/{station}", tags=["displays"])
    async def display_state(lane: LaneName, station: Annotated[str, Path(max_length=16)]) -> dict[str, Any]:
        """What the driver display at a station shows now (no login; no personal data beyond the plate)."""
        ctl = check_station(lane, station)
        return {"lane": lane, "station": station, "message": await bridge.call(lambda: shown(ctl, station))}

    # ------------------------------------------------------------ live streams
    @app.websocket("/ws/live")
    async def live(ws: WebSocket) -> None:
        """The console's live feed: a snapshot, then every lane event, and a fresh snapshot every 2 s
        (device health, elapsed times)."""
        who = _ws_principal(ws, auth)
        if who is None:
            await ws.close(code=4401, reason="log in first")
            return
        await ws.accept()
        with_devices = ws.query_params.get("devices") == "1"

        async def snapshot() -> dict[str, Any]:
            lanes_ = await bridge.call(lambda: [c.snapshot() for c in controllers.values()])
            displays = await bridge.call(lambda: {n: {st: shown(c, st) for st in STATIONS}
                                                  for n, c in controllers.items()})
            out = {"type": "snapshot", "lanes": lanes_, "displays": displays, "at": time.time(),
                   "speed": first.clock.speed if first else 1.0}
            if with_devices:
                out["device_details"] = await bridge.call(
                    lambda: [d for c in controllers.values() for d in lane_devices(c)])
            return out

        first_msg = await snapshot()
        first_msg.update(user=who.username, role=who.role,
                         alerts=[alert_json(a) for a in store.alerts(limit=30)])
        await _stream(ws, bridge, first_msg, lambda ev: True, snapshot)

    @app.websocket("/ws/display/{lane}/{station}")
    async def display_feed(ws: WebSocket, lane: str, station: str) -> None:
        ctl = controllers.get(lane)
        if ctl is None or station not in STATIONS:
            await ws.close(code=4404, reason="no such lane or station")
            return
        await ws.accept()
        first_msg = {"type": "display", "lane": lane, "data": await bridge.call(lambda: shown(ctl, station))}
        await _stream(ws, bridge, first_msg,
                      lambda ev: ev.kind == "display" and ev.lane == lane and ev.data.get("station") == station,
                      None)

    # ------------------------------------------------------------ pages
    def page_or_login(request: Request, name: str, permission: str | None = None) -> Response:
        who = auth.authenticate(request)
        if who is None:
            return RedirectResponse(f"/login?next={request.url.path}", 303)
        if permission and who.role not in PERMISSIONS[permission]:
            return HTMLResponse(f"<p>Role {who.role} cannot open this page. <a href='/'>Console</a></p>", 403)
        return _page(name)

    @app.get("/", include_in_schema=False)
    def console_page(request: Request) -> Response:
        return page_or_login(request, "console.html")

    @app.get("/reports", include_in_schema=False)
    def reports_page(request: Request) -> Response:
        return page_or_login(request, "reports.html")

    @app.get("/technician", include_in_schema=False)
    def technician_page(request: Request) -> Response:
        return page_or_login(request, "technician.html")

    @app.get("/login", include_in_schema=False)
    def login_page() -> Response:
        return _page("login.html")

    @app.get("/display/{lane}/{station}", include_in_schema=False)
    def display_page(lane: str, station: str) -> Response:
        check_station(lane, station)
        return _page("display.html")

    @app.get("/display", include_in_schema=False)
    def display_index() -> Response:
        links = "".join(f"<li><a href='/display/{lane}/{st}'>{lane} {st}</a></li>"
                        for lane in controllers for st in STATIONS)
        return HTMLResponse(f"<!doctype html><title>Displays</title><ul>{links}</ul>")

    return app


# ================================================================ helpers
_REASONS = {400: "bad_request", 401: "not_authenticated", 403: "forbidden", 404: "not_found",
            405: "method_not_allowed", 409: "conflict", 422: "invalid", 429: "rate_limited", 503: "unavailable"}


def _status_for(exc: LajurError) -> tuple[int, str]:
    if isinstance(exc, GateSafetyError):
        return 409, "gate_safety"
    if isinstance(exc, DeviceError):
        return 503, "device_error"
    if isinstance(exc, ValidationError):
        return 422, "invalid"
    if isinstance(exc, WorkflowError):
        return 409, "workflow"
    if isinstance(exc, PersistenceError):
        return 503, "database"
    return 409, "refused"


def _ws_principal(ws: WebSocket, auth: Auth) -> Principal | None:
    origin = ws.headers.get("origin")
    host = ws.headers.get("host")
    if origin and host and origin.split("://", 1)[-1] != host:
        return None  # a page of another site may not open a console feed with our cookie
    token = ws.query_params.get("token")
    if token:
        return auth.principal(token, "bearer")
    cookie = ws.cookies.get(SESSION_COOKIE)
    return auth.principal(cookie, "cookie") if cookie else None


async def _stream(ws: WebSocket, bridge: LaneBridge, first: dict[str, Any], keep: Callable[[LaneEvent], bool],
                  refresh: Callable[[], Awaitable[dict[str, Any]]] | None, every: float = 2.0) -> None:
    """Send ``first``, then each kept lane event (and ``refresh()`` every ``every`` s) until the client
    goes away or the server shuts down."""
    q = await bridge.subscribe()

    async def reader() -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            while True:
                msg = await ws.receive()
                if msg.get("type") == "websocket.disconnect":
                    return

    async def writer() -> None:
        await ws.send_json(jsonable_encoder(first))
        next_refresh = time.monotonic() + every
        while True:
            try:
                ev = await asyncio.wait_for(q.get(), timeout=max(0.05, next_refresh - time.monotonic()))
            except TimeoutError:
                ev = None
            if ev is not None and keep(ev):
                await ws.send_json(jsonable_encoder({"type": ev.kind, "lane": ev.lane, "data": ev.data}))
            if refresh is not None and time.monotonic() >= next_refresh:
                await ws.send_json(jsonable_encoder(await refresh()))
            if time.monotonic() >= next_refresh:
                next_refresh = time.monotonic() + every

    tasks = [asyncio.ensure_future(reader()), asyncio.ensure_future(writer())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        bridge.unsubscribe(q)
        with contextlib.suppress(Exception):
            await ws.close()


class _Metrics:
    """Prometheus metrics of one app (own registry, so several apps in one process do not clash)."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.requests = Counter("lajur_http_requests", "HTTP requests", ["method", "route", "status"], registry=r)
        self.latency = Histogram("lajur_http_request_seconds", "HTTP request latency", ["method", "route"],
                                 registry=r)
        self.active = Gauge("lajur_visits_active", "vehicles in the lane now", ["lane"], registry=r)
        self.held = Gauge("lajur_visits_held", "visits held on a fault or waiting for an officer", ["lane"],
                          registry=r)
        self.finished = Gauge("lajur_visits_finished", "visits ended since start, by outcome", ["lane", "outcome"],
                              registry=r)
        self.visit_seconds = Gauge("lajur_visit_seconds_mean", "mean visit time since start (simulated s)",
                                   ["lane"], registry=r)
        self.device_up = Gauge("lajur_device_online", "1 if the device is online", ["lane", "device"], registry=r)
        self.database_up = Gauge("lajur_database_up", "1 if the database answers", registry=r)

    def update(self, lanes: dict[str, dict[str, Any]], database: bool) -> None:
        self.database_up.set(1 if database else 0)
        for lane, s in lanes.items():
            self.active.labels(lane).set(s["visits"])
            self.held.labels(lane).set(s["held"])
            for dev, ok in s["devices"].items():
                self.device_up.labels(lane, dev).set(1 if ok else 0)
            counts: dict[str, int] = {}
            for v in s["finished"]:
                counts[v.get("outcome") or "unknown"] = counts.get(v.get("outcome") or "unknown", 0) + 1
            for outcome, n in counts.items():
                self.finished.labels(lane, outcome).set(n)
            secs = [v["seconds"] for v in s["finished"] if v.get("seconds") is not None]
            if secs:
                self.visit_seconds.labels(lane).set(sum(secs) / len(secs))


__all__ = ["ROLES", "create_app", "visit_json"]
