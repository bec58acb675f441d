"""The API's dependencies, in one place: the store, the lanes, the settings, and who is calling.

Routes declare what they need with these ``Annotated`` types (``who: VisitActor``, ``ctl: Lane``); a
refusal is raised here, before the route runs: 401 (who are you?), 403 (not allowed), 404 (no such
lane or station), each as JSON with a reason.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Query, Request

from api.auth import Auth, Principal
from lane.controller import LaneController
from lane.persistence import Store
from lane.settings import Settings
from lane.workflow import Station

STATIONS = tuple(s.value for s in Station)

FaultInjector = Callable[[str, str, str, bool], Awaitable[None]]
"""(lane, device, fault, active) -> None, run on the controllers' loop; only where simulators exist."""

NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
"""Lanes, stations, devices, visit ids and usernames: letters, digits and ``_ . -`` only, so a name
from a URL never carries a control character (a NUL makes PostgreSQL refuse the whole query)."""
LaneName = Annotated[str, Path(min_length=1, max_length=32, pattern=NAME, description="lane name, e.g. lane-1")]
StationName = Annotated[str, Path(max_length=16, pattern=NAME,
                                  description="entry, window-1, window-2, window-3 or exit")]
VisitId = Annotated[str, Path(min_length=1, max_length=64, pattern=NAME)]
DeviceName = Annotated[str, Path(min_length=1, max_length=32, pattern=NAME, description="device name, e.g. entry-gate")]
Username = Annotated[str, Path(max_length=64, pattern=NAME)]
LaneFilter = Annotated[str | None, Query(max_length=32, pattern=NAME, description="only this lane")]
Day = Annotated[date | None, Query(ge=date(2000, 1, 1), le=date(2999, 12, 31),
                                   description="a day (YYYY-MM-DD) between 2000-01-01 and 2999-12-31")]
"""A day asked of the records: out of range is 422 with the bounds, not an overflow deep in a query."""


async def _store(request: Request) -> Store:
    return request.app.state.store


async def _auth(request: Request) -> Auth:
    return request.app.state.auth


async def _settings(request: Request) -> Settings:
    return request.app.state.settings


async def _controllers(request: Request) -> dict[str, LaneController]:
    return request.app.state.controllers


StoreDep = Annotated[Store, Depends(_store)]
AuthDep = Annotated[Auth, Depends(_auth)]
SettingsDep = Annotated[Settings, Depends(_settings)]
Controllers = Annotated[dict[str, LaneController], Depends(_controllers)]


def _current_user(request: Request, auth: AuthDep) -> Principal:
    return auth.require(request)


class Permission:
    """A dependency that lets through only roles with ``permission`` (``api.auth.PERMISSIONS``)."""

    def __init__(self, permission: str) -> None:
        self.permission = permission

    def __call__(self, request: Request, auth: AuthDep) -> Principal:
        return auth.require(request, self.permission)


CurrentUser = Annotated[Principal, Depends(_current_user)]
VisitActor = Annotated[Principal, Depends(Permission("visit_action"))]
GateOperator = Annotated[Principal, Depends(Permission("gate_override"))]
AlertHandler = Annotated[Principal, Depends(Permission("alert_ack"))]
DeviceTester = Annotated[Principal, Depends(Permission("device_test"))]
FaultInjectorUser = Annotated[Principal, Depends(Permission("fault_inject"))]
UserAdmin = Annotated[Principal, Depends(Permission("user_admin"))]


def lane_or_404(controllers: dict[str, LaneController], lane: str) -> LaneController:
    """The lane's controller. Routes that take a body call this themselves, after the body is
    validated: a malformed request is 422 whichever lane it names."""
    ctl = controllers.get(lane)
    if ctl is None:
        raise HTTPException(404, f"no lane {lane!r}; lanes: {', '.join(controllers) or 'none'}")
    return ctl


async def _lane(lane: LaneName, controllers: Controllers) -> LaneController:
    return lane_or_404(controllers, lane)


Lane = Annotated[LaneController, Depends(_lane)]
"""The lane named in the path (404 if this process does not drive it)."""


async def _station(station: StationName, ctl: Lane) -> str:
    if station not in STATIONS:
        raise HTTPException(404, f"no station {station!r}; stations: {', '.join(STATIONS)}")
    return station


LaneStation = Annotated[str, Depends(_station)]
"""A station of an existing lane (the lane resolved first: an unknown lane is 404 before the station)."""
