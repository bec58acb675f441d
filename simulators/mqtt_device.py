"""Base of the MQTT device simulators: the device's end of one device, on the drivers' codec.

:class:`MqttDeviceSimulator` announces availability (with the Last Will every device sets), keeps
its retained state, answers each command once with an ack (a QoS 1 redelivery gets the same ack
again, the work is not done twice), publishes events, and takes faults through
:class:`simulators.faults.FaultInjectable` — in process, or on its ``control`` topic.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from typing import Any

from devices import mqtt_codec as codec
from devices.mqtt_codec import MalformedCounter, Topics
from devices.transport.mqtt import MqttClient, MqttLogin, Will
from lane.clock import Clock, SystemClock
from lane.errors import ProtocolError
from simulators.faults import apply_control, check_fault
from simulators.ledger import Ledger

log = logging.getLogger(__name__)


class CommandRejected(Exception):
    """Raised by a simulator's command handler to ack ``ok: false`` with ``error``."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


def device_will(topics: Topics) -> Will:
    """The Last Will every MQTT device sets: retained ``offline`` on its availability topic."""
    return (topics.availability, codec.OFFLINE, 1, True)


def simulator_client(url: str, topics: Topics, client_id: str | None = None,
                     login: MqttLogin | None = None) -> MqttClient:
    """An MqttClient for one simulated device, with its Last Will set. Logged in, its client id is its
    account, as the site's broker requires (``use_username_as_clientid``)."""
    cid = login.username if login is not None else client_id or f"sim-{topics.site}-{topics.lane}-{topics.device}"
    return MqttClient(url, cid, will=device_will(topics), login=login)


class MqttDeviceSimulator:
    """Device side: availability with LWT, retained state, command → ack, events.

    Faults every device has: ``offline`` (announces offline and ignores commands, like a device
    that lost power) and ``timeout`` (silently ignores commands). Subclasses add their own.
    """

    faults_supported: frozenset[str] = frozenset({"offline", "timeout"})

    def __init__(
        self,
        client: MqttClient,
        topics: Topics,
        *,
        clock: Clock | None = None,
        lane: str = "lane-1",
        ledger: Ledger | None = None,
        name: str | None = None,
    ) -> None:
        self.client = client
        self.topics = topics
        self.clock: Clock = clock or SystemClock()
        self.lane = lane
        self.ledger = ledger
        self.name = name or topics.device
        self.active_faults: set[str] = set()
        self.malformed_counter = MalformedCounter(f"sim:{self.name}")
        self.commands_seen = 0
        self._acked: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._unsubscribe: list[Callable[[], None]] = []
        self._state: dict[str, Any] = {}

    @property
    def malformed(self) -> int:
        return self.malformed_counter.count

    @property
    def faults(self) -> frozenset[str]:
        return frozenset(self.active_faults)

    async def start(self) -> None:
        """Subscribe to commands and announce ourselves; the client is started by its owner."""
        self._unsubscribe = [
            self.client.subscribe(self.topics.cmd, self._on_command),
            self.client.subscribe(self.topics.control, self._on_control),
            self.client.add_connection_listener(self._on_link),
        ]
        await self._announce()

    async def stop(self) -> None:
        """Announce offline (a clean disconnect does not fire the Last Will) and stop work."""
        for remove in self._unsubscribe:
            remove()
        self._unsubscribe = []
        for task in list(self._tasks):
            task.cancel()
        await self.client.publish(self.topics.availability, codec.OFFLINE, qos=1, retain=True)

    async def inject(self, fault: str, active: bool = True) -> None:
        """Start or end a fault at run time (:class:`simulators.faults.FaultInjectable`)."""
        check_fault(self, fault)
        if active:
            self.active_faults.add(fault)
        else:
            self.active_faults.discard(fault)
        log.info("%s: fault %s %s", self.name, fault, "on" if active else "off")
        if fault == "offline":
            await self._announce()

    async def publish_state(self, **state: Any) -> None:
        """Replace the retained state (kept so it is re-published after a reconnect)."""
        self._state = dict(state)
        await self.client.publish(self.topics.state, codec.encode(self._state), qos=1, retain=True)

    async def publish_event(self, type_: str, **fields: Any) -> None:
        if "offline" in self.active_faults:
            log.info("%s: offline, event %s not sent", self.name, type_)
            return
        await self.client.publish(self.topics.event, codec.encode(codec.event(type_, **fields)), qos=1)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run device work (a human at the terminal) in the background, tracked and logged."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    async def handle_command(self, cmd: dict[str, Any]) -> None:
        """Subclasses act on one command; raise CommandRejected to ack ``ok: false``."""
        raise CommandRejected(f"unknown op {cmd['op']!r}")

    # ------------------------------------------------------------------ internals
    async def _announce(self) -> None:
        online = "offline" not in self.active_faults
        await self.client.publish(
            self.topics.availability, codec.ONLINE if online else codec.OFFLINE, qos=1, retain=True
        )
        if online and self._state:
            await self.client.publish(self.topics.state, codec.encode(self._state), qos=1, retain=True)

    def _on_link(self, connected: bool) -> None:
        # after a broker restart without persistence our retained messages may be gone
        if connected:
            self.spawn(self._announce())

    async def _on_command(self, topic: str, payload: bytes, retained: bool) -> None:
        try:
            cmd = codec.decode_command(payload)
        except ProtocolError as exc:
            self.malformed_counter.record(topic, payload, exc)
            return
        self.commands_seen += 1
        if self.active_faults & {"offline", "timeout"}:
            log.info("%s: fault %s, ignoring command %s", self.name, sorted(self.active_faults), cmd["op"])
            return
        previous = self._acked.get(cmd["id"])
        if previous is not None:  # QoS 1 redelivery: answer again, do not act twice
            await self.client.publish(self.topics.ack, codec.encode(previous), qos=1)
            return
        try:
            await self.handle_command(cmd)
            reply = codec.ack(cmd["id"], True)
        except CommandRejected as exc:
            reply = codec.ack(cmd["id"], False, exc.error)
        except ProtocolError as exc:
            self.malformed_counter.record(topic, payload, exc)
            reply = codec.ack(cmd["id"], False, "bad_command")
        except Exception:
            log.exception("%s: command %s failed", self.name, cmd["op"])
            reply = codec.ack(cmd["id"], False, "internal_error")
        self._acked[cmd["id"]] = reply
        while len(self._acked) > 256:
            self._acked.popitem(last=False)
        await self.client.publish(self.topics.ack, codec.encode(reply), qos=1)

    async def _on_control(self, topic: str, payload: bytes, retained: bool) -> None:
        """Run-time fault injection by a technician or a test: ``{"v":1,"fault":NAME,"active":bool}``.

        Answered on ``<root>/control/ack`` with ``ok``/``error`` and the faults now active. Works
        while the ``offline`` fault is active, so a technician can bring the device back.
        """
        if retained:  # a stale retained control message must not inject a fault on every start
            log.info("%s: ignoring retained control message", self.name)
            return
        try:
            reply = await apply_control(self, payload)
        except ProtocolError as exc:
            self.malformed_counter.record(topic, payload, exc)
            return
        await self.client.publish(self.topics.control_ack, codec.encode(reply), qos=1)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s: background work failed", self.name, exc_info=task.exception())
