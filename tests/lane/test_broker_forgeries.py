"""Issue 23's intruder, at the broker: a rogue on the site network tries every forgery against a lane
running under the site's generated accounts and ACL (Mosquitto where installed, else the embedded
broker reading the same files). Each is refused by the broker, the lane notices nothing, and a driver
then renews as usual. And an oversized payload neither passes the broker nor swells the controller."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

import pytest

from devices import mqtt_codec as codec
from devices.mqtt_access import device_username, technician_username
from devices.transport.mqtt import MqttClient, MqttLogin
from simulators.broker import MosquittoBroker, mosquitto_binary, site_broker
from tests.fixtures.mqtt import SITE, connack, publish_oversized
from tests.lane.test_lane_end_to_end import running_lane

ROOT = f"lajur/{SITE}/lane-1"
PAID = codec.encode(codec.event("payment", reference="RN-FORGED-1", status="paid", amount=80_000, detail="",
                                repeat=False))
SCAM = codec.encode({"station": "window-1", "signal": "green", "step": "pay", "text_id": "Bayar Rp 500.000 ke 123-456",
                     "text_en": "Pay Rp 500,000 to account 123-456", "plate": None, "fee": 500_000})
GATE_OPEN = codec.encode({"position": "open", "presence_loop": False, "safety_loop": False, "faults": [],
                          "auto_close": 0})
FORGERIES = [  # (topic, payload, retained)
    (f"{ROOT}/payment/event", PAID, False),                      # a free licence
    (f"{ROOT}/exit-gate/cmd", codec.encode(codec.command("open")), False),  # the exit gate obeys anyone
    (f"{ROOT}/entry-gate/state", GATE_OPEN, True),                # a phantom visit at the entry
    (f"{ROOT}/display-window-1/state", SCAM, True),              # "pay to account 123-456" under green
    (f"{ROOT}/payment/availability", codec.OFFLINE, True),       # the payment terminal taken out
]
FORGED = (b"RN-FORGED-1", b"123-456", b'"op":"open"')


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []

    def __call__(self, topic: str, payload: bytes, retained: bool) -> None:
        self.messages.append((topic, payload, retained))

    def topics(self) -> set[str]:
        return {t for t, _, _ in self.messages}


async def _rogue(url: str, login: MqttLogin, client_id: str) -> tuple[MqttClient, Inbox]:
    client, inbox = MqttClient(url, client_id, login=login, clean_session=True), Inbox()
    client.subscribe("lajur/#", inbox)
    await client.start()
    await client.wait_connected(5)
    return client, inbox


async def _until(condition, timeout: float = 10) -> None:
    async def loop() -> None:
        while not condition():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(loop(), timeout)


async def test_every_forgery_is_refused_by_the_broker_and_the_lane_renews_as_usual(site_mqtt_broker, tmp_path):
    broker = site_mqtt_broker
    host, port = broker.host, broker.port
    # No login, a wrong secret, or someone's account with another's secret: not even connected.
    assert connack(host, port) == 5
    assert connack(host, port, username=technician_username(SITE), password="guess") == 5
    stolen = device_username(SITE, "lane-2", "payment")  # a device's own secret, used for lane 1's topics
    assert connack(host, port, username=stolen, password=broker.credentials.password("test-site.lane-2.biometric")) == 5

    async with running_lane(broker.url, tmp_path, credentials_dir=broker.credentials.path,
                            gate_transport="mqtt") as lane:
        devices, sl = lane.ctl.devices, lane.sim.lanes["lane-1"]
        await _until(lambda: devices.payment.online and devices.entry_gate.online)
        payment_updates: list = []
        devices.payment.add_listener(payment_updates.append)
        entry_state, gate_commands = dict(devices.entry_gate.state or {}), sl.exit_gate_sim.commands_seen
        # ... and with the controller's client id, which would take over its session were ids not accounts
        device, device_inbox = await _rogue(broker.url, broker.login(stolen), lane.site.mqtt.client_id)
        tech, tech_inbox = await _rogue(broker.url, broker.login(technician_username(SITE)), "rogue-tech")
        try:
            for rogue in (tech, device):
                for topic, payload, retained in FORGERIES:
                    await rogue.publish(topic, payload, qos=1, retain=retained)
            # A message the technician may read, sent after the forgeries: once it is in, they were handled.
            await device.publish(f"lajur/{SITE}/lane-2/payment/state", codec.encode({"status": "idle"}), retain=True)
            await _until(lambda: f"lajur/{SITE}/lane-2/payment/state" in tech_inbox.topics())
            await asyncio.sleep(0.3)

            assert [u for u in payment_updates if u.kind == "event"] == [] and devices.payment.online
            assert sl.exit_gate_sim.commands_seen == gate_commands and not lane.sim.ledger.effects("gate_opened")
            assert devices.entry_gate.state == entry_state and devices.entry_gate.state.get("position") == "closed"
            assert not [m for m in sl.displays["window-1"].history if "123-456" in m.text_en]
            assert lane.ctl.devices.entry_gate.online and lane.site.mqtt.connected  # nobody kicked the controller

            [visit] = await lane.run(lane.driver())
            assert visit["outcome"] == "completed"
            assert len(lane.sim.ledger.effects("charge_made")) == 1
            assert [e["renewal_id"] for e in lane.sim.ledger.effects("card_printed")] == [visit["id"]]
        finally:
            await device.stop()
            await tech.stop()

        # The card reader's events (NIK, name, SIM number) reached neither; the technician saw the lane's health.
        assert not [t for t in tech_inbox.topics() | device_inbox.topics() if t.endswith("/event")]
        assert not [t for t in device_inbox.topics() if t.startswith(ROOT)]
        assert {f"{ROOT}/card-reader/availability", f"{ROOT}/exit-gate/state"} <= tech_inbox.topics()
        assert not [t for t in tech_inbox.topics() if t.endswith(("/cmd", "/ack"))]
        assert not [p for _, p, _ in tech_inbox.messages if any(f in p for f in FORGED)]
        # Nothing forged stayed retained on the broker either.
        late, late_inbox = await _rogue(broker.url, broker.login(technician_username(SITE)), "late")
        await asyncio.sleep(0.3)
        await late.stop()
        retained = {t: p for t, p, r in late_inbox.messages if r}
        assert retained[f"{ROOT}/payment/availability"] == codec.ONLINE
        assert not [p for p in retained.values() if any(f in p for f in FORGED) or p == GATE_OPEN]


def _rss_mb(field: str) -> float:
    return int(re.search(rf"{field}:\s+(\d+)", Path("/proc/self/status").read_text()).group(1)) / 1024


async def test_a_device_sending_an_oversized_payload_is_disconnected_by_the_broker(site_mqtt_broker, tmp_path):
    broker = site_mqtt_broker
    async with running_lane(broker.url, tmp_path, credentials_dir=broker.credentials.path) as lane:
        login = broker.login(device_username(SITE, "lane-2", "payment"))
        # on the device's own event topic, which the controller reads: only the size is wrong
        hung_up = await asyncio.to_thread(publish_oversized, broker.host, broker.port,
                                          f"lajur/{SITE}/lane-2/payment/event", 8 << 20,
                                          username=login.username, password=login.password)
        assert hung_up
        assert lane.site.mqtt.oversized == 0  # the controller never saw a byte of it
        [visit] = await lane.run(lane.driver())
        assert visit["outcome"] == "completed"


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists() or mosquitto_binary() is None
                    or bool(os.environ.get("LAJUR_TEST_EMBEDDED_BROKER")),
                    reason="needs Linux /proc for peak memory and Mosquitto in its own process (the embedded broker "
                           "would hold the payloads in this one); tests/devices/test_mqtt_transport.py covers the rest")
async def test_the_controller_drops_oversized_payloads_from_a_broker_without_limits_and_stays_small(tmp_path):
    """A site broker not configured by us: three 32 MB publishes reach the controller's client, which reads
    each through a small buffer and drops it: its peak memory does not move, and the lane carries on."""
    workdir = tmp_path / "unlimited"
    workdir.mkdir()
    broker = site_broker(workdir, SITE, [], None, port=0, max_payload=200 << 20)
    assert isinstance(broker, MosquittoBroker)
    await broker.start()
    try:
        async with running_lane(broker.url, tmp_path) as lane:
            client = lane.site.mqtt
            await _until(lambda: lane.ctl.devices.payment.online)
            Path("/proc/self/clear_refs").write_text("5")  # the peak (VmHWM) starts again from now
            before = _rss_mb("VmRSS")
            for _ in range(3):
                await asyncio.to_thread(publish_oversized, broker.host, broker.port, f"{ROOT}/payment/event", 32 << 20)
            await _until(lambda: client.oversized == 3, timeout=60)
            assert _rss_mb("VmHWM") - before < 16, "the controller held an oversized payload"
            assert client.connected and lane.ctl.devices.payment.online
            [visit] = await lane.run(lane.driver())
            assert visit["outcome"] == "completed"
    finally:
        await broker.stop()
