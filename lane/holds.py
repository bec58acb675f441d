"""A device step that holds the visit on a fault instead of losing it.

A step that fails (device offline, timeout, fault, database away) holds the visit with the reason
the console shows, raises one alert, and waits: an outage is retried with a back-off once the device
answers again; a fault (ribbon out, jam) waits for the officer's retry. The officer may also take
the step over (done by hand) or abort the visit.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from lane.alerts import AlertFacts, fault_facts
from lane.commands import Abort, Accepted, Retry, TakeOver, can_take_over
from lane.errors import DeviceError, DeviceFault, PersistenceError, RecordRefused, WatchdogExpired
from lane.i18n import N_
from lane.notes import Note
from lane.visit import Visit
from lane.waiting import check_abort

if TYPE_CHECKING:
    from lane.controller import LaneController

log = logging.getLogger(__name__)

class Holds:
    def __init__(self, lane: LaneController) -> None:
        self.lane = lane

    async def guarded(self, visit: Visit, device: str, step: Callable[[], Awaitable[Any]],
                      settled: Callable[[], bool] | None = None) -> Any:
        """Run one device step; on a device failure hold the visit and retry when the device is back
        or the officer says so. Returns the step's result, or None when the officer took it over.
        ``settled``: for a step that waits for the road (a watchdog), what makes it worth trying again
        by itself; the visit stays held until then, instead of being retried on a back-off.

        After a restart, an officer's retry or take-over of this very step that the dead process had
        accepted applies first: a payment the officer already took by other means is not charged
        again at the terminal."""
        lane = self.lane
        if visit.recovered:
            for accepted in list(visit.pending):
                if isinstance(accepted.command, Retry | TakeOver) and accepted.device == device:
                    lane.desk.discard(visit, accepted)
                    if isinstance(accepted.command, TakeOver) and can_take_over(device, visit.state.stage):
                        lane.records.persist(visit, note=Note.of(N_("%(device)s step taken over by officer (before the restart)"),
                                                                     device=device))
                        return None
                    break
        attempt = 0
        kinds: set[str] = set()
        """The alert kinds this step raised (a device fault, a watchdog): cleared when it is over."""
        while True:
            check_abort(visit)
            await lane.records.written(visit)  # persist before acting (RecordRefused: held by the caller)
            try:
                result = await step()
            except (DeviceError, PersistenceError) as exc:
                attempt += 1
                fault = getattr(exc, "fault", None) or getattr(exc, "message", None) or str(exc)
                reason = f"{device}: {fault}"
                self.report(visit.retrying, reason)
                log.warning("%s: visit %s held: %s", lane.name, visit.id, reason)
                lane.store.device_event(lane.name, device, "fault", {"visit": visit.id, "error": str(exc)})
                if not visit.state.held:
                    visit.state.hold(reason)
                    lane.records.persist(visit, note=Note.of(N_("held: %(device)s: %(fault)s"), device=device,
                                                             fault=fault))
                    kind = "watchdog" if isinstance(exc, WatchdogExpired) else "device_fault"
                    kinds.add(kind)
                    lane.records.alert(kind, f"{exc} (visit {visit.id})" if kind == "watchdog"
                                       else f"{device}: {exc} (visit {visit.id})", visit=visit,
                                       level="critical" if isinstance(exc, DeviceFault) else "warning", cause=device,
                                       facts=fault_facts(device, exc))
                    await lane.displays.hold(visit)
                auto = not isinstance(exc, DeviceFault)
                action = await self.await_resolution(visit, device, auto_retry=auto, attempt=attempt, until=settled)
                if action == "take_over":
                    visit.state.resume()
                    lane.records.persist(visit, note=Note.of(N_("%(device)s step taken over by officer"), device=device))
                    await self._over(visit, device, kinds)
                    return None
                visit.state.resume()
                lane.records.persist(visit, note=Note.of(N_("retry %(device)s"), device=device))
                continue
            self.report(visit.retrying, None)
            if visit.state.held:
                visit.state.resume()
                lane.records.persist(visit, note=Note.of(N_("%(device)s back"), device=device))
            await self._over(visit, device, kinds)
            return result

    async def _over(self, visit: Visit, device: str, kinds: set[str]) -> None:
        """The held step is done (by the device or by hand): its alerts end, the driver's sign comes back."""
        for kind in kinds or {"device_fault"}:
            self.lane.records.clear_alert(kind, visit, cause=device)
        await self.lane.displays.unhold(visit)

    async def stuck(self, visit: Visit, exc: Exception) -> str:
        """A stage failed on something no device coming back fixes: the database refused the visit's
        record, or a bug. Hold the visit with a critical alert and wait for the officer: ``retry``
        (the stage again), ``take_over`` (the stage done by hand; returned so the runner moves on) or
        abort (VisitAborted). Never a frozen lane that answers every action and does nothing."""
        lane = self.lane
        refused = isinstance(exc, RecordRefused)
        reason = "database refused the visit's record" if refused else "internal error"
        if refused:
            log.error("%s: visit %s held: %s", lane.name, visit.id, exc)
        else:
            log.error("%s: visit %s held on an internal error", lane.name, visit.id, exc_info=exc)
        visit.state.hold(reason)
        visit.refused = None  # this is the hold for it
        with contextlib.suppress(RecordRefused):
            lane.records.persist(visit, note=Note.of(N_("held: %(held)s"), held=reason), refusal_holds=False)
        if not (refused and visit.record_refused):
            visit.record_refused = visit.record_refused or refused
            lane.records.alert("record_refused" if refused else "internal_error",
                               f"visit {visit.id} held: {exc if refused else type(exc).__name__}; "
                               "retry, take over or abort", level="critical", visit=visit,
                               facts=AlertFacts(step="held", error=type(exc).__name__))
        action = await self.await_resolution(visit, "lane", auto_retry=False, attempt=1)
        visit.state.resume()
        lane.records.clear_alert("record_refused" if refused else "internal_error", visit)
        with contextlib.suppress(RecordRefused):
            lane.records.persist(visit, note=Note.of(N_("%(action)s by officer"), action=action), refusal_holds=False)
        return action

    async def await_resolution(self, visit: Visit, device: str, *, auto_retry: bool, attempt: int,
                               until: Callable[[], bool] | None = None) -> str:
        """Held: wait for an officer (retry / take_over / abort) or, for outages, a back-off retry
        (``until``: a retry as soon as that holds, and no back-off)."""
        lane = self.lane
        backoff = min(30.0, 2.0 * attempt)
        deadline = lane.clock.monotonic() + backoff

        def ready() -> bool:
            if visit.has_pending(Retry, TakeOver, Abort):
                return True
            if until is not None:
                return until()
            return auto_retry and lane.clock.monotonic() >= deadline and self.device_online(device)

        while not ready():
            check_abort(visit)
            with contextlib.suppress(TimeoutError):
                await lane.waiter.wait(ready, timeout=max(0.5, backoff), visit=visit)
        check_abort(visit)
        if lane.desk.take(visit, TakeOver) is not None and can_take_over(device, visit.state.stage):
            return "take_over"  # (one that may not be done by hand, kept from before, is a retry)
        retry = lane.desk.take(visit, Retry)
        if retry is not None:
            visit.retrying.append(retry)  # told how its attempt went (see report)
        return "retry"

    @staticmethod
    def report(retries: list[Accepted], still_failing: str | None) -> None:
        """Tell the officers whose retries led to this attempt how it went (None: it went through)."""
        for accepted in retries:
            if accepted.outcome is not None and not accepted.outcome.done():
                accepted.outcome.set_result(still_failing)
        retries.clear()

    def camera_timeout(self) -> float:
        """Ten simulated seconds, but never less than the real time a few OpenCV reads take: image
        processing does not get faster when the clock is speeded up."""
        return max(self.lane.clock.to_wall(10.0), 1.0)

    def device_online(self, device: str) -> bool:
        for dev in self.lane.devices.all_devices():
            if getattr(dev, "name", None) == device:
                return bool(dev.online)
        return True
