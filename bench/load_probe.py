"""Event-to-command latency as the lane's devices see it, for ``lajur bench load``.

Both ends are stamped at the simulated devices, in the simulator process, on one clock
(``time.perf_counter``): the physical event (a loop edge as the vehicle makes it, a card tapped, a
charge made) and the moment the device receives the command that event causes (the gate's open or
close frame decoded at the gate, the display's new message, the receipt's last byte). Everything in
between counts: the gate's poll period, the serial lines both ways, the broker, the HTTP registry,
the controller and its database.

Kinds (each waits for no person and for no other vehicle):

- ``entry_open``: vehicle on the entry arming loop while window 1 is free -> entry gate opening (the
  entry camera's plate read is in between; an arrival whose plate an officer had to confirm is set
  aside, counted in ``set_aside``, since that wait is the officer's);
- ``entry_close`` / ``exit_close``: the vehicle clears the safety loop -> the boom closing;
- ``card_tap``: e-KTP tapped -> window 1 shows the decision (``pay`` or ``refused``), registry lookup
  included;
- ``payment``: charge made at the terminal -> the receipt printed;
- ``exit_open``: vehicle on the exit arming loop -> exit gate opening.

An event still unanswered when the run ends counts with the time it has waited so far (and in
``unanswered``): a lane that stalls makes the figures worse, never better.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

KINDS = ("entry_open", "entry_close", "card_tap", "payment", "exit_open", "exit_close")
DECISION_STEPS = frozenset({"pay", "refused"})


class LatencyLog:
    """Pairs each event with the first command of its kind that follows it, per lane."""

    def __init__(self, now: Callable[[], float] = time.perf_counter) -> None:
        self.now = now
        self.samples: dict[str, list[float]] = {k: [] for k in KINDS}
        """Seconds from event to command, per kind."""
        self.pending: dict[tuple[str, str], float] = {}
        """(lane, kind) -> when the unanswered event happened."""
        self.set_aside: dict[str, int] = {k: 0 for k in KINDS}

    def event(self, lane: str, kind: str) -> None:
        """An event: the earliest unanswered one is what the driver has been waiting on."""
        self.pending.setdefault((lane, kind), self.now())

    def command(self, lane: str, kind: str) -> None:
        t = self.pending.pop((lane, kind), None)
        if t is not None:
            self.samples[kind].append(self.now() - t)

    def forget(self, lane: str, kind: str) -> None:
        """The event's answer waits on a person now (e.g. an officer confirming a plate): set it aside."""
        if self.pending.pop((lane, kind), None) is not None:
            self.set_aside[kind] += 1

    def report(self) -> dict[str, Any]:
        """Per kind: answered latencies and the waits of unanswered events, in milliseconds (raw, so
        that several simulator processes' figures can be pooled before taking percentiles)."""
        end = self.now()
        unanswered: dict[str, list[float]] = {k: [] for k in KINDS}
        for (_lane, kind), t in self.pending.items():
            unanswered[kind].append(round(1000 * (end - t), 3))
        return {kind: {"ms": [round(1000 * s, 3) for s in self.samples[kind]], "unanswered_ms": unanswered[kind],
                       "set_aside": self.set_aside[kind]} for kind in KINDS}


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..1) of ``values``; None when there are none."""
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))]


def figures(answered_ms: list[float], unanswered_ms: list[float]) -> dict[str, Any]:
    """p50/p95/p99/max over answered and unanswered events together (an unanswered event counts with
    what it had waited when the run ended)."""
    values = answered_ms + unanswered_ms

    def r(x: float | None) -> float | None:
        return None if x is None else round(x, 2)

    return {"samples": len(answered_ms), "unanswered": len(unanswered_ms),
            "p50_ms": r(percentile(values, 0.50)), "p95_ms": r(percentile(values, 0.95)),
            "p99_ms": r(percentile(values, 0.99)), "max_ms": r(max(values, default=None))}


def pool(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """Several simulator processes' :meth:`LatencyLog.report` -> figures per kind and over all kinds."""
    kinds: dict[str, Any] = {}
    everything: tuple[list[float], list[float]] = ([], [])
    for kind in KINDS:
        answered = [x for rep in reports for x in rep[kind]["ms"]]
        unanswered = [x for rep in reports for x in rep[kind]["unanswered_ms"]]
        kinds[kind] = {**figures(answered, unanswered), "set_aside": sum(rep[kind]["set_aside"] for rep in reports)}
        everything[0].extend(answered)
        everything[1].extend(unanswered)
    return {"all": figures(*everything), "kinds": kinds}
