"""One way to make any simulated device fail: :class:`FaultInjectable`.

Every simulator — gate, printers, payment terminal, card reader, biometric station, displays, cameras,
registry — declares the faults it can play (``faults_supported``, names from the device spec: ``stuck``,
``slow``, ``loop_stuck``, ``noise``, ``ribbon_out``, ``card_jam``, ``paper_out``, ``declined``, ``blank``,
``down``…) and takes ``await inject(fault, active)``. The console's fault route
(``SimulatedSite.device``), the standalone simulators' control topic and stdin
(:mod:`simulators.standalone`) and the tests all go through it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

from devices import mqtt_codec as codec
from lane.errors import LajurError


class UnknownFault(LajurError, ValueError):
    """A fault the simulated device does not know (the message lists the ones it does)."""

    def __init__(self, device: str, fault: str, known: Iterable[str]) -> None:
        super().__init__(f"{device}: unknown fault {fault!r}; known: {', '.join(sorted(known))}")
        self.device = device
        self.fault = fault


@runtime_checkable
class FaultInjectable(Protocol):
    """A simulated device that can be told to fail."""

    name: str
    faults_supported: frozenset[str]

    @property
    def faults(self) -> frozenset[str]:
        """The faults active now."""

    async def inject(self, fault: str, active: bool = True) -> None:
        """Start (``active``) or end one fault; UnknownFault for a name not in ``faults_supported``."""


def check_fault(target: FaultInjectable, fault: str) -> None:
    """UnknownFault unless ``target`` supports ``fault``."""
    if fault not in target.faults_supported:
        raise UnknownFault(target.name, fault, target.faults_supported)


async def clear_all(target: FaultInjectable) -> None:
    for fault in sorted(target.faults):
        await target.inject(fault, False)


async def apply_control(target: FaultInjectable, payload: bytes) -> dict[str, Any]:
    """Apply one control message ``{"v":1,"fault":NAME,"active":bool}`` (ProtocolError if malformed);
    returns the answer published on ``…/control/ack``: ``{fault, active, ok, error, faults}``."""
    fault, active = codec.decode_control(payload)
    error: str | None = None
    try:
        await target.inject(fault, active)
    except UnknownFault as exc:
        error = str(exc)
    return {"fault": fault, "active": active, "ok": error is None, "error": error, "faults": sorted(target.faults)}
