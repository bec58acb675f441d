"""Devices for the technician: details and counters, device events, test commands, and (demo only)
simulator fault injection. Test commands and faults are audited."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request

from api.auditing import announce, audit
from api.deps import (
    Controllers,
    CurrentUser,
    DeviceName,
    DeviceTester,
    FaultInjector,
    FaultInjectorUser,
    LaneFilter,
    LaneName,
    StoreDep,
    lane_or_404,
)
from api.devices import find_device, lane_devices
from api.models import DeviceEventOut, DeviceInfo, DeviceTest, DeviceTestResult, FaultBody, FaultResult
from lane.commands import Actor
from lane.commands import DeviceTest as DeviceTestCommand

router = APIRouter(prefix="/api/v1", tags=["devices"])


@router.get("/devices", response_model=list[DeviceInfo], response_model_exclude_unset=True)
async def devices(_: CurrentUser, controllers: Controllers) -> list[dict[str, Any]]:
    return [d for c in controllers.values() for d in lane_devices(c)]


@router.get("/devices/events", response_model=list[DeviceEventOut])
def device_events(_: CurrentUser, store: StoreDep, lane: LaneFilter = None,
                  limit: int = Query(100, ge=1, le=1000)) -> list[dict[str, Any]]:
    return [{"id": e.id, "lane": e.lane, "device": e.device, "kind": e.kind, "detail": e.detail,
             "at": e.at.isoformat()} for e in store.device_events(lane=lane, limit=limit)]


@router.post("/lanes/{lane}/devices/{device}/test", response_model=DeviceTestResult,
             response_model_exclude_unset=True, responses={401: {}, 403: {}, 404: {}})
async def device_test(lane: LaneName, device: DeviceName, body: DeviceTest, who: DeviceTester,
                      controllers: Controllers) -> dict[str, Any]:
    """A technician's test command: open/close a gate (a close is refused on a vehicle), or ask any
    device for its status. Audited."""
    ctl = lane_or_404(controllers, lane)
    dev = find_device(ctl, device)
    if dev is None:
        raise HTTPException(404, f"no device {device!r} in {ctl.name}")
    await ctl.command(DeviceTestCommand(device=device, command=body.command, reason=body.reason),
                      Actor(who.username, who.role))
    info = next(d for d in lane_devices(ctl) if d["name"] == device)
    status = getattr(dev, "status", None)
    if callable(status):
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5):
                info["status"] = str(await status())
    return {"ok": True, "device": info}


@router.post("/lanes/{lane}/devices/{device}/faults", response_model=FaultResult,
             responses={401: {}, 403: {}, 404: {}, 409: {"description": "no simulators here"}})
async def inject_fault(request: Request, lane: LaneName, device: DeviceName, body: FaultBody,
                       who: FaultInjectorUser, controllers: Controllers, store: StoreDep) -> FaultResult:
    """Inject or clear a simulator fault (demo and simulated sites only). Audited."""
    injector: FaultInjector | None = request.app.state.fault_injector
    if injector is None:
        raise HTTPException(409, "fault injection needs simulated devices (lajur demo)")
    ctl = lane_or_404(controllers, lane)
    action = "inject_fault" if body.active else "clear_fault"
    audit(store, who, action, lane=ctl.name, reason=body.reason, device=device, fault=body.fault)
    try:
        await injector(ctl.name, device, body.fault, body.active)
    except (KeyError, ValueError, LookupError) as exc:
        raise HTTPException(409, f"cannot inject {body.fault!r} into {device}: {exc}") from exc
    announce(ctl, who, action, body.reason, device=device, fault=body.fault)
    return FaultResult(ok=True, lane=ctl.name, device=device, fault=body.fault, active=body.active)
