"""Devices, the technician's tests and faults, and the driver displays."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from api.models.common import Reason, Text


# ================================================================ devices
class DeviceInfo(BaseModel):
    """What the technician page shows of one device; the optional fields only where the driver keeps them."""

    lane: str
    name: str
    driver: str
    transport: str
    address: str | None
    online: bool
    counters: dict[str, float]
    status: Any = None
    state: dict[str, Any] | None = None
    last_seen: Any = None
    last_message_at: Any = None
    latency_ms: float | None = None
    last_error: Any = None


class DeviceEventOut(BaseModel):
    id: int | None
    lane: str
    device: str
    kind: str
    detail: dict[str, Any]
    at: str


class DeviceTest(BaseModel):
    command: Literal["open", "close", "status"]
    reason: Reason


class DeviceTestResult(BaseModel):
    ok: bool
    device: DeviceInfo


class FaultBody(BaseModel):
    fault: str = Field(min_length=1, max_length=32, pattern=r"^[a-z_]+$")
    active: bool = True
    reason: Text(300) | None = None  # type: ignore[valid-type]


class FaultResult(BaseModel):
    ok: bool
    lane: str
    device: str
    fault: str
    active: bool


# ================================================================ driver displays
class DisplayMessageOut(BaseModel):
    station: str
    signal: str
    step: str
    text_id: str
    text_en: str
    plate: str | None
    fee: int | None


class DisplayState(BaseModel):
    lane: str
    station: str
    message: DisplayMessageOut | None
