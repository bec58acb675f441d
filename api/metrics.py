"""Prometheus metrics of one app: HTTP requests and latency (a middleware), and the lanes' gauges
sampled when ``/metrics`` is read. Each app has its own registry, so several apps in one process
(tests) do not clash."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from lane.controller import LaneController

log = logging.getLogger(__name__)


class Metrics:
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

    def install(self, app: FastAPI) -> None:
        """Count and time every request; an unhandled error is logged and answered 500 ``internal``."""

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
            self.requests.labels(request.method, path, str(response.status_code)).inc()
            self.latency.labels(request.method, path).observe(time.perf_counter() - t0)
            return response

    def sample(self, controllers: dict[str, LaneController], database: bool) -> None:
        """Read the lanes' gauges now (on the controllers' loop)."""
        self.database_up.set(1 if database else 0)
        for lane, ctl in controllers.items():
            self.active.labels(lane).set(len(ctl.visits))
            self.held.labels(lane).set(sum(1 for v in ctl.visits.values() if v.state.held))
            for dev in ctl.devices.all_devices():
                self.device_up.labels(lane, getattr(dev, "name", "?")).set(1 if dev.online else 0)
            counts: dict[str, int] = {}
            for v in ctl.finished:
                outcome = v.get("outcome") or "unknown"
                counts[outcome] = counts.get(outcome, 0) + 1
            for outcome, n in counts.items():
                self.finished.labels(lane, outcome).set(n)
            secs: list[Any] = [v["seconds"] for v in ctl.finished if v.get("seconds") is not None]
            if secs:
                self.visit_seconds.labels(lane).set(sum(secs) / len(secs))
