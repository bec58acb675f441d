"""Crash recovery with real processes: `lajur sim site` holds the hardware (gates and printers on
pseudo-terminals, payment/biometric/e-KTP/displays on its own Mosquitto under the site's accounts and
ACL, each device logged in as itself as `serve` is, registry and cameras on HTTP, virtual drivers, and
virtual officers acting through the console API); `lajur serve` is the controller, killed with SIGKILL
at chosen stages and restarted. The ledger of physical effects and the database are then checked:
every visit ended, no second card, no second charge, no gate closed on a vehicle, no gate left open."""

from __future__ import annotations

import time

import pytest

from api.accounts_cli import add_user
from lane.persistence import Store, upgrade_database
from simulators.ports import free_port
from tests.lane.procs import OFFICER, Procs, check_invariants, wait_for

SPEED = 30


@pytest.fixture
def procs(tmp_path):
    url = f"sqlite:///{tmp_path}/lajur.db"
    upgrade_database(url)
    store = Store(url)
    add_user(store, OFFICER[0], "officer", OFFICER[1])
    store.close()
    p = Procs(tmp_path, None, url)
    try:
        yield p
    finally:
        p.close()


def _stage_of_first(procs: Procs, stage: str) -> bool:
    v = procs.visits()
    return bool(v) and v[0].stage == stage


def test_kill9_at_every_stage_loses_nothing(procs):
    drivers = 3
    port = free_port()
    procs.sim_site(drivers=drivers, speed=SPEED, api_ports=[port])
    procs.serve(port)
    kills = []

    def kill_when(cond, what: str, delay: float = 0.0, graceful: bool = False) -> None:
        wait_for(cond, 45, what, interval=0.02)
        if delay:
            time.sleep(delay)
        if graceful:  # SIGTERM: a clean stop, the boom stays where it is
            assert procs.terminate(port) == 0
        else:
            procs.kill9(port)
        kills.append((what, [tuple(v)[:3] for v in procs.visits()]))
        time.sleep(0.5)  # the hardware lives on without a controller for a moment
        procs.serve(port)

    first_opened = lambda: any(e["effect"] == "gate_opened" and e["device"] == "entry-gate"  # noqa: E731
                               for e in procs.ledger())
    kill_when(lambda: first_opened() and _stage_of_first(procs, "arriving"), "arriving, entry gate open")
    kill_when(lambda: _stage_of_first(procs, "verifying"), "verifying")
    kill_when(lambda: any(e.status == "intended" for e in procs.effects("charge")), "paying, charge commanded")
    kill_when(lambda: any(e.status == "intended" for e in procs.effects("card_print")), "printing, card job sent",
              delay=0.3)
    exit_opened = lambda: [e for e in procs.ledger() if e["effect"] == "gate_opened"  # noqa: E731
                           and e["device"] == "exit-gate"]
    kill_when(lambda: exit_opened() and _stage_of_first(procs, "exiting"), "exiting, vehicle under the boom",
              delay=4.5 / SPEED)
    # SIGTERM (a clean stop) while the next vehicle is under the exit boom: nothing is closed on it.
    exits_so_far = len(exit_opened())
    kill_when(lambda: len(exit_opened()) > exits_so_far, "SIGTERM, vehicle under the exit boom", delay=5 / SPEED,
              graceful=True)
    wait_for(lambda: len(procs.visits()) == drivers and all(v.stage == "done" for v in procs.visits()), 60,
             "every visit to end")
    wait_for(lambda: _gates_closed(procs), 20, "both gates closed")
    summary = check_invariants(procs, drivers)
    print(summary, *kills, sep="\n")
    assert summary["completed"] >= 1, (summary, kills)


def _gates_closed(procs: Procs) -> bool:
    ledger = procs.ledger()
    for gate in ("entry-gate", "exit-gate"):
        moves = [e["effect"] for e in ledger if e["device"] == gate and e["effect"] in ("gate_opened", "gate_closed")]
        if moves and moves[-1] != "gate_closed":
            return False
    return True
