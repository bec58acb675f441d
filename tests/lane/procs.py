"""Real processes for the crash, lease and outage tests: `lajur sim site` (the hardware, which lives
on) and `lajur serve` (the controller, which we kill -9 and restart). Every process started here is
killed by :meth:`Procs.close`, whatever the test did."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from simulators.ledger import Ledger
from simulators.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
VERBOSE = ["-v"] if os.environ.get("LAJUR_TEST_VERBOSE") else []
OFFICER = ("sim-officer", "officer-password-1")


def wait_for(cond: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


class Procs:
    def __init__(self, tmp: Path, mqtt_url: str | None, database_url: str) -> None:
        """``mqtt_url`` None: `sim site` runs its own broker under the site's accounts and ACL, and
        `serve` takes the broker and its own secret from the written lajur.toml."""
        self.tmp = tmp
        self.mqtt_url = mqtt_url
        self.database_url = database_url
        self.ledger_path = tmp / "ledger.jsonl"
        self.config = tmp / "site" / "lajur.toml"
        self.procs: list[subprocess.Popen[bytes]] = []
        self.serves: dict[int, subprocess.Popen[bytes]] = {}
        self._engine = create_engine(database_url)
        self.query_errors: list[str] = []

    def env(self, **extra: str) -> dict[str, str]:
        env = {**os.environ, "LAJUR_DATABASE_URL": self.database_url,
               "LAJUR_SIM_OFFICER_USER": OFFICER[0], "LAJUR_SIM_OFFICER_PASSWORD": OFFICER[1],
               "LAJUR_SECRET_KEY": "test-secret-key", "PYTHONUNBUFFERED": "1"}
        env.pop("LAJUR_MQTT_URL", None)
        if self.mqtt_url is not None:
            env["LAJUR_MQTT_URL"] = self.mqtt_url
        env.update(extra)
        return env

    def _spawn(self, args: list[str], log: str, **env: str) -> subprocess.Popen[bytes]:
        out = (self.tmp / log).open("ab")
        p = subprocess.Popen([sys.executable, "-m", "lane", *VERBOSE, *args], cwd=self.tmp, env=self.env(**env),
                             stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        out.close()
        self.procs.append(p)
        return p

    def sim_site(self, *, lanes: int = 1, drivers: int = 0, speed: float = 30, api_ports: list[int] | None = None,
                 seed: int = 1) -> subprocess.Popen[bytes]:
        args = ["sim", "site", "--lanes", str(lanes), "--out", str(self.config.parent), "--ledger",
                str(self.ledger_path), "--drivers", str(drivers), "--speed", str(speed), "--seed", str(seed),
                "--broker-port", "0"]
        if api_ports:
            args += ["--api", ",".join(f"http://127.0.0.1:{p}" for p in api_ports)]
        p = self._spawn(args, "sim.log")
        wait_for(lambda: self.config.exists() or p.poll() is not None, 40, "sim site to write lajur.toml")
        assert p.poll() is None, (self.tmp / "sim.log").read_text()
        return p

    def serve(self, port: int | None = None, log: str = "serve.log", **env: str) -> int:
        port = port or free_port()
        p = self._spawn(["serve", "--config", str(self.config), "--port", str(port)], log, **env)
        self.serves[port] = p

        def up() -> bool:
            if p.poll() is not None:
                raise AssertionError(f"serve exited {p.returncode}: {(self.tmp / log).read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                    return r.status == 200
            except OSError:
                return False

        wait_for(up, 40, "serve to answer /healthz", interval=0.1)
        return port

    def kill9(self, port: int) -> None:
        p = self.serves.pop(port)
        os.killpg(p.pid, signal.SIGKILL)
        p.wait(10)

    def terminate(self, port: int, timeout: float = 20) -> int:
        p = self.serves.pop(port)
        p.send_signal(signal.SIGTERM)
        return p.wait(timeout)

    def close(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                with _suppress():
                    os.killpg(p.pid, signal.SIGKILL)
                with _suppress():
                    p.wait(10)
        self._engine.dispose()

    # ------------------------------------------------------------ what happened
    def ledger(self) -> list[dict[str, Any]]:
        for _ in range(5):
            try:
                return Ledger.read(self.ledger_path)
            except json.JSONDecodeError:  # a line half written right now
                time.sleep(0.02)
        return Ledger.read(self.ledger_path)

    def query(self, sql: str, **params: Any) -> list[Any]:
        with self._engine.connect() as conn:
            try:
                return list(conn.execute(text(sql), params))
            except Exception as exc:  # noqa: BLE001 - schema not there yet, or a busy SQLite file
                self.query_errors.append(str(exc)[:300])
                return []

    def visits(self) -> list[Any]:
        return self.query("SELECT id, lane, stage, outcome, held, payment_reference FROM visits ORDER BY id")

    def effects(self, kind: str | None = None) -> list[Any]:
        rows = self.query("SELECT key, kind, status, visit_id FROM side_effects ORDER BY created_at")
        return [r for r in rows if kind is None or r.kind == kind]


class _suppress:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> bool:
        return True


def check_invariants(procs: Procs, drivers: int, lanes: int = 1) -> dict[str, Any]:
    """The physical truth of the ledger and the database after every visit ended."""
    wait_for(lambda: gates_closed(procs), 20, "every gate to come down")
    ledger = procs.ledger()
    visits = procs.visits()
    assert len(visits) == drivers, [tuple(v) for v in visits]
    assert all(v.stage == "done" for v in visits), [tuple(v) for v in visits]
    cards = [e["renewal_id"] for e in ledger if e["effect"] == "card_printed"]
    assert len(cards) == len(set(cards)), f"a renewal printed twice: {cards}"
    charges = [e for e in ledger if e["effect"] == "charge_made"]
    refs = [c["reference"] for c in charges]
    assert len(refs) == len(set(refs)), f"a reference charged twice: {refs}"
    per_visit: dict[str, list[str]] = {}
    for ref in refs:
        per_visit.setdefault(ref.rsplit("-fee-", 1)[0], []).append(ref)
    assert all(len(v) == 1 for v in per_visit.values()), f"a visit charged under two references: {per_visit}"
    completed = [v for v in visits if v.outcome == "completed"]
    assert sorted(cards) == sorted(v.id for v in completed)
    assert sorted(per_visit) == sorted(v.id for v in completed)
    closed_on_vehicle = [e for e in ledger if e["effect"] == "gate_closed" and e.get("safety_loop_occupied")]
    assert not closed_on_vehicle, closed_on_vehicle
    for lane in range(1, lanes + 1):
        for gate in ("entry-gate", "exit-gate"):
            moves = [e["effect"] for e in ledger if e["lane"] == f"lane-{lane}" and e["device"] == gate
                     and e["effect"] in ("gate_opened", "gate_closed")]
            assert moves and moves[-1] == "gate_closed", f"lane-{lane} {gate} left open: {moves[-4:]}"
    return {"visits": len(visits), "completed": len(completed), "cards": len(cards), "charges": len(refs)}


def gates_closed(procs: Procs) -> bool:
    last: dict[tuple[str, str], str] = {}
    for e in procs.ledger():
        if e["effect"] in ("gate_opened", "gate_closed"):
            last[(e["lane"], e["device"])] = e["effect"]
    return all(v == "gate_closed" for v in last.values())
