"""In-process publish/subscribe of lane events, for the live console and the demo summary.

Subscribers get a bounded queue; a slow subscriber loses its oldest events rather than slowing the
lane (the console re-reads the snapshot when it sees a gap).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class LaneEvent:
    lane: str
    kind: str  # visit | alert | device | audit
    data: dict[str, Any] = field(default_factory=dict)


class EventBus:
    def __init__(self, maxsize: int = 1000) -> None:
        self._subs: set[asyncio.Queue[LaneEvent]] = set()
        self._maxsize = maxsize

    def subscribe(self, queue: asyncio.Queue[LaneEvent] | None = None) -> asyncio.Queue[LaneEvent]:
        """A queue that receives every event from now on (``queue``: one shared with other buses)."""
        q: asyncio.Queue[LaneEvent] = queue if queue is not None else asyncio.Queue(self._maxsize)
        self._subs.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[LaneEvent]) -> None:
        self._subs.discard(q)

    def publish(self, event: LaneEvent) -> None:
        for q in list(self._subs):
            if q.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    q.get_nowait()
            q.put_nowait(event)
