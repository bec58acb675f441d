"""What ``lajur demo`` adds to the console: demo accounts, and fault injection into the simulators
for the technician page (real deployments have neither)."""

from __future__ import annotations

from typing import Any, TextIO

from api.accounts_cli import ensure_demo_account
from api.deps import FaultInjector


def simulator_fault_injector(sim: Any) -> FaultInjector:
    """(lane, device, fault, active) -> inject or clear that fault in the simulated device (one way in:
    ``SimulatedSite.device(...).inject``). KeyError for an unknown lane/device, ValueError for a fault
    the device does not know."""

    async def inject(lane: str, device: str, fault: str, active: bool) -> None:
        await sim.device(lane, device).inject(fault, active)

    return inject


def attach_demo(site: Any, sim: Any, out: TextIO | None = None) -> dict[str, str]:
    """Create and print the demo accounts; let the technician page inject simulator faults."""
    password = site.settings.demo_password
    creds = ensure_demo_account(site.store, out, password.get_secret_value() if password else None)
    if site.server is not None:
        site.server.app.state.fault_injector = simulator_fault_injector(sim)
    return creds
