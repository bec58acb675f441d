"""What the technician page shows about a device: transport, availability, and whichever counters
its driver keeps (missed polls, protocol errors, malformed messages). Read on the controllers' loop."""

from __future__ import annotations

import dataclasses
from enum import Enum
from typing import Any

from lane.controller import LaneController

GATES = ("entry-gate", "exit-gate")


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _plain(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def _transport(dev: Any) -> tuple[str, str | None]:
    if getattr(dev, "topics", None) is not None:
        topics = dev.topics
        return "mqtt", str(getattr(topics, "base", None) or getattr(topics, "device", "") or topics)
    t = getattr(dev, "transport", None)
    if t is not None:
        return "serial", getattr(t, "url", None) or getattr(t, "name", None)
    if getattr(dev, "source", None) is not None or "Camera" in type(dev).__name__:
        src = getattr(dev, "source", None)
        return "camera", getattr(src, "url", None)
    return type(dev).__name__, None


def device_info(lane: str, dev: Any) -> dict[str, Any]:
    kind, address = _transport(dev)
    counters: dict[str, Any] = {}
    for attr in ("missed_polls", "protocol_errors", "refused", "commands_seen", "reads", "errors", "failures"):
        val = getattr(dev, attr, None)
        if isinstance(val, int | float):
            counters[attr] = val
    mc = getattr(dev, "malformed_counter", None)
    if mc is not None:
        for attr in ("count", "total"):
            if isinstance(getattr(mc, attr, None), int):
                counters["malformed"] = getattr(mc, attr)
    info: dict[str, Any] = {
        "lane": lane, "name": getattr(dev, "name", "?"), "driver": type(dev).__name__,
        "transport": kind, "address": address, "online": bool(getattr(dev, "online", False)),
        "counters": counters,
    }
    status = getattr(dev, "status", None)
    if status is not None and not callable(status):
        info["status"] = _plain(status)
    state = getattr(dev, "state", None)
    if isinstance(state, dict):
        info["state"] = _plain(state)
    for attr in ("last_seen", "last_message_at", "latency_ms", "last_error"):
        val = getattr(dev, attr, None)
        if val is not None and not callable(val):
            info[attr] = _plain(val)
    return info


def lane_devices(ctl: LaneController) -> list[dict[str, Any]]:
    devs: list[Any] = list(ctl.devices.all_devices())
    for cam in (ctl.devices.entry_camera, ctl.devices.exit_camera):
        if cam is not None and cam not in devs:
            devs.append(cam)
    return [device_info(ctl.name, d) for d in devs]


def find_device(ctl: LaneController, name: str) -> Any | None:
    return ctl.devices.named(name)
