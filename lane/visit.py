"""One vehicle in the lane, as the controller holds it: the workflow state, its database row, and
what its runner waits on (officer commands not yet taken, the task walking it through the stages)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lane.commands import Abort, Accepted, VisitCommand
from lane.errors import LajurError, RecordRefused
from lane.persistence.models import VisitRow
from lane.ports import IdentityCard
from lane.workflow import Station, VisitState

if TYPE_CHECKING:
    from lane.decisions import Proposal

DEVICE_STEPS = frozenset({"entry-gate", "exit-gate", "entry-camera", "exit-camera", "card-reader", "registry",
                          "payment", "receipt-printer", "biometric", "card-printer"})
"""Devices a visit's step can be held on; a hold on one reads ``"<device>: <what happened>"``."""
STUCK_HOLDS = frozenset({"database refused the visit's record", "internal error"})
"""Holds on the lane itself (``Holds.stuck``): the officer retries the stage, does it by hand, or aborts."""
DECISION_HOLD = "decision"
"""A hold on ``"decision: ..."``: the verifying stage waits for the decision form or its approval."""


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
    pending: list[Accepted] = field(default_factory=list)
    """Officer commands accepted and not yet taken by the runner, oldest first."""
    task: asyncio.Task[None] | None = None
    recovered: bool = False
    """Reloaded from the database after a restart: its first steps re-read the hardware instead of
    assuming the vehicle is where the last run left it (see ``lane.recovery``)."""
    reshow: tuple[Station, str] | None = None
    """After a restart: the "drive on" message (station, step) that may not have reached the driver."""
    record_refused: bool = False
    """The database refused this visit's record once already (the officer was alerted)."""
    last_save: asyncio.Future[bool] | None = None
    """The write of the visit's row last asked for, while the store's writer has it (``Records.written``)."""
    refused: RecordRefused | None = None
    """The database refused the visit's last written row: raised, once, where the visit next waits or
    acts (``Records.written``, ``lane.waiting.check_abort``), so the stage that wrote it holds."""
    card: IdentityCard | None = None
    """What the e-KTP reader read at window 1 (None before, or when the officer took the reader over)."""
    proposal: Proposal | None = None
    """A decision by hand waiting for a supervisor's approval."""
    confirming: bool = False
    """Paying waits for the applicant to confirm name, class and fee (on the terminal, or through the
    officer: :class:`lane.commands.ApplicantAnswer`)."""
    retrying: list[Accepted] = field(default_factory=list)
    """Retries taken whose next attempt has not ended yet (they are told how it went)."""

    @property
    def id(self) -> str:
        return self.state.id

    def has_pending(self, *kinds: type[VisitCommand]) -> bool:
        """An officer command of one of these kinds waits for the runner."""
        return any(isinstance(a.command, kinds) for a in self.pending)

    @property
    def abort_requested(self) -> bool:
        return self.has_pending(Abort)

    @property
    def held_device(self) -> str | None:
        """The device whose step holds the visit, ``"lane"`` for a stage stuck on the lane itself (the
        database refused the record, a bug); None: not held, or held on something else."""
        if self.state.held in STUCK_HOLDS:
            return "lane"
        device = (self.state.held or "").split(":", 1)[0].strip()
        return device if device in DEVICE_STEPS or device.startswith("card-printer-") else None

    @property
    def awaiting_decision(self) -> bool:
        """Verifying waits for the decision form or its approval (the reader or registry was taken over)."""
        return (self.state.held or "").split(":", 1)[0] == DECISION_HOLD
