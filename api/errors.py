"""Refusals as JSON, never a 500 for a decision: ``{"detail": "...", "reason": "..."}`` with the
status a client can act on (docs/api.md lists the reasons). Errors of the lane's own hierarchy map
to 409/422/503; anything else is logged and answered 500 ``internal`` by the metrics middleware."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.auth import ApiRefusal
from lane.errors import (
    DeviceError,
    GateSafetyError,
    LajurError,
    NotPermitted,
    PersistenceError,
    ValidationError,
    WorkflowError,
)

REASONS = {400: "bad_request", 401: "not_authenticated", 403: "forbidden", 404: "not_found",
           405: "method_not_allowed", 409: "conflict", 413: "too_large", 422: "invalid", 429: "rate_limited",
           503: "unavailable"}


def status_for(exc: LajurError) -> tuple[int, str]:
    if isinstance(exc, NotPermitted):
        return 403, "forbidden"
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


def install(app: FastAPI) -> None:
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
        return JSONResponse({"detail": exc.detail, "reason": REASONS.get(exc.status_code, "error")},
                            exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(LajurError)
    async def _lajur(_request: Request, exc: LajurError) -> JSONResponse:
        status, reason = status_for(exc)
        return JSONResponse({"detail": str(exc), "reason": reason}, status)
