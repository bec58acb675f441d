"""One simulator process of ``lajur bench load``: lanes ``--first`` .. ``--first + --lanes - 1``.

Every device of those lanes on its real transport (gates, card and receipt printers on
pseudo-terminals, the MQTT devices on the broker, cameras over HTTP), virtual drivers arriving at
each lane on its own (Poisson, ``--rate`` an hour), and virtual officers acting through the
controller's console API, as ``lajur sim site --drivers --api`` does. The controller runs in another
process (``lajur serve``) and is a black box here: this process times, at the devices, each physical
event and the command it causes (:mod:`bench.load_probe`).

Protocol with the parent (``bench.load``): one JSON line with :meth:`SimulatedSite.config` once the
devices are up; ``go`` on stdin starts the traffic; arrivals stop after ``--seconds`` and the lanes
drain for at most ``--drain`` simulated seconds; then one JSON line of results; then the process
waits for a line (or end of file) on stdin before it takes the devices down, so that the controller
is stopped first and never sees its devices vanish.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from bench.load_probe import DECISION_STEPS, LatencyLog
from lane.clock import ScaledClock
from lane.ports import GatePosition, GateStatus
from lane.settings import load_settings
from simulators.console_officer import ConsoleOfficer
from simulators.gate_model import GateModel
from simulators.ledger import Ledger
from simulators.people import Person
from simulators.registry import RegistrySimulator
from simulators.site import SimulatedSite
from simulators.traffic import LaneTraffic, TrafficSimulator

log = logging.getLogger("bench.load")


class ForwardingRegistry:
    """This process's registry simulator, whose new people are also added to the site's registry (the
    one the controller asks) by ``POST /v1/people``: the drivers are made here, the lookups happen there."""

    def __init__(self, local: RegistrySimulator, url: str) -> None:
        self.local = local
        self.site_url = url.rstrip("/")
        self._http: httpx.AsyncClient | None = None
        self._posts: set[asyncio.Task[Any]] = set()
        self.failed = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.local, name)

    def add(self, person: Person) -> None:
        self.local.add(person)
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=10.0)
        task = asyncio.get_running_loop().create_task(self._post(person))
        self._posts.add(task)
        task.add_done_callback(self._posts.discard)

    async def _post(self, person: Person) -> None:
        assert self._http is not None
        try:
            r = await self._http.post(f"{self.site_url}/v1/people", json=RegistrySimulator.person_body(person))
            r.raise_for_status()
        except httpx.HTTPError as exc:
            self.failed += 1
            log.warning("registry: a driver could not be added: %s", exc)

    async def close(self) -> None:
        if self._posts:
            await asyncio.gather(*self._posts, return_exceptions=True)
        if self._http is not None:
            await self._http.aclose()


class TimedOfficer(ConsoleOfficer):
    """A console officer who also tells the latency log when a plate had to be confirmed by hand: the
    entry gate of that arrival waited on a person, which is not the controller's latency."""

    def __init__(self, *args: Any, latency: LatencyLog, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.latency = latency

    async def _press(self, lane: str, visit_id: str, action: str) -> None:
        if action == "confirm_plate":
            self.latency.forget(lane, "entry_open")
        await super()._press(lane, visit_id, action)


def watch_gate(latency: LatencyLog, lane: str, gate: GateModel, side: str,
               may_enter: Callable[[], bool]) -> Callable[[], None]:
    """Loop edges (events) and the boom starting to move on a command (commands) of one gate.

    The model moves the moment it decodes an open or close frame, so the start of a movement is the
    command's arrival; a boom reversing because a vehicle drove under it while closing is the gate's
    own doing (safety loop occupied) and is not a command."""
    last = {"presence": gate.status.presence_loop, "safety": gate.status.safety_loop,
            "position": gate.status.position}

    def on_status(st: GateStatus) -> None:
        if st.presence_loop and not last["presence"] and may_enter():
            latency.event(lane, f"{side}_open")
        if last["safety"] and not st.safety_loop:
            latency.event(lane, f"{side}_close")
        if st.position is GatePosition.OPENING and last["position"] is not GatePosition.OPENING \
                and not st.safety_loop:
            latency.command(lane, f"{side}_open")
        if st.position is GatePosition.CLOSING and last["position"] is not GatePosition.CLOSING:
            latency.command(lane, f"{side}_close")
        last["presence"], last["safety"], last["position"] = st.presence_loop, st.safety_loop, st.position

    return gate.add_listener(on_status)


def watch_lane(latency: LatencyLog, lane: str, traffic: LaneTraffic) -> list[Callable[[], None]]:
    sl = traffic.lane

    def window_1_free() -> bool:  # else the entry gate waits for the vehicle ahead: queueing, not latency
        return traffic.at["window-1"] is None

    def on_window_1(message: Any) -> None:
        if message.step in DECISION_STEPS:
            latency.command(lane, "card_tap")

    return [watch_gate(latency, lane, sl.entry_gate, "entry", window_1_free),
            watch_gate(latency, lane, sl.exit_gate, "exit", lambda: True),
            sl.displays["window-1"].add_listener(on_window_1)]


def watch_ledger(latency: LatencyLog, ledger: Ledger) -> Callable[[], None]:
    def on_effect(entry: dict[str, Any]) -> None:
        effect = entry["effect"]
        if effect == "card_tapped":
            latency.event(entry["lane"], "card_tap")
        elif effect == "charge_made":
            latency.event(entry["lane"], "payment")
        elif effect == "receipt_printed" and entry.get("kind") == "receipt":
            latency.command(entry["lane"], "payment")

    return ledger.add_listener(on_effect)


async def _line(stdin: Any) -> str:
    return await asyncio.get_running_loop().run_in_executor(None, stdin.readline)


async def run(args: argparse.Namespace) -> int:
    with contextlib.suppress(OSError):
        os.nice(args.nice)
    clock = ScaledClock(args.speed)
    ledger = Ledger()
    sim = SimulatedSite(site=args.site, lanes=args.lanes, clock=clock, mqtt_url=args.mqtt, ledger=ledger,
                        credentials_dir=args.credentials)
    sim.lane_names = [f"lane-{i}" for i in range(args.first, args.first + args.lanes)]
    registry = ForwardingRegistry(sim.registry, args.registry)
    sim.registry = registry  # type: ignore[assignment]  # the same interface, forwarding its additions
    latency = LatencyLog()
    traffic: TrafficSimulator | None = None
    officers: list[TimedOfficer] = []
    removers: list[Callable[[], None]] = []
    try:
        await sim.start()
        print(json.dumps(sim.config()), flush=True)
        if (await _line(sys.stdin)).strip() != "go":
            return 1
        traffic = TrafficSimulator(sim, clock, rate_per_hour=args.rate, seed=args.seed + args.first,
                                   independent_lanes=True)
        for lane, lt in traffic.lanes.items():
            removers += watch_lane(latency, lane, lt)
        removers.append(watch_ledger(latency, ledger))
        t = traffic

        def plate_at_entry(lane: str) -> str | None:
            d = t.driver_at(lane, "entry")
            return d.plate if d else None

        # one officer at each controller's console: each sees the lanes its controller drives (after a
        # take-over, the survivor's console shows the dead one's lanes too)
        # the account bench load made on the controller's database (sim_officer_user / _password)
        settings = load_settings()
        secret = settings.sim_officer_password
        officers = [TimedOfficer(api, clock, plate_at_entry=plate_at_entry, seed=args.first + i, poll_seconds=0.5,
                                 lanes=sim.lane_names, latency=latency, username=settings.sim_officer_user,
                                 password=secret.get_secret_value() if secret else "")
                    for i, api in enumerate(args.api)]
        cpu0, wall0, sim0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter(), clock.monotonic()
        traffic.start()
        for officer in officers:
            officer.start()
        await asyncio.sleep(args.seconds)
        traffic.drivers = len(traffic.sent)  # no more arrivals; the lanes drain
        offered = len(traffic.sent)
        deadline = time.perf_counter() + clock.to_wall(args.drain)
        # until every driver has left and the last commands have reached their devices
        while (any(d.left is None for d in traffic.sent) or latency.pending) and time.perf_counter() < deadline:
            await asyncio.sleep(0.1)
        cpu1, wall1, sim1 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter(), clock.monotonic()
        cpu = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
        stuck: dict[str, int] = {}
        for d in traffic.sent:
            if d.left is None:
                where = d.position or "queue"
                stuck[where] = stuck.get(where, 0) + 1
                if d.position is not None:
                    log.warning("%s: driver %d (%s) still at %s when the run ended", d.lane, d.number, d.plate,
                                where)
        print(json.dumps({
            "first": args.first, "lanes": args.lanes, "visits_offered": offered,
            "visits_finished": sum(1 for d in traffic.sent if d.left is not None),
            "drivers_left_waiting": stuck, "latency": latency.report(),
            "wall_seconds": round(wall1 - wall0, 2), "simulated_seconds": round(sim1 - sim0, 1),
            "cpu_percent": round(100 * cpu / max(1e-9, wall1 - wall0), 1),
            "registry_failures": registry.failed, "officer_actions": sum(o.actions_sent for o in officers),
            **_twice(ledger),
        }), flush=True)
        await _line(sys.stdin)  # the parent stops the controller first
    finally:
        for remove in removers:
            remove()
        for officer in officers:
            await officer.stop()
        if traffic:
            await traffic.stop()
        await sim.stop()
        await registry.close()
    return 0


def _twice(ledger: Ledger) -> dict[str, int]:
    """What must never happen, from the devices' own ledger: a renewal's card printed twice, a visit
    charged twice (under one reference or two)."""
    cards = [e["renewal_id"] for e in ledger.effects("card_printed")]
    refs = [e["reference"] for e in ledger.effects("charge_made")]
    visits = [ref.rsplit("-fee-", 1)[0] for ref in set(refs)]
    return {"cards_printed_twice": len(cards) - len(set(cards)),
            "charged_twice": (len(refs) - len(set(refs))) + (len(visits) - len(set(visits)))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.load_sim", description=__doc__.split("\n\n")[0])
    ap.add_argument("--first", type=int, required=True)
    ap.add_argument("--lanes", type=int, required=True)
    ap.add_argument("--speed", type=float, required=True)
    ap.add_argument("--rate", type=float, required=True)
    ap.add_argument("--seconds", type=float, required=True, help="wall seconds of arrivals")
    ap.add_argument("--drain", type=float, required=True, help="simulated seconds the lanes may drain after")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--nice", type=int, default=0)
    ap.add_argument("--site", default="bench")
    ap.add_argument("--mqtt", required=True)
    ap.add_argument("--registry", required=True, help="the site's registry (the controller's)")
    ap.add_argument("--api", required=True, action="append",
                    help="a controller's console, for the virtual officers (once per controller process)")
    ap.add_argument("--credentials", type=Path, default=None, help="the site's MQTT secrets (a device each)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s sim %(levelname)s %(name)s: %(message)s")
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
