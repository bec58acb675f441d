"""The lane controller: one lane's vehicles, devices and officers, put together.

It owns the lane's state (open visits, who stands where) and composes the parts that act on it,
each in a module of its own:

- :mod:`lane.stages` — a handler per stage of the table in :mod:`lane.workflow`, run by
  :mod:`lane.stages.runner` (the entry task admits vehicles, one task per visit walks it on);
- :mod:`lane.queue` — the road queue before the entry: its length and expected wait;
- :mod:`lane.stations` — occupancy: no overtaking, the next vehicle only when window 1 is free;
- :mod:`lane.side_effects` — print, charge, gates: intended in the database before commanded;
- :mod:`lane.holds` — a device fault holds the stage until the device or an officer resolves it;
- :mod:`lane.recovery` — a restart resumes open visits without a second card, charge or gate move;
- :mod:`lane.records` — visit rows, transitions, alerts and live events;
- :mod:`lane.displays` — what each station's display and signal tell the driver;
- :mod:`lane.commands` — officer commands as typed values; :mod:`lane.actions` applies them,
  audited before they take effect; :mod:`lane.decisions` — a decision by hand and its approval;
  :mod:`lane.overrides` — gates by hand, device tests, a vehicle that is gone;
- :mod:`lane.refusals` — device messages the drivers refused, counted and alerted;
- :mod:`lane.privacy` — biometric captures deleted from the station once the visit is over;
- :mod:`lane.views` — the console's read models; :mod:`lane.budgets` — stage and visit budget alerts.

Rules kept across them (spec/workflow.md, invariants): every state change is persisted before the
side effect it leads to is commanded, and every side effect carries an idempotency key; a gate is
closed only when its safety loop is clear; a device fault holds the stage, never loses it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from lane.actions import ACTIONS, OfficerDesk
from lane.aio import cancel_all
from lane.budgets import watch_budgets
from lane.clock import Clock
from lane.commands import Actor, Command, CommandResult
from lane.displays import Displays
from lane.events import EventBus
from lane.holds import Holds
from lane.persistence.store import Store
from lane.plate_samples import PlateSamples
from lane.ports import (
    BarrierGate,
    BiometricStation,
    CardPrinter,
    CardReader,
    Display,
    DisplayMessage,
    LicenceRegistry,
    PaymentTerminal,
    PlateCamera,
    ReceiptPrinter,
)
from lane.privacy import CaptureDeletions
from lane.queue import RoadQueue
from lane.records import Records
from lane.recovery import recover, secure_gates
from lane.refusals import RefusedMessages
from lane.settings import Settings
from lane.side_effects import SideEffects
from lane.stages.runner import entry_loop, run_visit
from lane.stations import Stations
from lane.views import lane_snapshot, visit_summary, visit_view
from lane.visit import TakenOver, Visit, VisitAborted
from lane.waiting import Waiter
from lane.workflow import Stage, Station

log = logging.getLogger(__name__)


@dataclass
class LaneDevices:
    """Everything one lane talks to, as ports. Built by the composition root (cli/)."""

    entry_gate: BarrierGate
    exit_gate: BarrierGate
    entry_camera: PlateCamera
    card_reader: CardReader
    payment: PaymentTerminal
    receipt_printer: ReceiptPrinter
    biometric: BiometricStation
    card_printer: CardPrinter
    registry: LicenceRegistry
    displays: dict[str, Display] = field(default_factory=dict)
    exit_camera: PlateCamera | None = None
    more_card_printers: dict[str, CardPrinter] = field(default_factory=dict)
    """A lane's second (third...) card printer by name (``card-printer-2``, ...)."""

    def card_printers(self) -> dict[str, CardPrinter]:
        """Every card printer of the lane by name, ``card-printer`` first."""
        return {"card-printer": self.card_printer, **self.more_card_printers}

    def all_devices(self) -> list[Any]:
        devs: list[Any] = [self.entry_gate, self.exit_gate, self.card_reader, self.payment,
                           self.receipt_printer, self.biometric, *self.card_printers().values(),
                           *self.displays.values()]
        return devs

    def named(self, name: str) -> Any | None:
        """The device called ``name`` (``entry-gate``, ``card-printer``, ``entry-camera``...), or None."""
        for dev in [*self.all_devices(), self.entry_camera, self.exit_camera]:
            if dev is not None and getattr(dev, "name", None) == name:
                return dev
        return None


class LaneController:
    ACTIONS = ACTIONS

    def __init__(
        self,
        name: str,
        devices: LaneDevices,
        store: Store,
        clock: Clock,
        settings: Settings,
        bus: EventBus | None = None,
    ) -> None:
        self.name = name
        self.devices = devices
        self.store = store
        self.clock = clock
        self.settings = settings
        self.bus = bus or EventBus()
        self.visits: dict[str, Visit] = {}
        self.running = False
        self.finished: list[dict[str, Any]] = []
        """Summaries of visits that ended in this process (for the demo and benchmarks)."""
        self.on_visit_finished: list[Callable[[dict[str, Any]], None]] = []
        self.plate_crops: dict[str, bytes] = {}
        """JPEG of the entry camera's plate crop per open visit (the console shows it beside the read)."""
        self.plate_samples = PlateSamples(settings.plate_samples_dir) if settings.plate_samples_dir else None
        """Crops an officer labelled, kept for the reader (``plate_samples_dir``); None: not kept."""
        self.printing: dict[str, str] = {}
        """Card printer name -> the visit whose card it is printing now."""
        self.waiter = Waiter(clock)
        self.records = Records(self)
        self.stations = Stations(self)
        self.displays = Displays(self)
        self.effects = SideEffects(self)
        self.holds = Holds(self)
        self.desk = OfficerDesk(self)
        self.refused = RefusedMessages(self)
        self.queue = RoadQueue(self)
        self.captures = CaptureDeletions(self)
        self._tasks: set[asyncio.Task[None]] = set()
        self._entry: asyncio.Task[None] | None = None
        self._removers: list[Callable[[], None]] = []

    # ================================================================ lifecycle
    async def start(self) -> None:
        if self.settings.database_writer:
            self.store.start_writer()  # from here no commit blocks the loop (lane.persistence.writer)
        self.store.ensure_lane(self.name, self.settings.site)
        # the edge counters first: a gate's listeners run in order, and the waiters that notify
        # wakes read the counts
        for name, gate in (("entry-gate", self.devices.entry_gate), ("exit-gate", self.devices.exit_gate)):
            self._removers.append(gate.add_listener(self.stations.edge_counter(name, gate)))
        for dev in self.devices.all_devices():
            self._removers.append(dev.add_listener(lambda _ev: self.waiter.notify()))
            self._removers.append(dev.add_listener(self.refused))
        self.running = True
        recover(self)
        self.records.take_over_alerts()
        self.start_entry()
        self.spawn(watch_budgets(self), "budgets")
        self.spawn(secure_gates(self), "secure-gates")
        self.spawn(self.captures.run(), "capture-deletions")
        await self.displays.show_idle_all()

    async def stop(self) -> None:
        """Stop work; gates are left as they are (a gate is never commanded closed on the way out)."""
        self.running = False
        self.displays.cancel()  # a message waiting for a one-shot's hold to end
        tasks = [*self._tasks, self._entry, *(v.task for v in self.visits.values() if v.task)]
        await cancel_all(tasks)
        self._tasks.clear()
        for remove in self._removers:
            remove()
        self._removers.clear()

    def spawn(self, coro: Coroutine[Any, Any, None], what: str) -> None:
        """Run ``coro`` as one of the lane's own tasks (cancelled when the lane stops)."""
        task = asyncio.create_task(coro, name=f"{self.name}:{what}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def start_entry(self) -> None:
        """The entry task: admits vehicles one at a time (``lane.stages.runner.entry_loop``)."""
        self._entry = asyncio.create_task(entry_loop(self), name=f"{self.name}:entry")

    async def stop_entry(self) -> None:
        """Stop the entry task where it is (an arriving visit ends by hand: ``lane.overrides``)."""
        if self._entry is not None:
            await cancel_all([self._entry])
            self._entry = None

    def start_runner(self, visit: Visit) -> None:
        """Walk an admitted visit through the rest of the stage table, in a task of its own."""
        visit.task = asyncio.create_task(run_visit(self, visit), name=f"{self.name}:{visit.id}")

    def finish(self, visit: Visit) -> None:
        """The visit has left the lane: forget it here, tell whoever counts finished visits."""
        self.desk.set_aside(visit)
        self.records.clear_visit_alerts(visit)
        if "capturing" in (visit.row.stage_seconds or {}) or any(t.stage is Stage.CAPTURING
                                                                 for t in visit.state.timings):
            self.captures.request(visit.id)  # its photo, fingerprint and signature leave the station
        summary = visit_summary(visit, self.clock.monotonic())
        self.finished.append(summary)
        self.visits.pop(visit.id, None)
        self.plate_crops.pop(visit.id, None)
        for cb in self.on_visit_finished:
            cb(summary)

    # ================================================================ officers and the console
    async def command(self, cmd: Command, actor: Actor, visit_id: str | None = None) -> CommandResult:
        """An officer's typed command (:mod:`lane.commands`), audited before it takes effect; refused
        with a sentence for the officer when it does not fit (see :class:`lane.actions.OfficerDesk`)."""
        return await self.desk.command(cmd, actor, visit_id)

    async def act(self, action: str, *, actor: str, role: str, visit_id: str | None = None,
                  reason: str | None = None, **params: Any) -> dict[str, Any]:
        """The command named ``action`` (``confirm_plate``, ``retry``, ``open_gate``...) with these values."""
        return await self.desk.act(action, actor=actor, role=role, visit_id=visit_id, reason=reason, **params)

    @property
    def occupancy(self) -> dict[Station, str | None]:
        return self.stations.occupancy

    @property
    def shown(self) -> dict[str, DisplayMessage]:
        return self.displays.shown

    def where(self, visit: Visit) -> Station | None:
        return self.stations.where(visit)

    def visit_view(self, visit: Visit) -> dict[str, Any]:
        return visit_view(visit, self.clock.monotonic(), self.settings.timing, self.stations.where(visit))

    def visit_summary(self, visit: Visit) -> dict[str, Any]:
        return visit_summary(visit, self.clock.monotonic())

    def snapshot(self) -> dict[str, Any]:
        return lane_snapshot(self)


__all__ = ["LaneController", "LaneDevices", "TakenOver", "Visit", "VisitAborted"]
