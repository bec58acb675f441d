"""``lajur bench load``: the latency log's arithmetic, and a short run of the real thing (controller,
simulators, broker and database in their own processes) on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.load_probe import KINDS, LatencyLog, figures, pool
from tests.fixtures.db import PG_URL

ROOT = Path(__file__).resolve().parents[2]


class FakeTime:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_an_event_is_timed_to_the_first_command_that_follows_it_on_its_lane():
    now = FakeTime()
    log = LatencyLog(now)
    log.command("lane-1", "exit_close")  # a command nobody's event asked for: no sample
    log.event("lane-1", "exit_close")
    now.t = 0.030
    log.event("lane-2", "exit_close")
    now.t = 0.040
    log.command("lane-1", "exit_close")
    log.command("lane-1", "exit_close")  # a repeated command: still one sample
    now.t = 0.100
    log.command("lane-2", "exit_close")
    report = log.report()
    assert report["exit_close"]["ms"] == [40.0, 70.0] and report["exit_close"]["unanswered_ms"] == []


def test_a_lane_that_stalls_makes_the_figures_worse_not_better():
    now = FakeTime()
    healthy, stalled = LatencyLog(now), LatencyLog(now)
    for i in range(99):
        for log in (healthy, stalled):
            log.event(f"lane-{i}", "entry_close")
        now.t += 0.020
        for log in (healthy, stalled):
            log.command(f"lane-{i}", "entry_close")
    healthy.event("lane-x", "entry_close")
    stalled.event("lane-x", "entry_close")
    now.t += 0.020
    healthy.command("lane-x", "entry_close")
    now.t += 30.0  # the stalled lane's gate never closes before the run ends
    good = pool([healthy.report()])
    bad = pool([stalled.report()])
    assert good["all"]["unanswered"] == 0 and bad["all"]["unanswered"] == 1
    assert bad["kinds"]["entry_close"]["max_ms"] > 30_000 > good["kinds"]["entry_close"]["max_ms"]
    assert bad["all"]["p99_ms"] >= good["all"]["p99_ms"]


def test_an_arrival_an_officer_had_to_identify_is_set_aside_not_timed():
    now = FakeTime()
    log = LatencyLog(now)
    log.event("lane-1", "entry_open")
    now.t = 5.0
    log.forget("lane-1", "entry_open")  # the officer confirmed the plate
    log.command("lane-1", "entry_open")
    assert log.report()["entry_open"] == {"ms": [], "unanswered_ms": [], "set_aside": 1}


def test_percentiles_are_nearest_rank():
    assert figures([float(x) for x in range(1, 101)], [])["p99_ms"] == 99.0
    assert figures([], [])["p50_ms"] is None


def _run_bench(*args: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "LAJUR_MQTT_URL"}
    proc = subprocess.run([sys.executable, "-m", "lane", "bench", "load", "--json", "--speed", "60", "--rate", "60", "--drain", "600",
                           "--seconds", "4", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=150)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["stderr"] = proc.stderr[-3000:]  # shown when an assertion fails
    return result


def _check_shape(result: dict, lanes: int, database: str) -> None:
    assert result["database"] == database and result["lanes"] == lanes
    assert result["visits_offered"] >= 1 and 1 <= result["visits_finished"] <= result["visits_offered"], result
    for key in ("p50_ms", "p95_ms", "p99_ms", "max_ms", "visits_per_hour", "cpu_percent", "rss_mb"):
        assert isinstance(result[key], float | int) and result[key] > 0, key
    assert result["p50_ms"] <= result["p95_ms"] <= result["p99_ms"] <= result["max_ms"]
    assert set(result["kinds"]) == set(KINDS)
    for kind in ("entry_close", "card_tap", "exit_open", "exit_close"):  # every finished visit has these
        assert result["kinds"][kind]["samples"] >= 1, kind
    assert result["controller_samples"] >= 2 and result["rss_mb_high_water"] >= result["rss_mb"]
    assert len(result["loadavg_start"]) == 3 and result["controller_processes"] == 1


@pytest.mark.slow
def test_bench_load_on_sqlite_times_events_at_the_devices_through_separate_processes():
    _check_shape(_run_bench("--lanes", "2"), 2, "sqlite")


@pytest.mark.slow
@pytest.mark.postgres
def test_bench_load_on_postgresql_gives_the_same_figures_in_a_scratch_database():
    if not PG_URL:
        pytest.skip("needs LAJUR_TEST_POSTGRES_URL")
    from sqlalchemy import create_engine, text

    engine = create_engine(PG_URL)
    with engine.connect() as conn:
        before = set(conn.execute(text("SELECT datname FROM pg_database WHERE datname LIKE 'lajur_bench_%'")).scalars())
    result = _run_bench("--lanes", "2", "--database-url", PG_URL)
    with engine.connect() as conn:
        after = set(conn.execute(text("SELECT datname FROM pg_database WHERE datname LIKE 'lajur_bench_%'")).scalars())
    engine.dispose()
    _check_shape(result, 2, "postgresql")
    assert after == before, "the bench's scratch database was left behind"


@pytest.mark.slow
@pytest.mark.postgres
def test_two_controllers_share_the_lanes_and_one_killed_loses_nothing():
    """Two `lajur serve` processes on one PostgreSQL database and broker, each driving its share of the
    lanes; the second is killed (SIGKILL) mid-run: the first takes its lane over when the lease expires
    and every offered visit still finishes, with no card printed twice and nobody charged twice."""
    if not PG_URL:
        pytest.skip("needs LAJUR_TEST_POSTGRES_URL")
    result = _run_bench("--lanes", "2", "--controllers", "2", "--kill-after", "3", "--lease-seconds", "3",
                        "--drain", "1800", "--database-url", PG_URL)
    assert result["controller_processes"] == 2 and result["killed_at_seconds"] is not None, result["stderr"]
    assert result["visits_finished"] == result["visits_offered"] >= 1, result
    assert result["cards_printed_twice"] == result["charged_twice"] == 0, result
    assert list(result["lane_owners_at_end"].values()) == [2], "both lanes with the survivor"
