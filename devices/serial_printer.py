"""What the two serial printers share: the port's lifecycle, a periodic status poll, offline after
missed polls, and listeners told of every status change. Each printer adds only its own protocol."""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
from collections.abc import Callable

from devices.transport.serial import SerialTransport
from lane.errors import DeviceOffline
from lane.ports import Listener, PrinterStatus

log = logging.getLogger(__name__)


class PolledSerialPrinter(abc.ABC):
    def __init__(self, name: str, transport: SerialTransport, *, poll_interval: float,
                 missed_polls_offline: int, owns_transport: bool) -> None:
        self.name = name
        self.transport = transport
        self.poll_interval = poll_interval
        self.missed_polls_offline = missed_polls_offline
        self.owns_transport = owns_transport
        self.missed_polls = 0
        self._status = PrinterStatus(online=False, ready=False)
        self._listeners: list[Listener] = []
        self._poll_task: asyncio.Task[None] | None = None

    @abc.abstractmethod
    async def status(self) -> PrinterStatus:
        """Ask the printer now; an unanswered query is reported (via :meth:`_missed`), not raised."""

    @property
    def online(self) -> bool:
        return self._status.online

    @property
    def last_status(self) -> PrinterStatus:
        return self._status

    async def start(self) -> None:
        """Start the transport and the status poll; never raises when the printer is absent."""
        if self._poll_task is not None:
            return
        await self.transport.start()
        with contextlib.suppress(DeviceOffline):
            await self.transport.wait_connected(1.0)
        await self.status()
        self._poll_task = asyncio.create_task(self._poll_loop(), name=f"{self.name}-poll")

    async def stop(self) -> None:
        task, self._poll_task = self._poll_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.owns_transport:
            await self.transport.stop()
        self._update(PrinterStatus(online=False, ready=False, faults=self._status.faults))

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    def _missed(self, exc: Exception) -> PrinterStatus:
        """An unanswered status query: offline once ``missed_polls_offline`` in a row went unanswered."""
        self.missed_polls += 1
        if self.missed_polls >= self.missed_polls_offline or not self._status.online:
            log.info("%s: no status (%s)", self.name, exc)
            self._update(PrinterStatus(online=False, ready=False, faults=self._status.faults))
        return self._status

    async def _poll_loop(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval)
            try:
                await self.status()
            except Exception:
                log.exception("%s: status poll failed", self.name)

    def _update(self, status: PrinterStatus) -> None:
        if status == self._status:
            return
        self._status = status
        for listener in list(self._listeners):
            try:
                listener(status)
            except Exception:
                log.exception("%s: listener failed", self.name)
