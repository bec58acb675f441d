"""Serial ESC/POS receipt printer driver (implements :class:`lane.ports.ReceiptPrinter`).

ESC/POS has no acknowledgement for printed data, so the driver asks the printer's real-time status
(``DLE EOT 1/2/4``) before sending a document and refuses with the fault (paper out, cover open)
instead of streaming a receipt into a printer that will drop it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from devices.receipt_printer import codec
from devices.receipt_printer.codec import RealTimeStatus
from devices.transport.serial import SerialTransport
from lane.errors import DeviceFault, DeviceOffline, DeviceTimeout, ProtocolError
from lane.ports import Listener, PrintDocument, PrinterStatus

log = logging.getLogger(__name__)


class SerialReceiptPrinter:
    def __init__(
        self,
        name: str,
        transport: SerialTransport,
        *,
        reply_timeout: float = 0.5,
        poll_interval: float = 2.0,
        missed_polls_offline: int = 3,
        owns_transport: bool = True,
    ) -> None:
        self.name = name
        self.transport = transport
        self.reply_timeout = reply_timeout
        self.poll_interval = poll_interval
        self.missed_polls_offline = missed_polls_offline
        self.owns_transport = owns_transport
        self.missed_polls = 0
        self.protocol_errors = 0
        self.last_realtime: RealTimeStatus | None = None
        self._status = PrinterStatus(online=False, ready=False)
        self._listeners: list[Listener] = []
        self._poll_task: asyncio.Task[None] | None = None

    @property
    def online(self) -> bool:
        return self._status.online

    @property
    def last_status(self) -> PrinterStatus:
        return self._status

    async def start(self) -> None:
        """Start the transport and status polling; never raises when the printer is absent."""
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

    async def status(self) -> PrinterStatus:
        """Real-time status now. An unanswered query is reported as offline, not raised."""
        try:
            realtime = await self._query_realtime()
        except (DeviceTimeout, DeviceOffline, ProtocolError) as exc:
            if isinstance(exc, ProtocolError):
                self.protocol_errors += 1
            self.missed_polls += 1
            if self.missed_polls >= self.missed_polls_offline or not self._status.online:
                log.info("%s: no status (%s)", self.name, exc)
                self._update(PrinterStatus(online=False, ready=False, faults=self._status.faults))
            return self._status
        self.missed_polls = 0
        self.last_realtime = realtime
        faults = realtime.faults
        self._update(PrinterStatus(online=True, ready=not realtime.offline and not faults, faults=faults))
        return self._status

    async def print_document(self, doc: PrintDocument) -> None:
        status = await self.status()
        if not status.online:
            raise DeviceOffline(self.name, "receipt printer does not answer")
        if status.faults:
            fault = "paper_out" if "paper_out" in status.faults else sorted(status.faults)[0]
            raise DeviceFault(self.name, f"cannot print {doc.kind} {doc.reference}: {fault}", fault=fault)
        # Rendering (QR code, raster) takes tens of ms of CPU: off the event loop, so the lanes'
        # other events are not held up behind it (`lajur bench load` p99).
        data = await asyncio.to_thread(codec.render_document, doc)
        async with self.transport.lock:
            await self.transport.write(data)
        log.info("%s: %s %s sent (%d bytes)", self.name, doc.kind, doc.reference, len(data))

    # ------------------------------------------------------------------ internals
    async def _query_realtime(self) -> RealTimeStatus:
        async with self.transport.lock:
            self.transport.reset_input()
            replies = []
            for n in (codec.STATUS_PRINTER, codec.STATUS_OFFLINE_CAUSE, codec.STATUS_PAPER_SENSOR):
                await self.transport.write(codec.status_query(n))
                try:
                    byte = await self.transport.read(1, timeout=self.reply_timeout)
                except DeviceTimeout:
                    raise DeviceTimeout(self.name, f"no reply to DLE EOT {n}") from None
                replies.append(codec.check_status_byte(n, byte[0]))
        return codec.decode_status(*replies)

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
