"""Virtual drivers: they arrive, stop on the entry loop, tap their e-KTP, pay, pose for the camera,
and leave, acting only through the simulated devices and reading only what the displays say.

Each driver is a :class:`~simulators.people.Person` (some deliberately ineligible: expired SIM,
someone else's e-KTP, an old health certificate). Human step durations are drawn from log-normal
distributions in simulated seconds; arrivals are a Poisson process at a configurable rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from lane.aio import cancel_all
from lane.clock import Clock
from lane.ports import ChargeSummary, DisplayMessage, GatePosition, IdentityCard, PaymentOutcome, Signal
from lane.rules import normalise_plate
from simulators.camera import CameraSimulator
from simulators.gate_model import GateModel
from simulators.ledger import Ledger
from simulators.people import Person, make_nik, make_person
from simulators.site import SimulatedLane, SimulatedSite
from simulators.staff import Staff, serving

log = logging.getLogger(__name__)

PROBLEMS = ("expired", "nik_mismatch", "old_health")
MOVES = {"to_window_2": "window-2", "to_window_3": "window-3", "to_exit": "exit", "refused": "exit",
         "aborted": "exit", "declined": "exit"}
CONFIRM_SECONDS = 5.0
"""Simulated seconds an applicant takes to read their name, class and fee and press OK (fixed: a
drawn time would shift every later draw of the driver's own random numbers)."""


@dataclass(frozen=True)
class HumanTimes:
    """Median simulated seconds of each human step; each draw is log-normal with ``spread``."""

    drive_up: float = 4.0
    gate_pass: float = 4.0
    tap_ektp: float = 25.0
    pay: float = 40.0
    drive_between: float = 12.0
    capture: float = 70.0
    handover: float = 20.0
    spread: float = 0.3
    step_spread: dict[str, float] = field(default_factory=dict)
    """A step's own spread where it differs from ``spread`` (fitted from a site's history)."""

    def draw(self, rng: random.Random, step: str) -> float:
        median = getattr(self, step)
        return max(0.5, median * math.exp(rng.gauss(0.0, self.step_spread.get(step, self.spread))))


@dataclass
class VirtualDriver:
    number: int
    person: Person
    card: IdentityCard
    lane: str
    seed: int
    expected: str  # "completed" or the refusal problem
    position: str | None = None
    joined: float | None = None
    """When the car joined the queue on the road (a day's traffic; None: it drove straight up)."""
    arrived: float | None = None
    left: float | None = None
    declines: bool = False
    """Presses Cancel when the terminal asks to confirm name, class and fee (nothing is charged)."""
    draws: random.Random = field(init=False, repr=False)
    """The driver's own random numbers for the times of its steps (seeded by ``seed``)."""

    def __post_init__(self) -> None:
        self.draws = random.Random(self.seed * 7919 + 17)

    @property
    def plate(self) -> str:
        return self.person.plate


def make_driver(number: int, rng: random.Random, today: date, lane: str,
                refused_share: float | None = None) -> VirtualDriver:
    """Driver ``number``; every third one must be refused, or, with ``refused_share``, that share
    of drivers drawn at random."""
    if refused_share is None:
        problem = PROBLEMS[(number // 3 - 1) % len(PROBLEMS)] if number % 3 == 0 else None
    else:
        problem = rng.choice(PROBLEMS) if rng.random() < refused_share else None
    person = make_person(rng, today, problem=None if problem == "nik_mismatch" else problem)
    nik = person.nik
    birth = person.birth_date
    if problem == "nik_mismatch":  # hands over someone else's e-KTP
        birth = date(1980 + rng.randint(0, 20), rng.randint(1, 12), rng.randint(1, 28))
        nik = make_nik(rng, birth, False, ("33", "25", "01"))
    card = IdentityCard(nik=nik, name=person.name, birth_date=birth, sim_number=person.sim_number)
    return VirtualDriver(number, person, card, lane, seed=rng.randint(0, 10_000), expected=problem or "completed")


class LaneTraffic:
    """The physical lane as the drivers experience it: loops, cameras, windows, displays."""

    def __init__(self, lane: SimulatedLane, camera: CameraSimulator, clock: Clock, rng: random.Random,
                 times: HumanTimes, ledger: Ledger | None = None, staff: Staff | None = None) -> None:
        self.lane = lane
        self.staff = staff
        """Who serves which window (None: every window always has its officer at hand)."""
        self.ledger = ledger
        self.camera = camera
        self.clock = clock
        self.rng = rng
        self.times = times
        self.at: dict[str, VirtualDriver | None] = {s: None for s in ("entry", "window-1", "window-2", "window-3",
                                                                      "exit")}
        self._changed = asyncio.Condition()
        self._entry_lock = asyncio.Lock()
        self._exit_lock = asyncio.Lock()
        self._removers: list[Callable[[], None]] = []
        lane.card_reader.supplier = self._supply_card
        lane.payment.payer = self._pay
        lane.payment.confirmer = self._confirm
        lane.biometric.capturer = self._capture
        self._told: dict[str, str] = {}
        """plate -> where its driver was told to go; a person reads the sign when it lights up, so an
        instruction is remembered even if the next car's message replaces it a moment later."""
        for d in lane.displays.values():
            self._removers.append(d.add_listener(self._on_display))
        for g in (lane.entry_gate, lane.exit_gate):
            self._removers.append(g.add_listener(lambda _s: self._notify()))

    def close(self) -> None:
        for r in self._removers:
            r()

    def _notify(self) -> None:
        async def _n() -> None:
            async with self._changed:
                self._changed.notify_all()

        with contextlib.suppress(RuntimeError):
            asyncio.get_running_loop().create_task(_n())

    @property
    def entry_taken(self) -> bool:
        """A car is driving up to this lane's entry or stands on its loop."""
        return self._entry_lock.locked()

    def nudge(self) -> None:
        """Something outside the lane changed (a car joined the road): re-check who waits."""
        self._notify()

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Wait until ``predicate()`` holds, re-checked whenever something in the lane changes."""
        await self._wait(predicate)

    async def _wait(self, predicate: Callable[[], bool]) -> None:
        async with self._changed:
            while not predicate():
                with contextlib.suppress(TimeoutError):
                    # a change nobody announced is seen within five simulated seconds (half a
                    # wall second at most): at a day's speed, half a wall second is minutes
                    async with asyncio.timeout(min(0.5, self.clock.to_wall(5.0))):
                        await self._changed.wait()

    async def _sleep(self, step: str, driver: VirtualDriver) -> None:
        """The driver's own time for ``step``, drawn from the driver's own random numbers: the same
        car takes the same times whatever happens around it (scenarios of one day compare fairly)."""
        await self.clock.sleep(self.times.draw(driver.draws, step))

    # ------------------------------------------------------------ device hooks (a person at a window)
    async def _at_window(self, station: str) -> VirtualDriver:
        await self._wait(lambda: self.at[station] is not None)
        d = self.at[station]
        assert d is not None
        return d

    async def _supply_card(self) -> IdentityCard:
        d = await self._at_window("window-1")
        async with serving(self.staff, self.lane.name, "window-1"):
            await self._sleep("tap_ektp", d)
        return d.card

    async def _confirm(self, summary: ChargeSummary) -> bool:
        d = await self._at_window("window-1")
        await self.clock.sleep(CONFIRM_SECONDS)
        return not d.declines

    async def _pay(self, reference: str, amount: int) -> PaymentOutcome:
        d = await self._at_window("window-1")
        await self._sleep("pay", d)
        return PaymentOutcome.PAID

    async def _capture(self, renewal_id: str) -> None:
        d = await self._at_window("window-2")
        async with serving(self.staff, self.lane.name, "window-2"):
            await self._sleep("capture", d)

    # ------------------------------------------------------------ a drive through the lane
    def _display(self, station: str) -> DisplayMessage | None:
        d = self.lane.displays.get(station)
        return d.shown if d else None

    def _on_display(self, msg: DisplayMessage) -> None:
        if msg.signal is Signal.GREEN and msg.plate and msg.step in MOVES:
            self._told[normalise_plate(msg.plate)] = MOVES[msg.step]
        self._notify()

    def _told_to_move(self, driver: VirtualDriver) -> str | None:
        return self._told.get(normalise_plate(driver.plate))

    def _signalled(self, driver: VirtualDriver, station: str, step: str) -> bool:
        msg = self._display(station)
        return (msg is not None and msg.signal is Signal.GREEN and msg.step == step and bool(msg.plate)
                and normalise_plate(msg.plate or "") == normalise_plate(driver.plate))

    async def _pass_gate(self, gate: GateModel, driver: VirtualDriver, station: str, step: str) -> None:
        """Drive through only when the sign says so for this car and the boom is up (no tailgating)."""
        await self._wait(lambda: self._signalled(driver, station, step)
                         and gate.status.position is GatePosition.OPEN)
        await self._sleep("drive_up", driver)
        gate.set_safety(True)
        gate.set_presence(False)
        await self._sleep("gate_pass", driver)
        gate.set_safety(False)

    async def drive(self, driver: VirtualDriver) -> None:
        lane = self.lane.name
        async with self._entry_lock:
            await self._wait(lambda: self.at["entry"] is None and not self.lane.entry_gate.status.presence_loop)
            await self._sleep("drive_up", driver)  # rolls forward once the car ahead has gone
            driver.arrived = self.clock.monotonic()
            self.at["entry"] = driver
            driver.position = "entry"
            self.camera.show(lane, "entry-camera", driver.plate, driver.seed)
            self.lane.entry_gate.set_presence(True)
            await self._pass_gate(self.lane.entry_gate, driver, "entry", "enter")
            if self.ledger is not None:
                self.ledger.record(lane, "entry-gate", "vehicle_entered", plate=driver.plate)
            self.camera.clear(lane, "entry-camera")
            self.at["entry"] = None
            await self._arrive(driver, "window-1")
        while True:
            await self._wait(lambda: self._told_to_move(driver) is not None)
            target = self._told.pop(normalise_plate(driver.plate))
            self.at[driver.position or "window-1"] = None
            driver.position = None
            self._notify()
            await self._sleep("drive_between", driver)
            if target == "exit":
                break
            await self._arrive(driver, target)
        async with self._exit_lock:
            self.at["exit"] = driver
            driver.position = "exit"
            self.camera.show(lane, "exit-camera", driver.plate, driver.seed + 1)
            self.lane.exit_gate.set_presence(True)
            await self._pass_gate(self.lane.exit_gate, driver, "exit", "exit_open")
            if self.ledger is not None:
                self.ledger.record(lane, "exit-gate", "vehicle_left", plate=driver.plate)
            self.camera.clear(lane, "exit-camera")
            self.at["exit"] = None
            driver.left = self.clock.monotonic()
        self._notify()

    async def _arrive(self, driver: VirtualDriver, station: str) -> None:
        await self._wait(lambda: self.at[station] is None)
        self.at[station] = driver
        driver.position = station
        self._notify()


@dataclass
class TrafficSimulator:
    """Sends ``drivers`` virtual drivers (None: forever) to the lanes of a simulated site."""

    site: SimulatedSite
    clock: Clock
    drivers: int | None = None
    rate_per_hour: float = 30.0
    seed: int = 1
    times: HumanTimes = field(default_factory=HumanTimes)
    sent: list[VirtualDriver] = field(default_factory=list)
    independent_lanes: bool = False
    """False: at each arrival one driver comes to every lane at once (a demo's lanes move together).
    True: each lane has its own Poisson arrivals at ``rate_per_hour``, as separate lanes of a real site
    do (``lajur bench load``: a load test whose lanes all start a step in the same instant measures
    the burst, not the site)."""

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.lanes = {n: LaneTraffic(sl, self.site.camera, self.clock, random.Random(self.seed + i), self.times,
                                      self.site.ledger)
                      for i, (n, sl) in enumerate(self.site.lanes.items())}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._runner: asyncio.Task[None] | None = None

    def driver_at(self, lane: str, station: str) -> VirtualDriver | None:
        return self.lanes[lane].at.get(station)

    def start(self) -> None:
        self._runner = asyncio.create_task(self._arrivals(), name="traffic")

    async def _arrivals(self) -> None:
        names = list(self.lanes)
        number = 0
        today = self.clock.now().date()
        while self.drivers is None or number < self.drivers * 1:
            if self.independent_lanes:  # one site-wide Poisson process, thinned at random: one per lane
                await self.clock.sleep(self.rng.expovariate(len(names) * self.rate_per_hour / 3600.0))
                if self.drivers is not None and number >= self.drivers:
                    break
                number += 1
                self._send(make_driver(number, self.rng, today, self.rng.choice(names)))
                continue
            for lane in names:
                if self.drivers is not None and number >= self.drivers:
                    break
                number += 1
                self._send(make_driver(number, self.rng, today, lane))
            gap = self.rng.expovariate(self.rate_per_hour / 3600.0) if self.rate_per_hour > 0 else 0
            await self.clock.sleep(gap)

    def _send(self, driver: VirtualDriver) -> None:
        self.site.registry.add(driver.person)
        self.sent.append(driver)
        task = asyncio.create_task(self._drive(driver), name=f"driver-{driver.number}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _drive(self, driver: VirtualDriver) -> None:
        try:
            await self.lanes[driver.lane].drive(driver)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001
            log.exception("virtual driver %s crashed", driver.number)

    async def stop(self) -> None:
        await cancel_all([t for t in (self._runner, *self._tasks) if t])
        for lt in self.lanes.values():
            lt.close()


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="lajur sim traffic",
                                 description="Virtual drivers against a running `lajur sim site`: use "
                                             "`lajur sim site --drivers N` (traffic needs the site's devices "
                                             "in the same process).")
    ap.parse_args(argv)
    print("lajur sim traffic runs inside `lajur sim site --drivers N --speed X`; see --help", flush=True)
    return 0
