"""A day's traffic: cars arrive on a profile's times, queue on the road, and drive up to whichever
lane's entry is free first.

The cars are the same virtual drivers as ``lajur demo``'s (:class:`~simulators.traffic.LaneTraffic`
drives each through the simulated devices, reading only the displays); what is added is the road
before the entry, where cars wait when every lane is full, and a sample of that queue every
simulated minute for the day's report.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from lane.aio import cancel_all
from lane.clock import Clock
from simulators.day import DayProfile
from simulators.site import SimulatedSite
from simulators.staff import Staff
from simulators.traffic import LaneTraffic, VirtualDriver, make_driver

log = logging.getLogger(__name__)

SAMPLE_SECONDS = 60.0


@dataclass
class RoadSample:
    at: float
    """Simulated seconds since opening."""
    on_road: int
    """Cars that joined the queue and are not yet on an entry loop."""
    in_lanes: int


@dataclass
class DayTraffic:
    site: SimulatedSite
    clock: Clock
    profile: DayProfile
    staff: Staff
    seed: int = 1
    drivers: list[VirtualDriver] = field(default_factory=list)
    samples: list[RoadSample] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.lanes = {name: LaneTraffic(sl, self.site.camera, self.clock, random.Random(self.seed * 100 + i),
                                        self.profile.times, self.site.ledger, self.staff)
                      for i, (name, sl) in enumerate(self.site.lanes.items())}
        self.road: deque[VirtualDriver] = deque()
        self.opened = 0.0
        self.arrivals_done = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------ what the report reads
    @property
    def on_road(self) -> int:
        return sum(1 for d in self.drivers if d.arrived is None)

    @property
    def done(self) -> bool:
        """Every car of the day has arrived and left."""
        return self.arrivals_done.is_set() and all(d.left is not None for d in self.drivers)

    def driver_at(self, lane: str, station: str) -> VirtualDriver | None:
        return self.lanes[lane].at.get(station)

    # ------------------------------------------------------------ running
    def start(self) -> None:
        self.opened = self.clock.monotonic()
        self._spawn(self._arrivals(), "arrivals")
        self._spawn(self._sample(), "road-sampler")
        for name, lt in self.lanes.items():
            self._spawn(self._dispatch(name, lt), f"road-{name}")

    async def stop(self) -> None:
        await cancel_all(list(self._tasks))
        for lt in self.lanes.values():
            lt.close()

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _arrivals(self) -> None:
        today = self.clock.now().date()
        for number, offset in enumerate(self.profile.arrival_offsets(self.seed), start=1):
            wait = offset - (self.clock.monotonic() - self.opened)
            if wait > 0:
                await self.clock.sleep(wait)
            driver = make_driver(number, self.rng, today, lane="", refused_share=self.profile.refused_share)
            self.site.registry.add(driver.person)
            driver.joined = self.clock.monotonic()
            self.drivers.append(driver)
            self.road.append(driver)
            for lt in self.lanes.values():
                lt.nudge()
        self.arrivals_done.set()

    async def _dispatch(self, name: str, lt: LaneTraffic) -> None:
        """The next car on the road takes this lane when its entry is free (first free, first taken)."""
        while True:
            await lt.wait_until(lambda: bool(self.road) and not lt.entry_taken)
            driver = self.road.popleft()
            driver.lane = name
            self._spawn(self._drive(lt, driver), f"driver-{driver.number}")
            await asyncio.sleep(0)  # the car takes the entry before this lane looks at the road again
            await lt.wait_until(lambda d=driver: lt.entry_taken or d.arrived is not None)

    async def _drive(self, lt: LaneTraffic, driver: VirtualDriver) -> None:
        try:
            await lt.drive(driver)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - one crashed car must not stop the day; logged
            log.exception("virtual driver %s crashed", driver.number)

    async def _sample(self) -> None:
        while True:
            in_lanes = sum(1 for d in self.drivers if d.arrived is not None and d.left is None)
            self.samples.append(RoadSample(round(self.clock.monotonic() - self.opened, 1), self.on_road, in_lanes))
            await self.clock.sleep(SAMPLE_SECONDS)
