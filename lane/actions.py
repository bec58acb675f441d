"""Officer actions: checked against the visit's stage, audited before they take effect, and kept in
the database until the visit's runner takes them (so a restart in between still applies them)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from lane.errors import WorkflowError
from lane.events import LaneEvent
from lane.ports import PlateRead
from lane.rules import validate_plate
from lane.stages.arriving import keep_plate_sample
from lane.visit import Visit
from lane.workflow import Stage, StageTiming

if TYPE_CHECKING:
    from lane.controller import LaneController

ACTIONS = ("confirm_plate", "retry", "take_over", "abort", "handed_over", "reprint", "open_gate", "close_gate")


class OfficerDesk:
    """Where officer actions reach a lane, and where its runners take them from."""

    def __init__(self, lane: LaneController) -> None:
        self.lane = lane

    async def act(self, action: str, *, actor: str, role: str, visit_id: str | None = None,
                  reason: str | None = None, **params: Any) -> dict[str, Any]:
        """An officer action. Written to the audit log before it takes effect; raises WorkflowError
        (with a message for the officer) when it does not fit the visit's stage."""
        lane = self.lane
        if action not in ACTIONS:
            raise WorkflowError(f"unknown action {action!r}")
        visit = lane.visits.get(visit_id) if visit_id else None
        if action in ("open_gate", "close_gate"):
            gate_name = params.get("gate", "entry-gate")
            gate = {"entry-gate": lane.devices.entry_gate, "exit-gate": lane.devices.exit_gate}.get(gate_name)
            if gate is None:
                raise WorkflowError(f"unknown gate {gate_name!r}")
            if not reason:
                raise WorkflowError("a gate override needs a reason")
            lane.store.audit(actor=actor, role=role, action=action, lane=lane.name, reason=reason,
                             detail={"gate": gate_name})
            if action == "open_gate":
                await gate.open()
            else:
                await gate.close()  # raises GateSafetyError while a vehicle is under the boom
            return {"ok": True}
        if visit is None:
            raise WorkflowError(f"no open visit {visit_id!r} in {lane.name}")
        stage = visit.state.stage
        if action == "confirm_plate":
            params["plate"] = validate_plate(str(params.get("plate", "")))
            if not (stage is Stage.QUEUED and (visit.state.plate is None or visit.state.held == "plate_unconfirmed")):
                # A correction after admission: update the plate, no other effect.
                was = visit.state.plate
                visit.state.plate = params["plate"]
                lane.records.persist(visit, note="plate corrected by officer")
                if was != visit.state.plate:
                    keep_plate_sample(lane, visit, PlateRead(was, visit.state.plate_confidence or 0.0),
                                      "corrected")
        elif action == "handed_over" and stage is not Stage.HANDING_OVER:
            raise WorkflowError(f"the card cannot be handed over while {stage.value}")
        elif action in ("retry", "take_over") and not visit.state.held:
            raise WorkflowError("only a held step can be retried or taken over")
        elif action == "abort" and not reason:
            raise WorkflowError("an abort needs a reason")
        elif action == "reprint" and stage not in (Stage.PRINTING, Stage.HANDING_OVER):
            raise WorkflowError("a card can be reprinted only at window 3")
        lane.store.audit(actor=actor, role=role, action=action, lane=lane.name, visit_id=visit.id,
                         reason=reason, detail={k: v for k, v in params.items() if k != "nik"})
        lane.bus.publish(LaneEvent(lane.name, "audit", {"actor": actor, "action": action, "visit_id": visit.id,
                                                        "reason": reason}))
        if action == "abort":
            params["reason"] = reason
        if action == "reprint":
            if lane.store.side_effect(f"{visit.id}-card"):
                lane.store.settle(f"{visit.id}-card", "failed", {"reprint_by": actor})
            if stage is Stage.HANDING_OVER:
                visit.state.stage = Stage.PRINTING  # back to the printer, same window
                visit.state.timings.append(StageTiming(Stage.PRINTING, lane.clock.monotonic()))
                if visit.task:
                    visit.task.cancel()
                lane.start_runner(visit)
                lane.records.persist(visit, note="reprint requested")
                return {"ok": True}
        if action in ("retry", "take_over"):
            # which held step it answers, so a restart can apply it to that step (see Holds.guarded)
            params["device"] = re.split(r"[: ]", visit.state.held or "", maxsplit=1)[0]
        params["_action_id"] = lane.store.queue_action(
            lane=lane.name, visit_id=visit.id, action=action, actor=actor,
            params={k: v for k, v in params.items() if k != "nik"})
        visit.pending.append((action, params))
        lane.waiter.notify()
        return {"ok": True}

    def take(self, visit: Visit, *names: str) -> dict[str, Any] | None:
        """The oldest pending action of one of these kinds, removed and marked taken; None if none waits."""
        for i, (a, params) in enumerate(visit.pending):
            if a in names:
                del visit.pending[i]
                action_id = params.pop("_action_id", None)
                if action_id is not None:
                    self.lane.store.action_taken(action_id)
                return params
        return None

    def set_aside(self, visit: Visit) -> None:
        """The visit ended: actions that came too late (a second press) are marked taken, not kept."""
        for _, params in visit.pending:
            if params.get("_action_id") is not None:
                self.lane.store.action_taken(params["_action_id"])
        visit.pending.clear()
