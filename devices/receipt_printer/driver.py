"""Serial ESC/POS receipt printer driver (implements :class:`lane.ports.ReceiptPrinter`).

ESC/POS has no acknowledgement for printed data, so the driver asks the printer's real-time status
(``DLE EOT 1/2/4``) before sending a document and refuses with the fault (paper out, cover open)
instead of streaming a receipt into a printer that will drop it.
"""

from __future__ import annotations

import asyncio
import logging

from devices.receipt_printer import codec
from devices.receipt_printer.codec import RealTimeStatus
from devices.serial_device import PolledSerialDevice
from devices.transport.serial import SerialTransport
from lane.errors import DeviceFault, DeviceOffline, DeviceTimeout
from lane.ports import PrintDocument, PrinterStatus

log = logging.getLogger(__name__)


class SerialReceiptPrinter(PolledSerialDevice[PrinterStatus]):
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
        super().__init__(name, transport, PrinterStatus(online=False, ready=False), poll_interval=poll_interval,
                         reply_timeout=reply_timeout, missed_polls_offline=missed_polls_offline,
                         owns_transport=owns_transport)
        self.last_realtime: RealTimeStatus | None = None

    async def status(self) -> PrinterStatus:
        """Real-time status now. An unanswered query counts as a missed poll, it is not raised."""
        return await self.refresh()

    async def poll(self) -> PrinterStatus:
        realtime = await self._query_realtime()
        self.last_realtime = realtime
        faults = realtime.faults
        return PrinterStatus(online=True, ready=not realtime.offline and not faults, faults=faults)

    def offline_status(self, last: PrinterStatus) -> PrinterStatus:
        return PrinterStatus(online=False, ready=False, faults=last.faults)

    def is_online(self, status: PrinterStatus) -> bool:
        return status.online

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
        async with self.exchange():
            await self.transport.write(data)
        log.info("%s: %s %s sent (%d bytes)", self.name, doc.kind, doc.reference, len(data))

    # ------------------------------------------------------------------ internals
    async def _query_realtime(self) -> RealTimeStatus:
        async with self.exchange():
            replies = []
            for n in (codec.STATUS_PRINTER, codec.STATUS_OFFLINE_CAUSE, codec.STATUS_PAPER_SENSOR):
                await self.transport.write(codec.status_query(n))
                try:
                    byte = await self.transport.read(1, timeout=self.reply_timeout)
                except DeviceTimeout:
                    raise DeviceTimeout(self.name, f"no reply to DLE EOT {n}") from None
                replies.append(codec.check_status_byte(n, byte[0]))
        return codec.decode_status(*replies)

