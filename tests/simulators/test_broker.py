"""The embedded amqtt broker serves MqttClient: pub/sub, retained state, Last Will, restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from devices.mqtt_codec import Topics
from devices.payment.driver import MqttPaymentTerminal
from devices.transport.mqtt import MqttClient
from lane.clock import ScaledClock
from lane.ports import PaymentOutcome
from simulators.broker import EmbeddedBroker
from simulators.mqtt_device import device_will
from simulators.payment import PaymentSimulator

TIMEOUT = 5.0


async def wait_until(condition: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    async def loop() -> None:
        delay = 0.005
        while not condition():
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)

    await asyncio.wait_for(loop(), timeout)


@pytest.fixture
async def broker() -> AsyncIterator[EmbeddedBroker]:
    b = EmbeddedBroker(port=0)
    await b.start()
    try:
        yield b
    finally:
        await b.stop()


@pytest.fixture
async def clients(broker: EmbeddedBroker) -> AsyncIterator[Callable[..., MqttClient]]:
    made: list[MqttClient] = []

    def make(client_id: str, **kwargs: object) -> MqttClient:
        client = MqttClient(broker.url, client_id, **kwargs)  # type: ignore[arg-type]
        made.append(client)
        return client

    yield make
    for client in made:
        await client.stop()


async def test_embedded_broker_picks_a_free_port_and_serves_pub_sub(broker, clients) -> None:
    assert broker.port > 0 and broker.url == f"mqtt://127.0.0.1:{broker.port}"
    a, b = clients("emb-a"), clients("emb-b")
    got: list[tuple[str, bytes, bool]] = []
    b.subscribe("lajur/x/#", lambda t, p, r: got.append((t, p, r)))
    for c in (a, b):
        await c.start()
        await c.wait_connected(TIMEOUT)
    await a.publish("lajur/x/state", b"retained", retain=True)
    await wait_until(lambda: any(p == b"retained" for _, p, _ in got))
    await a.publish("lajur/x/event", b"live")
    await wait_until(lambda: ("lajur/x/event", b"live", False) in got)


async def test_embedded_broker_publishes_last_will(broker, clients) -> None:
    topic = "lajur/s/l/dev/availability"
    dying = clients("emb-dying", will=(topic, b"offline", 1, True))
    watcher = clients("emb-watch")
    seen: list[bytes] = []
    watcher.subscribe(topic, lambda t, p, r: seen.append(p))
    for c in (dying, watcher):
        await c.start()
        await c.wait_connected(TIMEOUT)
    await dying.publish(topic, b"online", retain=True)
    await wait_until(lambda: seen[-1:] == [b"online"])
    await dying.abort()
    await wait_until(lambda: seen[-1:] == [b"offline"])


async def test_clients_reconnect_after_embedded_broker_restart(broker, clients) -> None:
    client = clients("emb-restart")
    states: list[bool] = []
    client.add_connection_listener(states.append)
    await client.start()
    await client.wait_connected(TIMEOUT)
    await broker.stop()
    await wait_until(lambda: not client.connected)
    await broker.start()
    await client.wait_connected(TIMEOUT)
    assert states == [True, False, True]


async def test_payment_device_works_over_embedded_broker(broker, clients) -> None:
    topics = Topics("emb", "lane-1", "payment")
    controller = clients("emb-ctl")
    device_client = clients("emb-sim", will=device_will(topics))
    terminal = MqttPaymentTerminal(controller, topics)
    sim = PaymentSimulator(device_client, topics, ScaledClock(speed=1000))
    await terminal.start()
    for c in (controller, device_client):
        await c.start()
        await c.wait_connected(TIMEOUT)
    await sim.start()
    await terminal.wait_online(TIMEOUT)
    result = await terminal.charge("EMB-1", 30000, timeout=TIMEOUT)
    assert result.outcome == PaymentOutcome.PAID
    await sim.stop()


def test_default_port_is_1883_when_free_else_any_free_port(monkeypatch):
    import socket

    from simulators import broker as broker_module

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        monkeypatch.setattr(broker_module, "MQTT_PORT", taken)
        assert EmbeddedBroker().port not in (taken, 0)
    free = broker_module.free_port()
    monkeypatch.setattr(broker_module, "MQTT_PORT", free)
    assert EmbeddedBroker().port == free
    assert EmbeddedBroker(port=0).port != 0
    assert broker_module.mosquitto_sub_command("mqtt://10.0.0.5:1884") == "mosquitto_sub -h 10.0.0.5 -p 1884 -t 'lajur/#' -v"
