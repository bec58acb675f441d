"""Simulated ESC/POS receipt printer on a pseudo-terminal.

It answers ``DLE EOT n`` with the real status bits, parses the ESC/POS it receives back into text and
QR payloads (kept in :attr:`ReceiptPrinterSimulator.printed` for tests), and records every document
that physically came out in the ledger (``receipt_printed`` with ``reference`` and ``kind``).
While the paper is out or the cover open the printer is offline and drops what it is sent, like a
real one whose buffer is cleared on recovery.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys

from devices.receipt_printer import codec
from devices.receipt_printer.codec import EscPosParser, ParsedDocument, RealTimeStatus
from simulators.faults import check_fault
from simulators.ledger import Ledger
from simulators.pty import PseudoTerminal

log = logging.getLogger(__name__)

RECEIPT_FAULTS = frozenset({"paper_out", "cover_open", "paper_near_end", "offline"})


class ReceiptPrinterSimulator:
    faults_supported = RECEIPT_FAULTS

    def __init__(
        self,
        name: str = "receipt-printer",
        lane: str = "lane-1",
        ledger: Ledger | None = None,
        port: str | None = None,
    ) -> None:
        self.name = name
        self.lane = lane
        self.ledger = ledger
        self.endpoint = PseudoTerminal(port)
        self.parser = EscPosParser()
        self.active_faults: set[str] = set()
        self.printed: list[ParsedDocument] = []
        self.dropped_documents = 0
        self.status_queries = 0

    @property
    def port_path(self) -> str:
        if self.endpoint.port_path is None:
            raise RuntimeError("simulator not started")
        return self.endpoint.port_path

    @property
    def realtime_status(self) -> RealTimeStatus:
        paper_out = "paper_out" in self.active_faults
        cover_open = "cover_open" in self.active_faults
        return RealTimeStatus(
            offline=paper_out or cover_open,
            cover_open=cover_open,
            paper_end_stop=paper_out,
            paper_near_end=paper_out or "paper_near_end" in self.active_faults,
            paper_out=paper_out,
        )

    async def start(self) -> None:
        path = self.endpoint.open(self._on_data)
        log.info("receipt printer simulator %s on %s", self.name, path)

    async def stop(self) -> None:
        self.endpoint.close()

    @property
    def faults(self) -> frozenset[str]:
        return frozenset(self.active_faults)

    async def inject(self, fault: str, active: bool = True) -> None:
        """Start or end a fault (:class:`simulators.faults.FaultInjectable`)."""
        check_fault(self, fault)
        if active:
            self.active_faults.add(fault)
        else:
            self.active_faults.discard(fault)
        log.info("%s: fault %s %s", self.name, fault, "on" if active else "off")

    def _on_data(self, data: bytes) -> None:
        if "offline" in self.active_faults:
            return
        for kind, value in self.parser.feed(data):
            if kind == "status":
                assert isinstance(value, int)
                self.status_queries += 1
                self.endpoint.write(bytes([codec.encode_status_byte(value, self.realtime_status)]))
            elif kind == "document":
                assert isinstance(value, ParsedDocument)
                self._document(value)

    def _document(self, document: ParsedDocument) -> None:
        if self.realtime_status.offline:
            self.dropped_documents += 1
            log.info("%s: offline (%s): document dropped", self.name, ",".join(sorted(self.faults)))
            return
        self.printed.append(document)
        marker = document.marker()
        kind, reference = marker if marker else ("unknown", "")
        if self.ledger is not None:
            self.ledger.record(self.lane, self.name, "receipt_printed", reference=reference, kind=kind,
                               qr=document.qr[0] if document.qr else None)


def main(argv: list[str] | None = None) -> int:
    """``lajur sim receipt [--port P] [--fault F] [--mqtt URL]``: print the port, serve until Ctrl-C."""
    from simulators.standalone import FaultControl, add_control_arguments, start_control, wait_until_stopped

    parser = argparse.ArgumentParser(prog="lajur sim receipt", description=main.__doc__)
    parser.add_argument("--port", help="serve on this port instead of a new pseudo-terminal")
    parser.add_argument("--fault", action="append", default=[], choices=sorted(RECEIPT_FAULTS),
                        help="start with this fault (repeatable)")
    parser.add_argument("--ledger", help="append physical effects to this JSON-lines file")
    add_control_arguments(parser, "receipt-printer")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    async def run() -> None:
        sim = ReceiptPrinterSimulator(port=args.port, ledger=Ledger(args.ledger) if args.ledger else None)
        for fault in args.fault:
            await sim.inject(fault)
        await sim.start()
        print(f"{args.device} simulator on {sim.port_path}", flush=True)
        control = FaultControl(sim)
        await start_control(control, args)

        async def show_printed() -> None:
            while True:
                count = len(sim.printed)
                await asyncio.sleep(0.5)
                for doc in sim.printed[count:]:
                    print(f"--- printed ---\n{doc.text}qr={doc.qr}", flush=True)

        shower = asyncio.create_task(show_printed())
        try:
            await wait_until_stopped()
        finally:
            shower.cancel()
            await control.stop()
            await sim.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
