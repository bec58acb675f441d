"""A whole visit with both gates on MQTT instead of RS-485: the composition root picks the driver from
the device's configured transport, and the lane behaves the same (ledger as ground truth)."""

from __future__ import annotations

import pytest

from devices.gate.mqtt_driver import MqttBarrierGate
from simulators.mqtt_gate import MqttGateSimulator
from tests.lane.test_lane_end_to_end import Lane, running_lane


@pytest.fixture
async def mqtt_gate_lane(site_mqtt_broker, tmp_path):
    """Each gate logged in with its own account under the site's ACL, as every MQTT device is."""
    async with running_lane(site_mqtt_broker.url, tmp_path, credentials_dir=site_mqtt_broker.credentials.path,
                            gate_transport="mqtt") as lane:
        yield lane


async def test_full_visit_with_both_gates_on_mqtt(mqtt_gate_lane: Lane):
    lane = mqtt_gate_lane
    config = lane.sim.config()["lanes"][0]["devices"]
    assert config["entry-gate"] == {"transport": "mqtt"} and config["exit-gate"] == {"transport": "mqtt"}
    simulated = lane.sim.lanes["lane-1"]
    assert isinstance(simulated.entry_gate_sim, MqttGateSimulator)
    devices = lane.ctl.devices
    assert isinstance(devices.entry_gate, MqttBarrierGate) and isinstance(devices.exit_gate, MqttBarrierGate)

    driver = lane.driver()
    [visit] = await lane.run(driver)
    assert visit["outcome"] == "completed" and visit["plate"] == driver.plate
    ledger = lane.sim.ledger
    assert {e["device"] for e in ledger.effects("gate_opened")} == {"entry-gate", "exit-gate"}
    assert not [e for e in ledger.effects("gate_closed") if e.get("safety_loop_occupied")]
    assert [e["renewal_id"] for e in ledger.effects("card_printed")] == [visit["id"]]
    assert len(ledger.effects("charge_made")) == 1
