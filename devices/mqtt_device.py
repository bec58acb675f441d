"""Base of the MQTT device drivers: the controller's end of one device.

:class:`MqttDeviceDriver` tracks availability from the retained ``availability`` topic (the device's
Last Will), keeps the last retained ``state``, sends commands with ids and awaits the matching ack,
and hands events to listeners and waiters. The device's end is ``simulators.mqtt_device``, built on
the same codec. Malformed payloads are counted and logged; a message handler never raises: a noisy
device must not take a lane down.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from devices import mqtt_codec as codec
from devices.mqtt_codec import MalformedCounter, Topics
from devices.transport.mqtt import MqttClient
from lane.errors import DeviceError, DeviceFault, DeviceOffline, DeviceTimeout, ProtocolError

log = logging.getLogger(__name__)

EventPredicate = Callable[[dict[str, Any]], bool]


@dataclass(frozen=True)
class DeviceUpdate:
    """What driver listeners receive: availability changes, new retained state, or an event."""

    device: str
    kind: str
    """``availability`` | ``state`` | ``event``"""
    online: bool
    data: dict[str, Any] | None = None


@dataclass
class _Waiter:
    predicate: EventPredicate
    future: asyncio.Future[dict[str, Any]]


class MqttDeviceDriver:
    """Controller side of one MQTT device. Subclasses add the typed operations (charge, capture...)."""

    offline_grace: float = 3.0
    """Wall seconds a device may be offline before operations in flight fail with DeviceOffline.
    A broker restart makes every device blink offline (Mosquitto sends the wills) and back; a
    customer's payment must not fail for that. New commands are refused at once while offline."""

    def __init__(self, client: MqttClient, topics: Topics, name: str | None = None) -> None:
        self.client = client
        self.topics = topics
        self.name = name or topics.device
        self.state: dict[str, Any] | None = None
        self.malformed_counter = MalformedCounter(self.name)
        self._available = False
        self._listeners: list[Callable[[Any], None]] = []
        self._acks: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._waiters: list[_Waiter] = []
        self._unsubscribe: list[Callable[[], None]] = []
        self._started = False
        self._offline_timer: asyncio.TimerHandle | None = None

    # ------------------------------------------------------------------ Device port
    @property
    def online(self) -> bool:
        """Device announced ``online`` and our link to the broker is up."""
        return self._available and self.client.connected

    @property
    def malformed(self) -> int:
        """How many payloads from this device were dropped as malformed."""
        return self.malformed_counter.count

    async def start(self) -> None:
        """Subscribe to the device's topics; the shared client is started by its owner."""
        if self._started:
            return
        self._started = True
        t = self.topics
        self._unsubscribe = [
            self.client.subscribe(t.availability, self._on_availability),
            self.client.subscribe(t.state, self._on_state),
            self.client.subscribe(t.ack, self._on_ack),
            self.client.subscribe(t.event, self._on_event),
            self.client.add_connection_listener(self._on_link),
        ]

    async def stop(self) -> None:
        for remove in self._unsubscribe:
            remove()
        self._unsubscribe = []
        self._started = False
        self._cancel_offline_timer()
        self._fail_pending(DeviceOffline(self.name, "driver stopped"))

    def add_listener(self, listener: Callable[[Any], None]) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    async def wait_online(self, timeout: float) -> None:
        """Wait until the device is online; DeviceOffline after ``timeout`` wall seconds."""
        loop = asyncio.get_running_loop()
        if self.online:
            return
        changed: asyncio.Future[None] = loop.create_future()

        def watch(_: Any) -> None:
            if self.online and not changed.done():
                changed.set_result(None)

        remove = self.add_listener(watch)
        try:
            await asyncio.wait_for(changed, timeout)
        except TimeoutError as exc:
            raise DeviceOffline(self.name, f"not online after {timeout:.1f} s") from exc
        finally:
            remove()

    # ------------------------------------------------------------------ commands and events
    async def send_command(self, op: str, *, timeout: float, **fields: Any) -> dict[str, Any]:
        """Publish a command and wait for its ack. Raises DeviceOffline, DeviceTimeout, or
        DeviceFault when the device acks with ``ok: false`` (``fault`` is its error code)."""
        if not self.online:
            raise DeviceOffline(self.name, f"cannot {op}: device offline")
        cmd = codec.command(op, **fields)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._acks[cmd["id"]] = future
        try:
            await self.client.publish(self.topics.cmd, codec.encode(cmd), qos=1)
            ack = await asyncio.wait_for(future, timeout)
        except TimeoutError as exc:
            raise DeviceTimeout(self.name, f"no ack to {op} within {timeout:.1f} s") from exc
        finally:
            self._acks.pop(cmd["id"], None)
        if not ack["ok"]:
            error = ack.get("error") or "rejected"
            raise DeviceFault(self.name, f"{op} refused: {error}", fault=error)
        return ack

    def expect_event(self, predicate: EventPredicate) -> asyncio.Future[dict[str, Any]]:
        """Register interest in an event *before* sending the command that causes it.

        Cancel the returned future when no longer interested. It fails with DeviceOffline if
        the device goes offline meanwhile.
        """
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters.append(_Waiter(predicate, future))
        future.add_done_callback(self._drop_waiter)
        return future

    async def wait_event(self, future: asyncio.Future[dict[str, Any]], deadline: float, what: str) -> dict[str, Any]:
        """Await an expected event until the loop-time ``deadline``; DeviceTimeout afterwards."""
        remaining = deadline - asyncio.get_running_loop().time()
        try:
            return await asyncio.wait_for(asyncio.shield(future), max(0.0, remaining))
        except TimeoutError as exc:
            raise DeviceTimeout(self.name, f"no {what} in time") from exc
        finally:
            future.cancel()

    def validate_event(self, body: dict[str, Any]) -> None:
        """Subclasses check the fields of the event types they know; raise ProtocolError."""

    def validate_state(self, body: dict[str, Any]) -> None:
        """Subclasses check their retained state; raise ProtocolError."""

    # ------------------------------------------------------------------ handlers (loop thread)
    def _on_availability(self, topic: str, payload: bytes, retained: bool) -> None:
        try:
            available = codec.parse_availability(payload)
        except ProtocolError as exc:
            self.malformed_counter.record(topic, payload, exc)
            return
        changed = available != self._available
        self._available = available
        if changed:
            log.info("%s: %s", self.name, "online" if available else "offline")
            self._cancel_offline_timer()
            if not available:
                self._fail_pending_after_grace()
            self._notify(DeviceUpdate(self.name, "availability", self.online))

    def _fail_pending_after_grace(self) -> None:
        """Fail what is in flight if the device stays offline for ``offline_grace``.

        The timer runs on the loop of the pending futures themselves, not on "the running loop":
        a handler must work wherever it is called from (the transport calls it on the loop, a test
        or a replay tool may not), and with nothing in flight there is nothing to time.
        """
        pending = [f for f in (*self._acks.values(), *(w.future for w in self._waiters)) if not f.done()]
        if not pending:
            return
        error = DeviceOffline(self.name, "device went offline")
        self._offline_timer = pending[0].get_loop().call_later(self.offline_grace, self._fail_pending, error)

    def _cancel_offline_timer(self) -> None:
        if self._offline_timer is not None:
            self._offline_timer.cancel()
            self._offline_timer = None

    def _on_link(self, connected: bool) -> None:
        if self._available:
            self._notify(DeviceUpdate(self.name, "availability", self.online))

    def _on_state(self, topic: str, payload: bytes, retained: bool) -> None:
        if not payload:  # retained state cleared
            self.state = None
            return
        try:
            body = codec.decode(payload)
            self.validate_state(body)
        except ProtocolError as exc:
            self.malformed_counter.record(topic, payload, exc)
            return
        self.state = body
        self._notify(DeviceUpdate(self.name, "state", self.online, body))

    def _on_ack(self, topic: str, payload: bytes, retained: bool) -> None:
        try:
            body = codec.decode_ack(payload)
        except ProtocolError as exc:
            self.malformed_counter.record(topic, payload, exc)
            return
        future = self._acks.get(body["id"])
        if future is not None and not future.done():
            future.set_result(body)

    def _on_event(self, topic: str, payload: bytes, retained: bool) -> None:
        try:
            body = codec.decode_event(payload)
            self.validate_event(body)
        except ProtocolError as exc:
            self.malformed_counter.record(topic, payload, exc)
            return
        for waiter in list(self._waiters):
            if waiter.future.done():
                continue
            try:
                matched = waiter.predicate(body)
            except Exception:
                log.exception("%s: event predicate failed", self.name)
                continue
            if matched:
                waiter.future.set_result(body)
        self._notify(DeviceUpdate(self.name, "event", self.online, body))

    def _drop_waiter(self, future: asyncio.Future[dict[str, Any]]) -> None:
        self._waiters = [w for w in self._waiters if w.future is not future]

    def _fail_pending(self, error: DeviceError) -> None:
        for future in list(self._acks.values()):
            if not future.done():
                future.set_exception(error)
        for waiter in list(self._waiters):
            if not waiter.future.done():
                waiter.future.set_exception(error)

    def _notify(self, update: DeviceUpdate) -> None:
        for listener in list(self._listeners):
            try:
                listener(update)
            except Exception:
                log.exception("%s: listener failed", self.name)


__all__ = ["DeviceUpdate", "MqttDeviceDriver"]
