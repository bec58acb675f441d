"""What ``lajur demo`` adds to the console: demo accounts, and fault injection into the simulators
for the technician page (real deployments have neither)."""

from __future__ import annotations

import inspect
from typing import Any, TextIO

from api.accounts_cli import ensure_demo_account
from api.deps import FaultInjector


def simulator_fault_injector(sim: Any) -> FaultInjector:
    """(lane, device, fault, active) -> inject or clear that fault in the simulated device.
    Raises KeyError for an unknown lane/device and ValueError for a fault the device does not know."""

    async def inject(lane: str, device: str, fault: str, active: bool) -> None:
        sl = sim.lanes[lane]
        if device in ("entry-camera", "exit-camera"):
            sim.camera.inject_fault(lane, device, fault if active else "none")
            return
        targets: dict[str, Any] = {
            "entry-gate": sl.entry_gate, "exit-gate": sl.exit_gate, "card-printer": sl.card_printer,
            "receipt-printer": sl.receipt_printer, "payment": sl.payment, "biometric": sl.biometric,
            "card-reader": sl.card_reader,
            **{f"display-{st}": d for st, d in sl.displays.items()},
        }
        target = targets[device]
        if hasattr(target, "set_fault"):
            result = target.set_fault(fault, active)
        else:
            result = (target.inject_fault if active else target.clear_fault)(fault)
        if inspect.isawaitable(result):
            await result

    return inject


def attach_demo(site: Any, sim: Any, out: TextIO | None = None) -> dict[str, str]:
    """Create and print the demo accounts; let the technician page inject simulator faults."""
    password = site.settings.demo_password
    creds = ensure_demo_account(site.store, out, password.get_secret_value() if password else None)
    if site.server is not None:
        site.server.app.state.fault_injector = simulator_fault_injector(sim)
    return creds
