"""One way to make any simulated device fail: every simulator of a site takes ``inject(fault, active)``."""

from __future__ import annotations

import pytest

from lane.clock import ScaledClock
from simulators.faults import FaultInjectable, UnknownFault
from simulators.site import SimulatedSite
from simulators.standalone import FaultControl

SPEC_FAULTS = {
    "entry-gate": {"stuck", "slow", "loop_stuck", "noise", "offline"},
    "card-printer": {"ribbon_out", "card_jam", "hopper_empty", "cover_open", "offline"},
    "receipt-printer": {"paper_out", "cover_open", "offline"},
    "payment": {"declined", "timeout", "offline"},
    "entry-camera": {"blank", "blurred", "no_plate", "down"},
    "registry": {"down", "slow"},
}
"""Faults the device spec asks each simulator to play (spec/devices.md, Simulators)."""


@pytest.fixture
async def site(mqtt_broker):
    site = SimulatedSite(site="test", lanes=1, clock=ScaledClock(50), mqtt_url=mqtt_broker.url)
    await site.start()
    try:
        yield site
    finally:
        await site.stop()


async def test_every_simulated_device_takes_faults_the_same_way(site: SimulatedSite) -> None:
    names = [*site.lanes["lane-1"].devices(), "entry-camera", "exit-camera", "registry"]
    for name in names:
        device = site.device("lane-1", name)
        assert isinstance(device, FaultInjectable), name
        fault = sorted(device.faults_supported)[0]
        await device.inject(fault)
        assert fault in device.faults, name
        await device.inject(fault, False)
        assert fault not in device.faults, name
    for name, wanted in SPEC_FAULTS.items():
        assert wanted <= site.device("lane-1", name).faults_supported, name


async def test_an_unknown_fault_or_device_is_refused_with_what_is_known(site: SimulatedSite) -> None:
    with pytest.raises(UnknownFault, match="ribbon_out"):
        await site.device("lane-1", "card-printer").inject("ribbon_jam")
    with pytest.raises(KeyError):
        site.device("lane-1", "coffee-machine")
    with pytest.raises(KeyError):
        site.device("lane-9", "card-printer")


async def test_the_demo_fault_route_reaches_the_device(site: SimulatedSite) -> None:
    from api.demo_support import simulator_fault_injector

    inject = simulator_fault_injector(site)
    await inject("lane-1", "entry-gate", "loop_stuck", True)
    assert site.lanes["lane-1"].entry_gate.safety_occupied
    await inject("lane-1", "entry-gate", "loop_stuck", False)
    assert not site.lanes["lane-1"].entry_gate.safety_occupied


async def test_a_technician_types_faults_on_stdin(site: SimulatedSite, capsys) -> None:
    control = FaultControl(site.device("lane-1", "receipt-printer"))
    assert await control.handle_line("fault paper_out on") == "faults: paper_out"
    assert "unknown fault 'paper_jam'" in await control.handle_line("fault paper_jam on")
    assert await control.handle_line("clear") == "faults: none"
    assert not site.lanes["lane-1"].receipt_printer.faults
