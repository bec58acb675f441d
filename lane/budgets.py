"""Budget alerts: a stage over its budget raises an alert once; the whole visit over the ten-minute
promise raises a second, louder one (spec/workflow.md). Budgets are settings (``LaneTiming``)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

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
                                       f"{timing.visit_budget / 60:.0f} minutes", level="critical", visit=visit)
                else:
                    stage = alert.split(":", 1)[1]
                    lane.records.alert("stage_over_budget", f"visit {visit.id} over budget in {stage}", visit=visit)
        # Every simulated second, but not more often than 4 times a wall second: a speeded-up
        # site with many lanes would otherwise spend its loop on this (`lajur bench load`).
        await asyncio.sleep(max(lane.clock.to_wall(1.0), 0.25))
