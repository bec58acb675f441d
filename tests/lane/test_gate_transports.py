"""A whole visit with both gates on MQTT instead of RS-485: the composition root picks the driver from
the device's configured transport, and the lane behaves the same (ledger as ground truth)."""

from __future__ import annotations

import pytest

from cli.compose import Site
from cli.run import settings_for_simulated_site
from devices.gate.mqtt_driver import MqttBarrierGate
from lane.clock import ScaledClock
from lane.settings import load_settings
from simulators.ledger import Ledger
from simulators.mqtt_gate import MqttGateSimulator
from simulators.site import SimulatedSite
from simulators.traffic import HumanTimes
from tests.lane.test_lane_end_to_end import SPEED, Lane


@pytest.fixture
async def mqtt_gate_lane(mqtt_broker, tmp_path):
    clock = ScaledClock(SPEED)
    sim = SimulatedSite(site="test-site", lanes=1, clock=clock, mqtt_url=mqtt_broker.url,
                        ledger=Ledger(tmp_path / "ledger.jsonl"), gate_transport="mqtt")
    await sim.start()
    settings = settings_for_simulated_site(load_settings(database_url=f"sqlite:///{tmp_path}/lajur.db"), sim)
    site = Site(settings, clock, poll_interval=0.01)
    lane = None
    try:
        await site.start()
        lane = Lane(sim, site, clock, HumanTimes())
        yield lane
    finally:
        if lane:
            await lane.officer.stop()
            lane.traffic.close()
        await site.stop()
        await sim.stop()


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
