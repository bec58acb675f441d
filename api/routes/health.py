"""Liveness, readiness (database, broker, devices) and Prometheus metrics, for the site's monitoring."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from api.deps import Controllers, StoreDep
from api.models import Health, Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", response_model=Readiness,
            responses={503: {"model": Readiness, "description": "database or broker unavailable"}})
async def readyz(store: StoreDep, controllers: Controllers) -> JSONResponse:
    database = await run_in_threadpool(store.ping)
    devices = {name: ctl.snapshot()["devices"] for name, ctl in controllers.items()}
    clients = [d.client for c in controllers.values() for d in c.devices.all_devices() if hasattr(d, "client")]
    broker: bool | None = all(bool(getattr(c, "connected", False)) for c in clients) if clients else None
    offline = sorted(f"{lane}/{d}" for lane, devs in devices.items() for d, ok in devs.items() if not ok)
    ready = database and broker is not False
    status = "ready" if ready and not offline else ("degraded" if ready else "not_ready")
    body = Readiness(status=status, database=database, broker=broker, devices=devices, offline=offline)
    return JSONResponse(body.model_dump(), 200 if ready else 503)


@router.get("/metrics", response_class=PlainTextResponse)
async def prometheus(request: Request, store: StoreDep, controllers: Controllers) -> Response:
    body, content_type = await request.app.state.metrics.exposition(controllers, store)  # api/metrics.py
    return Response(body, media_type=content_type)
