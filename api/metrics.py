"""Prometheus metrics of a controller process: HTTP requests and latency (a middleware), and its lanes,
their queues, alerts, devices and timings.

Lane figures are sampled when Prometheus scrapes ``/metrics`` (the app runs on the lanes' own loop, so
:meth:`Metrics.sample` reads what the controllers already hold, directly); the database is asked, in
a worker thread, whether it answers and for the open alerts. Two things are timed as they happen
rather than sampled, from listeners on the gate drivers (passive: they only read statuses): the
**event-to-command** time of each gate, from the status in which the controller sees a loop change
to the status in which it sees the boom move on the command that change caused. It includes the
controller's work, the command's round trip and one status exchange (the gate driver polls at once
after a command); it leaves out the poll period before the event is seen (at most
``gate_poll_interval``). The entry gate's opening is not timed: it waits for window 1 to be free,
which is queueing, not latency. Stage and visit times are observed once per ended visit.

Each app has its own registry, so several apps in one process (tests) do not clash. Metric names are
a contract with dashboards (``deploy/grafana/lanes.json``): extend, never rename.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter as Tally
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from lane.ports import GatePosition
from lane.workflow import STAGES, Station

log = logging.getLogger(__name__)

STAGE_BUCKETS = (5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600)
VISIT_BUCKETS = (60, 120, 180, 240, 300, 360, 420, 480, 600, 900, 1200, 1800)
REACTION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0)
OPEN_STAGES = tuple(spec.stage.value for spec in STAGES)
REACTION_KINDS = ("entry_close", "exit_open", "exit_close")
MOVED = {GatePosition.OPENING: "open", GatePosition.OPEN: "open", GatePosition.CLOSING: "close",
         GatePosition.CLOSED: "close"}


@dataclass
class LaneSample:
    """What one lane holds at a scrape (plain data, taken on the controllers' loop)."""

    by_stage: dict[str, int]
    held: int
    queue: int
    devices: dict[str, bool]
    road_queue: int = 0
    """Vehicles waiting before the entry (``lane.queue``)."""
    road_queue_wait: float = 0.0
    ended: list[dict[str, Any]] = field(default_factory=list)
    """Summaries of the visits that ended since the previous scrape."""
    finished_by_outcome: dict[str, int] = field(default_factory=dict)
    visit_seconds_mean: float | None = None


class GateReactions:
    """Times, at one gate driver, a loop change to the boom moving on the command it caused."""

    def __init__(self, histogram: Histogram, lane: str, side: str, gate: Any) -> None:
        self.histogram, self.lane, self.side, self.gate = histogram, lane, side, gate
        st = gate.status
        self.last = (st.presence_loop, st.safety_loop, st.position)
        self.pending: dict[str, float] = {}
        self.remove: Callable[[], None] = gate.add_listener(self._on_status)

    def _on_status(self, _event: Any) -> None:
        st, now = self.gate.status, time.perf_counter()
        presence, safety, position = self.last
        if self.side == "exit" and st.presence_loop and not presence:
            self.pending.setdefault("open", now)
        if safety and not st.safety_loop:
            self.pending.setdefault("close", now)
        # the boom moving, or already there when a late poll missed the movement (a short travel)
        moved = MOVED.get(st.position)
        if moved and MOVED.get(position) != moved and not (moved == "open" and st.safety_loop):
            t = self.pending.pop(moved, None)
            if t is not None:
                self.histogram.labels(self.lane, f"{self.side}_{moved}").observe(now - t)
        self.last = (st.presence_loop, st.safety_loop, st.position)


class Metrics:
    """``controllers``: the lanes already running where the app is made (on their loop), whose gates are
    watched from the start; lanes started later are watched from the next scrape."""

    def __init__(self, controllers: Mapping[str, Any] | None = None) -> None:
        r = self.registry = CollectorRegistry()
        # HTTP (observed by the app's middleware)
        self.requests = Counter("lajur_http_requests", "HTTP requests", ["method", "route", "status"], registry=r)
        self.latency = Histogram("lajur_http_request_seconds", "HTTP request latency", ["method", "route"],
                                 registry=r)
        # lanes, sampled at each scrape
        self.lane_driven = Gauge("lajur_lane_driven", "1 for each lane this controller process drives now",
                                 ["lane"], registry=r)
        self.active = Gauge("lajur_visits_active", "vehicles in the lane now", ["lane"], registry=r)
        self.by_stage = Gauge("lajur_visits_by_stage", "open visits by the stage they are in", ["lane", "stage"],
                              registry=r)
        self.held = Gauge("lajur_visits_held", "visits held on a fault or waiting for an officer", ["lane"],
                          registry=r)
        self.queue = Gauge("lajur_lane_queue_length", "vehicles waiting for the station ahead to free up "
                           "(their display says wait), the one on the entry loop included", ["lane"], registry=r)
        self.road_queue = Gauge("lajur_road_queue_length", "vehicles waiting before the entry (queued)", ["lane"],
                                registry=r)
        self.road_queue_wait = Gauge("lajur_road_queue_expected_wait_seconds", "how long the first vehicle before "
                                     "the entry should still wait (simulated s)", ["lane"], registry=r)
        self.finished = Gauge("lajur_visits_finished", "visits ended since start, by outcome", ["lane", "outcome"],
                              registry=r)
        self.visit_seconds = Gauge("lajur_visit_seconds_mean", "mean visit time since start (simulated s)",
                                   ["lane"], registry=r)
        self.device_up = Gauge("lajur_device_online", "1 if the device is online", ["lane", "device"], registry=r)
        self.alerts_open = Gauge("lajur_alerts_open", "alerts not yet acknowledged whose cause lasts", ["lane", "level"],
                                 registry=r)
        self.database_up = Gauge("lajur_database_up", "1 if the database answers", registry=r)
        self.journal = Gauge("lajur_database_journal_records", "records kept in memory while the database "
                             "is away, waiting to be written", registry=r)
        self.writer_backlog = Gauge("lajur_database_writer_backlog", "store calls waiting for the store's writer "
                                    "thread (a backlog that grows: the database is slower than the lanes)",
                                    registry=r)
        # observed once per ended visit / per gate movement
        self.ended = Counter("lajur_visits_ended", "visits ended, by outcome", ["lane", "outcome"], registry=r)
        self.stage_seconds = Histogram("lajur_stage_seconds", "time spent in each stage by ended visits (s)",
                                       ["lane", "stage"], buckets=STAGE_BUCKETS, registry=r)
        self.visit_duration = Histogram("lajur_visit_seconds", "time from the entry to leaving (s); the wait before the entry is not in it",
                                        ["lane"], buckets=VISIT_BUCKETS, registry=r)
        self.reaction = Histogram("lajur_event_to_command_seconds", "a gate's loop change to its boom moving "
                                  "on the command it caused, as the controller sees the gate (s)",
                                  ["lane", "kind"], buckets=REACTION_BUCKETS, registry=r)
        self._watched: dict[str, tuple[Any, list[GateReactions]]] = {}
        self._seen: dict[str, tuple[Any, int]] = {}
        """lane -> (controller, how many of its ``finished`` summaries were observed)."""
        for name, c in (controllers or {}).items():
            self._watch(name, c)

    def install(self, app: FastAPI) -> None:
        """Count and time every request; an unhandled error is logged and answered 500 ``internal``."""

        @app.middleware("http")
        async def _measure(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
            t0 = time.perf_counter()
            try:
                response = await call_next(request)
            except Exception:
                # the route's template, not the path: a status page's token stays out of the log
                where = getattr(request.scope.get("route"), "path", None) or "(no route)"
                log.exception("unhandled error on %s %s", request.method, where)
                response = JSONResponse({"detail": "internal error (logged)", "reason": "internal"}, 500)
            route = request.scope.get("route")
            path = getattr(route, "path", "unmatched")
            self.requests.labels(request.method, path, str(response.status_code)).inc()
            self.latency.labels(request.method, path).observe(time.perf_counter() - t0)
            return response

    # ------------------------------------------------------------ on the controllers' loop
    def sample(self, controllers: Mapping[str, Any]) -> dict[str, LaneSample]:
        """Read every lane (on the controllers' loop); also puts listeners on new controllers' gates."""
        out: dict[str, LaneSample] = {}
        for name, c in controllers.items():
            self._watch(name, c)
            visits = list(c.visits.values())
            stations = {st.value: c.occupancy.get(st) for st in Station}
            queue = sum(1 for st, visit_id in stations.items()
                        if visit_id and getattr(c.shown.get(st), "step", None) == "wait")
            previous, seen = self._seen.get(name, (None, 0))
            if previous is not c or seen > len(c.finished):
                seen = 0  # a lane (re)started in this process: its summaries start again
            ended = list(c.finished[seen:])
            self._seen[name] = (c, len(c.finished))
            outcomes = Tally((v.get("outcome") or "unknown") for v in c.finished)
            secs = [v["seconds"] for v in c.finished if v.get("seconds") is not None]
            out[name] = LaneSample(
                by_stage=dict(Tally(v.state.stage.value for v in visits)), held=sum(1 for v in visits if v.state.held),
                queue=queue, devices={getattr(d, "name", "?"): bool(d.online) for d in c.devices.all_devices()},
                road_queue=c.queue.length, road_queue_wait=c.queue.expected_wait() if c.queue.length else 0.0,
                ended=ended, finished_by_outcome=dict(outcomes),
                visit_seconds_mean=sum(secs) / len(secs) if secs else None)
        for name in set(self._watched) - set(controllers):
            for watcher in self._watched.pop(name)[1]:
                watcher.remove()
        return out

    def _watch(self, name: str, c: Any) -> None:
        if name in self._watched and self._watched[name][0] is c:
            return
        for watcher in self._watched.pop(name, (None, []))[1]:
            watcher.remove()
        self._watched[name] = (c, [GateReactions(self.reaction, name, "entry", c.devices.entry_gate),
                                   GateReactions(self.reaction, name, "exit", c.devices.exit_gate)])

    def update(self, lanes: dict[str, LaneSample], database: bool, alerts: list[tuple[str, str, int]],
               journal: int) -> None:
        self.database_up.set(1 if database else 0)
        self.journal.set(journal)
        for gauge in (self.lane_driven, self.active, self.by_stage, self.held, self.queue, self.finished,
                      self.visit_seconds, self.device_up, self.alerts_open, self.road_queue, self.road_queue_wait):
            gauge.clear()  # a lane that moved to another controller is no longer reported here
        for lane, s in lanes.items():
            self.lane_driven.labels(lane).set(1)
            self.active.labels(lane).set(sum(s.by_stage.values()))
            for stage in OPEN_STAGES:
                self.by_stage.labels(lane, stage).set(s.by_stage.get(stage, 0))
            self.held.labels(lane).set(s.held)
            self.queue.labels(lane).set(s.queue)
            self.road_queue.labels(lane).set(s.road_queue)
            self.road_queue_wait.labels(lane).set(s.road_queue_wait)
            for dev, ok in s.devices.items():
                self.device_up.labels(lane, dev).set(1 if ok else 0)
            for outcome, n in s.finished_by_outcome.items():
                self.finished.labels(lane, outcome).set(n)
            if s.visit_seconds_mean is not None:
                self.visit_seconds.labels(lane).set(s.visit_seconds_mean)
            for level in ("warning", "critical"):
                self.alerts_open.labels(lane, level).set(0)
            # every series a dashboard draws exists from the lane's first scrape, at zero
            self.ended.labels(lane, "completed")
            self.visit_duration.labels(lane)
            for stage in OPEN_STAGES:
                self.stage_seconds.labels(lane, stage)
            for kind in REACTION_KINDS:
                self.reaction.labels(lane, kind)
            for summary in s.ended:
                self.ended.labels(lane, summary.get("outcome") or "unknown").inc()
                if summary.get("seconds") is not None:
                    self.visit_duration.labels(lane).observe(summary["seconds"])
                for stage, seconds in (summary.get("stages") or {}).items():
                    self.stage_seconds.labels(lane, stage).observe(seconds)
        for lane, level, n in alerts:
            if lane in lanes:
                self.alerts_open.labels(lane, level).set(n)

    async def exposition(self, controllers: Mapping[str, Any], store: Any) -> tuple[bytes, str]:
        """Sample, update and render: what ``GET /metrics`` answers (body, content type)."""
        lanes = self.sample(controllers)

        def from_database() -> tuple[bool, list[tuple[str, str, int]]]:
            up = store.ping()
            return up, (store.open_alerts() if up else [])

        database, alerts = await asyncio.to_thread(from_database)
        self.update(lanes, database, alerts, getattr(store, "journal_size", 0))
        self.writer_backlog.set(getattr(store, "writer_backlog", 0))
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
