"""The stage handlers, keyed by the stages of :data:`lane.workflow.STAGES`.

One module per stage (two for window 3's printing and hand-over, which share a file): each handler
does what its row of the table says must happen to leave the stage, and the runner
(:mod:`lane.stages.runner`) moves the visit to the table's next stage when a handler returns without
moving it itself. A stage added to the table needs its handler here; the check below fails at
import otherwise.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from lane.stages import arriving, capturing, exiting, handing_over, paying, printing, queued, verifying
from lane.visit import Visit
from lane.workflow import STAGE_ORDER, Stage

if TYPE_CHECKING:
    from lane.controller import LaneController

StageHandler = Callable[["LaneController", Visit], Awaitable[None]]

HANDLERS: dict[Stage, StageHandler] = {
    Stage.QUEUED: queued.wait_in_queue,
    Stage.ARRIVING: arriving.arrive,
    Stage.VERIFYING: verifying.verify,
    Stage.PAYING: paying.pay,
    Stage.CAPTURING: capturing.capture,
    Stage.PRINTING: printing.print_card,
    Stage.HANDING_OVER: handing_over.hand_over,
    Stage.EXITING: exiting.leave,
}

_missing = [s.value for s in STAGE_ORDER if s not in HANDLERS]
if _missing:  # pragma: no cover - a programming error, caught by any test that imports the lane
    raise RuntimeError(f"stages without a handler: {', '.join(_missing)}")

__all__ = ["HANDLERS", "StageHandler"]
