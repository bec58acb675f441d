"""One router per resource; ``api.app.create_app`` includes them all."""

from __future__ import annotations

from api.routes import (
    actions,
    alerts,
    audit,
    auth,
    blanks,
    devices,
    displays,
    health,
    lanes,
    live,
    pages,
    reports,
    status,
    users,
    visits,
)

ROUTERS = [health.router, auth.router, lanes.router, visits.router, actions.router, alerts.router, audit.router, blanks.router,
           devices.router, reports.router, users.router, displays.router, live.router, status.router, pages.router]

__all__ = ["ROUTERS"]
