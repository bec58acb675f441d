"""The FastAPI service: the officer console, the driver displays and the JSON API under ``/api/v1/``.

Routes are thin and live in a router per resource (:mod:`api.routes`); what they need comes from
:mod:`api.deps`, what they take and give is in :mod:`api.models`. The app is served on the lane
controllers' own event loop (:mod:`api.server`), so a route reads a lane's live state directly and
an officer action reaches the lane without a thread hand-off; store calls that may block run in
FastAPI's thread pool. Officer actions go through ``LaneController.act``, which audits them before
they take effect. Every mutating route names the permission it needs (:data:`api.auth.PERMISSIONS`);
refusals are JSON with a reason, never a 500 (:mod:`api.errors`).
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from api import errors
from api.auth import Auth
from api.deps import FaultInjector
from api.edge import MAX_BODY_BYTES, LajurApp, docs_csp
from api.live import LiveSockets
from api.metrics import Metrics
from api.routes import ROUTERS
from api.routes.visits import visit_json
from api.status import LookupLimiter
from lane.controller import LaneController
from lane.events import EventBus
from lane.persistence import Store
from lane.persistence.accounts import ROLES
from lane.settings import Settings

HERE = Path(__file__).resolve().parent


def create_app(store: Store, controllers: dict[str, LaneController], *, fault_injector: FaultInjector | None = None,
               secret: str | None = None, auth: Auth | None = None, settings: Settings | None = None,
               bus: EventBus | None = None) -> FastAPI:
    """The app for these lanes. ``controllers`` is the live dict of the lanes this process drives
    (lanes may come and go with their leases); ``settings`` default to the first lane's; ``bus``
    (default: the lanes' own) feeds the live WebSockets; ``fault_injector`` enables the technician
    page's simulator faults."""
    first = next(iter(controllers.values()), None)
    settings = settings or (first.settings if first else Settings())
    if secret is None and settings.secret_key is not None:
        secret = settings.secret_key.get_secret_value()
    app = LajurApp(title="Lajur", version="1", docs_url=None, redoc_url=None, max_body_size=MAX_BODY_BYTES, description=(
        "Drive-through SIM renewal lane controller. Log in with `POST /api/v1/auth/login`; use the returned "
        "`token` as `Authorization: Bearer`, or the session cookie plus the `X-CSRF-Token` header."))
    _offline_docs(app)
    app.state.store, app.state.controllers, app.state.settings, app.state.bus = store, controllers, settings, bus
    app.state.auth = auth or Auth(store, secret)
    app.state.fault_injector = fault_injector
    app.state.metrics = Metrics(controllers)
    app.state.live_sockets = LiveSockets()
    app.state.status_limiter = LookupLimiter()
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    errors.install(app)
    app.state.metrics.install(app)
    for router in ROUTERS:
        app.include_router(router)
    return app


def _offline_docs(app: FastAPI) -> None:
    """Serve the OpenAPI page with Swagger UI from the installed package, not a CDN: a lane's
    network usually has no internet, and the technician still needs `/docs`."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from swagger_ui_bundle import swagger_ui_path

    app.mount("/docs-assets", StaticFiles(directory=swagger_ui_path), name="docs-assets")

    page = get_swagger_ui_html(openapi_url=app.openapi_url or "/openapi.json", title="Lajur API",
                               swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                               swagger_css_url="/docs-assets/swagger-ui.css",
                               swagger_favicon_url="/docs-assets/favicon-32x32.png")
    html = bytes(page.body)
    # its one inline script, allowed by its hash and nothing else inline
    inline = re.search(rb"<script>(.*?)</script>", html, re.S)
    digest = base64.b64encode(hashlib.sha256(inline.group(1) if inline else b"").digest()).decode()
    headers = {"Content-Security-Policy": docs_csp(digest), "Cache-Control": "no-store"}

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(html, headers=headers)


__all__ = ["ROLES", "FaultInjector", "create_app", "visit_json"]
