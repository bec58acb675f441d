"""Side effects: what the lane does to the physical world (print, charge, move a gate), each intended
in the database under an idempotency key before it is commanded and settled after.

A restart finds every effect it had asked for (``Store.intend`` returns the existing record), and
the devices recognise a repeated key (the printer a renewal id, the terminal a reference), so a
repeated step never prints a second card or charges twice. Gates: a close waits for the safety loop
to be clear and a refused close is retried, never forced.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from lane.alerts import AlertFacts
from lane.errors import DeviceError, GateSafetyError, PersistenceError
from lane.i18n import N_
from lane.notes import Note
from lane.persistence.models import CardBlank, SideEffect
from lane.ports import BarrierGate, PrintDocument
from lane.visit import Visit
from lane.waiting import check_abort

if TYPE_CHECKING:
    from lane.controller import LaneController

CLOSE_ATTEMPTS = 20
T = TypeVar("T")


class SideEffects:
    def __init__(self, lane: LaneController) -> None:
        self.lane = lane

    async def intend(self, visit: Visit, key: str, *, kind: str, detail: dict[str, Any] | None = None) -> SideEffect:
        """Record a side effect before it is commanded (see Store.intend). While the database is away
        nothing is commanded that it could not record: the visit is held (the officer sees why) and
        carries on by itself once the database answers and its journal is written."""
        lane = self.lane
        return await self._durably(visit, kind, lambda: lane.store.intend(key, lane=lane.name, kind=kind,
                                                                          visit_id=visit.id, detail=detail))

    async def intend_card(self, visit: Visit, key: str, *, copy: int, printer: str) -> tuple[SideEffect, CardBlank]:
        """A card job's intent record and the blank it goes on (its serial), like :meth:`intend`."""
        lane = self.lane
        return await self._durably(visit, "card_print", lambda: lane.store.intend_card(
            key, lane=lane.name, visit_id=visit.id, copy=copy, printer=printer))

    async def _durably(self, visit: Visit, kind: str, write: Callable[[], T]) -> T:
        """``write`` once the database takes it; the visit held meanwhile (see :meth:`intend`)."""
        lane = self.lane
        attempt = 0
        while True:
            await lane.records.written(visit)  # the visit's state first (RecordRefused: held by the caller)
            try:
                effect = await lane.store.run(write)
            except PersistenceError as exc:
                attempt += 1
                if not visit.state.held:
                    visit.state.hold("database")
                    lane.records.persist(visit, note=Note.of(N_("held: database (%(error)s)"), error=str(exc)))
                    lane.records.alert("database_unavailable", f"database unreachable; visit {visit.id} waits "
                                       f"before {kind}", level="critical", visit=visit, facts=AlertFacts(step=kind))
                check_abort(visit)
                await asyncio.sleep(min(0.25 * attempt, 2.0))  # wall time: an outage is not simulated
                continue
            if visit.state.held == "database":
                visit.state.resume()
                lane.records.persist(visit, note=Note.of(N_("database back")))
                lane.records.clear_alert("database_unavailable", visit)
            return effect

    def settle(self, key: str, status: str, detail: dict[str, Any] | None = None) -> None:
        self.lane.store.settle(key, status, detail)

    async def print_once(self, visit: Visit, kind: str, doc: PrintDocument) -> None:
        """A receipt or referral slip at window 1, at most once per visit and kind."""
        lane = self.lane
        key = f"{visit.id}-{kind}"
        effect = await self.intend(visit, key, kind=kind)
        if effect.status == "done":
            return
        await lane.holds.guarded(visit, "receipt-printer", lambda: lane.devices.receipt_printer.print_document(doc))
        self.settle(key, "done")

    # ---------------------------------------------------------------- gates
    def gate_intended(self, visit: Visit, name: str) -> bool:
        """This visit's opening of gate ``name`` was already commanded (by this run or the last)."""
        effect = self.lane.store.side_effect(f"{visit.id}-{name}-open")
        return effect is not None and effect.status in ("intended", "done")

    async def open_gate(self, visit: Visit | None, gate: BarrierGate, name: str,
                        detail: dict[str, Any] | None = None) -> None:
        """``detail`` goes into the intent record (the gate's passage count before the opening, which
        tells a restarted controller whether its vehicle went through)."""
        lane = self.lane
        key = f"{visit.id if visit else lane.name}-{name}-open"
        if visit is not None:
            await self.intend(visit, key, kind="gate_open", detail=detail)
            await lane.holds.guarded(visit, name, gate.open)
        else:
            await lane.store.run(lane.store.intend, key, lane=lane.name, kind="gate_open")
            await gate.open()
        self.settle(key, "done")

    async def close_gate(self, visit: Visit | None, gate: BarrierGate, name: str, *, after_exit: bool = False) -> None:
        """Close only with the safety loop clear; a refused close waits and tries again."""
        lane = self.lane
        for _ in range(CLOSE_ATTEMPTS):
            try:
                await lane.waiter.wait(lambda: not gate.status.safety_loop, timeout=120)
                await gate.close()
                lane.records.clear_alert("gate_close_failed", cause=name)
                return
            except GateSafetyError:
                await lane.clock.sleep(1.0)
            except (DeviceError, TimeoutError) as exc:
                lane.store.device_event(lane.name, name, "close_failed", {"error": str(exc)})
                lane.records.alert("gate_close_failed", f"{name} did not close: {exc}", cause=name,
                                   facts=AlertFacts(device=name, fault=getattr(exc, "fault", None) or type(exc).__name__))
                await lane.clock.sleep(5.0)
