"""The ``lajur`` command (also ``python -m lane``): the composition root's front door.

User errors (bad configuration, unreadable files, a port in use) print one clear line and exit 2;
they never show a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable

from lane.errors import ConfigError, LajurError
from lane.settings import load_settings

EXIT_USAGE = 2


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from exc
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, not {text}")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from exc
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {text}")
    return value


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="a complete simulated site: broker, devices, lanes, console, drivers",
                       description="Run a complete simulated site: embedded MQTT broker unless LAJUR_MQTT_URL is "
                                   "set, SQLite, every device simulated over its real transport, the console, "
                                   "and virtual drivers arriving.")
    p.add_argument("--lanes", type=positive_int, default=1, help="number of lanes (default 1)")
    p.add_argument("--speed", type=positive_float, default=10.0, help="clock speed: 60 = a simulated minute a second")
    p.add_argument("--drivers", type=positive_int, default=None, help="virtual drivers to send (default: keep coming)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--exit-when-done", action="store_true", help="stop after --drivers visits ended")
    p.add_argument("--json", action="store_true", help="with --exit-when-done: print one JSON summary")
    p.add_argument("--seed", type=int, default=1, help="random seed of the traffic")
    p.add_argument("--rate", type=positive_float, default=30.0, help="arrivals per simulated hour per lane")
    p.add_argument("--config", default=None, help="optional TOML settings file")
    p.add_argument("--broker-port", type=int, default=None,
                   help="port of the demo's own broker (default 1883 when free, else any free port; 0: any)")
    p.add_argument("--fresh", action="store_true",
                   help="start from an empty demo database (default: keep var/demo.db from the last demo)")


def _add_serve(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="production: lanes and devices from a TOML file, console and API",
                       description="Run the lane controllers configured in a TOML file, with the console and API.")
    p.add_argument("--config", required=True, help="TOML settings file (see examples/lajur.toml)")
    p.add_argument("--host", default=None)
    p.add_argument("--port", type=int, default=None)


def _add_sim(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sim", help="device simulators for technicians", description="Run simulators standalone.")
    s = p.add_subparsers(dest="sim", metavar="SIMULATOR", required=True)
    site = s.add_parser("site", help="every device simulator of N lanes, writing DIR/lajur.toml",
                        description="Every device simulator of N lanes in one process on real transports; "
                                    "writes DIR/lajur.toml for `lajur serve --config`.")
    site.add_argument("--lanes", type=positive_int, default=1)
    site.add_argument("--out", required=True, help="directory for lajur.toml")
    site.add_argument("--ledger", default=None, help="JSON-lines file of physical effects")
    site.add_argument("--drivers", type=int, default=0)
    site.add_argument("--speed", type=positive_float, default=1.0)
    site.add_argument("--seed", type=int, default=1)
    site.add_argument("--api", default=None, help="console URL, for the virtual officers (with --drivers)")
    site.add_argument("--broker-port", type=int, default=None,
                      help="port of the site's own broker when LAJUR_MQTT_URL is unset (default 1883 when free, "
                           "else any free port; 0: any)")
    for name in ("gate", "printer", "receipt", "camera", "payment", "biometric", "registry", "traffic",
                 "card-reader", "display"):
        s.add_parser(name, help=f"{name} simulator (see its --help)", add_help=False)


def _add_plate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plate", help="plate reading", description="Plate reading tools.")
    s = p.add_subparsers(dest="plate_cmd", metavar="COMMAND", required=True)
    s.add_parser("read", help="read plates from image files (one JSON line each)", add_help=False)


BENCHES = {"vision": "vision", "binding": "vision_binding", "frames": "vision_frames", "lane": "lane", "load": "load"}
"""``lajur bench NAME`` -> the module ``bench.<module>`` whose ``main`` runs it."""


def _add_bench(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="benchmarks", description="Benchmarks printing comparable figures.")
    s = p.add_subparsers(dest="bench", metavar="BENCH", required=True)
    for name in BENCHES:
        s.add_parser(name, help=f"{name} benchmark (see its --help)", add_help=False)


def _add_db(sub: argparse._SubParsersAction) -> None:
    from cli.db import add_parsers

    p = sub.add_parser("db", help="database", description="Database maintenance.")
    s = p.add_subparsers(dest="db_cmd", metavar="COMMAND", required=True)
    up = s.add_parser("upgrade", help="apply schema migrations", description="Apply Alembic migrations.")
    up.add_argument("--config", default=None)
    up.add_argument("--url", default=None, help="database URL (default: settings / LAJUR_DATABASE_URL)")
    add_parsers(s)  # backup, restore


def _add_user(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("user", help="officer accounts", description="Officer accounts.")
    s = p.add_subparsers(dest="user_cmd", metavar="COMMAND", required=True)
    s.add_parser("add", help="create an account: lajur user add --role ROLE USERNAME (see its --help)",
                 add_help=False)


def _add_broker(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("broker", help="the site's MQTT broker",
                       description="The site's MQTT broker: accounts, secrets and access rules.")
    s = p.add_subparsers(dest="broker_cmd", metavar="COMMAND", required=True)
    s.add_parser("config", help="write mosquitto.conf, passwd and acl from the site's TOML (see its --help)",
                 add_help=False)


def _add_twin(sub: argparse._SubParsersAction) -> None:
    sub.add_parser("twin", help="a simulated day before opening, scenarios side by side (see its --help)",
                   add_help=False)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="lajur", description="Lajur: drive-through SIM renewal lane controller.")
    ap.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in (_add_demo, _add_serve, _add_sim, _add_plate, _add_bench, _add_db, _add_user, _add_broker, _add_twin):
        add(sub)
    return ap


def _delegate(argv: list[str], index: int, target: Callable[[list[str]], int]) -> int:
    return target(argv[index:])


def _sim_target(name: str) -> Callable[[list[str]], int]:
    import importlib

    module = {"printer": "simulators.card_printer", "receipt": "simulators.receipt_printer",
              "card-reader": "simulators.card_reader"}.get(name, f"simulators.{name}")
    return importlib.import_module(module).main


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    # Sub-tools with their own parsers get the rest of the command line untouched.
    if len(argv) >= 2 and argv[0] == "sim" and argv[1] not in ("site", "-h", "--help"):
        parser.parse_args(argv[:2])
        return _sim_target(argv[1])(argv[2:])
    if len(argv) >= 2 and argv[0] == "plate" and argv[1] == "read":
        from vision.cli import plate_read_main

        try:
            settings = load_settings()
        except ConfigError as exc:
            print(f"lajur plate read: {exc}", file=sys.stderr)
            return 2
        return plate_read_main(argv[2:], models_dir=settings.plate_models_dir, engine=settings.vision_engine)
    if len(argv) >= 2 and argv[0] == "user" and argv[1] == "add":
        from api.accounts_cli import user_add_main

        return user_add_main(argv[2:])
    if len(argv) >= 2 and argv[0] == "broker" and argv[1] == "config":
        from cli.broker import broker_config_main

        return broker_config_main(argv[2:])
    if argv and argv[0] == "twin":
        from cli.twin import main as twin_main

        return twin_main(argv[1:])
    if len(argv) >= 2 and argv[0] == "bench" and argv[1] in BENCHES:
        import importlib

        return importlib.import_module(f"bench.{BENCHES[argv[1]]}").main(argv[2:])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "demo":
            from cli.run import run_demo

            return asyncio.run(run_demo(args))
        if args.command == "serve":
            from cli.run import run_serve

            return asyncio.run(run_serve(args))
        if args.command == "sim" and args.sim == "site":
            from cli.run import run_sim_site

            return asyncio.run(run_sim_site(args))
        if args.command == "db":
            from cli.db import db_main

            return db_main(args)
    except LajurError as exc:
        print(f"lajur: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        print(f"lajur: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    parser.print_help()
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
