"""`lajur bench lane`: run a simulated lane (the same wiring as `lajur demo`) and print its figures.

Measures, in simulated seconds: visit time (median, p95, share within ten minutes), mean and p95 per
stage against its budget, throughput per lane-hour; and the wall time the run took. It runs the demo
as a subprocess so the figures come from exactly what `make run` runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from typing import Any

from lane.settings import STAGE_BUDGETS_DEFAULT


def _p(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(q * len(values) + 0.5) - 1))]


def figures(summary: dict[str, Any]) -> dict[str, Any]:
    visits = summary["visits"]
    seconds = [v["seconds"] for v in visits]
    completed = [v for v in visits if v["outcome"] == "completed"]
    stages: dict[str, list[float]] = {}
    for v in completed:
        for stage, s in v["stages"].items():
            stages.setdefault(stage, []).append(s)
    return {
        "visits": len(visits),
        "completed": len(completed),
        "refused": sum(1 for v in visits if v["outcome"] == "refused"),
        "median_seconds": statistics.median(seconds) if seconds else 0.0,
        "p95_seconds": _p(seconds, 0.95),
        "within_10_min": round(sum(1 for s in seconds if s <= 600) / len(seconds), 3) if seconds else 0.0,
        "throughput_per_hour": summary["throughput_per_hour"],
        "stages": {k: {"mean": round(statistics.fmean(v), 1), "p95": _p(v, 0.95),
                       "budget": STAGE_BUDGETS_DEFAULT.get(k)} for k, v in stages.items()},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="lajur bench lane", description="Simulated lane throughput and stage times.")
    ap.add_argument("--drivers", type=int, default=20)
    ap.add_argument("--speed", type=float, default=120.0)
    ap.add_argument("--lanes", type=int, default=1)
    ap.add_argument("--rate", type=float, default=30.0, help="arrivals per simulated hour per lane")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true", help="one JSON object as the last line")
    args = ap.parse_args(argv)
    cmd = [sys.executable, "-m", "cli.main", "demo", "--drivers", str(args.drivers), "--speed", str(args.speed),
           "--lanes", str(args.lanes), "--rate", str(args.rate), "--seed", str(args.seed), "--exit-when-done",
           "--json", "--port", "0"]
    started = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.monotonic() - started
    if proc.returncode != 0:
        print(f"lajur bench lane: the demo failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}", file=sys.stderr)
        return 1
    fig = figures(json.loads(proc.stdout.strip().splitlines()[-1]))
    fig["wall_seconds"] = round(wall, 1)
    print(f"lane benchmark: {fig['visits']} visits ({fig['completed']} completed, {fig['refused']} refused) "
          f"on {args.lanes} lane(s) at {args.speed:g}x in {wall:.1f} s wall")
    print(f"  visit time: median {fig['median_seconds']:.0f} s, p95 {fig['p95_seconds']:.0f} s, "
          f"within 10 min {fig['within_10_min']:.0%}; throughput {fig['throughput_per_hour']:.1f}/h")
    for stage, st in fig["stages"].items():
        print(f"  {stage:<13} mean {st['mean']:6.1f} s  p95 {st['p95']:6.1f} s  budget {st['budget']} s")
    if args.json:
        print(json.dumps(fig))
    return 0


if __name__ == "__main__":
    sys.exit(main())
