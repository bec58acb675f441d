"""Many lanes, many controllers: two `lajur serve` processes share one PostgreSQL database and one
broker; each lane is driven by exactly one of them at a time (``Store.try_lease``), and when the
owner dies (SIGKILL) the other takes its lanes over once the lease expires, resuming their visits.
Needs LAJUR_TEST_POSTGRES_URL (.ci/run sets it); skipped otherwise."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

from api.accounts_cli import add_user
from lane.persistence import Store, upgrade_database
from simulators.ports import free_port
from tests.lane.procs import OFFICER, Procs, check_invariants, wait_for

SPEED = 30
LEASE = "3"


@pytest.fixture
def procs(tmp_path, mqtt_broker, postgres_url):
    upgrade_database(postgres_url)
    store = Store(postgres_url)
    add_user(store, OFFICER[0], "officer", OFFICER[1])
    store.close()
    p = Procs(tmp_path, mqtt_broker.url, postgres_url)
    try:
        yield p
    finally:
        p.close()


def _owned(port: int) -> set[str] | None:
    try:
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/auth/login", method="POST",
                                     data=json.dumps({"username": OFFICER[0], "password": OFFICER[1]}).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=2) as r:
            token = json.load(r)["token"]
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/lanes",
                                     headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(req, timeout=2) as r:
            return {lane["lane"] for lane in json.load(r)}
    except OSError:
        return None


def test_two_controllers_share_lanes_and_take_over_when_one_dies(procs):
    lanes, drivers = 3, 9
    a, b = free_port(), free_port()
    procs.sim_site(lanes=lanes, drivers=drivers, speed=SPEED, api_ports=[a, b])
    procs.serve(a, log="serve-a.log", LAJUR_LEASE_SECONDS=LEASE)
    wait_for(lambda: _owned(a) == {f"lane-{i}" for i in range(1, lanes + 1)}, 20, "A to lease every lane")
    procs.serve(b, log="serve-b.log", LAJUR_LEASE_SECONDS=LEASE)
    time.sleep(1.5 * float(LEASE))  # B has tried (and failed) to lease at least once
    assert _owned(a) == {f"lane-{i}" for i in range(1, lanes + 1)} and _owned(b) == set(), \
        "a live owner's lanes must not be taken"
    owners = {r.name: r.owner for r in procs.query("SELECT name, owner FROM lanes")}
    assert set(owners.values()) == {f"{_host()}:{a}"}
    # A dies mid-visit: B takes every lane over once A's lease has expired, and finishes the visits.
    wait_for(lambda: any(v.stage not in ("arriving", "done") for v in procs.visits()), 30,
             f"a visit under way {procs.query_errors[-1:]}")
    procs.kill9(a)
    wait_for(lambda: _owned(b) == {f"lane-{i}" for i in range(1, lanes + 1)}, 20, "B to take every lane over")
    wait_for(lambda: len(procs.visits()) == drivers and all(v.stage == "done" for v in procs.visits()), 60,
             "every visit to end")
    check_invariants(procs, drivers, lanes)
    # A technician reading the logs sees the lanes move, and a normal start is no warning.
    started, moved = (procs.tmp / "serve-a.log").read_text(), (procs.tmp / "serve-b.log").read_text()
    assert "WARNING" not in "".join(line for line in started.splitlines() if "lease" in line)
    for i in range(1, lanes + 1):
        assert f"WARNING cli.compose: lane-{i}: lease taken over by" in moved


def _host() -> str:
    import socket

    return socket.gethostname()
