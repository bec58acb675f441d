"""A small typed async facade over paho-mqtt.

Drivers and simulators never touch paho callbacks: paho runs its own network thread
(``loop_start``) and every callback is marshalled onto the asyncio loop with
``call_soon_threadsafe``. The client is built for a lane that must survive broker restarts and
network drops:

* MQTT 3.1.1 with a stable client id and ``clean_session=False`` so the broker keeps our
  subscriptions and queues QoS 1 messages for us while we are away;
* automatic reconnect with exponential back-off (0.1 s .. 2 s), and every filter is subscribed
  again on each (re)connect, which also makes the broker re-send retained state;
* QoS 1 publishes made while disconnected are kept by paho (``max_queued_messages``) and sent
  after the reconnect.

It logs in with its own account (:class:`MqttLogin`, never in the URL) over TLS with the site's CA
and client certificate where configured (:class:`TlsFiles`), and reads at most ``max_payload`` bytes
of any message: a larger one is read through, dropped and counted (see :class:`BoundedPaho`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from devices.transport.mqtt_link import (
    DEFAULT_MAX_PAYLOAD,
    PUBLISH_HEADER_MAX,
    BoundedPaho,
    BrokerAddress,
    MqttLogin,
    TlsFiles,
)
from lane.errors import ConfigError, LajurError

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_MAX_PAYLOAD", "BrokerAddress", "ConnectionListener", "MessageHandler", "MqttClient", "MqttError",
           "MqttLogin", "TlsFiles", "Will", "topic_matches"]

MessageHandler = Callable[[str, bytes, bool], None | Awaitable[None]]
"""``handler(topic, payload, retained)``; called on the asyncio loop; may be sync or async."""

ConnectionListener = Callable[[bool], None]
Will = tuple[str, bytes | str, int, bool]
"""``(topic, payload, qos, retain)`` published by the broker when this client dies."""



@functools.lru_cache(maxsize=65536)
def topic_matches(topic_filter: str, topic: str) -> bool:
    """MQTT filter matching (``+`` one level, ``#`` the rest), cached: one controller client holds
    the subscriptions of every lane, and paho's ``topic_matches_sub`` builds a matcher tree per
    call, which made dispatch cost grow with lanes x messages (`lajur bench load`)."""
    if "+" not in topic_filter and "#" not in topic_filter:
        return topic_filter == topic
    return paho.topic_matches_sub(topic_filter, topic)

class _QueuedWhileDisconnected(logging.Filter):
    """paho logs an error for every publish while disconnected; for QoS 1 that is our design."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Client is not connected")


_paho_log = logging.getLogger(f"{__name__}.paho")
_paho_log.addFilter(_QueuedWhileDisconnected())


class MqttError(LajurError):
    """The MQTT client could not do what it was asked (bad URL, queue full, not started)."""


@dataclass
class _Subscription:
    topic_filter: str
    handler: MessageHandler
    qos: int


class MqttClient:
    """One connection to a broker, shared by any number of drivers on the same loop."""

    def __init__(
        self,
        url: str,
        client_id: str,
        *,
        clean_session: bool = False,
        will: Will | None = None,
        keepalive: int = 10,
        reconnect_min_delay: float = 0.1,
        reconnect_max_delay: float = 2.0,
        max_queued_messages: int = 1000,
        login: MqttLogin | None = None,
        tls: TlsFiles | None = None,
        max_payload: int = DEFAULT_MAX_PAYLOAD,
    ) -> None:
        if not client_id:
            raise ConfigError("mqtt client id must not be empty (persistent sessions need a stable id)")
        self.url = url
        self.client_id = client_id
        self.address = BrokerAddress.parse(url)
        self.max_payload = max_payload
        self.oversized = 0
        """Messages dropped because they were longer than ``max_payload``."""
        self.refusal: str | None = None
        """Why the broker refused the last connection attempt (e.g. ``Not authorized``), None once in."""
        self._subs: list[_Subscription] = []
        self._subs_lock = threading.Lock()
        self._routes: dict[str, list[MessageHandler]] = {}
        """topic -> handlers, filled on first delivery and emptied by every (un)subscribe: one client
        carries every lane's topics, so matching each message against every filter cost 14% of the
        controller's CPU at 32 lanes (`lajur bench load`)."""
        self._listeners: list[ConnectionListener] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connected = False
        self._connected_event: asyncio.Event | None = None
        self._refused_event: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._started = False

        self._paho = BoundedPaho(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=clean_session,
            protocol=paho.MQTTv311,
            max_packet=max_payload + PUBLISH_HEADER_MAX,
        )
        self._paho.enable_logger(_paho_log)
        # paho accepts floats here although it annotates ints; sub-second back-off matters for tests
        self._paho.reconnect_delay_set(reconnect_min_delay, reconnect_max_delay)  # type: ignore[arg-type]
        self._paho.max_queued_messages_set(max_queued_messages)
        self._keepalive = keepalive
        if login is not None:
            self._paho.username_pw_set(login.username, login.password)
        if self.address.tls:
            self._paho.tls_set_context((tls or TlsFiles()).context())
        if will is not None:
            topic, payload, qos, retain = will
            self._paho.will_set(topic, payload, qos=qos, retain=retain)
        self._paho.on_connect = self._on_connect
        self._paho.on_disconnect = self._on_disconnect
        self._paho.on_message = self._on_message

    # ------------------------------------------------------------------ lifecycle
    @property
    def connected(self) -> bool:
        return self._connected

    async def start(self) -> None:
        """Begin connecting in the background. Never fails because the broker is down: it keeps trying."""
        if self._started:
            return
        self._loop = asyncio.get_running_loop()
        self._connected_event = asyncio.Event()
        self._refused_event = asyncio.Event()
        self._started = True
        self._paho.connect_async(self.address.host, self.address.port, keepalive=self._keepalive)
        self._paho.loop_start()
        log.info("mqtt %s: connecting to %s:%s", self.client_id, self.address.host, self.address.port)

    async def stop(self) -> None:
        """Disconnect cleanly (no Last Will) and join paho's thread. Safe to call twice."""
        if not self._started:
            return
        self._started = False
        self._paho.disconnect()
        await asyncio.to_thread(self._paho.loop_stop)
        self._close_wakeup_pair()
        self._set_connected(False)
        for task in list(self._tasks):
            task.cancel()
        log.info("mqtt %s: stopped", self.client_id)

    async def abort(self) -> None:
        """Drop the TCP connection without DISCONNECT, as a crash or pulled cable would.

        The broker then publishes our Last Will. For tests and fault injection only.
        """
        if not self._started:
            return
        self._started = False
        # no public setter; without it paho's thread would reconnect instead of ending
        self._paho._reconnect_on_failure = False
        sock = self._paho.socket()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(2)  # socket.SHUT_RDWR
        await asyncio.to_thread(self._paho.loop_stop)
        self._close_wakeup_pair()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()
        self._set_connected(False)
        log.info("mqtt %s: aborted", self.client_id)

    def _close_wakeup_pair(self) -> None:
        """Close the loopback socket pair paho's ``loop_start`` opens to wake its thread.

        paho closes it only when the client object is garbage-collected, and a stopped client is often
        still referenced (or in a cycle with its ended thread), so each start/stop leaked two sockets; a
        process that starts many clients (a site of lanes, the test suite) ran past 1024 descriptors,
        where paho's ``select()`` fails and new clients never connect.
        """
        reset = getattr(self._paho, "_reset_sockets", None)
        if reset is not None:
            reset(sockpair_only=True)

    async def __aenter__(self) -> MqttClient:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def wait_connected(self, timeout: float, *, or_refused: bool = False) -> None:
        """Wait until connected; raises TimeoutError after ``timeout`` wall seconds. With ``or_refused``
        also return when the broker refuses us (then :attr:`refusal` says why)."""
        if self._connected_event is None or self._refused_event is None:
            raise MqttError(f"mqtt {self.client_id}: wait_connected before start()")
        waits = [asyncio.ensure_future(self._connected_event.wait())]
        if or_refused:
            waits.append(asyncio.ensure_future(self._refused_event.wait()))
        try:
            done, _ = await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()
        if not done:
            raise TimeoutError(f"mqtt {self.client_id}: not connected within {timeout:.1f} s")

    def add_connection_listener(self, listener: ConnectionListener) -> Callable[[], None]:
        """``listener(connected)`` on every connect/disconnect; returns a remover."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    # ------------------------------------------------------------------ pub/sub
    def subscribe(self, topic_filter: str, handler: MessageHandler, qos: int = 1) -> Callable[[], None]:
        """Route messages matching ``topic_filter`` to ``handler``; kept across reconnects.

        Returns a function that removes this handler (and unsubscribes when no other handler
        uses the same filter).
        """
        sub = _Subscription(topic_filter, handler, qos)
        with self._subs_lock:
            self._subs.append(sub)
            self._routes.clear()
            # Under the lock, against paho's on_connect snapshot: either that snapshot has this filter
            # or paho is already connected here. Asking paho rather than self._connected closes the
            # window before the loop learns of the connection; while disconnected this is a no-op.
            if self._started:
                self._paho.subscribe(topic_filter, qos=qos)

        def remove() -> None:
            with self._subs_lock:
                if sub not in self._subs:
                    return
                self._subs.remove(sub)
                self._routes.clear()
                still_used = any(s.topic_filter == topic_filter for s in self._subs)
                if not still_used and self._started:
                    self._paho.unsubscribe(topic_filter)

        return remove

    async def publish(self, topic: str, payload: bytes | str, qos: int = 1, retain: bool = False) -> None:
        """Hand a message to paho. QoS 1 while disconnected is queued and sent after reconnect;
        QoS 0 while disconnected is dropped (logged)."""
        info = self._paho.publish(topic, payload, qos=qos, retain=retain)
        rc = info.rc
        if rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
            return
        if rc in (MQTTErrorCode.MQTT_ERR_NO_CONN, MQTTErrorCode.MQTT_ERR_CONN_LOST):
            # paho keeps QoS > 0 messages in its out-queue and resends them after the reconnect
            if qos == 0:
                log.debug("mqtt %s: dropped QoS 0 publish to %s while disconnected", self.client_id, topic)
            else:
                log.info("mqtt %s: queued publish to %s until reconnect", self.client_id, topic)
            return
        raise MqttError(f"mqtt {self.client_id}: publish to {topic} failed: {paho.error_string(rc)}")

    # ------------------------------------------------------------------ paho thread side
    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if reason_code.is_failure:
            # once a warning, then quietly: paho retries every 2 s and a wrong secret stays wrong
            (log.debug if self.refusal == str(reason_code) else log.warning)(
                "mqtt %s: the broker refused the connection: %s", self.client_id, reason_code)
            self.refusal = str(reason_code)
            if self._refused_event is not None:
                self._call_on_loop(self._refused_event.set)
            return
        self.refusal = None
        # re-subscribe straight from paho's thread so nothing is missed between CONNACK and the loop
        with self._subs_lock:
            filters = {s.topic_filter: s.qos for s in self._subs}
        for topic_filter, qos in filters.items():
            client.subscribe(topic_filter, qos=qos)
        self._call_on_loop(self._set_connected, True)

    def _on_disconnect(self, client: paho.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        self._call_on_loop(self._set_connected, False)

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        if self._paho.oversized_length or len(message.payload) > self.max_payload:
            self._call_on_loop(self._drop_oversized, message.topic, self._paho.oversized_length or len(message.payload))
            return
        self._call_on_loop(self._dispatch, message.topic, bytes(message.payload), bool(message.retain))

    def _call_on_loop(self, fn: Callable[..., None], *args: Any) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # loop closed between the check and the call
            loop.call_soon_threadsafe(fn, *args)

    # ------------------------------------------------------------------ loop side
    def _set_connected(self, connected: bool) -> None:
        if connected == self._connected:
            return
        self._connected = connected
        if self._connected_event is not None:
            if connected:
                self._connected_event.set()
                if self._refused_event is not None:
                    self._refused_event.clear()
            else:
                self._connected_event.clear()
        log.info("mqtt %s: %s", self.client_id, "connected" if connected else "disconnected")
        for listener in list(self._listeners):
            try:
                listener(connected)
            except Exception:
                log.exception("mqtt %s: connection listener failed", self.client_id)

    def _drop_oversized(self, topic: str, length: int) -> None:
        self.oversized += 1
        log.warning("mqtt %s: dropped a %d-byte packet on %s (limit %d bytes a message; %d dropped so far)",
                    self.client_id, length, topic[:200], self.max_payload, self.oversized)

    def _dispatch(self, topic: str, payload: bytes, retained: bool) -> None:
        with self._subs_lock:
            handlers = self._routes.get(topic)
            if handlers is None:
                handlers = [s.handler for s in self._subs if topic_matches(s.topic_filter, topic)]
                if len(self._routes) >= 65536:  # a device inventing topics must not grow it without bound
                    self._routes.clear()
                self._routes[topic] = handlers
        for handler in handlers:
            try:
                result = handler(topic, payload, retained)
            except Exception:
                log.exception("mqtt %s: handler for %s failed", self.client_id, topic)
                continue
            if inspect.isawaitable(result):
                task = asyncio.ensure_future(result)
                self._tasks.add(task)
                task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("mqtt %s: async handler failed", self.client_id, exc_info=task.exception())
