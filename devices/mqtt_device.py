"""Base of the MQTT device drivers: the controller's end of one device.

:class:`MqttDeviceDriver` tracks availability from the retained ``availability`` topic (the device's
Last Will), keeps the last retained ``state``, sends commands and awaits their acks and answers, and
hands events to listeners. The device's end is ``simulators.mqtt_device``, built on the same codec.

It believes a device only within what it asked for:

* every command gets an unguessable id (:func:`devices.mqtt_codec.new_command_id`) and stays
  *outstanding* from its publication until its request ends (answered, failed or timed out): that is
  its time window;
* an ack counts only for an outstanding command; an event that answers a command (a payment, a card,
  a capture: the types in ``answer_types``) counts only when it names an outstanding command in its
  ``command`` field, is of a type that command expects, and passes the command's own check (the
  payment's exact amount and reference…);
* acks and events must not be retained (a retained one would be replayed to every new subscriber);
  retained ``state`` and ``availability`` must come on this device's own topics and parse.

Anything else is refused: counted by reason, logged without its content, and handed to the listeners
as a :class:`lane.ports.MessageRefused` (:mod:`devices.refusals`). Nothing the lane waits for is lost:
the real answer still counts when it comes. A message handler never raises: a noisy or hostile device
must not take a lane down.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from devices import mqtt_codec as codec
from devices import refusals as why
from devices.mqtt_codec import MalformedCounter, Topics
from devices.refusals import Refusals
from devices.transport.mqtt import MqttClient
from lane.errors import DeviceError, DeviceFault, DeviceOffline, DeviceTimeout, ProtocolError

log = logging.getLogger(__name__)

AnswerCheck = Callable[[dict[str, Any]], str | None]
"""``check(event)`` -> None when the event answers the command as asked, else a refusal reason
(e.g. :data:`devices.refusals.WRONG_AMOUNT`)."""


@dataclass(frozen=True)
class DeviceUpdate:
    """What driver listeners receive: availability changes, new retained state, or an event."""

    device: str
    kind: str
    """``availability`` | ``state`` | ``event``"""
    online: bool
    data: dict[str, Any] | None = None


@dataclass
class _Outstanding:
    """A command sent and not finished: the only thing an ack or an answer may be about."""

    id: str
    op: str
    ack: asyncio.Future[dict[str, Any]]
    answers: frozenset[str] = frozenset()
    check: AnswerCheck | None = None
    answer: asyncio.Future[dict[str, Any]] | None = field(default=None)


class MqttDeviceDriver:
    """Controller side of one MQTT device. Subclasses add the typed operations (charge, capture...)."""

    offline_grace: float = 3.0
    """Wall seconds a device may be offline before operations in flight fail with DeviceOffline.
    A broker restart makes every device blink offline (Mosquitto sends the wills) and back; a
    customer's payment must not fail for that. New commands are refused at once while offline."""

    answer_types: frozenset[str] = frozenset()
    """Event types that only ever answer a command: they must name an outstanding one."""

    def __init__(self, client: MqttClient, topics: Topics, name: str | None = None) -> None:
        self.client = client
        self.topics = topics
        self.name = name or topics.device
        self.state: dict[str, Any] | None = None
        self.malformed_counter = MalformedCounter(self.name)
        self.refusals = Refusals(self.name, self._tell_listeners)
        self._available = False
        self._listeners: list[Callable[[Any], None]] = []
        self._outstanding: dict[str, _Outstanding] = {}
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

    @property
    def refused(self) -> int:
        """How many messages from this device were refused, malformed ones included."""
        return self.refusals.total

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

    # ------------------------------------------------------------------ commands
    async def send_command(self, op: str, *, timeout: float, **fields: Any) -> dict[str, Any]:
        """Publish a command and wait for its ack. Raises DeviceOffline, DeviceTimeout, or
        DeviceFault when the device acks with ``ok: false`` (``fault`` is its error code)."""
        return await self.request(op, timeout=timeout, **fields)

    async def request(self, op: str, *, timeout: float, answers: frozenset[str] = frozenset(),
                      check: AnswerCheck | None = None, **fields: Any) -> dict[str, Any]:
        """Publish a command, wait for its ack and, when ``answers`` names event types, for the event
        that answers it (naming this command and passing ``check``), all within ``timeout`` wall
        seconds. Returns the answering event, or the ack when none is expected.

        Raises DeviceOffline, DeviceTimeout, or DeviceFault when the device acks ``ok: false``."""
        if not self.online:
            raise DeviceOffline(self.name, f"cannot {op}: device offline")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        cmd = codec.command(op, **fields)
        pending = _Outstanding(cmd["id"], op, loop.create_future(), answers, check,
                               loop.create_future() if answers else None)
        self._outstanding[pending.id] = pending
        try:
            await self.client.publish(self.topics.cmd, codec.encode(cmd), qos=1)
            ack = await self._until(pending.ack, deadline, f"no ack to {op} within {timeout:.1f} s")
            if not ack["ok"]:
                error = ack.get("error") or "rejected"
                raise DeviceFault(self.name, f"{op} refused: {error}", fault=error)
            if pending.answer is None:
                return ack
            return await self._until(pending.answer, deadline, f"no answer to {op} within {timeout:.1f} s")
        finally:
            del self._outstanding[pending.id]  # its window closes: later answers are refused
            for future in (pending.ack, pending.answer):
                if future is None:
                    continue
                if not future.done():
                    future.cancel()
                elif not future.cancelled():
                    future.exception()  # failed after we stopped listening (offline): seen, not lost

    async def _until(self, future: asyncio.Future[dict[str, Any]], deadline: float, what: str) -> dict[str, Any]:
        remaining = deadline - asyncio.get_running_loop().time()
        try:
            return await asyncio.wait_for(asyncio.shield(future), max(0.0, remaining))
        except TimeoutError as exc:
            raise DeviceTimeout(self.name, what) from exc

    def validate_event(self, body: dict[str, Any]) -> None:
        """Subclasses check the fields of the event types they know; raise ProtocolError."""

    def validate_state(self, body: dict[str, Any]) -> None:
        """Subclasses check their retained state; raise ProtocolError."""

    # ------------------------------------------------------------------ handlers (loop thread)
    def _on_availability(self, topic: str, payload: bytes, retained: bool) -> None:
        if topic != self.topics.availability:
            self.refusals.refuse(why.WRONG_TOPIC, "availability")
            return
        try:
            available = codec.parse_availability(payload)
        except ProtocolError as exc:
            self._malformed(topic, payload, exc)
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
        pending = [f for f in self._pending_futures() if not f.done()]
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
        if topic != self.topics.state:
            self.refusals.refuse(why.WRONG_TOPIC, "state")
            return
        if not payload:  # retained state cleared
            self.state = None
            return
        try:
            body = codec.decode(payload)
            self.validate_state(body)
        except ProtocolError as exc:
            self._malformed(topic, payload, exc)
            return
        self.state = body
        self._notify(DeviceUpdate(self.name, "state", self.online, body))

    def _on_ack(self, topic: str, payload: bytes, retained: bool) -> None:
        if retained:
            self.refusals.refuse(why.RETAINED, "ack")
            return
        try:
            body = codec.decode_ack(payload)
        except ProtocolError as exc:
            self._malformed(topic, payload, exc)
            return
        pending = self._outstanding.get(body["id"])
        if pending is None:
            self.refusals.refuse(why.NOT_OUTSTANDING, "ack")
        elif not pending.ack.done():
            pending.ack.set_result(body)
        else:  # a QoS 1 redelivery of the ack we have: harmless, nothing to believe twice
            log.debug("%s: duplicate ack for %s", self.name, pending.op)

    def _on_event(self, topic: str, payload: bytes, retained: bool) -> None:
        if retained:
            self.refusals.refuse(why.RETAINED, "event")
            return
        try:
            body = codec.decode_event(payload)
            self.validate_event(body)
        except ProtocolError as exc:
            self._malformed(topic, payload, exc)
            return
        if body["type"] in self.answer_types and not self._answer(body):
            return
        self._notify(DeviceUpdate(self.name, "event", self.online, body))

    def _answer(self, body: dict[str, Any]) -> bool:
        """Resolve the outstanding command this event answers; False (refused) when it answers none."""
        kind = body["type"]
        command_id = body.get("command")
        pending = self._outstanding.get(command_id) if isinstance(command_id, str) else None
        if pending is None or pending.answer is None:
            self.refusals.refuse(why.NOT_OUTSTANDING if command_id else why.UNSOLICITED, kind)
            return False
        if kind not in pending.answers:
            self.refusals.refuse(why.WRONG_ANSWER, f"{kind} to {pending.op}")
            return False
        if pending.answer.done():
            self.refusals.refuse(why.NOT_OUTSTANDING, f"{kind}: {pending.op} already answered")
            return False
        try:
            reason = pending.check(body) if pending.check is not None else None
        except ProtocolError as exc:
            reason = why.WRONG_ANSWER
            log.info("%s: %s answer unusable: %s", self.name, pending.op, exc)
        if reason is not None:
            self.refusals.refuse(reason, f"{kind} to {pending.op}")
            return False
        pending.answer.set_result(body)
        return True

    def _malformed(self, topic: str, payload: bytes, exc: ProtocolError) -> None:
        self.malformed_counter.record(topic, payload, exc)  # logs the reason, never the content
        self.refusals.refuse(why.MALFORMED, f"{topic.rsplit('/', 1)[-1]}: {exc}", logged=True)

    def _pending_futures(self) -> list[asyncio.Future[dict[str, Any]]]:
        futures = [p.ack for p in self._outstanding.values()]
        futures += [p.answer for p in self._outstanding.values() if p.answer is not None]
        return futures

    def _fail_pending(self, error: DeviceError) -> None:
        for future in self._pending_futures():
            if not future.done():
                future.set_exception(error)

    def _notify(self, update: DeviceUpdate) -> None:
        self._tell_listeners(update)

    def _tell_listeners(self, event: object) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("%s: listener failed", self.name)


__all__ = ["AnswerCheck", "DeviceUpdate", "MqttDeviceDriver"]
