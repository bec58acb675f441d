"""``lajur twin``: a simulated day before opening, through the real controller and simulators.

Each scenario is a whole day of one profile's arrivals, run like ``lajur demo`` runs a site (every
device simulated on its real transport, the lane controllers of :class:`cli.compose.Site`, virtual
drivers and officers) on a fast clock, in a database of its own (the site's is only read, for
``--history``). The scenarios differ in one thing each: a second card printer, one lane more, one
officer fewer. :mod:`cli.twin_report` turns the runs into figures, a table and a page of charts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from cli.compose import Site
from cli.run import poll_interval_for, settings_for_simulated_site
from lane.clock import ScaledClock
from lane.errors import ConfigError
from lane.i18n import N_
from lane.settings import Settings, load_settings
from simulators.broker import EmbeddedBroker
from simulators.day import PROFILE_HELP, DayProfile, load_profile
from simulators.officer import OfficerSimulator
from simulators.road import DayTraffic
from simulators.site import SimulatedSite
from simulators.staff import Staff

log = logging.getLogger(__name__)

SLIP_WARNING = 1.0
"""Simulated seconds of loop lateness (p90) above which the figures are flagged as overstated."""
OVERTIME_HOURS = 4.0
"""How long after the last arrivals a day may run on to serve the cars still waiting."""


@dataclass(frozen=True)
class Scenario:
    name: str
    label: str
    extra_lanes: int = 0
    card_printers: int = 1
    shared_windows: tuple[str, ...] = ()
    """Windows one officer serves together (one officer fewer a lane)."""

    def staff(self, profile: DayProfile) -> dict[str, str]:
        if not self.shared_windows:
            return dict(profile.staff)
        first = profile.staff[self.shared_windows[0]]
        return {**profile.staff, **{w: first for w in self.shared_windows}}


SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    Scenario("baseline", N_("the site as it is")),
    Scenario("printer+1", N_("a second card printer in each lane"), card_printers=2),
    Scenario("lane+1", N_("one lane more"), extra_lanes=1),
    Scenario("officer-1", N_("one officer fewer: one officer serves windows 2 and 3"),
             shared_windows=("window-2", "window-3")),
)}


class ClockSlip:
    """How late the event loop wakes, in simulated seconds: every step of the controller takes a few
    wall milliseconds, which the fast clock multiplies. When the machine is busy (other work on its
    cores) this grows and the day looks slower than it would be; the report says so."""

    INTERVAL = 0.02

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self.lags: list[float] = []

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            t = loop.time()
            await asyncio.sleep(self.INTERVAL)
            self.lags.append(max(0.0, loop.time() - t - self.INTERVAL))

    def p90_simulated(self) -> float:
        if not self.lags:
            return 0.0
        xs = sorted(self.lags)
        return round(xs[int(0.9 * (len(xs) - 1))] * self.speed, 2)


@dataclass
class DayRun:
    """What one scenario's day did, in simulated seconds since opening."""

    scenario: Scenario
    lanes: int
    officers_per_lane: int
    cars: list[dict[str, Any]] = field(default_factory=list)
    road: list[tuple[float, int, int]] = field(default_factory=list)
    wall_seconds: float = 0.0
    ended_at: float = 0.0
    slip_p90: float = 0.0
    """Simulated seconds the event loop woke late (90th percentile): see :class:`ClockSlip`."""

    def to_json(self) -> dict[str, Any]:
        return {"scenario": self.scenario.name, "label": self.scenario.label, "lanes": self.lanes,
                "officers_per_lane": self.officers_per_lane, "card_printers": self.scenario.card_printers,
                "cars": self.cars, "road": self.road, "wall_seconds": round(self.wall_seconds, 1),
                "ended_at": round(self.ended_at, 1), "slip_p90": self.slip_p90}


def opening(profile: DayProfile, day: date, settings: Settings) -> datetime:
    """The day's opening hour at the site, as an aware datetime."""
    return datetime(day.year, day.month, day.day, profile.opens, tzinfo=ZoneInfo(settings.timezone))


async def run_day(profile: DayProfile, scenario: Scenario, base: Settings, *, lanes: int, speed: float,
                  seed: int, day: date, workdir: Path) -> DayRun:
    """One scenario's whole day: returns when every car has left, or at the end of the overtime."""
    clock = ScaledClock(speed, start=opening(profile, day, base))
    n_lanes = lanes + scenario.extra_lanes
    broker = EmbeddedBroker(port=0)
    await broker.start()
    sim = SimulatedSite(site=base.site, lanes=n_lanes, clock=clock, mqtt_url=broker.url,
                        gate_seconds=profile.gate_seconds, print_seconds=profile.print_seconds,
                        card_printers=scenario.card_printers)
    site: Site | None = None
    traffic: DayTraffic | None = None
    officer: OfficerSimulator | None = None
    finished: list[dict[str, Any]] = []
    staff = Staff(clock, scenario.staff(profile))
    run = DayRun(scenario, n_lanes, staff.officers)
    started = time.monotonic()
    slip = ClockSlip(speed)
    slip_task = asyncio.create_task(slip.run(), name="clock-slip")
    try:
        await sim.start()
        db = workdir / f"twin-{scenario.name}.db"
        settings = settings_for_simulated_site(base.model_copy(update={"database_url": f"sqlite:///{db}"}), sim)
        site = Site(settings, clock, poll_interval=poll_interval_for(speed, settings.gate_poll_interval))
        await site.start()
        for ctl in site.controllers.values():
            ctl.on_visit_finished.append(finished.append)
        traffic = DayTraffic(sim, clock, profile, staff, seed=seed)
        t = traffic

        async def hand_over(lane: str) -> None:
            driver = t.driver_at(lane, "window-3")
            async with staff.serving(lane, "window-3"):
                await clock.sleep(profile.times.draw(driver.draws if driver else t.rng, "handover"))

        def plate_at_entry(lane: str) -> str | None:
            d = t.driver_at(lane, "entry")
            return d.plate if d else None

        officer = OfficerSimulator(lambda lane: site.controllers[lane].act, site.bus, clock,
                                   plate_at_entry=plate_at_entry, hand_over=hand_over)
        officer.start()
        traffic.start()
        deadline = (profile.closes - profile.opens + OVERTIME_HOURS) * 3600.0
        def day_over() -> bool:  # every car left, and the controllers closed every visit
            return t.done and not any(ctl.visits for ctl in site.controllers.values())

        while not day_over() and clock.monotonic() - traffic.opened < deadline:
            await clock.sleep(30.0)
        run.ended_at = clock.monotonic() - traffic.opened
    finally:
        slip_task.cancel()
        if officer:
            await officer.stop()
        if traffic:
            await traffic.stop()
        if site:
            await site.stop()
        await sim.stop()
        await broker.stop()
    run.wall_seconds = time.monotonic() - started
    run.slip_p90 = slip.p90_simulated()
    run.cars = cars_of(traffic, finished)
    run.road = [(s.at, s.on_road, s.in_lanes) for s in traffic.samples]
    return run


def cars_of(traffic: DayTraffic, finished: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every car of the day: when it joined the road, entered, left (seconds since opening), and the
    controller's visit (outcome, seconds from the entry loop) where it had one. Nobody overtakes in a
    lane, so a lane's visits in the order they started are its cars in the order they entered."""
    visits: dict[str, list[dict[str, Any]]] = {}
    for v in sorted(finished, key=lambda v: v["started"]):
        visits.setdefault(v["lane"], []).append(v)
    entered: dict[str, list[Any]] = {}
    for d in sorted((d for d in traffic.drivers if d.arrived is not None), key=lambda d: d.arrived):
        entered.setdefault(d.lane, []).append(d)
    visit_of = {id(d): v for lane, ds in entered.items() for d, v in zip(ds, visits.get(lane, []), strict=False)}
    t0 = traffic.opened

    def rel(x: float | None) -> float | None:
        return None if x is None else round(x - t0, 1)

    cars = []
    for d in traffic.drivers:
        visit = visit_of.get(id(d))
        cars.append({"joined": rel(d.joined), "entered": rel(d.arrived), "left": rel(d.left), "lane": d.lane or None,
                     "expected": d.expected, "outcome": visit["outcome"] if visit else None,
                     "reason": visit["reason"] if visit else None,
                     "visit_seconds": visit["seconds"] if visit else None,
                     "stages": visit["stages"] if visit else {}})
    return cars


def add_arguments(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--profile", metavar="FILE", help="the day's arrivals per hour (.csv or .toml; see below)")
    src.add_argument("--history", action="store_true",
                     help="the site's own history from its database (--config): arrivals per hour and step times")
    p.add_argument("--config", default=None, help="the site's TOML settings (time zone, rules, database)")
    p.add_argument("--days", type=int, default=20, help="with --history: the last N days with visits (default 20)")
    p.add_argument("--lanes", type=int, default=1, help="lanes the site has today (default 1)")
    p.add_argument("--scenarios", default=",".join(SCENARIOS),
                   help=f"comma-separated, from: {', '.join(SCENARIOS)} (default: all)")
    p.add_argument("--speed", type=float, default=100.0,
                   help="clock speed (default 100: a 7-hour day in about 5 minutes a scenario; faster runs "
                        "overstate waits when the machine cannot keep up, which the output says)")
    p.add_argument("--seed", type=int, default=1, help="random seed: the same arrivals in every scenario")
    p.add_argument("--date", type=date.fromisoformat, default=None, help="the simulated day (default tomorrow)")
    p.add_argument("--out", default="var/twin", help="directory for twin.html and twin.json (default var/twin)")
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object as the last line")
    p.add_argument("--lang", choices=("id", "en"), default="id", help="language of twin.html (default id)")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lajur twin", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="A simulated day before opening: a whole day of arrivals through the real lane controller "
                    "and the device simulators on a fast clock, once per scenario, compared side by side "
                    "(throughput per hour, cars waiting on the road, p95 from the entry and from joining the "
                    "queue). Writes OUT/twin.html (charts) and OUT/twin.json.",
        epilog=PROFILE_HELP)
    add_arguments(p)
    return p


def scenarios_from(text: str) -> list[Scenario]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown or not names:
        raise ConfigError(f"unknown scenario(s) {unknown}; scenarios: {', '.join(SCENARIOS)}")
    return [SCENARIOS[n] for n in dict.fromkeys(names)]


def profile_for(args: argparse.Namespace, settings: Settings) -> DayProfile:
    if args.profile:
        return load_profile(args.profile)
    from simulators.history import profile_from_history

    return profile_from_history(settings, days=args.days)


async def run_twin(args: argparse.Namespace) -> int:
    from cli.twin_report import figures, render_html, render_text

    if args.lanes < 1 or args.speed <= 0 or args.days < 1:
        raise ConfigError("--lanes and --days are 1 or more, --speed more than 0")
    settings = load_settings(args.config)
    profile = profile_for(args, settings)
    scenarios = scenarios_from(args.scenarios)
    day = args.date or (datetime.now(ZoneInfo(settings.timezone)).date() + timedelta(days=1))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    say = sys.stderr if args.json else sys.stdout
    print(f"lajur twin: {profile.name}: {profile.expected_cars:.0f} cars expected {profile.opens:02d}:00-"
          f"{profile.closes:02d}:00 on {day:%d/%m/%Y}, {args.lanes} lane(s), {len(scenarios)} scenario(s) "
          f"at {args.speed:g}x", file=say, flush=True)
    runs = []
    with tempfile.TemporaryDirectory(prefix="lajur-twin-") as tmp:
        for scenario in scenarios:
            run = await run_day(profile, scenario, settings, lanes=args.lanes, speed=args.speed, seed=args.seed,
                                day=day, workdir=Path(tmp))
            print(f"  {scenario.name}: {sum(1 for c in run.cars if c['left'] is not None)}/{len(run.cars)} cars "
                  f"served in {run.wall_seconds:.0f} s wall; the loop woke up to {run.slip_p90:g} simulated s "
                  f"late (p90)", file=say, flush=True)
            if run.slip_p90 > SLIP_WARNING:
                print(f"  warning: the machine was too busy for {args.speed:g}x: every step took up to "
                      f"{run.slip_p90:g} simulated seconds more than it would, so waits are overstated; "
                      f"run again with a lower --speed or on a quieter machine", file=say, flush=True)
            runs.append(run)
    result = figures(profile, runs, settings, day)
    (out / "twin.json").write_text(json.dumps({**result, "runs": [r.to_json() for r in runs]}, indent=1),
                                   encoding="utf-8")
    (out / "twin.html").write_text(render_html(result, args.lang), encoding="utf-8")
    print(render_text(result), file=say, flush=True)
    print(f"charts: {out / 'twin.html'}  data: {out / 'twin.json'}", file=say, flush=True)
    if args.json:
        print(json.dumps(result), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    # A simulated day raises the alerts a real one would (over budget, ...): the report shows what
    # they mean, so only errors reach the terminal.
    logging.basicConfig(level=logging.ERROR, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return asyncio.run(run_twin(args))
    except ConfigError as exc:
        print(f"lajur twin: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130

