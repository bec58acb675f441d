"""The lane controller: runs the stage table of `lane.workflow` for every vehicle in one lane.

One asyncio task watches the entry (a vehicle on the entry loop becomes a visit), one task per visit
walks it through the windows to the exit, and one task raises budget alerts. Stations are a pipeline:
a vehicle moves on only when every station it passes is free (no overtaking), and the next vehicle
is admitted through the entry gate only when window 1 is free.

Rules this module keeps (spec/workflow.md, invariants):
- every state change is persisted before the side effect it leads to is commanded, and every side
  effect carries an idempotency key (`Store.intend`), so a restart resumes without a second card,
  charge or gate movement;
- a gate is closed only when its safety loop is clear, and a refused close is retried, never forced;
- a device fault holds the stage (never loses it); the visit resumes when the device returns or when
  an officer retries, takes over, or aborts.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date
from typing import Any

from lane.aio import cancel_all
from lane.clock import Clock
from lane.errors import (
    DeviceError,
    DeviceFault,
    GateSafetyError,
    LajurError,
    PersistenceError,
    WorkflowError,
)
from lane.events import EventBus, LaneEvent
from lane.messages import format_rupiah, message
from lane.persistence.models import SideEffect, VisitRow
from lane.persistence.store import Store, utcnow
from lane.plate_samples import PlateSamples
from lane.ports import (
    BarrierGate,
    BiometricStation,
    CardJob,
    CardPrinter,
    CardReader,
    Display,
    DisplayMessage,
    GatePosition,
    LicenceRegistry,
    PaymentOutcome,
    PaymentTerminal,
    PlateCamera,
    PlateRead,
    PrintDocument,
    ReceiptPrinter,
    Signal,
)
from lane.rules import REFUSAL_TEXT, Decision, evaluate, format_plate, mask_nik, validate_plate
from lane.settings import Settings
from lane.workflow import STAGE_ORDER, Outcome, Stage, Station, VisitState, stations_between

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

    def all_devices(self) -> list[Any]:
        devs: list[Any] = [self.entry_gate, self.exit_gate, self.card_reader, self.payment,
                           self.receipt_printer, self.biometric, self.card_printer, *self.displays.values()]
        return devs


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
    assuming the vehicle is where the last run left it (see ``_recover``)."""
    reshow: tuple[Station, str] | None = None
    """After a restart: the "drive on" message (station, step) that may not have reached the driver."""

    @property
    def id(self) -> str:
        return self.state.id


# Timeouts (simulated seconds) for steps that wait on a person rather than a machine.
HUMAN_TIMEOUT = {"card_reader": 600.0, "payment": 600.0, "biometric": 600.0}


class LaneController:
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
        self.occupancy: dict[Station, str | None] = {s: None for s in Station}
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []
        """(ready, future) of every coroutine in ``_wait``; ``_notify`` resolves those now ready."""
        self._tasks: list[asyncio.Task[None]] = []
        self._removers: list[Callable[[], None]] = []
        self._running = False
        self._left: dict[str, int] = {}
        self.finished: list[dict[str, Any]] = []
        """Summaries of visits that ended in this process (for the demo and benchmarks)."""
        self.on_visit_finished: list[Callable[[dict[str, Any]], None]] = []
        self.shown: dict[str, DisplayMessage] = {}
        """The last message shown per station (the console's and the web driver display's copy)."""
        self.plate_crops: dict[str, bytes] = {}
        """JPEG of the entry camera's plate crop per open visit (the console shows it beside the read)."""
        self.plate_samples = PlateSamples(settings.plate_samples_dir) if settings.plate_samples_dir else None
        """Crops an officer labelled, kept for the reader (``plate_samples_dir``); None: not kept."""

    # ================================================================ lifecycle
    async def start(self) -> None:
        self.store.ensure_lane(self.name, self.settings.site)
        # the edge counters first: a gate's listeners run in order, and the waiters that _notify
        # wakes read the counts
        for name, gate in (("entry-gate", self.devices.entry_gate), ("exit-gate", self.devices.exit_gate)):
            self._removers.append(gate.add_listener(self._edge_counter(name, gate)))
        for dev in self.devices.all_devices():
            self._removers.append(dev.add_listener(lambda _ev, d=dev: self._device_changed(d)))
        self._running = True
        self._recover()
        self._tasks.append(asyncio.create_task(self._entry_loop(), name=f"{self.name}:entry"))
        self._tasks.append(asyncio.create_task(self._watch_budgets(), name=f"{self.name}:budgets"))
        self._tasks.append(asyncio.create_task(self._secure_gates(), name=f"{self.name}:secure-gates"))
        await self._show_idle_all()

    async def stop(self) -> None:
        """Stop work; gates are left as they are (a gate is never commanded closed on the way out)."""
        self._running = False
        tasks = self._tasks + [v.task for v in self.visits.values() if v.task]
        await cancel_all(tasks)
        self._tasks.clear()
        for remove in self._removers:
            remove()
        self._removers.clear()

    # ================================================================ waiting
    def _edge_counter(self, name: str, gate: BarrierGate) -> Callable[[Any], None]:
        """Count vehicles leaving a gate's arming loop. A car that drove under the boom is known by
        that falling edge: the next car may already be on the loop, so "both loops clear" would wait
        for ever in a busy lane."""
        self._left[name] = 0
        last = {"presence": gate.status.presence_loop}

        def on_status(_event: Any) -> None:
            presence = gate.status.presence_loop
            if last["presence"] and not presence:
                self._left[name] += 1
            last["presence"] = presence

        return on_status

    async def _vehicle_through(self, visit: Visit, gate: BarrierGate, name: str, left_before: int) -> None:
        """Wait until the vehicle that was on the arming loop has driven under the boom and cleared it."""
        await self._wait(lambda: self._left[name] > left_before
                         or (not gate.status.presence_loop and not gate.status.safety_loop), visit=visit)
        await self._wait(lambda: not gate.status.safety_loop, visit=visit)

    def _device_changed(self, device: Any) -> None:
        self._notify()

    def _notify(self) -> None:
        """Something changed (a device, a station, an officer action): wake, right now, every waiter
        whose condition now holds. The conditions are evaluated here, in the listener, so the
        waiting coroutine runs in the next turn of the loop: with 32 lanes on one loop, every extra
        turn between a loop detector and the gate command it causes is latency."""
        for ready, future in list(self._waiters):
            if future.done():
                continue
            try:
                if ready():
                    future.set_result(None)
            except Exception as exc:  # noqa: BLE001 - raised where the waiter evaluates it too
                future.set_exception(exc)

    async def _wait(self, predicate: Callable[[], bool], timeout: float | None = None,
                    visit: Visit | None = None) -> None:
        """Wait until ``predicate()`` holds; ``timeout`` in simulated seconds -> DeviceTimeout-free
        TimeoutError. Wakes on device changes, station moves and officer actions (an abort of
        ``visit`` raises VisitAborted)."""
        loop = asyncio.get_running_loop()

        def ready() -> bool:
            return predicate() or (visit is not None and any(a == "abort" for a, _ in visit.pending))

        async def _loop() -> None:
            while not predicate():
                self._check_abort(visit)
                entry = (ready, loop.create_future())
                self._waiters.append(entry)
                # Re-check every half second too (a change nobody announced): a timer that wakes
                # the waiter, not a timeout that cancels it (no exception every half second per waiter).
                timer = loop.call_later(0.5, _wake, entry[1])
                try:
                    await entry[1]
                finally:
                    timer.cancel()
                    self._waiters.remove(entry)
            self._check_abort(visit)

        if timeout is None:
            await _loop()
        else:
            async with asyncio.timeout(self.clock.to_wall(timeout)):
                await _loop()

    def _check_abort(self, visit: Visit | None) -> None:
        if visit is not None and any(a == "abort" for a, _ in visit.pending):
            raise VisitAborted(visit.id)

    def _take_action(self, visit: Visit, *names: str) -> dict[str, Any] | None:
        for i, (a, params) in enumerate(visit.pending):
            if a in names:
                del visit.pending[i]
                action_id = params.pop("_action_id", None)
                if action_id is not None:
                    self.store.action_taken(action_id)
                return params
        return None

    # ================================================================ persistence helpers
    def _persist(self, visit: Visit, note: str | None = None, transition_from: Stage | None = None) -> None:
        s, r = visit.state, visit.row
        now = self.clock.monotonic()
        r.stage = s.stage.value
        r.outcome = s.outcome.value if s.outcome else None
        r.reason = s.reason
        r.held = s.held
        r.plate = s.plate
        r.plate_confidence = s.plate_confidence
        r.stage_seconds = {k: round(v, 3) for k, v in s.stage_seconds(now).items()}
        if s.finished:
            r.ended_at = self.clock.now()
            r.sim_ended = s.ended
        self.store.save_visit(r)  # our row stays the one source of truth; the store merges a copy
        if transition_from is not None or note:
            self.store.record_transition(visit.id, transition_from.value if transition_from else None,
                                         s.stage.value, now, note)
        self._emit(visit)

    def _emit(self, visit: Visit) -> None:
        self.bus.publish(LaneEvent(self.name, "visit", self.visit_view(visit)))
        self._notify()

    def _advance(self, visit: Visit, to: Stage | None = None, note: str | None = None) -> None:
        before = visit.state.stage
        visit.state.advance(self.clock.monotonic(), to)
        self._persist(visit, note=note, transition_from=before)

    def _alert(self, kind: str, message_: str, *, level: str = "warning", visit: Visit | None = None) -> None:
        row = self.store.alert(self.name, kind, level, message_, visit.id if visit else None)
        log.warning("%s alert %s: %s", self.name, kind, message_)
        self.bus.publish(LaneEvent(self.name, "alert", {
            "id": row.id, "kind": kind, "level": level, "message": message_,
            "visit_id": visit.id if visit else None, "at": row.at.isoformat()}))

    # ================================================================ recovery
    def _recover(self) -> None:
        """Reload open visits after a restart and resume each from its persisted stage.

        A stage names where a vehicle is *going*, so the physical position is taken from the
        ``move`` records ``_go_to`` writes before it signals a driver on (falling back to window 1
        after admission, the entry before it). If the crash came between that record and the green
        signal, the signal is shown again when the visit resumes (``Visit.reshow``), unless another
        vehicle now stands at that station. Side effects are re-commanded with the same idempotency
        keys (the payment terminal and card printer recognise a repeated reference / renewal id);
        gates are re-read rather than assumed (``_gate_recovered``), and a gate left open by the dead
        process with nobody to let through is closed once its safety loop is clear
        (``_secure_gates``). Officer actions accepted but not yet taken are handed back to their
        visits (``Store.waiting_actions``).
        """
        for row in self.store.open_visits(self.name):
            now = self.clock.monotonic()
            stage = Stage(row.stage)
            state = VisitState(id=row.id, lane=row.lane, seq=row.seq, started=now - sum(row.stage_seconds.values()),
                               started_at=row.started_at, stage=stage,
                               outcome=Outcome(row.outcome) if row.outcome else None,
                               reason=row.reason, held=None, plate=row.plate,
                               plate_confidence=row.plate_confidence)
            visit = Visit(state, row, recovered=True)
            self.visits[visit.id] = visit
            moves = [e for e in self.store.side_effects(visit.id) if e.kind == "move"]
            if stage is Stage.ARRIVING:
                station: Station | None = Station.ENTRY
            elif moves:
                last = moves[-1]
                station = Station(last.detail["to"])
                if last.detail.get("from") and last.status == "intended":
                    visit.reshow = (Station(last.detail["from"]), str(last.detail.get("step", "")))
            else:
                station = Station.WINDOW_1
            if station is not None and self.occupancy[station] is None:
                self.occupancy[station] = visit.id
            log.info("%s: resuming visit %s at %s (vehicle at %s)", self.name, visit.id, stage,
                     station.value if station else None)
            if stage is Stage.ARRIVING:
                # The entry loop owns arriving vehicles; it picks this one up first.
                continue
            visit.task = asyncio.create_task(self._run_visit(visit), name=f"{self.name}:{visit.id}")
        for row in self.store.waiting_actions(self.name):
            visit = self.visits.get(row.visit_id)
            if visit is None:  # its visit ended before the restart
                self.store.action_taken(row.id)
                continue
            log.info("%s: %s's %s on %s, accepted before the restart, still applies", self.name, row.actor,
                     row.action, visit.id)
            visit.pending.append((row.action, {**row.params, "_action_id": row.id}))
        for visit in self.visits.values():
            if visit.reshow and self.occupancy[visit.reshow[0]] not in (None, visit.id):
                visit.reshow = None  # someone else is there now: the old signal would mislead them

    def _gate_intended(self, visit: Visit, name: str) -> bool:
        effect = self.store.side_effect(f"{visit.id}-{name}-open")
        return effect is not None and effect.status in ("intended", "done")

    async def _gate_recovered(self, visit: Visit, gate: BarrierGate, name: str) -> bool:
        """After a restart, for a visit whose gate opening was already commanded: has its vehicle
        gone through? Re-read the gate (and, at the entry, the camera): a vehicle on the safety loop
        is passing (wait for it to clear: True); both loops clear means it has gone (True); a
        vehicle on the arming loop is this one unless the entry camera reads another plate (the next
        car may already wait there)."""
        if not (visit.recovered and self._gate_intended(visit, name)):
            return False
        with contextlib.suppress(TimeoutError):
            await self._wait(lambda: gate.online, timeout=30, visit=visit)
        st = gate.status
        if st.safety_loop:
            await self._wait(lambda: not gate.status.safety_loop, visit=visit)
            return True
        if not st.presence_loop:
            return True
        if name == "entry-gate":
            read = None
            with contextlib.suppress(DeviceError, TimeoutError):
                read = await self.devices.entry_camera.read_plate(timeout=self._camera_timeout())
            if read is not None and read.plate and visit.state.plate and read.plate != visit.state.plate:
                log.info("%s: %s went through before the restart (now %s at the entry)", self.name, visit.id,
                         read.plate)
                return True
        return False

    async def _secure_gates(self) -> None:
        """After a start, close a gate the previous process left open with no vehicle to let
        through (never on a vehicle: ``_close_gate`` waits for the safety loop)."""
        pairs = (("entry-gate", self.devices.entry_gate, Stage.ARRIVING),
                 ("exit-gate", self.devices.exit_gate, Stage.EXITING))
        for name, gate, stage in pairs:
            with contextlib.suppress(TimeoutError):
                await self._wait(lambda g=gate: g.online, timeout=30)
            owner = any(v.state.stage is stage and self._gate_intended(v, name) for v in self.visits.values())
            if owner or gate.status.position not in (GatePosition.OPEN, GatePosition.OPENING):
                continue
            log.info("%s: %s left open by the previous run; closing it", self.name, name)
            await self._close_gate(None, gate, name)

    # ================================================================ entry
    async def _entry_loop(self) -> None:
        gate = self.devices.entry_gate
        while self._running:
            try:
                pending = next((v for v in self.visits.values() if v.state.stage is Stage.ARRIVING), None)
                if pending is None:
                    await self._wait(lambda: gate.status.presence_loop and self.occupancy[Station.ENTRY] is None)
                    pending = self._new_visit()
                await self._run_arriving(pending)
            except asyncio.CancelledError:
                raise
            except VisitAborted as exc:
                visit = self.visits.get(str(exc))
                if visit:
                    await self._handle_abort(visit)
            except PersistenceError as exc:  # database away: the next vehicle waits at the entry
                log.warning("%s: entry waits for the database: %s", self.name, exc)
                await asyncio.sleep(1.0)
            except Exception:  # noqa: BLE001 - the entry must keep working; the failure is logged
                log.exception("%s: entry loop error", self.name)
                await self.clock.sleep(1.0)

    def _new_visit(self) -> Visit:
        seq = self.store.next_seq(self.name)
        now_dt = self.clock.now()
        visit_id = f"{self.name}-{now_dt:%Y%m%d}-{seq:04d}"
        state = VisitState(id=visit_id, lane=self.name, seq=seq, started=self.clock.monotonic(),
                           started_at=now_dt)
        row = VisitRow(id=visit_id, lane=self.name, seq=seq, stage=state.stage.value,
                       started_at=now_dt.astimezone(UTC),
                       sim_started=state.started, updated_at=utcnow(), stage_seconds={})
        visit = Visit(state, row)
        self.visits[visit_id] = visit
        self.occupancy[Station.ENTRY] = visit_id
        self._persist(visit, note="vehicle on entry loop", transition_from=None)
        return visit

    async def _run_arriving(self, visit: Visit) -> None:
        gate = self.devices.entry_gate
        timing = self.settings.timing
        if visit.state.plate is None:
            await self._show(Station.ENTRY, "plate_check")
            read = await self._guarded(visit, "entry-camera",
                                       lambda: self.devices.entry_camera.read_plate(timeout=self._camera_timeout()))
            if read is not None and getattr(read, "crop_jpeg", None):
                self.plate_crops[visit.id] = read.crop_jpeg
            if read is not None and read.plate and read.confidence >= timing.plate_min_confidence:
                visit.state.plate, visit.state.plate_confidence = read.plate, read.confidence
                self._persist(visit, note=f"plate read {read.plate} ({read.confidence:.2f})")
            else:
                guess = read.plate if read else None
                visit.state.plate_confidence = read.confidence if read else 0.0
                visit.state.hold("plate_unconfirmed")
                self._persist(visit, note="plate needs an officer")
                self._alert("plate_unconfirmed",
                            f"plate read {guess or 'nothing'} with low confidence; confirm or type it",
                            visit=visit)
                await self._wait(lambda: any(a == "confirm_plate" for a, _ in visit.pending), visit=visit)
                params = self._take_action(visit, "confirm_plate") or {}
                visit.state.plate = params["plate"]
                visit.state.plate_confidence = 1.0
                visit.state.resume()
                self._persist(visit, note="plate confirmed by officer")
                self._keep_plate_sample(visit, read, "confirmed" if guess == visit.state.plate else "typed")

        plate = visit.state.plate
        if self.occupancy[Station.WINDOW_1] is not None:
            await self._show(Station.ENTRY, "wait", plate=plate)
        # Admission: the next vehicle enters only when window 1 is free.
        await self._wait(lambda: self.occupancy[Station.WINDOW_1] in (None, visit.id), visit=visit)
        if not await self._gate_recovered(visit, gate, "entry-gate"):
            left_before = self._left["entry-gate"]
            await self._open_gate(visit, gate, "entry-gate")
            await self._show(Station.ENTRY, "enter", plate=plate, signal=Signal.GREEN)
            await self._vehicle_through(visit, gate, "entry-gate", left_before)
        # The boom first, the bookkeeping after: a restart in between finds the gate closed and both
        # loops clear, which _gate_recovered reads as "this vehicle went through".
        await self._close_gate(visit, gate, "entry-gate")
        self._move(visit, Station.WINDOW_1)
        self._advance(visit, Stage.VERIFYING, note="vehicle passed the entry gate")
        await self._show(Station.ENTRY, "idle")
        visit.task = asyncio.create_task(self._run_visit(visit), name=f"{self.name}:{visit.id}")

    # ================================================================ per-visit runner
    async def _run_visit(self, visit: Visit) -> None:
        handlers: dict[Stage, Callable[[Visit], Awaitable[None]]] = {
            Stage.VERIFYING: self._stage_verifying,
            Stage.PAYING: self._stage_paying,
            Stage.CAPTURING: self._stage_capturing,
            Stage.PRINTING: self._stage_printing,
            Stage.HANDING_OVER: self._stage_handing_over,
            Stage.EXITING: self._stage_exiting,
        }
        try:
            while not visit.state.finished:
                stage = visit.state.stage
                try:
                    await handlers[stage](visit)
                except VisitAborted:
                    await self._handle_abort(visit)
                    continue
                if visit.state.stage is stage and not visit.state.finished:
                    self._advance(visit)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - keep the lane alive; the visit stays open in the database
            log.exception("%s: visit %s failed unexpectedly", self.name, visit.id)
            visit.state.hold("internal_error")
            with contextlib.suppress(Exception):
                self._persist(visit, note="internal error")
            self._alert("internal_error", f"visit {visit.id} stopped on an internal error", level="critical",
                        visit=visit)

    async def _handle_abort(self, visit: Visit) -> None:
        params = self._take_action(visit, "abort") or {}
        if visit.state.stage is Stage.EXITING and visit.state.outcome is Outcome.ABORTED:
            return
        if visit.state.stage is Stage.ARRIVING:
            # Never admitted: it leaves backwards; nothing was done for it.
            visit.state.outcome = Outcome.ABORTED
            visit.state.reason = params.get("reason", "aborted")
            visit.state.held = None
            self._advance(visit, Stage.DONE, note="aborted before admission")
            self._release(visit)
            self._finished(visit)
            return
        visit.state.abort(self.clock.monotonic(), params.get("reason", "aborted"))
        self._persist(visit, note=f"aborted: {visit.state.reason}", transition_from=None)
        st = visit.row.stage
        log.info("%s: visit %s aborted at %s", self.name, visit.id, st)

    async def _guarded(self, visit: Visit, device: str, step: Callable[[], Awaitable[Any]]) -> Any:
        """Run one device step; on a device failure hold the visit and retry when the device is back
        or the officer says so. Returns the step's result, or None when the officer took it over.

        After a restart, an officer's retry or take-over of this very step that the dead process had
        accepted applies first: a payment the officer already took by other means is not charged
        again at the terminal."""
        if visit.recovered:
            for i, (a, params) in enumerate(visit.pending):
                if a in ("retry", "take_over") and params.get("device") == device:
                    del visit.pending[i]
                    if params.get("_action_id") is not None:
                        self.store.action_taken(params["_action_id"])
                    if a == "take_over":
                        self._persist(visit, note=f"{device} step taken over by officer (before the restart)")
                        return None
                    break
        attempt = 0
        while True:
            self._check_abort(visit)
            try:
                result = await step()
            except (DeviceError, PersistenceError) as exc:
                attempt += 1
                reason = f"{device}: {getattr(exc, 'fault', None) or exc}"
                log.warning("%s: visit %s held: %s", self.name, visit.id, reason)
                self.store.device_event(self.name, device, "fault", {"visit": visit.id, "error": str(exc)})
                if not visit.state.held:
                    visit.state.hold(reason)
                    self._persist(visit, note=f"held: {reason}")
                    self._alert("device_fault", f"{device}: {exc} (visit {visit.id})", visit=visit,
                                level="critical" if isinstance(exc, DeviceFault) else "warning")
                auto = not isinstance(exc, DeviceFault)
                action = await self._await_resolution(visit, device, auto_retry=auto, attempt=attempt)
                if action == "take_over":
                    visit.state.resume()
                    self._persist(visit, note=f"{device} step taken over by officer")
                    return None
                visit.state.resume()
                self._persist(visit, note=f"retry {device}")
                continue
            if visit.state.held:
                visit.state.resume()
                self._persist(visit, note=f"{device} back")
            return result

    async def _await_resolution(self, visit: Visit, device: str, *, auto_retry: bool, attempt: int) -> str:
        """Held: wait for an officer (retry / take_over / abort) or, for outages, a back-off retry."""
        backoff = min(30.0, 2.0 * attempt)
        deadline = self.clock.monotonic() + backoff

        def ready() -> bool:
            if any(a in ("retry", "take_over", "abort") for a, _ in visit.pending):
                return True
            return auto_retry and self.clock.monotonic() >= deadline and self._device_online(device)

        while not ready():
            self._check_abort(visit)
            with contextlib.suppress(TimeoutError):
                await self._wait(ready, timeout=max(0.5, backoff), visit=visit)
        self._check_abort(visit)
        if self._take_action(visit, "take_over") is not None:
            return "take_over"
        self._take_action(visit, "retry")
        return "retry"

    def _camera_timeout(self) -> float:
        """Ten simulated seconds, but never less than the real time a few OpenCV reads take: image
        processing does not get faster when the clock is speeded up."""
        return max(self.clock.to_wall(10.0), 1.0)

    def _device_online(self, device: str) -> bool:
        for dev in self.devices.all_devices():
            if getattr(dev, "name", None) == device:
                return bool(dev.online)
        return True

    # ---------------------------------------------------------------- stations
    def where(self, visit: Visit) -> Station | None:
        """The station the vehicle physically occupies (a stage names where it is *going*)."""
        return next((st for st in Station if self.occupancy[st] == visit.id), None)

    def _move(self, visit: Visit, target: Station) -> None:
        current = self.where(visit)
        for st in Station:
            if self.occupancy[st] == visit.id:
                self.occupancy[st] = None
        self.occupancy[target] = visit.id
        if current is not None and current is not target:
            self._notify()

    def _release(self, visit: Visit) -> None:
        for st in Station:
            if self.occupancy[st] == visit.id:
                self.occupancy[st] = None
        self._notify()

    async def _go_to(self, visit: Visit, target: Station, step: str) -> None:
        """Drive to ``target`` once every station on the way is free (no overtaking). The display at
        the current station says ``step`` with a green signal only then, so nobody drives into a
        window that is still busy."""
        previous = self.where(visit)
        if previous is target:
            if visit.reshow is not None:  # restarted between the move record and the signal
                station, shown_step = visit.reshow
                visit.reshow = None
                if self.occupancy[station] is None:
                    await self._show(station, shown_step or step, plate=visit.state.plate, signal=Signal.GREEN)
            return
        path = stations_between(previous, target)
        if not all(self.occupancy[s] in (None, visit.id) for s in path) and previous is not None:
            await self._show(previous, "wait", plate=visit.state.plate)
        await self._wait(lambda: all(self.occupancy[s] in (None, visit.id) for s in path), visit=visit)
        # Where the vehicle goes is a state change: recorded before the driver is signalled on, so a
        # restart knows which station it stands at (see _recover).
        await self._intend(visit, f"{visit.id}-move-{target.value}", kind="move",
                          detail={"from": previous.value if previous else None, "to": target.value, "step": step})
        if previous is not None:
            await self._show(previous, step, plate=visit.state.plate, signal=Signal.GREEN)
        self.store.settle(f"{visit.id}-move-{target.value}", "done")
        self._move(visit, target)

    # ---------------------------------------------------------------- stages
    async def _stage_verifying(self, visit: Visit) -> None:
        plate = visit.state.plate
        await self._show(Station.WINDOW_1, "tap_ektp", plate=plate)
        card = await self._guarded(visit, "card-reader", lambda: self.devices.card_reader.read(
            timeout=self.clock.to_wall(HUMAN_TIMEOUT["card_reader"])))
        if card is None:  # taken over: the officer decides by hand
            params = self._take_action(visit, "decide") or {}
            decision = Decision(True, sim_class=params.get("sim_class", "A"))
        else:
            await self._show(Station.WINDOW_1, "verifying", plate=plate)
            answer = await self._guarded(visit, "registry", lambda: self.devices.registry.lookup(
                card.nik, card.sim_number))
            today = self.clock.now().date()
            decision = evaluate(card, answer, today, self.settings.rules) if answer else Decision(
                True, sim_class="A")
            r = visit.row
            r.nik, r.holder_name, r.sim_number = card.nik, card.name, card.sim_number
            if answer and answer.licence:
                r.sim_class = answer.licence.sim_class
        log.info("%s: visit %s NIK %s -> %s", self.name, visit.id, mask_nik(visit.row.nik),
                 "eligible" if decision.eligible else decision.refusal)
        if not decision.eligible:
            code = decision.refusal.value if decision.refusal else "refused"
            # Persist the refusal first, then print the referral slip (idempotent by key).
            visit.state.refuse(self.clock.monotonic(), code)
            self._persist(visit, note=f"refused: {code}", transition_from=Stage.VERIFYING)
            await self._show(Station.WINDOW_1, "refused", plate=plate)
            await self._print_once(visit, "referral", self._referral(visit, decision))
            return
        visit.row.sim_class = decision.sim_class or visit.row.sim_class
        visit.row.fee = decision.fee if decision.fee is not None else self.settings.rules.fees.get(
            visit.row.sim_class or "A", 0)
        visit.row.new_expiry = (decision.new_expiry or self.clock.now().date()).isoformat()
        self._persist(visit, note="eligible")

    async def _stage_paying(self, visit: Visit) -> None:
        r = visit.row
        fee = int(r.fee or 0)
        plate = visit.state.plate
        if not r.paid:
            attempt = 1
            while True:
                reference = f"{visit.id}-fee-{attempt}"
                effect = await self._intend(visit, reference, kind="charge", detail={"amount": fee})
                if effect.status == "failed":
                    attempt += 1
                    continue
                r.payment_reference = reference
                self._persist(visit, note=f"charge {reference}")
                await self._show(Station.WINDOW_1, "pay", plate=plate, fee=fee)
                result = await self._guarded(visit, "payment", lambda ref=reference: self.devices.payment.charge(
                    ref, fee, timeout=self.clock.to_wall(HUMAN_TIMEOUT["payment"])))
                if result is None:  # officer confirmed payment by other means
                    self.store.settle(reference, "done", {"by": "officer"})
                    break
                if result.outcome is PaymentOutcome.PAID:
                    self.store.settle(reference, "done", {"outcome": "paid"})
                    break
                self.store.settle(reference, "failed", {"outcome": result.outcome.value, "detail": result.detail})
                visit.state.hold(f"payment {result.outcome.value}")
                self._persist(visit, note=f"payment {result.outcome.value}")
                self._alert("payment_failed", f"payment {result.outcome.value} for {format_plate(plate or '')}",
                            visit=visit)
                action = await self._await_resolution(visit, "payment", auto_retry=False, attempt=attempt)
                visit.state.resume()
                if action == "take_over":
                    self.store.settle(reference, "failed", {"then": "officer confirmed payment"})
                    break
                attempt += 1
            r.paid = True
            self._persist(visit, note="paid")
        await self._show(Station.WINDOW_1, "receipt", plate=plate)
        await self._print_once(visit, "receipt", PrintDocument(
            kind="receipt", reference=r.payment_reference or visit.id, title="BUKTI PEMBAYARAN PNBP SIM",
            lines=[f"Plat: {format_plate(plate or '')}", f"SIM {r.sim_class}: perpanjangan",
                   f"PNBP: {format_rupiah(fee)}", f"Ref: {r.payment_reference}"],
            qr=f"LAJUR:{r.payment_reference}:{fee}"))

    async def _stage_capturing(self, visit: Visit) -> None:
        await self._go_to(visit, Station.WINDOW_2, "to_window_2")
        await self._show(Station.WINDOW_2, "capture", plate=visit.state.plate)
        await self._guarded(visit, "biometric", lambda: self.devices.biometric.capture(
            visit.id, timeout=self.clock.to_wall(HUMAN_TIMEOUT["biometric"])))

    async def _stage_printing(self, visit: Visit) -> None:
        await self._go_to(visit, Station.WINDOW_3, "to_window_3")
        await self._show(Station.WINDOW_3, "printing", plate=visit.state.plate)
        r = visit.row
        key = f"{visit.id}-card"
        effect = await self._intend(visit, key, kind="card_print")
        if effect.status == "done" and not self._take_action(visit, "reprint"):
            return
        job = CardJob(renewal_id=visit.id, sim_number=r.sim_number or "", holder_name=r.holder_name or "",
                      sim_class=r.sim_class or "A",
                      expires=date.fromisoformat(r.new_expiry) if r.new_expiry else self.clock.now().date())
        await self._guarded(visit, "card-printer", lambda: self.devices.card_printer.print_card(job))
        self.store.settle(key, "done")

    async def _stage_handing_over(self, visit: Visit) -> None:
        await self._show(Station.WINDOW_3, "handover", plate=visit.state.plate)
        await self._wait(lambda: any(a == "handed_over" for a, _ in visit.pending), visit=visit)
        self._take_action(visit, "handed_over")

    async def _stage_exiting(self, visit: Visit) -> None:
        gate = self.devices.exit_gate
        step = {Outcome.REFUSED: "refused", Outcome.ABORTED: "aborted"}.get(visit.state.outcome, "to_exit")
        previous = self.where(visit)
        await self._go_to(visit, Station.EXIT, step)
        if not await self._gate_recovered(visit, gate, "exit-gate"):
            await self._show(Station.EXIT, "to_exit", plate=visit.state.plate)
            await self._wait(lambda: gate.status.presence_loop, visit=visit)
            if self.settings.timing.exit_plate_match and self.devices.exit_camera is not None:
                await self._match_exit_plate(visit)
            left_before = self._left["exit-gate"]
            await self._open_gate(visit, gate, "exit-gate")
            await self._show(Station.EXIT, "exit_open", plate=visit.state.plate, signal=Signal.GREEN)
            await self._vehicle_through(visit, gate, "exit-gate", left_before)
        await self._close_gate(visit, gate, "exit-gate", after_exit=True)  # boom first, as at the entry
        self._advance(visit, Stage.DONE, note="vehicle left by the exit")
        self._release(visit)
        await self._show(Station.EXIT, "idle")
        if previous is not None and previous is not Station.EXIT and self.occupancy[previous] is None:
            await self._show(previous, "idle")
        self._finished(visit)

    async def _match_exit_plate(self, visit: Visit) -> None:
        cam = self.devices.exit_camera
        assert cam is not None
        read = await self._guarded(visit, "exit-camera", lambda: cam.read_plate(timeout=self._camera_timeout()))
        if read and read.plate and read.plate == visit.state.plate:
            return
        visit.state.hold("exit_plate_mismatch")
        self._persist(visit, note=f"exit plate {read.plate if read else None} != {visit.state.plate}")
        self._alert("exit_plate_mismatch", f"exit camera read {read.plate if read else 'nothing'}, "
                    f"expected {visit.state.plate}", visit=visit)
        await self._await_resolution(visit, "exit-camera", auto_retry=False, attempt=1)
        visit.state.resume()

    # ---------------------------------------------------------------- side effects
    async def _intend(self, visit: Visit, key: str, *, kind: str, detail: dict[str, Any] | None = None) -> SideEffect:
        """Record a side effect before it is commanded (see Store.intend). While the database is away
        nothing is commanded that it could not record: the visit is held (the officer sees why) and
        carries on by itself once the database answers and its journal is written."""
        attempt = 0
        while True:
            try:
                effect = self.store.intend(key, lane=self.name, kind=kind, visit_id=visit.id, detail=detail)
            except PersistenceError as exc:
                attempt += 1
                if not visit.state.held:
                    visit.state.hold("database")
                    self._persist(visit, note=f"held: database ({exc})")
                    self._alert("database_unavailable", f"database unreachable; visit {visit.id} waits before "
                                f"{kind}", level="critical", visit=visit)
                self._check_abort(visit)
                await asyncio.sleep(min(0.25 * attempt, 2.0))  # wall time: an outage is not simulated
                continue
            if visit.state.held == "database":
                visit.state.resume()
                self._persist(visit, note="database back")
            return effect

    async def _print_once(self, visit: Visit, kind: str, doc: PrintDocument) -> None:
        key = f"{visit.id}-{kind}"
        effect = await self._intend(visit, key, kind=kind)
        if effect.status == "done":
            return
        await self._guarded(visit, "receipt-printer", lambda: self.devices.receipt_printer.print_document(doc))
        self.store.settle(key, "done")

    async def _open_gate(self, visit: Visit | None, gate: BarrierGate, name: str) -> None:
        key = f"{visit.id if visit else self.name}-{name}-open"
        if visit is not None:
            await self._intend(visit, key, kind="gate_open")
        else:
            self.store.intend(key, lane=self.name, kind="gate_open")
        if visit is not None:
            await self._guarded(visit, name, gate.open)
        else:
            await gate.open()
        self.store.settle(key, "done")

    async def _close_gate(self, visit: Visit | None, gate: BarrierGate, name: str, *, after_exit: bool = False) -> None:
        """Close only with the safety loop clear; a refused close waits and tries again."""
        for _ in range(20):
            try:
                await self._wait(lambda: not gate.status.safety_loop, timeout=120)
                await gate.close()
                return
            except GateSafetyError:
                await self.clock.sleep(1.0)
            except (DeviceError, TimeoutError) as exc:
                self.store.device_event(self.name, name, "close_failed", {"error": str(exc)})
                self._alert("gate_close_failed", f"{name} did not close: {exc}")
                await self.clock.sleep(5.0)

    # ---------------------------------------------------------------- displays
    async def _show(self, station: Station, step: str, *, plate: str | None = None, fee: int | None = None,
                    signal: Signal = Signal.RED) -> None:
        shown = message(station.value, step, plate=format_plate(plate) if plate else None, fee=fee, signal=signal)
        self.shown[station.value] = shown
        self.bus.publish(LaneEvent(self.name, "display", dataclasses.asdict(shown)))
        display = self.devices.displays.get(station.value)
        if display is None:
            return
        try:
            await display.show(shown)
        except DeviceError as exc:  # a dark display must not stop the lane
            log.warning("%s: display %s: %s", self.name, station, exc)

    async def _show_idle_all(self) -> None:
        for st in Station:
            if self.occupancy[st] is None:
                await self._show(st, "idle")

    def _referral(self, visit: Visit, decision: Decision) -> PrintDocument:
        code = decision.refusal
        text_id, text_en = REFUSAL_TEXT[code] if code else ("Ditolak", "Refused")
        return PrintDocument(kind="referral", reference=visit.id, title="SURAT RUJUKAN / REFERRAL",
                             lines=[f"Plat: {format_plate(visit.state.plate or '')}", text_id, text_en,
                                    f"Kode: {code.value if code else 'refused'}", decision.message])

    def _keep_plate_sample(self, visit: Visit, read: PlateRead | None, kind: str) -> None:
        """The entry camera's crop labelled by the officer, for the reader's data (``plate_samples_dir``)."""
        crop = self.plate_crops.get(visit.id)
        if self.plate_samples is None or not crop or not visit.state.plate:
            return
        self.plate_samples.record(visit.id, crop, visit.state.plate, read=read.plate if read else None,
                                  confidence=read.confidence if read else 0.0, kind=kind, at=self.clock.now())

    def _finished(self, visit: Visit) -> None:
        for _, params in visit.pending:  # e.g. a second press that came too late: set aside
            if params.get("_action_id") is not None:
                self.store.action_taken(params["_action_id"])
        visit.pending.clear()
        summary = self.visit_summary(visit)
        self.finished.append(summary)
        self.visits.pop(visit.id, None)
        self.plate_crops.pop(visit.id, None)
        for cb in self.on_visit_finished:
            cb(summary)

    # ================================================================ budgets
    async def _watch_budgets(self) -> None:
        timing = self.settings.timing
        while self._running:
            now = self.clock.monotonic()
            for visit in list(self.visits.values()):
                for alert in visit.state.budget_alerts(now, timing.budgets, timing.visit_budget):
                    if alert == "visit_over_budget":
                        self._alert("visit_over_budget", f"visit {visit.id} ({visit.state.plate}) over "
                                    f"{timing.visit_budget / 60:.0f} minutes", level="critical", visit=visit)
                    else:
                        stage = alert.split(":", 1)[1]
                        self._alert("stage_over_budget", f"visit {visit.id} over budget in {stage}", visit=visit)
            # Every simulated second, but not more often than 4 times a wall second: a speeded-up
            # site with many lanes would otherwise spend its loop on this (`lajur bench load`).
            await asyncio.sleep(max(self.clock.to_wall(1.0), 0.25))

    # ================================================================ officer actions
    ACTIONS = ("confirm_plate", "retry", "take_over", "abort", "handed_over", "reprint", "open_gate",
               "close_gate")

    async def act(self, action: str, *, actor: str, role: str, visit_id: str | None = None,
                  reason: str | None = None, **params: Any) -> dict[str, Any]:
        """An officer action. Written to the audit log before it takes effect; raises WorkflowError
        (with a message for the officer) when it does not fit the visit's stage."""
        if action not in self.ACTIONS:
            raise WorkflowError(f"unknown action {action!r}")
        visit = self.visits.get(visit_id) if visit_id else None
        if action in ("open_gate", "close_gate"):
            gate_name = params.get("gate", "entry-gate")
            gate = {"entry-gate": self.devices.entry_gate, "exit-gate": self.devices.exit_gate}.get(gate_name)
            if gate is None:
                raise WorkflowError(f"unknown gate {gate_name!r}")
            if not reason:
                raise WorkflowError("a gate override needs a reason")
            self.store.audit(actor=actor, role=role, action=action, lane=self.name, reason=reason,
                             detail={"gate": gate_name})
            if action == "open_gate":
                await gate.open()
            else:
                await gate.close()  # raises GateSafetyError while a vehicle is under the boom
            return {"ok": True}
        if visit is None:
            raise WorkflowError(f"no open visit {visit_id!r} in {self.name}")
        stage = visit.state.stage
        if action == "confirm_plate":
            params["plate"] = validate_plate(str(params.get("plate", "")))
            if stage is not Stage.ARRIVING:
                # A correction after admission: update the plate, no other effect.
                was = visit.state.plate
                visit.state.plate = params["plate"]
                self._persist(visit, note="plate corrected by officer")
                if was != visit.state.plate:
                    self._keep_plate_sample(visit, PlateRead(was, visit.state.plate_confidence), "corrected")
        elif action == "handed_over" and stage is not Stage.HANDING_OVER:
            raise WorkflowError(f"the card cannot be handed over while {stage.value}")
        elif action in ("retry", "take_over") and not visit.state.held:
            raise WorkflowError("only a held step can be retried or taken over")
        elif action == "abort" and not reason:
            raise WorkflowError("an abort needs a reason")
        elif action == "reprint" and stage not in (Stage.PRINTING, Stage.HANDING_OVER):
            raise WorkflowError("a card can be reprinted only at window 3")
        self.store.audit(actor=actor, role=role, action=action, lane=self.name, visit_id=visit.id,
                         reason=reason, detail={k: v for k, v in params.items() if k != "nik"})
        self.bus.publish(LaneEvent(self.name, "audit", {"actor": actor, "action": action, "visit_id": visit.id,
                                                        "reason": reason}))
        if action == "abort":
            params["reason"] = reason
        if action == "reprint":
            self.store.settle(f"{visit.id}-card", "failed", {"reprint_by": actor}) if self.store.side_effect(
                f"{visit.id}-card") else None
            if stage is Stage.HANDING_OVER:
                visit.state.stage = Stage.PRINTING  # back to the printer, same window
                visit.state.timings.append(type(visit.state.timings[-1])(Stage.PRINTING, self.clock.monotonic()))
                if visit.task:
                    visit.task.cancel()
                visit.task = asyncio.create_task(self._run_visit(visit))
                self._persist(visit, note="reprint requested")
                return {"ok": True}
        if action in ("retry", "take_over"):
            # which held step it answers, so a restart can apply it to that step (see _guarded)
            params["device"] = re.split(r"[: ]", visit.state.held or "", maxsplit=1)[0]
        params["_action_id"] = self.store.queue_action(
            lane=self.name, visit_id=visit.id, action=action, actor=actor,
            params={k: v for k, v in params.items() if k != "nik"})
        visit.pending.append((action, params))
        self._notify()
        return {"ok": True}

    # ================================================================ views
    def visit_view(self, visit: Visit) -> dict[str, Any]:
        now = self.clock.monotonic()
        s = visit.state
        budget = self.settings.timing.budgets.get(s.stage.value)
        return {
            "id": s.id, "lane": s.lane, "seq": s.seq, "plate": s.plate, "plate_confidence": s.plate_confidence,
            "stage": s.stage.value, "station": s.station.value if s.station else None,
            "outcome": s.outcome.value if s.outcome else None, "reason": s.reason, "held": s.held,
            "elapsed": round(s.elapsed(now), 1), "stage_elapsed": round(s.stage_elapsed(now), 1),
            "stage_budget": budget, "visit_budget": self.settings.timing.visit_budget,
        }

    def visit_summary(self, visit: Visit) -> dict[str, Any]:
        now = self.clock.monotonic()
        s = visit.state
        return {
            "id": s.id, "lane": s.lane, "plate": s.plate, "outcome": s.outcome.value if s.outcome else None,
            "reason": s.reason, "seconds": round(s.elapsed(now), 1), "started": s.started,
            "stages": {k: round(v, 1) for k, v in s.stage_seconds(now).items()},
        }

    def snapshot(self) -> dict[str, Any]:
        visits = sorted(self.visits.values(), key=lambda v: v.state.seq)
        return {
            "lane": self.name,
            "stations": {st.value: self.occupancy[st] for st in Station},
            "visits": [self.visit_view(v) for v in visits],
            "devices": {getattr(d, "name", "?"): bool(d.online) for d in self.devices.all_devices()},
            "stage_order": [s.value for s in STAGE_ORDER],
        }


__all__ = ["LaneController", "LaneDevices", "TakenOver", "Visit", "VisitAborted"]


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
