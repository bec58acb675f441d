"""What the long-running commands do: ``demo``, ``serve`` and ``sim site``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import socket
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from cli.broker import watch_command
from cli.compose import Site
from lane.clock import ScaledClock, SystemClock
from lane.commands import Actor, VehicleLeft
from lane.errors import ConfigError
from lane.settings import LaneConfig, MqttSettings, Settings, load_settings
from simulators.ledger import Ledger
from simulators.officer import OfficerSimulator
from simulators.ports import check_bindable
from simulators.site import SimulatedSite
from simulators.traffic import TrafficSimulator


def _stop_event() -> asyncio.Event:
    ev = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, ev.set)
    return ev


def poll_interval_for(speed: float, configured: float | None = None) -> float:
    """The gate poll period: the configured one (``gate_poll_interval``), else 100 ms as real gates
    are polled, faster in a speeded-up demo so a simulated second of gate movement is still seen
    (bounded at 10 ms to keep the serial lines sane)."""
    if configured is not None:
        return configured
    return max(0.01, min(0.1, 2.0 / max(speed, 1.0)))


def settings_for_simulated_site(base: Settings, sim: SimulatedSite) -> Settings:
    cfg = sim.config()
    lanes = [LaneConfig.model_validate(lane) for lane in cfg["lanes"]]
    mqtt = MqttSettings.model_validate({**base.mqtt.model_dump(), **cfg.get("mqtt", {})})
    return base.model_copy(update={"mqtt_url": cfg["mqtt_url"], "registry_url": cfg["registry_url"],
                                   "lanes": lanes, "site": cfg["site"], "mqtt": mqtt})


def simulated_site(base: Settings, args: argparse.Namespace, clock: ScaledClock, broker_dir: Path,
                   ledger: Ledger | None) -> SimulatedSite:
    """The simulated hardware of ``demo`` and ``sim site``: on the configured broker (with the site's
    secrets where ``[mqtt] credentials_dir`` says), else on a broker of its own in ``broker_dir``
    under the configuration ``lajur broker config`` writes, each device with its own account."""
    return SimulatedSite(site=base.site, lanes=args.lanes, clock=clock, mqtt_url=base.mqtt_url or None, ledger=ledger,
                         credentials_dir=base.mqtt.credentials_dir, broker_dir=broker_dir,
                         broker_port=getattr(args, "broker_port", None))


def print_plate_models(site: Site, out: Any) -> None:
    """Say so at start when the plate reader reads with a site's own learned files (``plate_models_dir``)."""
    if site.settings.plate_models_dir is not None:
        print(f"plate reader: the site's own files from {site.settings.plate_models_dir}: "
              f"{', '.join(site.plate_models) or 'none there (all shipped)'}", file=out, flush=True)


def _p95(values: list[float]) -> float | None:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(0.95 * len(ordered) + 0.5)) - 1))] if ordered else None


def summarise(visits: list[dict[str, Any]], promise: float = 600.0) -> dict[str, Any]:
    """The demo's JSON summary (spec/interfaces.md): per visit ``seconds`` from the entry to the exit
    and ``queued_seconds`` before the entry; for the run ``p95_seconds`` (from the entry) and
    ``p95_door_to_door_seconds`` (from joining the queue), and the share of visits within the
    ten-minute ``promise`` counted both ways. Throughput over the span from the first entry to the
    last exit."""
    span = None
    if visits:
        entries = [v["entered"] if v.get("entered") is not None else v["started"] for v in visits]
        ends = [v["started"] + v["door_to_door_seconds"] for v in visits]
        span = max(ends) - min(entries)
    door_to_door = [v["door_to_door_seconds"] for v in visits]

    def within(values: list[float]) -> float | None:
        return round(100.0 * sum(1 for s in values if s <= promise) / len(values), 1) if values else None

    return {
        "visits": [{"plate": v["plate"], "outcome": v["outcome"], "reason": v["reason"], "seconds": v["seconds"],
                    "queued_seconds": v["queued_seconds"], "stages": v["stages"], "lane": v["lane"], "id": v["id"]}
                   for v in visits],
        "throughput_per_hour": round(len(visits) * 3600.0 / span, 2) if span else 0.0,
        "p95_seconds": _p95([v["seconds"] for v in visits]),
        "p95_door_to_door_seconds": _p95(door_to_door),
        "p95_queued_seconds": _p95([v["queued_seconds"] for v in visits]),
        "within_promise_pct": within([v["seconds"] for v in visits]),
        "within_promise_door_to_door_pct": within(door_to_door),
    }


def alerts_raised(site: Site, since: datetime) -> dict[str, int]:
    """Alerts the run's lanes raised since ``since``, by kind (the demo's database may hold older runs)."""
    counts: dict[str, int] = {}
    for row in site.store.alerts(limit=1_000_000):
        at = row.at if row.at.tzinfo else row.at.replace(tzinfo=UTC)
        if at >= since and row.lane in site.controllers:
            counts[row.kind] = counts.get(row.kind, 0) + 1
    return counts


DEMO_DB = Path("var/demo.db")
DEMO_ACTOR = Actor("demo", "system")


def demo_database(base: Settings, fresh: bool, configured: bool = False) -> tuple[Settings, str]:
    """The demo's database: ``var/demo.db`` unless the settings name one (or a settings file is given),
    kept from the last demo unless ``fresh``; and the line that says which, for the start of the run."""
    if configured or "database_url" in base.model_fields_set:
        url = make_url(base.database_url).render_as_string(hide_password=True)
        return base, f"database: {url} (from the settings; --fresh empties only var/demo.db)"
    existed = DEMO_DB.exists()
    if fresh:
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                Path(f"{DEMO_DB}{suffix}").unlink()
    base = base.model_copy(update={"database_url": f"sqlite:///{DEMO_DB}"})
    if fresh:
        return base, f"database: {DEMO_DB} started fresh" + (" (the last demo's deleted: --fresh)" if existed else "")
    if existed:
        return base, f"database: {DEMO_DB} kept from the last demo (lajur demo --fresh starts an empty one)"
    return base, f"database: {DEMO_DB} new"


async def end_leftover_visits(site: Site, out: Any) -> None:
    """Visits a previous demo left open have no simulated car any more (the simulators start empty):
    end them as "vehicle left", audited, so the lanes start free."""
    for ctl in site.controllers.values():
        for visit_id in list(ctl.visits):
            await ctl.command(VehicleLeft(reason="the last demo's simulated vehicle is gone"), DEMO_ACTOR, visit_id)
            print(f"  {ctl.name}: visit {visit_id} left open by the last demo ended (vehicle left)", file=out,
                  flush=True)


async def run_demo(args: argparse.Namespace) -> int:
    base, which_database = demo_database(load_settings(args.config), args.fresh, configured=bool(args.config))
    clock = ScaledClock(args.speed)
    out = sys.stderr if args.json else sys.stdout
    print(which_database, file=out, flush=True)
    sim = simulated_site(base, args, clock, Path("var/demo-broker"), Ledger(Path("var/demo-ledger.jsonl")))
    site: Site | None = None
    traffic: TrafficSimulator | None = None
    officer: OfficerSimulator | None = None
    stop = _stop_event()
    finished: list[dict[str, Any]] = []
    alerts: dict[str, int] = {}
    all_done = asyncio.Event()
    run_started = datetime.now(UTC)
    try:
        await sim.start()
        settings = settings_for_simulated_site(base, sim)
        site = Site(settings, clock, poll_interval=poll_interval_for(args.speed, settings.gate_poll_interval))
        await site.start()
        await end_leftover_visits(site, out)
        url = site.serve_api(args.host, args.port)
        print(f"Lajur console: {url}/  (API {url}/api/v1/lanes, docs {url}/docs)", file=out, flush=True)
        print_plate_models(site, out)
        # Console accounts and the technician page's simulator faults (api/, issue #4).
        from api.demo_support import attach_demo

        attach_demo(site, sim, out)
        print(f"MQTT broker: {settings.mqtt_url}  registry: {settings.registry_url}", file=out, flush=True)
        print(f"watch MQTT (read-only technician): {watch_command(settings)}", file=out, flush=True)

        def on_finished(summary: dict[str, Any]) -> None:
            finished.append(summary)
            if not args.json:
                print(f"  {summary['lane']} {summary['plate']}: {summary['outcome']}"
                      f"{' (' + summary['reason'] + ')' if summary['reason'] else ''} in "
                      f"{summary['seconds'] / 60:.1f} simulated min", file=out, flush=True)
            if args.drivers is not None and len(finished) >= args.drivers:
                all_done.set()

        for ctl in site.controllers.values():
            ctl.on_visit_finished.append(on_finished)
        traffic = TrafficSimulator(sim, clock, drivers=args.drivers, rate_per_hour=args.rate, seed=args.seed)
        traffic.start()

        def plate_at_entry(lane: str) -> str | None:
            d = traffic.driver_at(lane, "entry") if traffic else None
            return d.plate if d else None

        officer = OfficerSimulator(lambda lane: site.controllers[lane].act, site.bus, clock,
                                   plate_at_entry=plate_at_entry)
        officer.start()
        waiters = [asyncio.ensure_future(stop.wait())]
        if args.exit_when_done and args.drivers is not None:
            waiters.append(asyncio.ensure_future(all_done.wait()))
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for w in waiters:
            w.cancel()
        alerts = alerts_raised(site, run_started)
    finally:
        if officer:
            await officer.stop()
        if traffic:
            await traffic.stop()
        if site:
            await site.stop()
        await sim.stop()
    if args.exit_when_done:
        summary = summarise(finished, promise=base.timing.visit_budget)
        summary["alerts_raised"] = sum(alerts.values())
        summary["alerts_by_kind"] = alerts
        if args.json:
            print(json.dumps(summary), flush=True)
        else:
            print(f"{len(finished)} visits, throughput {summary['throughput_per_hour']}/h, "
                  f"p95 {summary['p95_seconds']} s from the entry, {summary['p95_door_to_door_seconds']} s from "
                  f"joining the queue, {summary['alerts_raised']} alerts", flush=True)
        if args.drivers is not None and len(finished) < args.drivers:
            return 1
    return 0


async def run_serve(args: argparse.Namespace) -> int:
    """Run the configured lanes until SIGINT/SIGTERM. A stop never commands a gate closed (the
    controllers stop where they are; the boom stays as it is, so it never comes down on a vehicle),
    and everything the lanes were doing is in the database for the next start (docs/recovery.md)."""
    settings = load_settings(args.config)
    clock = SystemClock() if settings.speed == 1 else ScaledClock(settings.speed)
    host = args.host or settings.host
    port = args.port if args.port is not None else settings.port
    if port:
        # Before any lane is leased under this host:port, which would name a process that never served.
        try:
            check_bindable(host, port)
        except OSError as exc:
            raise ConfigError(f"cannot serve the console on {host}:{port}: {exc.strerror or exc}") from exc
    # The lease name is host:port: unique among live `serve` processes (they cannot share a port),
    # and the same after a restart, so a restarted controller takes its lanes back at once.
    site = Site(settings, clock, poll_interval=poll_interval_for(settings.speed, settings.gate_poll_interval),
                instance=f"{socket.gethostname()}:{port}")
    stop = _stop_event()
    try:
        await site.start()
        url = site.serve_api(host, port)
        print(f"Lajur console: {url}/  lanes: {', '.join(site.controllers) or '(none leased yet)'}", flush=True)
        print_plate_models(site, sys.stdout)
        await stop.wait()
    finally:
        await site.stop()
    return 0


async def run_sim_site(args: argparse.Namespace) -> int:
    """The simulated hardware of N lanes. With ``--drivers`` the virtual drivers act through the
    devices, and with ``--api URL`` virtual officers act through that console's HTTP API (account
    from the settings sim_officer_user / sim_officer_password), as people in another room would: the
    controller (`lajur serve`) may be killed and restarted under them."""
    from simulators.console_officer import ConsoleOfficer

    base = load_settings()
    clock = ScaledClock(args.speed)
    sim = simulated_site(base, args, clock, Path(args.out) / "broker", Ledger(args.ledger) if args.ledger else None)
    stop = _stop_event()
    traffic: TrafficSimulator | None = None
    officers: list[ConsoleOfficer] = []
    try:
        await sim.start()
        path = sim.write_config(args.out, {"speed": args.speed})
        print(f"simulated site written to {path}", flush=True)
        print(f"  MQTT {sim.mqtt_url}  registry {sim.registry.url}", flush=True)
        for name, lane in sim.lanes.items():
            print(f"  {name}: entry-gate {lane.entry_gate_sim.port_path}  exit-gate {lane.exit_gate_sim.port_path}"
                  f"  card-printer {lane.card_printer.port_path}  receipt {lane.receipt_printer.port_path}",
                  flush=True)
        if args.drivers:
            traffic = TrafficSimulator(sim, clock, drivers=args.drivers, seed=args.seed,
                                       rate_per_hour=getattr(args, "rate", 30.0))
            traffic.start()
            api = getattr(args, "api", None)
            if api:
                t = traffic

                def plate_at_entry(lane: str) -> str | None:
                    d = t.driver_at(lane, "entry")
                    return d.plate if d else None

                # One officer per console (several `serve` processes may share the lanes).
                secret = base.sim_officer_password
                officers = [ConsoleOfficer(u.strip(), clock, plate_at_entry=plate_at_entry, seed=7 + i,
                                           username=base.sim_officer_user,
                                           password=secret.get_secret_value() if secret else "")
                            for i, u in enumerate(api.split(",")) if u.strip()]
                for o in officers:
                    o.start()
                print(f"  virtual officers act through {api}", flush=True)
        await stop.wait()
    finally:
        for o in officers:
            await o.stop()
        if traffic:
            await traffic.stop()
        await sim.stop()
    return 0
