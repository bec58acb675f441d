"""The drivers' status pages, behind the routes: find a visit by its token, and keep guessers out.

A token is 128 random bits, so guessing one is hopeless; the limiter makes trying expensive anyway
and keeps a phone that reloads too eagerly from loading the lane: per client address, ``per_minute``
lookups a minute, and after ``misses`` unknown or expired tokens within ``window`` seconds every
lookup from that address waits until the window has passed. The token itself is never logged (the
request log and the metrics name the route, ``/s/{token}``, not the path).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lane.controller import LaneController
from lane.persistence import Store
from lane.settings import Settings
from lane.status import TOKEN, ended_status, expired, live_status


@dataclass
class _Client:
    lookups: deque[float] = field(default_factory=deque)
    misses: deque[float] = field(default_factory=deque)


class LookupLimiter:
    def __init__(self, per_minute: int = 60, misses: int = 10, window: float = 600.0, capacity: int = 10_000,
                 now: Callable[[], float] = time.monotonic) -> None:
        self.per_minute, self.misses, self.window, self.capacity, self.now = per_minute, misses, window, capacity, now
        self._clients: OrderedDict[str, _Client] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> int:
        """Seconds ``client`` must wait before its next lookup (0: go ahead; the lookup is counted)."""
        with self._lock:
            now = self.now()
            c = self._clients.pop(client, None) or _Client()
            self._clients[client] = c
            while len(self._clients) > self.capacity:
                self._clients.popitem(last=False)
            while c.lookups and c.lookups[0] <= now - 60.0:
                c.lookups.popleft()
            while c.misses and c.misses[0] <= now - self.window:
                c.misses.popleft()
            if len(c.misses) >= self.misses:
                return max(1, math.ceil(c.misses[0] + self.window - now))
            if len(c.lookups) >= self.per_minute:
                return max(1, math.ceil(c.lookups[0] + 60.0 - now))
            c.lookups.append(now)
            return 0

    def missed(self, client: str) -> None:
        with self._lock:
            c = self._clients.get(client)
            if c is not None:
                c.misses.append(self.now())


def find(token: str, controllers: dict[str, LaneController], store: Store, settings: Settings,
         lang: str, now: datetime) -> dict[str, Any] | None:
    """The status of the visit with ``token`` (None: no such token, or its link has expired)."""
    if not TOKEN.match(token):
        return None
    for ctl in controllers.values():
        for visit in ctl.visits.values():
            if visit.row.status_token == token:
                return live_status(ctl, visit, lang)
    row = store.visit_by_status_token(token)
    if row is None or expired(row, settings, now):
        return None
    return ended_status(row, settings, lang, now)
