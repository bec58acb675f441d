"""One vehicle in the lane, as the controller holds it: the workflow state, its database row, and
what its runner waits on (officer actions not yet taken, the task walking it through the stages)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from lane.errors import LajurError
from lane.persistence.models import VisitRow
from lane.workflow import Station, VisitState


class VisitAborted(LajurError):
    """Raised inside a visit's task when an officer aborts it."""


class TakenOver(LajurError):
    """The officer completed the held step by hand."""


@dataclass
class Visit:
    """One vehicle's renewal: workflow state + the persisted row + what the runner waits on."""

    state: VisitState
    row: VisitRow
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    pending: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    """Officer actions not yet consumed by the runner (retry, take_over, handed_over, confirm_plate)."""
    task: asyncio.Task[None] | None = None
    recovered: bool = False
    """Reloaded from the database after a restart: its first steps re-read the hardware instead of
    assuming the vehicle is where the last run left it (see ``lane.recovery``)."""
    reshow: tuple[Station, str] | None = None
    """After a restart: the "drive on" message (station, step) that may not have reached the driver."""
    record_refused: bool = False
    """The database refused this visit's record once already (the officer was alerted)."""

    @property
    def id(self) -> str:
        return self.state.id

    def has_pending(self, *names: str) -> bool:
        """An officer action of one of these kinds waits for the runner."""
        return any(a in names for a, _ in self.pending)

    @property
    def abort_requested(self) -> bool:
        return self.has_pending("abort")
