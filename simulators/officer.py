"""Virtual officers: they confirm unreadable plates (they can see the car), hand over printed cards
after a human delay, retry a held step once the technician has fixed the device, and answer a gate's
watchdog (a passage the loops did not show) as an officer looking at the lane would: the car went
through, the step is done by hand.

They act through a callable with the signature of ``LaneController.act`` (in-process) or an HTTP
client of the console API, so the same officer drives a demo and a cross-process site.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

from lane.aio import cancel_all
from lane.clock import Clock
from lane.events import EventBus, LaneEvent

log = logging.getLogger(__name__)

Act = Callable[..., Awaitable[Any]]
PlateLookup = Callable[[str], str | None]
"""lane -> plate of the vehicle on that lane's entry loop (what the officer sees)."""


class OfficerSimulator:
    def __init__(self, act: Callable[[str], Act], bus: EventBus, clock: Clock, *, plate_at_entry: PlateLookup,
                 seed: int = 7, handover_seconds: float = 20.0, name: str = "officer-sim",
                 hand_over: Callable[[str], Awaitable[None]] | None = None) -> None:
        self.act_for = act
        self.hand_over_work = hand_over
        """lane -> the officer's work at window 3 before pressing "handed over" (default: a pause
        around ``handover_seconds``); a day's simulation passes one that waits for the officer."""
        self.bus = bus
        self.clock = clock
        self.plate_at_entry = plate_at_entry
        self.rng = random.Random(seed)
        self.handover_seconds = handover_seconds
        self.name = name
        self._handled: set[tuple[str, str]] = set()
        self._cleared: set[tuple[str | None, str | None]] = set()
        """(visit, gate) of watchdog alerts that cleared by themselves."""
        self._tasks: set[asyncio.Task[Any]] = set()
        self._runner: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._queue = self.bus.subscribe()
        self._runner = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        await cancel_all([t for t in (self._runner, *self._tasks) if t])
        self.bus.unsubscribe(self._queue)

    async def _run(self) -> None:
        while True:
            ev: LaneEvent = await self._queue.get()
            if ev.kind == "visit" and ev.data.get("stage") == "handing_over":
                self._once(ev.lane, ev.data["id"], "handed_over", self._hand_over(ev.lane, ev.data["id"]))
            elif ev.kind == "alert" and ev.data.get("kind") == "plate_unconfirmed" and ev.data.get("visit_id"):
                self._once(ev.lane, ev.data["visit_id"], "plate", self._confirm_plate(ev.lane, ev.data["visit_id"]))
            elif ev.kind == "alert_cleared" and ev.data.get("kind") == "watchdog":
                self._cleared.add((ev.data.get("visit_id"), ev.data.get("cause")))
            elif ev.kind == "alert" and ev.data.get("kind") == "watchdog" and ev.data.get("visit_id"):
                self._cleared.discard((ev.data["visit_id"], ev.data.get("cause")))
                self._once(ev.lane, ev.data["visit_id"], f"watchdog {ev.data.get('cause')}",
                           self._saw_it_pass(ev.lane, ev.data["visit_id"], ev.data.get("cause")))

    def _once(self, lane: str, visit_id: str, what: str, coro: Awaitable[Any]) -> None:
        key = (visit_id, what)
        if key in self._handled:
            coro.close()  # type: ignore[attr-defined]
            return
        self._handled.add(key)
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _hand_over(self, lane: str, visit_id: str) -> None:
        if self.hand_over_work is not None:
            await self.hand_over_work(lane)
        else:
            await self.clock.sleep(self.handover_seconds * self.rng.uniform(0.7, 1.4))
        await self._act(lane, "handed_over", visit_id=visit_id)

    async def _confirm_plate(self, lane: str, visit_id: str) -> None:
        await self.clock.sleep(self.rng.uniform(5, 15))
        plate = self.plate_at_entry(lane)
        if plate:
            await self._act(lane, "confirm_plate", visit_id=visit_id, plate=plate,
                            reason="plate checked by eye")

    async def _saw_it_pass(self, lane: str, visit_id: str, gate: str | None) -> None:
        await self.clock.sleep(self.rng.uniform(15, 40))  # walks over, looks at the lane and the camera
        if (visit_id, gate) in self._cleared:
            return  # the lane saw it meanwhile
        await self._act(lane, "take_over", visit_id=visit_id, reason="checked the lane: the vehicle went through")

    async def _act(self, lane: str, action: str, **kw: Any) -> None:
        try:
            await self.act_for(lane)(action, actor=self.name, role="officer", **kw)
        except Exception as exc:  # noqa: BLE001 - a virtual officer logs and carries on like a person
            log.warning("%s: %s on %s failed: %s", self.name, action, kw.get("visit_id"), exc)
