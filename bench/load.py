"""``lajur bench load --lanes N --speed X [--json]``: N simulated lanes driven by one controller process.

Everything runs in this process, as ``lajur demo`` does (SimulatedSite + Site + TrafficSimulator +
an in-process OfficerSimulator), on real transports: gates and printers on pseudo-terminals, the
MQTT devices on a broker (``LAJUR_MQTT_URL``, else a private Mosquitto on a free port when
installed, else the embedded broker), SQLite in a temporary directory.

Figures:

- ``p50_ms`` / ``p99_ms``: **event-to-command latency**, wall clock (``time.perf_counter``), over
  every gate reaction that waits for nobody: from the moment the controller's gate driver delivers a
  status in which the loop changed (the event) to the moment the controller sends the gate command
  it causes: exit safety loop cleared -> exit gate ``close``; entry safety loop cleared -> entry gate
  ``close``; and at the exit, the exit camera's plate read that matches the visit -> exit gate
  ``open`` (the arming loop's event causes a camera command, whose result causes the gate command).
  ``exit_open_via_camera_ms`` reports separately, not in p50/p99, the whole chain from the exit
  arming loop to the gate command, which includes fetching frames and reading the plate. Each includes what the controller
  does in between (persisting the transition and the idempotency record, display messages, the
  visit summary). It excludes the gate's polling period (the event is stamped when the status
  arrives) and the serial round trip of the command itself. The entry ``open`` is left out: it waits
  for window 1 to be free, which is queueing, not latency.
- ``visits_per_hour``: visits ended per *simulated* hour, all lanes together.
- ``cpu_percent`` (of one core) and ``rss_mb``: this whole process, which also runs every
  simulator, the broker client of each simulated device and the traffic, so they overstate the
  controller's own share; ``*_per_lane`` divide by N.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import logging
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("bench.load")
BENCH_RATE = 40.0  # arrivals per simulated hour per lane


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    k = min(len(s) - 1, max(0, int(round(q * (len(s) - 1)))))
    return s[k]


class LatencyProbe:
    """Stamps gate loop changes and the gate commands that follow them (see the module doc)."""

    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = {"exit_open": [], "exit_close": [], "entry_close": []}
        self.chains: list[float] = []  # exit arming loop -> exit open, plate read included

    def attach(self, gate: Any, name: str, camera: Any = None, expected_plate: Any = None) -> None:
        """``camera``/``expected_plate()``: the exit camera, and the plate of the visit at the exit; a
        read that does not match goes to an officer, whose time is not the controller's latency."""
        last = {"presence": gate.status.presence_loop, "safety": gate.status.safety_loop}
        pending: dict[str, float | None] = {"open": None, "close": None, "read": None}
        if camera is not None:
            original_read = camera.read_plate

            async def timed_read(**kwargs: Any) -> Any:
                result = await original_read(**kwargs)
                matched = result is not None and result.plate and result.plate == expected_plate()
                pending["read"] = time.perf_counter() if matched else None
                return result

            camera.read_plate = timed_read

        def on_status(_event: Any) -> None:
            st = gate.status
            now = time.perf_counter()
            if st.presence_loop and not last["presence"]:
                pending["open"] = now
            if last["safety"] and not st.safety_loop:
                pending["close"] = now
            last["presence"], last["safety"] = st.presence_loop, st.safety_loop

        gate.add_listener(on_status)
        original_open, original_close = gate.open, gate.close

        async def timed_open() -> None:
            t, r = pending["open"], pending["read"]
            if name == "exit-gate":
                now = time.perf_counter()
                if t is not None and (camera is None or r is not None):
                    self.chains.append(now - t)
                cause = r if camera is not None else t
                if cause is not None and (t is None or cause >= t):
                    self.samples["exit_open"].append(now - cause)
            pending["open"] = pending["read"] = None
            await original_open()

        async def timed_close() -> None:
            t = pending["close"]
            if t is not None:
                self.samples["exit_close" if name == "exit-gate" else "entry_close"].append(time.perf_counter() - t)
            pending["close"] = None
            await original_close()

        gate.open, gate.close = timed_open, timed_close

    def all(self) -> list[float]:
        return [x for v in self.samples.values() for x in v]


class GcPauses:
    """Times the garbage collector's pauses (they stop the event loop, so they add to latency)."""

    def __init__(self) -> None:
        self.pauses: list[tuple[int, float]] = []
        self._t0 = 0.0

    def __enter__(self) -> GcPauses:
        import gc

        gc.callbacks.append(self._cb)
        return self

    def __exit__(self, *exc: object) -> None:
        import gc

        gc.callbacks.remove(self._cb)

    def _cb(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
        else:
            self.pauses.append((info["generation"], time.perf_counter() - self._t0))

    def summary(self) -> dict[str, Any]:
        return {"collections": len(self.pauses),
                "max_ms": round(1000 * max((p for _, p in self.pauses), default=0.0), 2),
                "gen2": len([g for g, _ in self.pauses if g == 2]),
                "max_ms_by_generation": [round(1000 * max((p for g, p in self.pauses if g == gen), default=0.0), 2)
                                         for gen in range(3)]}


def _unfinished(site: Any) -> dict[str, int]:
    """Visits still open when the run ended, by stage and hold reason (where they were waiting)."""
    out: dict[str, int] = {}
    for ctl in site.controllers.values():
        for visit in ctl.visits.values():
            key = visit.state.stage.value + (f" (held: {visit.state.held})" if visit.state.held else "")
            out[key] = out.get(key, 0) + 1
            log.info("unfinished %s: %s plate %s (%.2f), entry shows %s, entry gate %s", visit.id, key,
                     visit.state.plate, visit.state.plate_confidence or 0.0, ctl.shown.get("entry"),
                     ctl.devices.entry_gate.status)
    return out


def _plate_at_exit(ctl: Any) -> Any:
    from lane.workflow import Station

    def plate() -> str | None:
        visit = ctl.visits.get(ctl.occupancy[Station.EXIT] or "")
        return visit.state.plate if visit else None

    return plate


class PrivateMosquitto:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="lajur-bench-mqtt-"))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        conf = self.dir / "mosquitto.conf"
        conf.write_text(f"listener {self.port} 127.0.0.1\nuser {getpass.getuser()}\nallow_anonymous true\n"
                        "max_queued_messages 10000\n")
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
                break
            time.sleep(0.05)
        self.url = f"mqtt://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def _mosquitto_available() -> bool:
    return bool(shutil.which("mosquitto")) or os.access("/usr/sbin/mosquitto", os.X_OK)


def _rss_mb() -> float:
    try:
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    except ImportError:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from cli.compose import Site
    from cli.run import poll_interval_for, settings_for_simulated_site
    from lane.clock import ScaledClock
    from lane.settings import load_settings
    from simulators.officer import OfficerSimulator
    from simulators.site import SimulatedSite
    from simulators.traffic import TrafficSimulator

    out = sys.stderr if args.json else sys.stdout
    workdir = Path(tempfile.mkdtemp(prefix="lajur-bench-"))
    mosquitto: PrivateMosquitto | None = None
    mqtt_url = os.environ.get("LAJUR_MQTT_URL")
    if not mqtt_url and _mosquitto_available():
        mosquitto = PrivateMosquitto()
        mqtt_url = mosquitto.url
    clock = ScaledClock(args.speed)
    sim = SimulatedSite(site="bench", lanes=args.lanes, clock=clock, mqtt_url=mqtt_url)
    site: Site | None = None
    traffic: TrafficSimulator | None = None
    officer: OfficerSimulator | None = None
    probe = LatencyProbe()
    finished: list[dict[str, Any]] = []
    target = args.drivers * args.lanes
    try:
        t0 = time.perf_counter()
        await sim.start()
        base = load_settings(database_url=f"sqlite:///{workdir}/bench.db")
        site = Site(settings_for_simulated_site(base, sim), clock, poll_interval=poll_interval_for(args.speed, base.gate_poll_interval))
        await site.start()
        print(f"{args.lanes} lanes up in {time.perf_counter() - t0:.1f} s (broker {sim.mqtt_url})", file=out,
              flush=True)
        for ctl in site.controllers.values():
            probe.attach(ctl.devices.entry_gate, "entry-gate")
            probe.attach(ctl.devices.exit_gate, "exit-gate",
                         ctl.devices.exit_camera if ctl.settings.timing.exit_plate_match else None,
                         _plate_at_exit(ctl))
            ctl.on_visit_finished.append(finished.append)
        traffic = TrafficSimulator(sim, clock, drivers=target, rate_per_hour=args.rate, seed=args.seed)
        traffic.start()
        t = traffic

        def plate_at_entry(lane: str) -> str | None:
            d = t.driver_at(lane, "entry")
            return d.plate if d else None

        s = site
        officer = OfficerSimulator(lambda lane: s.controllers[lane].act, site.bus, clock,
                                   plate_at_entry=plate_at_entry)
        officer.start()
        cpu0, wall0, sim0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter(), clock.monotonic()
        deadline = wall0 + args.seconds
        while len(finished) < target and time.perf_counter() < deadline:
            await asyncio.sleep(0.2)
        cpu1, wall1, sim1 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter(), clock.monotonic()
        rss = _rss_mb()
    finally:
        if officer:
            await officer.stop()
        if traffic:
            await traffic.stop()
        if site:
            await site.stop()
        await sim.stop()
        if mosquitto:
            mosquitto.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return _result(args, probe, finished, cpu0, cpu1, wall0, wall1, sim0, sim1, rss, mode="in-process")


async def run_child(args: argparse.Namespace) -> int:
    """One simulator process of a split run: lanes ``--first`` .. ``--first + --lanes - 1`` with their
    drivers, and virtual officers acting through the parent's console API."""
    from lane.clock import ScaledClock
    from simulators.console_officer import ConsoleOfficer
    from simulators.site import SimulatedSite
    from simulators.traffic import TrafficSimulator

    # The simulators stand in for hardware that has its own processors; on this one machine they
    # yield the CPU to the controller being measured rather than take turns with it.
    with contextlib.suppress(OSError):
        os.nice(args.sim_nice)
    clock = ScaledClock(args.speed)
    sim = SimulatedSite(site="bench", lanes=args.lanes, clock=clock, mqtt_url=args.mqtt)
    sim.lane_names = [f"lane-{i}" for i in range(args.first, args.first + args.lanes)]
    traffic: TrafficSimulator | None = None
    officer: ConsoleOfficer | None = None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    import signal

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await sim.start()
        print(json.dumps(sim.config()), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)  # "go" from the parent
        traffic = TrafficSimulator(sim, clock, drivers=args.drivers * args.lanes, rate_per_hour=args.rate,
                                   seed=args.seed + args.first)
        traffic.start()
        t = traffic

        def plate_at_entry(lane: str) -> str | None:
            d = t.driver_at(lane, "entry")
            return d.plate if d else None

        officer = ConsoleOfficer(args.api, clock, plate_at_entry=plate_at_entry, seed=args.first, poll_seconds=0.5)
        officer.start()
        await stop.wait()
    finally:
        if officer:
            await officer.stop()
        if traffic:
            await traffic.stop()
        await sim.stop()
    return 0


async def run_split(args: argparse.Namespace) -> dict[str, Any]:
    """The controller (Site, console API) in this process; the simulated lanes, their drivers and
    officers in child processes of at most ``--lanes-per-sim`` lanes each. paho's network loop uses
    select(), which cannot watch file descriptors above 1024, and a simulated lane needs about 32
    (four pseudo-terminals, eight broker clients), so 32 simulated lanes do not fit one process. It
    also keeps the CPU and memory figures the controller's own."""
    from api.accounts_cli import add_user
    from cli.compose import Site
    from cli.run import poll_interval_for
    from devices.registry.client import HttpLicenceRegistry
    from lane.clock import ScaledClock
    from lane.persistence import Store, upgrade_database
    from lane.settings import LaneConfig, load_settings
    from simulators.ports import free_port

    out = sys.stderr if args.json else sys.stdout
    workdir = Path(tempfile.mkdtemp(prefix="lajur-bench-"))
    mosquitto: PrivateMosquitto | None = None
    mqtt_url = os.environ.get("LAJUR_MQTT_URL")
    if not mqtt_url:
        mosquitto = PrivateMosquitto()
        mqtt_url = mosquitto.url
    db = f"sqlite:///{workdir}/bench.db"
    upgrade_database(db)
    store = Store(db)
    password = "bench-officer-" + os.urandom(4).hex()
    add_user(store, "bench-officer", "officer", password)
    store.close()
    port = free_port()
    env = {**os.environ, "LAJUR_SIM_OFFICER_USER": "bench-officer", "LAJUR_SIM_OFFICER_PASSWORD": password}
    children: list[subprocess.Popen[str]] = []
    clock = ScaledClock(args.speed)
    site: Site | None = None
    probe = LatencyProbe()
    gc_pauses = GcPauses()
    finished: list[dict[str, Any]] = []
    target = args.drivers * args.lanes
    extra_registries: list[Any] = []
    try:
        t0 = time.perf_counter()
        first = 1
        while first <= args.lanes:
            n = min(args.lanes_per_sim, args.lanes - first + 1)
            children.append(subprocess.Popen(
                [sys.executable, "-m", "bench.load", "--child", "--first", str(first), "--lanes", str(n),
                 "--speed", str(args.speed), "--drivers", str(args.drivers), "--rate", str(args.rate),
                 "--seed", str(args.seed), "--sim-nice", str(args.sim_nice), "--mqtt", mqtt_url, "--api", f"http://127.0.0.1:{port}"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env))
            first += n
        configs = []
        for child in children:
            assert child.stdout is not None
            line = await asyncio.get_running_loop().run_in_executor(None, child.stdout.readline)
            if not line:
                raise RuntimeError("a simulator process did not start")
            configs.append(json.loads(line))
        lanes = [LaneConfig.model_validate(lane) for cfg in configs for lane in cfg["lanes"]]
        base = load_settings(database_url=db)
        settings = base.model_copy(update={"mqtt_url": mqtt_url, "registry_url": configs[0]["registry_url"],
                                           "lanes": lanes, "site": "bench"})
        site = Site(settings, clock, poll_interval=poll_interval_for(args.speed, base.gate_poll_interval), instance="bench")
        await site.start()
        site.serve_api("127.0.0.1", port)
        # each simulator process keeps its own licence registry (its drivers are registered there)
        for cfg in configs[1:]:
            reg = HttpLicenceRegistry(cfg["registry_url"])
            extra_registries.append(reg)
            for lane in cfg["lanes"]:
                site.controllers[lane["name"]].devices.registry = reg
        for ctl in site.controllers.values():
            probe.attach(ctl.devices.entry_gate, "entry-gate")
            probe.attach(ctl.devices.exit_gate, "exit-gate",
                         ctl.devices.exit_camera if ctl.settings.timing.exit_plate_match else None,
                         _plate_at_exit(ctl))
            ctl.on_visit_finished.append(finished.append)
        print(f"{args.lanes} lanes up in {time.perf_counter() - t0:.1f} s ({len(children)} simulator processes, "
              f"broker {mqtt_url})", file=out, flush=True)
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        cpu0, wall0, sim0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter(), clock.monotonic()
        deadline = wall0 + args.seconds
        with gc_pauses:
            while len(finished) < target and time.perf_counter() < deadline:
                await asyncio.sleep(0.2)
        cpu1, wall1, sim1 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter(), clock.monotonic()
        rss = _rss_mb()
        unfinished = _unfinished(site)
    finally:
        for child in children:
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(20)
            except subprocess.TimeoutExpired:
                child.kill()
        for reg in extra_registries:
            with contextlib.suppress(Exception):
                await reg.close()
        if site:
            await site.stop()
        if mosquitto:
            mosquitto.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    result = _result(args, probe, finished, cpu0, cpu1, wall0, wall1, sim0, sim1, rss, mode="split")
    result["gc"] = gc_pauses.summary()
    result["unfinished"] = unfinished
    return result


def _result(args: argparse.Namespace, probe: LatencyProbe, finished: list[dict[str, Any]], cpu0: Any, cpu1: Any,
            wall0: float, wall1: float, sim0: float, sim1: float, rss: float, mode: str) -> dict[str, Any]:
    cpu_s = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
    cpu_pct = 100.0 * cpu_s / max(1e-9, wall1 - wall0)
    lat = probe.all()
    sim_hours = (sim1 - sim0) / 3600.0
    return {
        "mode": mode, "lanes": args.lanes, "speed": args.speed, "visits": len(finished),
        "sim_nice": args.sim_nice, "loadavg_1m": round(os.getloadavg()[0], 2),
        "wall_seconds": round(wall1 - wall0, 1), "latency_samples": len(lat),
        "p50_ms": round(1000 * (_percentile(lat, 0.50) or 0.0), 2),
        "p99_ms": round(1000 * (_percentile(lat, 0.99) or 0.0), 2),
        "max_ms": round(1000 * max(lat, default=0.0), 2),
        "by_kind_p99_ms": {k: round(1000 * (_percentile(v, 0.99) or 0.0), 2) for k, v in probe.samples.items()},
        "exit_open_via_camera_ms": {"p50": round(1000 * (_percentile(probe.chains, 0.50) or 0.0), 2),
                                    "p99": round(1000 * (_percentile(probe.chains, 0.99) or 0.0), 2)},
        "visits_per_hour": round(len(finished) / sim_hours, 1) if sim_hours > 0 else 0.0,
        "cpu_percent": round(cpu_pct, 1), "cpu_percent_per_lane": round(cpu_pct / args.lanes, 2),
        "rss_mb": round(rss, 1), "rss_mb_per_lane": round(rss / args.lanes, 2),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="lajur bench load", description=__doc__.split("\n\n")[0])
    ap.add_argument("--lanes", type=int, default=4)
    ap.add_argument("--speed", type=float, default=60.0, help="clock speed (60 = a simulated minute a second)")
    ap.add_argument("--drivers", type=int, default=3, help="virtual drivers per lane (default 3)")
    ap.add_argument("--rate", type=float, default=BENCH_RATE, help="arrivals per simulated hour per lane")
    ap.add_argument("--seconds", type=float, default=120.0, help="stop after this many wall seconds at most")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    ap.add_argument("--in-process", action="store_true",
                    help="simulators in this process too, as `lajur demo` (at most ~28 lanes: paho's select())")
    ap.add_argument("--lanes-per-sim", type=int, default=16, help="lanes per simulator process (default 16)")
    ap.add_argument("--sim-nice", type=int, default=10,
                    help="niceness of the simulator processes (default 10: the devices' own CPUs in a real lane)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--first", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--mqtt", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--api", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.lanes < 1 or args.speed <= 0:
        ap.error("--lanes must be at least 1 and --speed positive")
    logging.basicConfig(level=logging.ERROR)
    log.setLevel(logging.INFO)  # the bench's own diagnostics (visits left open) on stderr
    if args.child:
        return asyncio.run(run_child(args))
    result = asyncio.run(run(args) if args.in_process else run_split(args))
    if args.json:
        print(json.dumps(result), flush=True)
    else:
        print(f"lanes {result['lanes']} at speed {result['speed']} ({result['mode']}): {result['visits']} visits in "
              f"{result['wall_seconds']} s wall")
        print(f"event-to-command latency: p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms "
              f"(max {result['max_ms']} ms, {result['latency_samples']} samples; p99 by kind {result['by_kind_p99_ms']})")
        print(f"visits per simulated hour: {result['visits_per_hour']}")
        print(f"CPU {result['cpu_percent']}% of a core ({result['cpu_percent_per_lane']}% per lane), "
              f"RSS {result['rss_mb']} MB ({result['rss_mb_per_lane']} MB per lane)")
        if "gc" in result:
            print(f"garbage collector: {result['gc']['collections']} collections, longest pause "
                  f"{result['gc']['max_ms']} ms; machine load (1 min) {result['loadavg_1m']}, simulators at nice "
                  f"{result['sim_nice']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
