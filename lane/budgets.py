"""Budget alerts: a stage over its budget raises an alert once (cleared when the visit leaves the
stage); the visit over the ten-minute promise, counted from the entry, raises a second, louder one
(spec/workflow.md). The wait before the entry has its own budget (``queued``). Budgets are settings
(``LaneTiming``). The same once-a-second pass keeps the entry sign's expected wait current."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from lane.alerts import AlertFacts
from lane.workflow import BEFORE_ENTRY

if TYPE_CHECKING:
    from lane.controller import LaneController


async def watch_budgets(lane: LaneController) -> None:
    timing = lane.settings.timing
    while lane.running:
        now = lane.clock.monotonic()
        for visit in list(lane.visits.values()):
            for alert in visit.state.budget_alerts(now, timing.budgets, timing.visit_budget):
                if alert == "visit_over_budget":
                    lane.records.alert("visit_over_budget", f"visit {visit.id} ({visit.state.plate}) over "
                                       f"{timing.visit_budget / 60:.0f} minutes since the entry", level="critical",
                                       visit=visit, facts=AlertFacts(minutes=round(timing.visit_budget / 60, 1)))
                else:
                    stage = alert.split(":", 1)[1]
                    what = (f"waiting before the entry over {timing.budgets[stage] / 60:.0f} minutes"
                            if stage in {s.value for s in BEFORE_ENTRY} else f"over budget in {stage}")
                    lane.records.alert("stage_over_budget", f"visit {visit.id} ({visit.state.plate or 'no plate yet'}) "
                                       f"{what}", visit=visit, cause=stage,
                                       facts=AlertFacts(stage=stage, minutes=round(timing.budgets[stage] / 60, 1)))
        await lane.queue.tick()
        # Every simulated second, but not more often than 4 times a wall second: a speeded-up
        # site with many lanes would otherwise spend its loop on this (`lajur bench load`).
        await asyncio.sleep(max(lane.clock.to_wall(1.0), 0.25))
