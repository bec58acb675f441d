"""Driver <-> simulated gate over a real pseudo-terminal."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator, Callable

import pytest
import pytest_asyncio

from devices.gate import codec
from devices.gate.serial_driver import SerialBarrierGate
from devices.transport.serial import SerialTransport
from lane.clock import ScaledClock
from lane.errors import DeviceOffline, DeviceTimeout, GateSafetyError
from lane.ports import BarrierGate, GatePosition, GateStatus, MessageRefused
from simulators.gate import SerialGateSimulator
from simulators.gate_model import GateModel
from tests.fixtures.serial import GateSim


async def wait_until(predicate: Callable[[], bool], timeout: float = 3.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


@pytest_asyncio.fixture
async def gate(gate_sim: GateSim) -> AsyncIterator[SerialBarrierGate]:
    driver = SerialBarrierGate("entry-gate", SerialTransport(gate_sim.port_path), poll_interval=0.05)
    await driver.start()
    try:
        yield driver
    finally:
        await driver.stop()


async def test_driver_implements_the_port_and_comes_online(gate: SerialBarrierGate) -> None:
    assert isinstance(gate, BarrierGate)
    assert gate.online
    assert gate.status == GateStatus(GatePosition.CLOSED, online=True, passages=0)


async def test_open_then_close_moves_the_boom_and_listeners_see_each_step(
    gate: SerialBarrierGate, gate_sim: GateSim
) -> None:
    seen: list[GatePosition] = []
    gate.add_listener(lambda status: seen.append(status.position))
    await gate.open()
    await wait_until(lambda: gate.status.position is GatePosition.OPEN)
    await gate.close()
    await wait_until(lambda: gate.status.position is GatePosition.CLOSED)
    assert seen == [GatePosition.OPENING, GatePosition.OPEN, GatePosition.CLOSING, GatePosition.CLOSED]
    assert [e["effect"] for e in gate_sim.ledger.entries] == ["gate_opened", "gate_closed"]
    assert gate_sim.ledger.entries[1]["safety_loop_occupied"] is False


async def test_stop_halts_the_boom_between_end_positions(gate: SerialBarrierGate, gate_sim: GateSim) -> None:
    await gate.open()
    await wait_until(lambda: gate.status.position is GatePosition.OPENING)
    await gate.stop_motion()
    await wait_until(lambda: gate_sim.model.halted)
    await wait_until(lambda: gate.status.position is GatePosition.UNKNOWN)
    assert gate_sim.ledger.entries == []


async def test_loop_changes_reach_listeners(gate: SerialBarrierGate, gate_sim: GateSim) -> None:
    statuses: list[GateStatus] = []
    remove = gate.add_listener(statuses.append)
    gate_sim.model.set_presence(True)
    await wait_until(lambda: gate.status.presence_loop)
    gate_sim.model.set_safety(True)
    await wait_until(lambda: gate.status.safety_loop)
    remove()
    gate_sim.model.set_presence(False)
    await wait_until(lambda: not gate.status.presence_loop)
    assert [(s.presence_loop, s.safety_loop) for s in statuses] == [(True, False), (True, True)]


async def test_gate_refuses_close_while_safety_loop_occupied_without_sending(
    gate: SerialBarrierGate, gate_sim: GateSim
) -> None:
    await gate.open()
    await wait_until(lambda: gate.status.position is GatePosition.OPEN)
    gate_sim.model.set_safety(True)
    await wait_until(lambda: gate.status.safety_loop)
    sent_before = len(gate_sim.simulator.received)
    with pytest.raises(GateSafetyError):
        await gate.close()
    await asyncio.sleep(0.02)
    closes = [f for f in gate_sim.simulator.received[sent_before:] if f.cmd == codec.Command.CLOSE]
    assert closes == []
    assert gate_sim.model.position is GatePosition.OPEN


async def test_simulated_gate_naks_close_when_vehicle_arrives_between_polls(
    gate: SerialBarrierGate, gate_sim: GateSim
) -> None:
    await gate.open()
    await wait_until(lambda: gate.status.position is GatePosition.OPEN)
    gate.poll_interval = 10.0  # the driver's view goes stale...
    await asyncio.sleep(0.1)
    gate_sim.model.set_safety(True)  # ...while a car rolls under the boom
    assert not gate.status.safety_loop
    with pytest.raises(GateSafetyError):
        await gate.close()
    assert gate_sim.model.position is GatePosition.OPEN
    assert gate_sim.ledger.effects("gate_closed") == []


async def test_closing_boom_reverses_when_safety_loop_becomes_occupied(
    gate: SerialBarrierGate, gate_sim: GateSim
) -> None:
    await gate.open()
    await wait_until(lambda: gate.status.position is GatePosition.OPEN)
    await gate.close()
    await wait_until(lambda: gate_sim.model.position is GatePosition.CLOSING)
    gate_sim.model.set_safety(True)
    await wait_until(lambda: gate.status.position is GatePosition.OPEN)
    assert gate_sim.ledger.effects("gate_closed") == []


async def test_offline_after_missed_polls_and_back_online(gate: SerialBarrierGate, gate_sim: GateSim) -> None:
    availability: list[bool] = []
    gate.add_listener(lambda status: availability.append(status.online))
    await gate_sim.simulator.inject("offline")
    await wait_until(lambda: not gate.online)
    assert gate.missed_polls >= 3
    with pytest.raises(DeviceOffline):
        await gate.open()
    await gate_sim.simulator.inject("offline", False)
    await wait_until(lambda: gate.online)
    assert availability == [False, True]


async def test_stuck_boom_reports_fault(gate: SerialBarrierGate, gate_sim: GateSim) -> None:
    await gate_sim.simulator.inject("stuck")
    await gate.open()
    await wait_until(lambda: gate.status.position is GatePosition.FAULT)
    assert "stuck" in gate.status.faults
    await gate_sim.simulator.inject("stuck", False)
    await wait_until(lambda: gate.status.position is GatePosition.CLOSED and not gate.status.faults)


async def test_loop_stuck_shows_safety_occupied_and_loop_fault(gate: SerialBarrierGate, gate_sim: GateSim) -> None:
    await gate_sim.simulator.inject("loop_stuck")
    await wait_until(lambda: gate.status.safety_loop and "loop_fault" in gate.status.faults)
    with pytest.raises(GateSafetyError):
        await gate.close()


async def test_auto_close_lowers_the_boom_by_itself(gate: SerialBarrierGate, gate_sim: GateSim) -> None:
    await gate.set_auto_close(1)
    await gate.open()
    await wait_until(lambda: gate.status.position is GatePosition.OPEN)
    await wait_until(lambda: gate.status.position is GatePosition.CLOSED)
    assert gate_sim.model.auto_close_seconds == 1


async def test_line_noise_never_crashes_the_driver_and_it_stays_usable(
    gate: SerialBarrierGate, gate_sim: GateSim
) -> None:
    await gate_sim.simulator.inject("noise")
    await asyncio.sleep(0.6)
    errors = sum(gate.decoder.errors.values())
    await gate_sim.simulator.inject("noise", False)
    await wait_until(lambda: gate.online)
    await gate.open()
    await wait_until(lambda: gate.status.position is GatePosition.OPEN)
    assert errors > 0
    assert gate.status.faults == frozenset()


async def test_slow_gate_still_opens(gate: SerialBarrierGate, gate_sim: GateSim) -> None:
    await gate_sim.simulator.inject("slow")
    await gate.open()
    await wait_until(lambda: gate.status.position is GatePosition.OPEN)
    assert gate_sim.ledger.effects("gate_opened")


async def test_start_does_not_raise_when_port_is_absent() -> None:
    driver = SerialBarrierGate("ghost-gate", SerialTransport("/dev/pts/does-not-exist"), reply_timeout=0.05)
    await driver.start()
    try:
        assert not driver.online
        with pytest.raises(DeviceOffline):
            await driver.open()
    finally:
        await driver.stop()


async def test_transport_reopens_a_port_that_comes_back() -> None:
    """The port vanishes (simulator gone) and reappears at the same path: the driver carries on."""
    with tempfile.TemporaryDirectory() as tmp:
        link = os.path.join(tmp, "gate-port")
        model = GateModel(clock=ScaledClock(20))
        first = SerialGateSimulator(model)
        await first.start()
        os.symlink(first.port_path, link)
        transport = SerialTransport(link, reopen_min=0.05, reopen_max=0.2)
        driver = SerialBarrierGate("entry-gate", transport, poll_interval=0.05)
        second: SerialGateSimulator | None = None
        try:
            await driver.start()
            assert driver.online
            await first.stop()
            await wait_until(lambda: not transport.connected and not driver.online)
            second = SerialGateSimulator(GateModel(clock=ScaledClock(20)))
            await second.start()
            os.replace(_symlink_to(second.port_path, tmp), link)
            await wait_until(lambda: driver.online, timeout=5.0)
            await driver.open()
            await wait_until(lambda: second.model.position is GatePosition.OPEN)
        finally:
            await driver.stop()
            if second is not None:
                await second.stop()


def _symlink_to(target: str, directory: str) -> str:
    tmp_link = os.path.join(directory, "new-link")
    os.symlink(target, tmp_link)
    return tmp_link


# ---------------------------------------------------------------------- transport on its own
async def test_transport_reads_exact_counts_and_lines_with_timeouts() -> None:
    transport = SerialTransport("loop://")
    await transport.start()
    try:
        await transport.wait_connected(2.0)
        await transport.write(b"abcOK\r")
        assert await transport.read(3, timeout=1.0) == b"abc"
        assert await transport.read_until(b"\r", timeout=1.0) == b"OK\r"
        with pytest.raises(DeviceTimeout):
            await transport.read_some(timeout=0.05)
    finally:
        await transport.stop()
    assert not transport.connected
    with pytest.raises(DeviceOffline):
        await transport.write(b"x")


async def test_device_ports_are_watched_by_the_event_loop_without_a_thread_each(gate_sim) -> None:
    """A controller with many lanes polls a hundred ports: a device path is read by the event loop
    itself (no reader thread, no executor hop per frame), so replies do not queue behind threads."""
    import threading

    before = threading.active_count()
    transport = SerialTransport(gate_sim.port_path)
    driver = SerialBarrierGate("entry-gate", transport, poll_interval=0.02)
    assert transport.native
    await driver.start()
    try:
        await wait_until(lambda: driver.online)
        await driver.open()
        await wait_until(lambda: driver.status.position is GatePosition.OPEN)
        await driver.close()
        await wait_until(lambda: driver.status.position is GatePosition.CLOSED)
        assert threading.active_count() <= before + 1  # at most the executor thread that opened the port
    finally:
        await driver.stop()
    assert not transport.connected


async def test_url_ports_still_use_a_reader_thread() -> None:
    assert not SerialTransport("loop://").native
    assert SerialTransport("/dev/ttyUSB0").native


async def test_bytes_the_driver_did_not_ask_for_are_refused_and_reported(gate: SerialBarrierGate,
                                                                          gate_sim: GateSim) -> None:
    """A forged "vehicle on the loop" status slipped onto the line between polls is not believed."""
    refused: list[MessageRefused] = []
    gate.add_listener(lambda event: refused.append(event) if isinstance(event, MessageRefused) else None)
    gate.poll_interval = 10.0
    await asyncio.sleep(0.1)  # the poll in progress ends; the line is idle
    forged = codec.StatusReply(codec.WirePosition.CLOSED, True, False, frozenset())
    gate_sim.simulator.endpoint.write(codec.encode_status_reply(gate.address, forged))
    await asyncio.sleep(0.05)
    gate.poll_soon()
    await wait_until(lambda: bool(refused))
    assert refused[0].reason == "unsolicited" and refused[0].device == "entry-gate"
    assert gate.refused == 1
    assert not gate.status.presence_loop


async def test_an_answer_to_another_command_does_not_count(gate: SerialBarrierGate, gate_sim: GateSim) -> None:
    real = gate_sim.simulator.handle

    def confused(frame: codec.Frame) -> bytes | None:
        if frame.cmd == codec.Command.OPEN:  # acknowledges a STOP nobody sent
            return codec.encode_ack(gate.address, codec.Command.STOP)
        return real(frame)

    gate_sim.simulator.handle = confused  # type: ignore[method-assign]
    with pytest.raises(DeviceTimeout):
        await gate.open()
    assert gate.refusals.by_reason["wrong_answer"] == 1
    assert gate_sim.model.position is GatePosition.CLOSED
