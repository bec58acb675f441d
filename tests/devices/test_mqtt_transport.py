"""MqttClient against a real private broker: pub/sub, outages, resubscription, queued QoS 1, Last Will."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

import pytest

from devices.transport.mqtt import BrokerAddress, MqttClient
from lane.errors import ConfigError

TIMEOUT = 5.0


class Inbox:
    """Collects messages from a subscription; tests wait on conditions, never on fixed sleeps."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self._changed = asyncio.Event()

    def __call__(self, topic: str, payload: bytes, retained: bool) -> None:
        self.messages.append((topic, payload, retained))
        self._changed.set()

    @property
    def payloads(self) -> list[bytes]:
        return [m[1] for m in self.messages]

    async def wait_for(self, condition: Callable[[], bool], timeout: float = TIMEOUT) -> None:
        async def loop() -> None:
            while not condition():
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(loop(), timeout)


async def wait_until(condition: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    async def loop() -> None:
        delay = 0.005
        while not condition():
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)

    await asyncio.wait_for(loop(), timeout)


async def started(client: MqttClient) -> MqttClient:
    await client.start()
    await client.wait_connected(TIMEOUT)
    return client


def test_broker_url_has_default_ports_and_refuses_a_password_without_echoing_it() -> None:
    addr = BrokerAddress.parse("mqtts://broker.local")
    assert (addr.host, addr.port, addr.tls) == ("broker.local", 8883, True)
    assert BrokerAddress.parse("mqtt://127.0.0.1:1999").port == 1999
    with pytest.raises(ConfigError):
        BrokerAddress.parse("http://x:1")
    with pytest.raises(ConfigError) as refused:
        BrokerAddress.parse("mqtts://lane%40a:s3cret@broker.local")
    assert "s3cret" not in str(refused.value) and "credentials_dir" in str(refused.value)


async def test_published_message_reaches_subscriber(mqtt_client_factory) -> None:
    sub = await started(mqtt_client_factory("t-sub"))
    pub = await started(mqtt_client_factory("t-pub"))
    inbox = Inbox()
    sub.subscribe("lajur/test/+/x", inbox)
    await pub.publish("lajur/test/probe/x", b"retained", retain=True)
    await inbox.wait_for(lambda: b"retained" in inbox.payloads)
    await pub.publish("lajur/test/a/x", b"hello")
    await inbox.wait_for(lambda: b"hello" in inbox.payloads)
    assert ("lajur/test/a/x", b"hello", False) in inbox.messages


async def test_async_handler_and_failing_handler_do_not_break_delivery(mqtt_client_factory) -> None:
    client = await started(mqtt_client_factory("t-handlers"))
    got: list[bytes] = []

    def broken(topic: str, payload: bytes, retained: bool) -> None:
        raise RuntimeError("handler bug")

    async def good(topic: str, payload: bytes, retained: bool) -> None:
        got.append(payload)

    client.subscribe("lajur/h", broken)
    client.subscribe("lajur/h", good)
    await client.publish("lajur/h", b"1", retain=True)
    await wait_until(lambda: got == [b"1"])


async def test_start_does_not_fail_while_broker_is_down_and_connects_later(mqtt_broker, mqtt_client_factory) -> None:
    mqtt_broker.stop()
    client = mqtt_client_factory("t-late")
    await client.start()
    assert not client.connected
    mqtt_broker.start()
    await client.wait_connected(TIMEOUT)
    assert client.connected


async def test_reconnects_after_broker_restart_and_resubscribes(mqtt_broker, mqtt_client_factory) -> None:
    sub = await started(mqtt_client_factory("t-resub"))
    changes: list[bool] = []
    sub.add_connection_listener(changes.append)
    inbox = Inbox()
    sub.subscribe("lajur/r/#", inbox)
    pub = await started(mqtt_client_factory("t-resub-pub"))
    await pub.publish("lajur/r/before", b"1", retain=True)
    await inbox.wait_for(lambda: b"1" in inbox.payloads)

    mqtt_broker.restart()
    await wait_until(lambda: changes[:1] == [False])
    await sub.wait_connected(TIMEOUT)
    await pub.wait_connected(TIMEOUT)
    await pub.publish("lajur/r/after", b"2")
    await inbox.wait_for(lambda: b"2" in inbox.payloads)
    assert changes[:2] == [False, True]


async def test_subscription_is_renewed_on_a_broker_that_lost_all_sessions(mqtt_broker, mqtt_client_factory) -> None:
    """Even a broker without persistence (the embedded one, or a replaced Mosquitto) gets our filters again."""
    sub = await started(mqtt_client_factory("t-fresh", clean_session=True))
    inbox = Inbox()
    sub.subscribe("lajur/f/#", inbox)
    pub = await started(mqtt_client_factory("t-fresh-pub", clean_session=True))
    mqtt_broker.restart()
    await sub.wait_connected(TIMEOUT)
    await pub.wait_connected(TIMEOUT)
    # retained probe: arrives only once our re-subscription is in place, however late
    await pub.publish("lajur/f/x", b"after-restart", retain=True)
    await inbox.wait_for(lambda: b"after-restart" in inbox.payloads)


async def test_qos1_publish_while_broker_down_is_delivered_after_it_returns(mqtt_broker, mqtt_client_factory) -> None:
    if not mqtt_broker.persistent:
        pytest.skip("needs a broker that keeps sessions across a restart")
    device = await started(mqtt_client_factory("t-device"))
    inbox = Inbox()
    device.subscribe("lajur/s/l/dev/cmd", inbox)
    controller = await started(mqtt_client_factory("t-controller"))
    # make sure the device's subscription is live before the outage
    await controller.publish("lajur/s/l/dev/cmd", b"warm-up")
    await inbox.wait_for(lambda: b"warm-up" in inbox.payloads)

    mqtt_broker.stop()
    await wait_until(lambda: not controller.connected)
    await controller.publish("lajur/s/l/dev/cmd", b'{"op":"open"}', qos=1)
    mqtt_broker.start()
    await inbox.wait_for(lambda: b'{"op":"open"}' in inbox.payloads, timeout=10)


async def test_qos1_message_for_an_absent_subscriber_waits_in_its_session(mqtt_broker, mqtt_client_factory) -> None:
    """Stable id + clean_session off: events sent while the controller is away reach it on return."""
    if not mqtt_broker.persistent:
        pytest.skip("amqtt does not queue QoS 1 for offline persistent sessions; Mosquitto does")
    controller = mqtt_client_factory("t-persistent")
    inbox = Inbox()
    controller.subscribe("lajur/p/event", inbox)
    await started(controller)
    await controller.publish("lajur/p/event", b"probe")
    await inbox.wait_for(lambda: b"probe" in inbox.payloads)
    await controller.stop()

    device = await started(mqtt_client_factory("t-persistent-dev"))
    await device.publish("lajur/p/event", b"while-away", qos=1)

    again = mqtt_client_factory("t-persistent")
    inbox2 = Inbox()
    again.subscribe("lajur/p/event", inbox2)
    await started(again)
    await inbox2.wait_for(lambda: b"while-away" in inbox2.payloads)


async def test_last_will_marks_device_offline_when_its_client_dies(mqtt_client_factory) -> None:
    topic = "lajur/s/l/dev/availability"
    device = mqtt_client_factory("t-dying", will=(topic, b"offline", 1, True))
    await started(device)
    await device.publish(topic, b"online", retain=True)
    watcher = await started(mqtt_client_factory("t-watcher"))
    inbox = Inbox()
    watcher.subscribe(topic, inbox)
    await inbox.wait_for(lambda: inbox.payloads[-1:] == [b"online"])

    await device.abort()
    await inbox.wait_for(lambda: inbox.payloads[-1:] == [b"offline"])


async def test_clean_stop_does_not_fire_last_will(mqtt_client_factory) -> None:
    topic = "lajur/s/l/quiet/availability"
    device = await started(mqtt_client_factory("t-quiet", will=(topic, b"offline", 1, True)))
    await device.publish(topic, b"online", retain=True)
    await device.stop()
    watcher = await started(mqtt_client_factory("t-quiet-watch"))
    inbox = Inbox()
    watcher.subscribe(topic, inbox)
    marker = mqtt_client_factory("t-quiet-marker")
    await started(marker)
    inbox2 = Inbox()
    watcher.subscribe("lajur/s/l/quiet/marker", inbox2)
    await marker.publish("lajur/s/l/quiet/marker", b"m", retain=True)
    await inbox2.wait_for(lambda: inbox2.payloads == [b"m"])
    assert inbox.payloads == [b"online"]


async def test_stop_is_idempotent_and_unsubscribe_stops_delivery(mqtt_client_factory) -> None:
    client = await started(mqtt_client_factory("t-unsub"))
    inbox, other = Inbox(), Inbox()
    remove = client.subscribe("lajur/u/a", inbox)
    client.subscribe("lajur/u/b", other)
    remove()
    await client.publish("lajur/u/a", b"x", retain=True)
    await client.publish("lajur/u/b", b"y", retain=True)
    await other.wait_for(lambda: other.payloads == [b"y"])
    assert inbox.payloads == []
    await client.stop()
    await client.stop()
    assert not client.connected


async def test_handlers_added_and_removed_after_traffic_started_see_the_right_messages(mqtt_client_factory) -> None:
    """Routes are cached per topic after the first message: a later subscribe or unsubscribe on the
    same topic must still take effect at once (a lane added at run time, a driver stopped)."""
    client = await started(mqtt_client_factory("t-routes"))
    first, second = Inbox(), Inbox()
    remove_first = client.subscribe("lajur/r/+/state", first)
    await client.publish("lajur/r/g1/state", b"1")
    await first.wait_for(lambda: first.payloads == [b"1"])
    client.subscribe("lajur/r/g1/#", second)
    await wait_until(lambda: client.connected)
    await asyncio.sleep(0.2)  # the broker has the new subscription
    await client.publish("lajur/r/g1/state", b"2")
    await second.wait_for(lambda: b"2" in second.payloads)
    await first.wait_for(lambda: first.payloads == [b"1", b"2"])
    remove_first()
    await client.publish("lajur/r/g1/state", b"3")
    await second.wait_for(lambda: b"3" in second.payloads)
    assert first.payloads == [b"1", b"2"]


async def test_a_message_over_the_size_limit_is_dropped_unread_and_the_next_one_arrives(mqtt_client_factory) -> None:
    """The limit is the client's own (here 2 KiB, under the broker's), so it holds whatever broker it meets.
    A QoS 1 one is still acknowledged: it is not sent again after a reconnect."""
    sub = await started(mqtt_client_factory("t-small", max_payload=2048))
    pub = await started(mqtt_client_factory("t-big"))
    inbox = Inbox()
    sub.subscribe("lajur/test/+/size", inbox)

    async def until_subscribed(sender: MqttClient) -> None:
        """A probe round trip. Sent by ``sub`` itself it also flushes the acknowledgements queued before it."""
        seen = len(inbox.payloads)
        while len(inbox.payloads) == seen:
            await sender.publish("lajur/test/probe/size", b"probe")
            await asyncio.sleep(0.05)

    def real() -> list[bytes]:
        return [p for p in inbox.payloads if p != b"probe"]

    await until_subscribed(pub)
    await pub.publish("lajur/test/a/size", b"x" * 40_000, qos=1)
    await pub.publish("lajur/test/b/size", b"x" * 2049, qos=0)
    await pub.publish("lajur/test/c/size", b"small", qos=1)
    await inbox.wait_for(lambda: real() == [b"small"])
    assert sub.oversized == 2
    await until_subscribed(sub)
    sub._paho.reconnect()  # a drop: an unacknowledged QoS 1 message would come back now
    await until_subscribed(pub)
    await pub.publish("lajur/test/c/size", b"after", qos=1)
    await inbox.wait_for(lambda: real() == [b"small", b"after"])
    assert sub.oversized == 2


def _open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts descriptors through /proc")
async def test_a_stopped_client_leaves_no_sockets_open(mqtt_client_factory) -> None:
    """A site starts and stops clients all day (reconnecting devices, leases moving, a test suite); each stop
    must give back its sockets, or the process runs past 1024 descriptors and new clients never connect."""
    warm = await started(mqtt_client_factory("fd-warmup"))
    await warm.stop()
    before = _open_descriptors()
    for n in range(20):
        client = await started(mqtt_client_factory(f"fd-cycle-{n}"))
        await client.stop()
    aborted = await started(mqtt_client_factory("fd-aborted"))
    await aborted.abort()
    assert _open_descriptors() - before <= 2
