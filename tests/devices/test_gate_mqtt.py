"""The barrier gate over MQTT: MqttBarrierGate against the simulated gate (GateModel behind
MqttGateSimulator) through a real broker. Waits are on conditions, always bounded."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest

from devices import mqtt_codec
from devices.gate import mqtt_codec as gate_codec
from devices.gate.mqtt_driver import MqttBarrierGate
from devices.mqtt_codec import Topics
from devices.transport.mqtt import MqttClient
from lane.clock import ScaledClock
from lane.errors import DeviceOffline, DeviceTimeout, GateSafetyError, ProtocolError
from lane.ports import BarrierGate, GatePosition, GateStatus
from simulators.gate_model import GateModel
from simulators.ledger import Ledger
from simulators.mqtt_device import device_will
from simulators.mqtt_gate import MqttGateSimulator

SPEED = 20.0
"""A 2 s boom travel takes 0.1 s of test time."""
TOPICS = Topics("test-site", "lane-1", "entry-gate")


async def until(cond: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


async def collect(raw: MqttClient, topic: str, probe: dict[str, Any]) -> list[dict[str, Any]]:
    """Subscribe ``raw`` to ``topic`` and return the list that fills with its messages, once a probe
    we published there came back (so the broker has the subscription: no sleeping on SUBACK)."""
    got: list[dict[str, Any]] = []
    raw.subscribe(topic, lambda _t, p, _r: got.append(json.loads(p)))
    await raw.publish(topic, mqtt_codec.encode(probe), qos=1)
    await until(lambda: bool(got), what=f"subscription to {topic}")
    got.clear()
    return got


@dataclass
class GateRig:
    model: GateModel
    sim: MqttGateSimulator
    driver: MqttBarrierGate
    sim_client: MqttClient
    raw: MqttClient
    ledger: Ledger
    seen: list[GateStatus]
    factory: Any

    async def control(self, fault: str, active: bool = True) -> dict[str, Any]:
        """Inject/clear a fault the way a technician does: the simulator's control topic."""
        answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()

        def on_ack(_t: str, payload: bytes, _r: bool) -> None:
            body = json.loads(payload)
            if body["fault"] == fault and body["active"] == active and not answer.done():
                answer.set_result(body)

        # one connection: the broker takes our SUBSCRIBE before our PUBLISH, so the answer is not missed
        remove = self.raw.subscribe(TOPICS.control_ack, on_ack)
        try:
            await self.raw.publish(TOPICS.control, json.dumps({"v": 1, "fault": fault, "active": active}), qos=1)
            return await asyncio.wait_for(answer, 5)
        finally:
            remove()

    def positions(self) -> list[GatePosition]:
        out: list[GatePosition] = []
        for s in self.seen:
            if not out or out[-1] != s.position:
                out.append(s.position)
        return out


@pytest.fixture
async def rig(mqtt_client_factory):
    ledger = Ledger()
    model = GateModel(clock=ScaledClock(SPEED), ledger=ledger)
    sim_client = mqtt_client_factory("sim-test-gate", will=device_will(TOPICS))
    ctl_client = mqtt_client_factory("ctl-test-gate")
    raw = mqtt_client_factory("raw-test-gate", clean_session=True)
    for c in (sim_client, ctl_client, raw):
        await c.start()
    for c in (sim_client, ctl_client, raw):
        await c.wait_connected(5)
    sim = MqttGateSimulator(model, sim_client, TOPICS)
    driver = MqttBarrierGate(ctl_client, TOPICS, "entry-gate", command_timeout=2.0)
    seen: list[GateStatus] = []
    driver.add_listener(seen.append)
    await sim.start()
    await driver.start()
    await driver.wait_online(5)
    await until(lambda: driver.status.position is GatePosition.CLOSED, what="retained state")
    seen[:] = [driver.status]  # online before the first state arrived was "unknown"
    try:
        yield GateRig(model, sim, driver, sim_client, raw, ledger, seen, mqtt_client_factory)
    finally:
        await driver.stop()
        await sim.stop()


def test_driver_implements_the_port():
    assert isinstance(MqttBarrierGate(MqttClient("mqtt://127.0.0.1:1", "x"), TOPICS), BarrierGate)


async def test_open_close_reach_listeners_and_the_ledger(rig: GateRig):
    await rig.driver.open()
    await until(lambda: rig.driver.status.position is GatePosition.OPEN, what="open")
    await rig.driver.close()
    await until(lambda: rig.driver.status.position is GatePosition.CLOSED, what="closed")
    assert rig.positions() == [GatePosition.CLOSED, GatePosition.OPENING, GatePosition.OPEN,
                               GatePosition.CLOSING, GatePosition.CLOSED]
    assert all(s.online for s in rig.seen)
    assert [e["effect"] for e in rig.ledger.effects()] == ["gate_opened", "gate_closed"]
    assert rig.driver.state is not None and rig.driver.state["v"] == 1 and "ts" in rig.driver.state


async def test_ack_comes_after_the_new_state(rig: GateRig):
    await rig.driver.open()
    assert rig.driver.status.position in (GatePosition.OPENING, GatePosition.OPEN)


async def test_stop_halts_the_boom_between_end_positions(rig: GateRig):
    rig.model.open_seconds = 40.0  # 2 s of test time: room to stop it
    await rig.driver.open()
    await rig.driver.stop_motion()
    await until(lambda: rig.driver.status.position is GatePosition.UNKNOWN, what="halted")
    assert rig.model.halted


async def test_auto_close_is_set_and_reported(rig: GateRig):
    await rig.driver.set_auto_close(1)
    await until(lambda: (rig.driver.state or {}).get("auto_close") == 1, what="auto_close in state")
    await rig.driver.open()
    await until(lambda: GatePosition.OPEN in rig.positions()
                and rig.driver.status.position is GatePosition.CLOSED, what="closed by itself")
    with pytest.raises(ValueError):
        await rig.driver.set_auto_close(300)


async def test_close_refused_by_the_driver_without_a_message_while_safety_occupied(rig: GateRig):
    await rig.driver.open()
    await until(lambda: rig.driver.status.position is GatePosition.OPEN, what="open")
    rig.model.set_safety(True)
    await until(lambda: rig.driver.status.safety_loop, what="safety loop seen")
    sent = rig.sim.commands_seen
    with pytest.raises(GateSafetyError) as info:
        await rig.driver.close()
    assert info.value.fault == "safety_loop_occupied"
    await asyncio.sleep(0.05)
    assert rig.sim.commands_seen == sent and rig.model.position is GatePosition.OPEN


async def test_close_refused_by_the_gate_when_the_driver_did_not_know(rig: GateRig):
    await rig.driver.open()
    await until(lambda: rig.driver.status.position is GatePosition.OPEN, what="open")
    rig.model.set_safety(True)
    await until(lambda: rig.driver.status.safety_loop, what="safety loop seen")
    # the car drove onto the loop just now: the driver's copy is stale, the gate itself refuses
    rig.driver._gate = replace(rig.driver._gate, safety_loop=False)
    sent = rig.sim.commands_seen
    with pytest.raises(GateSafetyError):
        await rig.driver.close()
    assert rig.sim.commands_seen == sent + 1 and rig.model.position is GatePosition.OPEN
    # the wire answer itself, as any client sees it
    acks = await collect(rig.raw, TOPICS.ack, mqtt_codec.ack("probe", True))
    cmd = mqtt_codec.command("close")
    await rig.raw.publish(TOPICS.cmd, mqtt_codec.encode(cmd), qos=1)
    await until(lambda: any(a["id"] == cmd["id"] for a in acks), what="ack")
    [ack] = [a for a in acks if a["id"] == cmd["id"]]
    assert ack["ok"] is False and ack["error"] == "safety_loop_occupied"
    assert not [e for e in rig.ledger.effects() if e["effect"] == "gate_closed"]


async def test_loops_reach_listeners_and_events(rig: GateRig):
    events = await collect(rig.raw, TOPICS.event, mqtt_codec.event("probe"))
    rig.model.set_presence(True)
    await until(lambda: rig.seen[-1].presence_loop, what="presence")
    rig.model.set_safety(True)
    await until(lambda: rig.seen[-1].safety_loop, what="safety")
    rig.model.set_presence(False)
    rig.model.set_safety(False)
    await until(lambda: not rig.seen[-1].presence_loop and not rig.seen[-1].safety_loop, what="clear")
    await until(lambda: len([e for e in events if e["type"] == "loop"]) == 4, what="loop events")
    assert [(e["loop"], e["occupied"]) for e in events if e["type"] == "loop"] == [
        ("presence", True), ("safety", True), ("presence", False), ("safety", False)]


async def test_offline_by_last_will_and_back(rig: GateRig):
    await rig.sim_client.abort()  # power cut: the broker publishes the gate's will
    await until(lambda: not rig.driver.online, what="offline")
    assert rig.seen[-1].online is False and rig.driver.status.position is GatePosition.CLOSED
    with pytest.raises(DeviceOffline):
        await rig.driver.open()
    client = rig.factory("sim-test-gate", will=device_will(TOPICS))
    await client.start()
    rig.sim = MqttGateSimulator(rig.model, client, TOPICS)
    await rig.sim.start()
    await until(lambda: rig.driver.online, what="back online")
    await rig.driver.open()
    await until(lambda: rig.driver.status.position is GatePosition.OPEN, what="open")


async def test_fault_stuck_and_recovery(rig: GateRig):
    answer = await rig.control("stuck")
    assert answer["ok"] and answer["faults"] == ["stuck"]
    await rig.driver.open()
    await until(lambda: rig.driver.status.position is GatePosition.FAULT, what="fault")
    assert "stuck" in rig.driver.status.faults
    await rig.control("stuck", False)
    await until(lambda: rig.driver.status.position is GatePosition.CLOSED and not rig.driver.status.faults,
                what="recovered")
    await rig.driver.open()
    await until(lambda: rig.driver.status.position is GatePosition.OPEN, what="open")


async def test_fault_slow_takes_three_travel_times(rig: GateRig):
    await rig.control("slow")
    started = time.monotonic()
    await rig.driver.open()
    await until(lambda: rig.driver.status.position is GatePosition.OPEN, what="open")
    assert time.monotonic() - started >= 3 * rig.model.open_seconds / SPEED * 0.95
    await rig.control("slow", False)
    assert not rig.sim.faults and "slow" not in rig.model.injected


async def test_fault_loop_stuck_blocks_close_until_cleared(rig: GateRig):
    await rig.driver.open()
    await until(lambda: rig.driver.status.position is GatePosition.OPEN, what="open")
    await rig.control("loop_stuck")
    await until(lambda: rig.driver.status.safety_loop and "loop_fault" in rig.driver.status.faults,
                what="loop fault")
    with pytest.raises(GateSafetyError):
        await rig.driver.close()
    await rig.control("loop_stuck", False)
    await until(lambda: not rig.driver.status.safety_loop and not rig.driver.status.faults, what="clear")
    await rig.driver.close()
    await until(lambda: rig.driver.status.position is GatePosition.CLOSED, what="closed")


async def test_fault_offline_and_timeout(rig: GateRig):
    await rig.control("offline")
    await until(lambda: not rig.driver.online, what="offline")
    await rig.control("offline", False)
    await until(lambda: rig.driver.online, what="online")
    await rig.control("timeout")
    rig.driver.command_timeout = 0.2
    with pytest.raises(DeviceTimeout):
        await rig.driver.open()
    answer = await rig.control("noise")  # a serial line fault: refused, nothing changes
    assert answer["ok"] is False and "unknown" in answer["error"]


async def test_malformed_state_is_counted_not_fatal(rig: GateRig):
    before = rig.driver.status
    await rig.raw.publish(TOPICS.state, b'{"v":1,"ts":"x","position":"flying"}', qos=1)
    await rig.raw.publish(TOPICS.state, b"\xff garbage", qos=1)
    await until(lambda: rig.driver.malformed >= 2, what="malformed counted")
    assert rig.driver.status == before


def test_codec_round_trip_and_rejects():
    status = GateStatus(GatePosition.OPENING, True, False, frozenset({"stuck"}))
    assert gate_codec.parse_state(gate_codec.state_fields(status, 5)) == status
    counted = GateStatus(GatePosition.OPEN, False, True, frozenset(), passages=12)
    assert gate_codec.state_fields(counted)["passages"] == 12
    assert gate_codec.parse_state(gate_codec.state_fields(counted)) == counted
    assert "passages" not in gate_codec.state_fields(status)  # a gate without the counter says nothing
    assert gate_codec.parse_command({"op": "auto_close", "seconds": 10}) == ("auto_close", 10)
    assert gate_codec.parse_command({"op": "open"}) == ("open", None)
    for bad in ({"op": "fly"}, {"op": "auto_close", "seconds": 256}, {"op": "auto_close", "seconds": "5"}):
        with pytest.raises(ProtocolError):
            gate_codec.parse_command(bad)
    for bad_state in ({"position": "up", "presence_loop": False, "safety_loop": False},
                      {"position": "open", "presence_loop": 1, "safety_loop": False},
                      {"position": "open", "presence_loop": False, "safety_loop": False, "faults": "stuck"},
                      {"position": "open", "presence_loop": False, "safety_loop": False, "passages": 256},
                      {"position": "open", "presence_loop": False, "safety_loop": False, "passages": "3"}):
        with pytest.raises(ProtocolError):
            gate_codec.parse_state(bad_state)
