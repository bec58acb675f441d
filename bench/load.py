"""``lajur bench load --lanes N [--seconds S] [--speed X] [--database-url URL] [--json]``: a site under
load, measured as its drivers feel it.

Separate processes, as a site runs them: the controller is ``lajur serve`` on a TOML file this
bench writes; the simulated hardware of the lanes, their drivers and the officers at the console
run in simulator processes of at most ``--lanes-per-sim`` lanes each (``bench.load_sim``: paho's
network loop uses ``select()``, so about 30 simulated lanes fill a process), at the same priority
as the controller; the broker is the site's own, secured as ``lajur broker config`` secures it (an
account per device, the generated ACL; or ``LAJUR_MQTT_URL``, anonymous); the database is a
SQLite file, or with ``--database-url postgresql+psycopg://…`` a scratch database created on that
server and dropped afterwards. This process only starts them, samples the controller's CPU and
memory every half second, and pools the figures.

Latency (``p50_ms`` … ``max_ms``, per kind under ``kinds``) is from the physical event at a
simulated device to that device receiving the command it causes, through every transport, the
broker and the database (:mod:`bench.load_probe` lists the kinds). Arrivals come for ``--seconds``
wall seconds (each lane its own Poisson process, ``--rate`` an hour), then the lanes drain for at
most ``--drain`` simulated seconds: ``visits_offered`` are the drivers who came, ``visits_finished``
those who left by the exit; an event still unanswered at the end counts with what it had waited.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.load_probe import pool
from bench.procstat import ProcessSampler

log = logging.getLogger("bench.load")
BENCH_RATE = 20.0
"""Arrivals per simulated hour per lane: about half of what one lane can serve (window 1 is the
bottleneck at ~90 s a vehicle), so a controller that keeps up finishes every visit it is offered."""
OFFICER = "bench-officer"
SITE = "bench"


def site_broker_for(workdir: Path, lanes: int) -> tuple[Any, Path]:
    """The site's own broker, secured as ``lajur broker config`` secures it (an account per device and
    per controller, the generated ACL): Mosquitto where installed, else the embedded broker reading
    the same files. Returns the (not yet started) broker and the credentials directory."""
    from devices.mqtt_access import site_accounts
    from devices.mqtt_secrets import CredentialsDir
    from simulators.broker import site_broker
    from simulators.site import simulated_mqtt_devices

    credentials = CredentialsDir(workdir / "credentials")
    accounts = site_accounts(SITE, {f"lane-{i}": simulated_mqtt_devices() for i in range(1, lanes + 1)})
    credentials.ensure(a.username for a in accounts)
    (workdir / "broker").mkdir()
    return site_broker(workdir / "broker", SITE, accounts, credentials), credentials.path


@contextlib.contextmanager
def scratch_database(url: str | None, workdir: Path, keep: bool = False) -> Iterator[str]:
    """SQLite in ``workdir`` by default; for a PostgreSQL URL, a new database on that server, dropped
    afterwards (unless ``keep``): a run never meets an earlier run's visits or lane leases."""
    if url is None:
        yield f"sqlite:///{workdir}/bench.db"
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    if not url.startswith("postgresql"):
        yield url
        return
    name = f"lajur_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        if not keep:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _controller_env(workdir: Path) -> dict[str, str]:
    """The environment of ``lajur serve``: the bench's TOML decides, so no ``LAJUR_*`` setting from the
    caller's shell (which beats a file) changes the site under test."""
    from lane.settings import Settings

    settings = {f"LAJUR_{name.upper()}" for name in Settings.model_fields}
    env = {k: v for k, v in os.environ.items() if k not in settings and not k.startswith(tuple(
        f"{s}__" for s in settings))}
    env.update(LAJUR_SECRET_KEY=uuid.uuid4().hex, PYTHONUNBUFFERED="1")
    return env


async def _readline(proc: subprocess.Popen[str], what: str, timeout: float) -> str:
    assert proc.stdout is not None
    line = await asyncio.wait_for(asyncio.get_running_loop().run_in_executor(None, proc.stdout.readline), timeout)
    if not line:
        raise RuntimeError(f"{what} ended without answering (exit {proc.poll()})")
    return line


async def _wait_ready(urls: list[str], lanes: int, procs: list[subprocess.Popen[bytes]], timeout: float) -> float:
    """Until every lane is leased (by one of the controllers) and every device online (``/readyz``);
    returns the seconds it took."""
    t0 = time.perf_counter()
    last = ""

    def ready(url: str) -> dict[str, Any]:
        req = urllib.request.Request(f"{url}/readyz")
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return json.load(r)
        except urllib.error.HTTPError as exc:  # 503 while the broker or database is not there
            return json.load(exc)

    while time.perf_counter() - t0 < timeout:
        for proc in procs:
            if proc.poll() is not None:
                raise RuntimeError(f"a controller exited with {proc.returncode}")
        try:
            bodies = [await asyncio.get_running_loop().run_in_executor(None, ready, url) for url in urls]
            leased = sum(len(b.get("devices", {})) for b in bodies)
            last = (f"{[b.get('status') for b in bodies]}, {leased} lanes, "
                    f"offline {[b.get('offline') for b in bodies]}")
            if all(b.get("status") == "ready" for b in bodies) and leased == lanes:
                return time.perf_counter() - t0
        except (OSError, ValueError):
            last = "not answering"
        await asyncio.sleep(0.5)
    raise RuntimeError(f"the controller was not ready after {timeout:.0f} s ({last})")


async def _unfinished(database_url: str, settle: float = 3.0) -> dict[str, int]:
    """Visits the controller still has open at the end, by stage and hold (where the lanes stalled),
    after ``settle`` seconds at most for the last ones to be written as ended."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    deadline = time.perf_counter() + settle
    try:
        while True:
            with engine.connect() as conn:
                rows = conn.execute(text("SELECT stage, held, COUNT(*) FROM visits WHERE ended_at IS NULL "
                                         "GROUP BY stage, held")).all()
            if not rows or time.perf_counter() > deadline:
                break
            await asyncio.sleep(0.2)
    finally:
        engine.dispose()
    return {stage + (f" (held: {held})" if held else ""): n for stage, held, n in rows}


async def _owners(database_url: str) -> dict[str, int]:
    """Lanes per lease holder at the end (after a kill: every lane with the survivor)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT owner, COUNT(*) FROM lanes GROUP BY owner")).all()
    finally:
        engine.dispose()
    return {str(owner): n for owner, n in rows}


async def run(args: argparse.Namespace, writer: bool = True) -> dict[str, Any]:
    from api.accounts_cli import add_user
    from cli.run import poll_interval_for
    from lane.persistence import Store, upgrade_database
    from lane.settings import load_settings
    from simulators.ports import free_port
    from simulators.registry import RegistrySimulator
    from simulators.site import to_toml

    out = sys.stderr if args.json else sys.stdout
    task = asyncio.current_task()
    if task is not None:  # a stopped run still stops what it started (Ctrl-C does the same)
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    workdir = Path(tempfile.mkdtemp(prefix="lajur-bench-"))
    broker: Any = None
    credentials: Path | None = None
    registry = RegistrySimulator()
    children: list[subprocess.Popen[str]] = []
    controllers: list[subprocess.Popen[bytes]] = []
    samplers: list[ProcessSampler] = []
    killed_at: float | None = None
    try:
        mqtt_url = load_settings().mqtt_url  # an outside broker (LAJUR_MQTT_URL): anonymous
        if not mqtt_url:
            broker, credentials = site_broker_for(workdir, args.lanes)
            await broker.start()
            mqtt_url = broker.url
        with scratch_database(args.database_url, workdir, keep=args.keep_database) as db:
            upgrade_database(db)
            store = Store(db)
            password = "bench-" + uuid.uuid4().hex
            add_user(store, OFFICER, "officer", password)
            store.close()
            registry.start()
            ports = [free_port() for _ in range(args.controllers)]
            apis = [f"http://127.0.0.1:{port}" for port in ports]
            env = {**os.environ, "LAJUR_SIM_OFFICER_USER": OFFICER, "LAJUR_SIM_OFFICER_PASSWORD": password,
                   "PYTHONUNBUFFERED": "1"}
            t0 = time.perf_counter()
            first = 1
            while first <= args.lanes:
                n = min(args.lanes_per_sim, args.lanes - first + 1)
                children.append(subprocess.Popen(
                    [sys.executable, "-m", "bench.load_sim", "--first", str(first), "--lanes", str(n),
                     "--speed", str(args.speed), "--rate", str(args.rate), "--seconds", str(args.seconds),
                     "--drain", str(args.drain), "--seed", str(args.seed), "--nice", str(args.sim_nice),
                     "--mqtt", mqtt_url, "--registry", registry.url,
                     *[a for api in apis for a in ("--api", api)],
                     *(["--credentials", str(credentials)] if credentials else [])],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env))
                first += n
            lanes = []
            for child in children:
                lanes += json.loads(await _readline(child, "a simulator process", 120))["lanes"]
            names = [lane["name"] for lane in lanes]
            share = -(-len(names) // args.controllers)
            for i, port in enumerate(ports):
                site: dict[str, Any] = {"site": SITE, "database_url": db, "mqtt_url": mqtt_url,
                                        "registry_url": registry.url, "speed": args.speed, "host": "127.0.0.1",
                                        "port": port, "lanes": lanes, "database_writer": writer,
                                        "lease_seconds": args.lease_seconds}
                if args.controllers > 1:  # each takes its share; the others' only when left
                    site["preferred_lanes"] = names[i * share:(i + 1) * share]
                if credentials:
                    site["mqtt"] = {"credentials_dir": str(credentials)}
                config = workdir / f"lajur-{i + 1}.toml"
                config.write_text(to_toml(site), encoding="utf-8")
                with (workdir / f"serve-{i + 1}.log").open("wb") as serve_log:
                    controllers.append(subprocess.Popen(
                        [sys.executable, "-m", "lane", "serve", "--config", str(config)], cwd=workdir,
                        env=_controller_env(workdir), stdout=serve_log, stderr=subprocess.STDOUT))
            ready_s = await _wait_ready(apis, args.lanes, controllers, 60 + 2 * args.lanes + args.lease_seconds)
            print(f"{args.lanes} lanes up in {time.perf_counter() - t0:.1f} s ({len(controllers)} controller "
                  f"process(es) ready in {ready_s:.1f} s; {len(children)} simulator processes; broker {mqtt_url}; "
                  f"database {db.split(':', 1)[0]}; database writer {'on' if writer else 'off'})",
                  file=out, flush=True)
            load_start = os.getloadavg()
            samplers = [ProcessSampler(c.pid) for c in controllers]
            for sampler in samplers:
                sampler.start()
            t_go = time.perf_counter()
            for child in children:
                assert child.stdin is not None
                child.stdin.write("go\n")
                child.stdin.flush()
            wait = args.seconds + args.drain / args.speed + 60
            pending = [asyncio.ensure_future(_readline(child, "a simulator process", wait)) for child in children]
            if args.kill_after is not None and len(controllers) > 1:
                await asyncio.sleep(args.kill_after)
                controllers[-1].kill()  # SIGKILL mid-run: its lanes wait for their leases to expire
                killed_at = time.perf_counter() - t_go
                print(f"controller {len(controllers)} killed (SIGKILL) {killed_at:.1f} s into the run", file=out,
                      flush=True)
            reports = [json.loads(await line) for line in pending]
            wall = time.perf_counter() - t_go
            for sampler in samplers:
                await sampler.stop()
            load_end = os.getloadavg()
            # after the last driver left, the controller may still be writing the visit as ended
            all_left = not any(r["drivers_left_waiting"] for r in reports)
            unfinished = await _unfinished(db, settle=3.0 if all_left else 0.0)
            owners = await _owners(db)
            for controller in controllers:
                _stop(controller)
            for child in children:
                with contextlib.suppress(OSError):
                    assert child.stdin is not None
                    child.stdin.close()
            for child in children:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.wait(30)
    except BaseException:
        for log_file in sorted(workdir.glob("serve-*.log")):
            tail = log_file.read_text(errors="replace")[-3000:]
            print(f"--- {log_file.name} (last lines) ---\n{tail}", file=sys.stderr)
        raise
    finally:
        for controller in controllers:
            _stop(controller)
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait(10)
        registry.stop()
        if broker is not None:
            await broker.stop()
        if args.keep_workdir:
            print(f"work directory kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    result = _result(args, reports, samplers[0], wall, load_start, load_end, unfinished,
                     database=db.split(":", 1)[0].split("+", 1)[0], poll=poll_interval_for(args.speed),
                     simulators=len(children))
    result.update(database_writer=writer, controller_processes=len(controllers), lease_seconds=args.lease_seconds,
                  killed_at_seconds=None if killed_at is None else round(killed_at, 1), lane_owners_at_end=owners,
                  cards_printed_twice=sum(r.get("cards_printed_twice", 0) for r in reports),
                  charged_twice=sum(r.get("charged_twice", 0) for r in reports))
    if len(samplers) > 1:
        result["controllers"] = [s.figures() for s in samplers]
    return result


def _stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _result(args: argparse.Namespace, reports: list[dict[str, Any]], sampler: ProcessSampler, wall: float,
            load_start: tuple[float, ...], load_end: tuple[float, ...], unfinished: dict[str, int], *,
            database: str, poll: float, simulators: int) -> dict[str, Any]:
    latency = pool([r["latency"] for r in reports])
    offered = sum(r["visits_offered"] for r in reports)
    finished = sum(r["visits_finished"] for r in reports)
    sim_hours = max(r["simulated_seconds"] for r in reports) / 3600.0
    proc = sampler.figures()
    waiting: dict[str, int] = {}
    for r in reports:
        for where, n in r["drivers_left_waiting"].items():
            waiting[where] = waiting.get(where, 0) + n
    return {
        "database": database, "lanes": args.lanes, "speed": args.speed, "seconds": args.seconds,
        "rate_per_hour": args.rate, "drain_seconds": args.drain, "controller_processes": 1,
        "simulator_processes": simulators, "sim_nice": args.sim_nice, "gate_poll_ms": round(1000 * poll, 1),
        "loadavg_start": [round(x, 2) for x in load_start], "loadavg_end": [round(x, 2) for x in load_end],
        "wall_seconds": round(wall, 1),
        "visits_offered": offered, "visits_finished": finished,
        "finished_share": round(finished / offered, 3) if offered else None,
        "visits_per_hour": round(finished / sim_hours, 1) if sim_hours > 0 else 0.0,
        "latency_samples": latency["all"]["samples"], "unanswered": latency["all"]["unanswered"],
        "p50_ms": latency["all"]["p50_ms"], "p95_ms": latency["all"]["p95_ms"],
        "p99_ms": latency["all"]["p99_ms"], "max_ms": latency["all"]["max_ms"],
        "kinds": latency["kinds"],
        "cpu_percent": proc["cpu_percent"], "cpu_percent_peak": proc["cpu_percent_peak"],
        "cpu_percent_per_lane": round(proc["cpu_percent"] / args.lanes, 2),
        "rss_mb": proc["rss_mb"], "rss_mb_high_water": proc["rss_mb_high_water"],
        "rss_mb_per_lane": round(proc["rss_mb"] / args.lanes, 2), "controller_samples": proc["samples"],
        "simulators_cpu_percent": round(sum(r["cpu_percent"] for r in reports), 1),
        "unfinished": unfinished, "drivers_left_waiting": waiting,
        "registry_failures": sum(r["registry_failures"] for r in reports),
    }


def _print(result: dict[str, Any]) -> None:
    r = result
    print(f"{r['lanes']} lanes on {r['database']} at speed {r['speed']}, {r['seconds']} s of arrivals "
          f"({r['rate_per_hour']}/h a lane), {r['wall_seconds']} s wall; load average {r['loadavg_start']} -> "
          f"{r['loadavg_end']}")
    print(f"visits offered {r['visits_offered']}, finished {r['visits_finished']} ({r['finished_share']}); "
          f"{r['visits_per_hour']} per simulated hour; still open in the controller: {r['unfinished'] or 'none'}; "
          f"drivers who never left: {r['drivers_left_waiting'] or 'none'}")
    print(f"event -> command at the device: p50 {r['p50_ms']} ms, p95 {r['p95_ms']} ms, p99 {r['p99_ms']} ms, "
          f"max {r['max_ms']} ms ({r['latency_samples']} answered, {r['unanswered']} unanswered)")
    for kind, k in r["kinds"].items():
        aside = f", {k['set_aside']} set aside" if k["set_aside"] else ""
        print(f"  {kind:12} p50 {k['p50_ms']} p95 {k['p95_ms']} p99 {k['p99_ms']} max {k['max_ms']} ms "
              f"({k['samples']} answered, {k['unanswered']} unanswered{aside})")
    print(f"controller: CPU {r['cpu_percent']}% of a core (busiest half second {r['cpu_percent_peak']}%), "
          f"peak RSS {r['rss_mb']} MB ({r['rss_mb_per_lane']} MB a lane; high-water {r['rss_mb_high_water']} MB); "
          f"simulators {r['simulators_cpu_percent']}% (nice {r['sim_nice']}); gate poll {r['gate_poll_ms']} ms")
    for i, c in enumerate(r.get("controllers", [])):
        print(f"  controller {i + 1}: CPU {c['cpu_percent']}% (peak {c['cpu_percent_peak']}%), "
              f"peak RSS {c['rss_mb']} MB")
    if r.get("killed_at_seconds") is not None:
        print(f"controller {r['controller_processes']} killed at {r['killed_at_seconds']} s; lanes at the end by "
              f"lease holder: {r['lane_owners_at_end']}")
    print(f"cards printed twice {r['cards_printed_twice']}, visits charged twice {r['charged_twice']}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="lajur bench load", description=__doc__.split("\n\n")[0])
    ap.add_argument("--lanes", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=60.0, help="wall seconds of arrivals (default 60)")
    ap.add_argument("--speed", type=float, default=60.0, help="clock speed (60 = a simulated minute a second)")
    ap.add_argument("--rate", type=float, default=BENCH_RATE,
                    help=f"arrivals per simulated hour per lane (default {BENCH_RATE:g})")
    ap.add_argument("--drain", type=float, default=900.0,
                    help="simulated seconds the lanes may take to finish after arrivals stop (default 900)")
    ap.add_argument("--database-url", default=None,
                    help="PostgreSQL server (a scratch database is made there and dropped); default SQLite")
    ap.add_argument("--keep-database", action="store_true", help="keep the PostgreSQL scratch database")
    ap.add_argument("--keep-workdir", action="store_true", help="keep the TOML and the controller's log")
    ap.add_argument("--lanes-per-sim", type=int, default=16, help="lanes per simulator process (default 16)")
    ap.add_argument("--sim-nice", type=int, default=0,
                    help="niceness of the simulator processes (default 0: the controller's priority)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--database-writer", choices=("on", "off", "both"), default="on",
                    help="the store's writer thread (database_writer); both: off, then on, in one run, "
                         "printed side by side (default on)")
    ap.add_argument("--controllers", type=int, choices=(1, 2), default=1,
                    help="controller processes sharing the database and the broker, each preferring its "
                         "share of the lanes (default 1)")
    ap.add_argument("--kill-after", type=float, default=None,
                    help="with --controllers 2: SIGKILL the second this many wall seconds after the start; "
                         "the first takes its lanes over when their leases expire")
    ap.add_argument("--lease-seconds", type=float, default=15.0, help="lane lease (default 15 s, as a site)")
    ap.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = ap.parse_args(argv)
    if args.lanes < 1 or args.speed <= 0 or args.seconds <= 0 or args.lanes_per_sim < 1:
        ap.error("--lanes and --lanes-per-sim must be at least 1, --speed and --seconds positive")
    if args.kill_after is not None and args.controllers < 2:
        ap.error("--kill-after needs --controllers 2")
    if args.controllers > 1 and not (args.database_url or "").startswith("postgresql"):
        ap.error("--controllers 2 needs --database-url postgresql+psycopg://... (SQLite locks no rows: two "
                 "processes could both win a lease)")
    logging.basicConfig(level=logging.WARNING)
    if args.database_writer == "both":
        before = asyncio.run(run(args, writer=False))
        if not args.json:
            print("--- before: every commit on the event loop (database_writer = false) ---")
            _print(before)
        after = asyncio.run(run(args, writer=True))
        if args.json:
            print(json.dumps({"before": before, "after": after}), flush=True)
        else:
            print("--- after: the store's writer thread (database_writer = true) ---")
            _print(after)
        return 0
    result = asyncio.run(run(args, writer=args.database_writer == "on"))
    if args.json:
        print(json.dumps(result), flush=True)
    else:
        _print(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
