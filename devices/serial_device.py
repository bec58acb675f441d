"""What every polled serial device shares: the gate on RS-485 and the two printers.

A polled device speaks only when asked, so the driver owns the line's rhythm. :class:`PolledSerialDevice`
holds that rhythm once for all of them:

* ``start``: open the port (a port that is absent is not an error: the device is offline and the
  transport keeps reopening it), ask a first status, then poll every ``poll_interval``;
* every poll has ``reply_timeout``; ``missed_polls_offline`` unanswered polls in a row make an online
  device offline, and the first answer brings it back; listeners hear every status change;
* :meth:`exchange` is one request/response under the transport's lock (so a command never reads a
  poll's reply, and devices sharing an RS-485 bus never talk over each other); bytes that arrived
  between exchanges were asked by nobody and are refused (:mod:`devices.refusals`);
* :meth:`read_reply` reads until the device's codec recognises the answer, or ``DeviceTimeout``.

A subclass says how to ask for its status (:meth:`poll`) and what offline looks like in its status
type (:meth:`offline_status`), and adds its own commands.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Generic, TypeVar

from devices.refusals import UNSOLICITED, Refusals
from devices.transport.serial import SerialTransport
from lane.errors import DeviceOffline, DeviceTimeout, ProtocolError
from lane.ports import Listener

log = logging.getLogger(__name__)

StatusT = TypeVar("StatusT")
ReplyT = TypeVar("ReplyT")

CONNECT_WAIT = 1.0
"""Wall seconds ``start`` gives the port to open before the first poll (a USB adapter takes a moment)."""


class PolledSerialDevice(abc.ABC, Generic[StatusT]):
    """A device behind a :class:`SerialTransport` whose status the driver polls."""

    def __init__(self, name: str, transport: SerialTransport, initial: StatusT, *, poll_interval: float,
                 reply_timeout: float, missed_polls_offline: int = 3, owns_transport: bool = True) -> None:
        self.name = name
        self.transport = transport
        self.poll_interval = poll_interval
        self.reply_timeout = reply_timeout
        self.missed_polls_offline = missed_polls_offline
        self.owns_transport = owns_transport
        self.missed_polls = 0
        self.protocol_errors = 0
        self._status = initial
        self._listeners: list[Listener] = []
        self.refusals = Refusals(name, self._notify)
        self._poll_task: asyncio.Task[None] | None = None
        self._poll_now = asyncio.Event()
        self._first_poll = asyncio.Event()

    # ------------------------------------------------------------------ what a device adds
    @abc.abstractmethod
    async def poll(self) -> StatusT:
        """Ask the device for its status once (with :meth:`exchange`). Raise DeviceTimeout,
        DeviceOffline or ProtocolError when it does not answer usefully: that is a missed poll."""

    @abc.abstractmethod
    def offline_status(self, last: StatusT) -> StatusT:
        """``last`` as it reads once the device stopped answering (faults kept, not online)."""

    @abc.abstractmethod
    def is_online(self, status: StatusT) -> bool: ...

    # ------------------------------------------------------------------ lifecycle
    @property
    def online(self) -> bool:
        return self.is_online(self._status)

    @property
    def last_status(self) -> StatusT:
        return self._status

    @property
    def refused(self) -> int:
        """How many messages from this device were refused (the technician page shows it)."""
        return self.refusals.total

    async def start(self) -> None:
        """Open the port and begin polling; returns once the first poll is answered or missed.
        Never raises when the device is absent: it is then offline."""
        if self._poll_task is not None:
            return
        await self.transport.start()
        with contextlib.suppress(DeviceOffline):
            await self.transport.wait_connected(CONNECT_WAIT)
        self._first_poll.clear()
        self._poll_task = asyncio.create_task(self._poll_loop(), name=f"{self.name}-poll")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.reply_timeout + CONNECT_WAIT):
                await self._first_poll.wait()

    async def stop(self) -> None:
        task, self._poll_task = self._poll_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.owns_transport:
            await self.transport.stop()
        self._update(self.offline_status(self._status))

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    # ------------------------------------------------------------------ polling
    async def refresh(self) -> StatusT:
        """Poll now and return the status; an unanswered poll counts as missed, never raises."""
        try:
            status = await self.poll()
        except (DeviceTimeout, DeviceOffline, ProtocolError) as exc:
            if isinstance(exc, ProtocolError):
                self.protocol_errors += 1
            self._missed(exc)
        else:
            self.missed_polls = 0
            self._update(status)
        self._first_poll.set()
        return self._status

    def poll_soon(self) -> None:
        """Poll at once instead of after the period (a command wants its effect seen)."""
        self._poll_now.set()

    async def _poll_loop(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception:
                log.exception("%s: poll failed", self.name)
                self._missed(None)
            # the next poll after the period, or at once when a command asks (poll_soon); a timer
            # that sets the event rather than a timeout that cancels the wait: this runs 30 times a
            # second per gate, and a cancellation is an exception with a traceback to collect
            self._poll_now.clear()
            timer = asyncio.get_running_loop().call_later(self.poll_interval, self._poll_now.set)
            try:
                await self._poll_now.wait()
            finally:
                timer.cancel()

    def _missed(self, exc: BaseException | None) -> None:
        self.missed_polls += 1
        if self.online and self.missed_polls >= self.missed_polls_offline:
            log.warning("%s: offline after %d missed polls (%s)", self.name, self.missed_polls, exc)
            self._update(self.offline_status(self._status))

    # ------------------------------------------------------------------ one exchange
    @contextlib.asynccontextmanager
    async def exchange(self) -> AsyncIterator[None]:
        """Hold the line for one request and its reply. Bytes waiting when it starts came unasked."""
        async with self.transport.lock:
            stale = self.transport.reset_input()
            if stale:
                self.refusals.refuse(UNSOLICITED, f"{stale} byte(s) between exchanges")
            yield

    async def read_reply(self, recognise: Callable[[bytes], ReplyT | None], what: str,
                         timeout: float | None = None) -> ReplyT:
        """Read until ``recognise(chunk)`` returns the reply (it keeps its own decoder state and
        returns None until then); DeviceTimeout after ``timeout`` (default ``reply_timeout``)."""
        timeout = self.reply_timeout if timeout is None else timeout
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                chunk = await self.transport.read_some(timeout=remaining)
            except DeviceTimeout:
                break
            reply = recognise(chunk)
            if reply is not None:
                return reply
        raise DeviceTimeout(self.name, f"no reply to {what} within {timeout:.2f}s")

    # ------------------------------------------------------------------ listeners
    def _update(self, status: StatusT) -> None:
        if status == self._status:
            return
        self._status = status
        self._notify(status)

    def _notify(self, event: object) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("%s: listener failed", self.name)
