"""The officer desk: where typed commands (:mod:`lane.commands`) reach a lane.

A command is checked against the visit (its stage, a reason where it changes the outcome, what else
it needs), written to the audit log with the state before and after it, and only then takes effect:
at once where the desk can apply it (a plate correction, a gate override, "vehicle left", an abort
of a car already on its way out), otherwise kept in the database and handed to the visit's runner,
which takes it where it waits for one (a retry, a take-over, the decision form, the hand-over). A
restart in between hands the kept commands back (``lane.recovery``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from lane.commands import (
    Abort,
    Accepted,
    Actor,
    ApplicantAnswer,
    ApproveDecision,
    ApproveReprint,
    Command,
    CommandResult,
    ConfirmPlate,
    Decide,
    DeviceTest,
    GateOverride,
    HandedOver,
    RejectDecision,
    Reprint,
    Retry,
    TakeOver,
    VehicleLeft,
    VisitCommand,
    check_approver,
    check_reprint_approver,
    parse_command,
)
from lane.decisions import WAITING_FORM, evaluate_form
from lane.errors import DeviceError, WorkflowError
from lane.events import LaneEvent
from lane.i18n import N_
from lane.notes import Note
from lane.overrides import device_test, gate_override, vehicle_gone
from lane.ports import PlateRead
from lane.rules import format_plate
from lane.stages.arriving import keep_plate_sample
from lane.stages.handing_over import reprint_needs_approval
from lane.visit import Visit
from lane.workflow import NOT_ADMITTED, Stage

if TYPE_CHECKING:
    from lane.controller import LaneController

log = logging.getLogger(__name__)

ACTIONS = ("confirm_plate", "retry", "take_over", "decide", "approve_decision", "reject_decision", "reprint",
           "approve_reprint", "applicant_answer",
           "handed_over", "abort", "vehicle_left", "open_gate", "close_gate")
RETRY_REPORT_SECONDS = 8.0
"""Wall seconds a retry waits for its attempt's result before answering "still trying"."""
IDENTITY_STEPS = ("card-reader", "registry")


class RetryFailed(DeviceError):
    """The officer's retry ran and the device still fails: the visit stays held."""


class OfficerDesk:
    def __init__(self, lane: LaneController) -> None:
        self.lane = lane

    # ================================================================ entry points
    async def command(self, cmd: Command, actor: Actor, visit_id: str | None = None) -> CommandResult:
        """Apply ``cmd`` for ``actor``. Raises WorkflowError (not now), ValidationError (missing
        reason, bad value), NotPermitted (not this person), or a DeviceError the device answered."""
        if isinstance(cmd, GateOverride | DeviceTest):
            cmd.check_reason()
            return await (gate_override if isinstance(cmd, GateOverride) else device_test)(self.lane, cmd, actor)
        if not isinstance(cmd, VisitCommand):
            raise WorkflowError(f"unknown command {cmd!r}")
        visit = self.lane.visits.get(visit_id or "")
        if visit is None:
            raise WorkflowError(f"no open visit {visit_id!r} in {self.lane.name}")
        cmd.check(visit)
        apply = getattr(self, f"_{cmd.action}")
        result: CommandResult = await apply(visit, cmd, actor)
        return result

    async def act(self, action: str, *, actor: str, role: str, visit_id: str | None = None,
                  reason: str | None = None, **params: Any) -> dict[str, Any]:
        """The command named ``action`` with these values (how simulators and scripts call it)."""
        cmd = parse_command(action, {**params, "reason": reason})
        result = await self.command(cmd, Actor(actor, role), visit_id)
        return {"ok": True, "detail": result.detail, "worked": result.worked, **result.data}

    # ================================================================ what the runners take
    def take(self, visit: Visit, *kinds: type[VisitCommand]) -> Accepted | None:
        """The oldest pending command of these kinds, removed and marked taken; None if none waits."""
        for accepted in visit.pending:
            if isinstance(accepted.command, kinds):
                self.discard(visit, accepted)
                return accepted
        return None

    def discard(self, visit: Visit, accepted: Accepted) -> None:
        """Remove a pending command and mark it taken (done with, or replaced)."""
        visit.pending.remove(accepted)
        if accepted.action_id is not None:
            self.lane.store.action_taken(accepted.action_id)

    def set_aside(self, visit: Visit) -> None:
        """The visit ended: commands that came too late (a second press) are marked taken, not kept."""
        for accepted in list(visit.pending):
            self.discard(visit, accepted)
        for accepted in visit.retrying:
            if accepted.outcome is not None and not accepted.outcome.done():
                accepted.outcome.set_result(None)
        visit.retrying.clear()

    def restore(self, visit: Visit, action_id: int, action: str, params: dict[str, Any], actor: Actor) -> None:
        """A command accepted before a restart, handed back to its visit."""
        try:
            cmd = parse_command(action, params)
        except Exception as exc:  # noqa: BLE001 - a row we cannot read is set aside, logged, never fatal
            log.warning("%s: kept action %s (%s) cannot be read: %s; set aside", self.lane.name, action_id, action,
                        exc)
            self.lane.store.action_taken(action_id)
            return
        if isinstance(cmd, VisitCommand):
            visit.pending.append(Accepted(cmd, actor, action_id, device=params.get("device")))

    # ================================================================ helpers
    def audit(self, cmd: Command, actor: Actor, visit: Visit | None, before: dict[str, Any],
               after: dict[str, Any]) -> None:
        """Written before the command takes effect: who, what, why, and the state before -> after."""
        lane = self.lane
        detail = {**cmd.audit_detail(), "before": before, "after": after}
        lane.store.audit(actor=actor.username, role=actor.role, action=cmd.action, lane=lane.name,
                         visit_id=visit.id if visit else None, reason=cmd.reason, detail=detail)
        lane.bus.publish(LaneEvent(lane.name, "audit", {"actor": actor.username, "action": cmd.action,
                                                        "visit_id": visit.id if visit else None,
                                                        "reason": cmd.reason, "before": before, "after": after}))

    def queue(self, visit: Visit, accepted: Accepted) -> Accepted:
        """Keep the command until the runner takes it (the database first: a restart finds it)."""
        accepted.action_id = self.lane.store.queue_action(
            lane=self.lane.name, visit_id=visit.id, action=accepted.command.action, actor=accepted.actor.username,
            role=accepted.actor.role, params=accepted.params())
        visit.pending.append(accepted)
        self.lane.waiter.notify()
        return accepted

    # ================================================================ each command
    async def _confirm_plate(self, visit: Visit, cmd: ConfirmPlate, actor: Actor) -> CommandResult:
        lane = self.lane
        old, confidence = visit.state.plate, visit.state.plate_confidence or 0.0
        self.audit(cmd, actor, visit, {"plate": old}, {"plate": cmd.plate})
        if not cmd.is_correction(visit):  # the entry waits for the officer's plate: it takes this one
            self.queue(visit, Accepted(cmd, actor))
            return CommandResult(f"plate {format_plate(cmd.plate)} confirmed")
        visit.state.correct_plate(cmd.plate)
        lane.records.persist(visit, note=Note.of(N_("plate corrected by %(actor)s: %(old_plate)s -> %(plate)s"),
                                                 actor=actor.username, old_plate=old, plate=cmd.plate))
        if old != cmd.plate:
            keep_plate_sample(lane, visit, PlateRead(old, confidence), "corrected")
            await lane.displays.replate(old or "", cmd.plate)
        return CommandResult(f"plate {format_plate(old or '')} -> {format_plate(cmd.plate)}")

    async def _retry(self, visit: Visit, cmd: Retry, actor: Actor) -> CommandResult:
        device = visit.held_device
        self.audit(cmd, actor, visit, {"held": visit.state.held}, {"held": None})
        accepted = self.queue(visit, Accepted(cmd, actor, device=device,
                                               outcome=asyncio.get_running_loop().create_future()))
        assert accepted.outcome is not None
        try:
            still = await asyncio.wait_for(asyncio.shield(accepted.outcome), RETRY_REPORT_SECONDS)
        except TimeoutError:
            return CommandResult(f"retrying {device}: the console shows how it goes", worked=None)
        if still is None:
            return CommandResult(f"{device}: the step went through")
        raise RetryFailed(device or "device", f"retried, and it still fails ({still}); the visit stays held")

    async def _take_over(self, visit: Visit, cmd: TakeOver, actor: Actor) -> CommandResult:
        device = visit.held_device
        identity = device in IDENTITY_STEPS or (device == "lane" and visit.state.stage is Stage.VERIFYING)
        after = {"held": WAITING_FORM} if identity else {"held": None, "done": "by hand"}
        self.audit(cmd, actor, visit, {"held": visit.state.held}, after)
        self.queue(visit, Accepted(cmd, actor, device=device))
        if identity:
            return CommandResult(f"{device} taken over: fill in the decision form; a supervisor approves it")
        return CommandResult(f"{device} step done by hand")

    async def _decide(self, visit: Visit, cmd: Decide, actor: Actor) -> CommandResult:
        lane = self.lane
        decision, _card = evaluate_form(cmd, visit.card, lane.clock.now().date(), lane.settings.rules)
        preview = {"eligible": decision.eligible, "refusal": decision.refusal.value if decision.refusal else None,
                   "sim_class": decision.sim_class, "fee": decision.fee, "message": decision.message}
        replaced = visit.proposal.id if visit.proposal else None
        self.audit(cmd, actor, visit, {"proposal": replaced}, {"proposal": preview})
        accepted = self.queue(visit, Accepted(cmd, actor))
        verdict = "eligible" if decision.eligible else f"refused: {preview['refusal']}"
        return CommandResult(f"decision proposed ({verdict}); a supervisor approves it",
                             data={"decision_id": accepted.action_id, "decision": preview})

    async def _approve_decision(self, visit: Visit, cmd: ApproveDecision, actor: Actor) -> CommandResult:
        check_approver(actor, visit)
        assert visit.proposal is not None
        preview = visit.proposal.preview()
        self.audit(cmd, actor, visit, {"proposal": preview["id"], "proposed_by": preview["proposed_by"]},
                    {"eligible": preview["eligible"], "refusal": preview["refusal"], "sim_class": preview["sim_class"],
                     "fee": preview["fee"]})
        self.queue(visit, Accepted(cmd, actor))
        return CommandResult("decision approved")

    async def _reject_decision(self, visit: Visit, cmd: RejectDecision, actor: Actor) -> CommandResult:
        check_approver(actor, visit)
        self.audit(cmd, actor, visit, {"proposal": cmd.decision_id}, {"proposal": None})
        self.queue(visit, Accepted(cmd, actor))
        return CommandResult("decision sent back to the officer")

    async def _reprint(self, visit: Visit, cmd: Reprint, actor: Actor) -> CommandResult:
        blanks = self.lane.store.blanks(visit_id=visit.id)
        spoiled = blanks[-1].serial if blanks else None
        waits = reprint_needs_approval(self.lane, actor)
        self.audit(cmd, actor, visit, {"cards": len(blanks), "card_serial": spoiled},
                   {"cards": len(blanks) + 1, "spoiled": spoiled, "approval": "waiting" if waits else None})
        self.queue(visit, Accepted(cmd, actor))
        if waits:
            return CommandResult("reprint asked: a supervisor approves it before the card is printed again")
        return CommandResult("reprinting the card on a new blank; hand over the new one")

    async def _applicant_answer(self, visit: Visit, cmd: ApplicantAnswer, actor: Actor) -> CommandResult:
        answer = "confirmed" if cmd.confirmed else "declined"
        self.audit(cmd, actor, visit, {"confirmation": "waiting"}, {"confirmation": answer, "by": "officer"})
        self.queue(visit, Accepted(cmd, actor))
        if cmd.confirmed:
            return CommandResult("confirmed for the applicant: the fee is charged next")
        return CommandResult("the applicant declined: nothing is charged, the vehicle leaves by the exit")

    async def _approve_reprint(self, visit: Visit, cmd: ApproveReprint, actor: Actor) -> CommandResult:
        check_reprint_approver(actor, visit)
        asked = next(a for a in visit.pending if isinstance(a.command, Reprint))
        self.audit(cmd, actor, visit, {"reprint": "waiting", "asked_by": asked.actor.username},
                   {"reprint": "approved"})
        self.queue(visit, Accepted(cmd, actor))
        return CommandResult("reprint approved: the card is printed again")

    async def _handed_over(self, visit: Visit, cmd: HandedOver, actor: Actor) -> CommandResult:
        self.audit(cmd, actor, visit, {"stage": visit.state.stage.value}, {"stage": Stage.EXITING.value})
        self.queue(visit, Accepted(cmd, actor))
        return CommandResult("card handed over")

    async def _abort(self, visit: Visit, cmd: Abort, actor: Actor) -> CommandResult:
        lane = self.lane
        state = visit.state
        leaving = state.stage is Stage.EXITING
        after_stage = Stage.DONE if state.stage in NOT_ADMITTED else Stage.EXITING
        self.audit(cmd, actor, visit, {"stage": state.stage.value, "outcome": state.outcome.value if state.outcome else None},
                    {"stage": after_stage.value, "outcome": "aborted"})
        if leaving:  # on its way out already: the record changes, the car goes on
            state.abort(lane.clock.monotonic(), cmd.reason or "")
            lane.records.persist(visit, note=Note.of(N_("aborted on the way out: %(reason)s"), reason=cmd.reason))
            return CommandResult("aborted; the vehicle is leaving by the exit")
        self.queue(visit, Accepted(cmd, actor))
        if after_stage is Stage.DONE:
            return CommandResult("aborted; the vehicle backs out of the entry")
        return CommandResult("aborted; the vehicle leaves by the exit")

    async def _vehicle_left(self, visit: Visit, cmd: VehicleLeft, actor: Actor) -> CommandResult:
        lane = self.lane
        station = lane.stations.where(visit)
        self.audit(cmd, actor, visit, {"stage": visit.state.stage.value,
                                        "station": station.value if station else None},
                    {"stage": Stage.DONE.value, "station": None})
        await vehicle_gone(lane, visit, cmd.reason or "")
        return CommandResult(f"visit ended; {station.value if station else 'its station'} is free")
