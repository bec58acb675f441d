"""Receipt printer wire format: ESC/POS, shared by the driver and the simulator.

Output is produced with python-escpos (``escpos.printer.Dummy`` builds the bytes; the transport sends
them), so the layout is the same whatever the connection. Status comes from the real-time command
``DLE EOT n`` (``10 04 n``), one status byte back, with the bit meanings of the Epson ESC/POS spec:

====  ==========================  ===========================================================
n     status                      bits we use (bits 1 and 4 fixed on, bits 0 and 7 fixed off)
====  ==========================  ===========================================================
1     printer                     bit 3: offline
2     offline cause               bit 2: cover open; bit 5: printing stopped by paper end; bit 6: error
3     error cause                 (not used)
4     roll paper sensor           bits 2+3: paper near end; bits 5+6: paper end (not present)
====  ==========================  ===========================================================

The simulator parses the subset of ESC/POS python-escpos emits (:class:`EscPosParser`) to recover
what was printed. Each document ends with a marker line ``#<kind>:<reference>`` (small font) so the
printout itself says what it is, and the simulator can record it in the ledger.
"""

from __future__ import annotations

import logging
import re
import warnings
from dataclasses import dataclass, field

from lane.errors import ProtocolError
from lane.ports import PrintDocument

log = logging.getLogger(__name__)

DLE = 0x10
EOT = 0x04
ESC = 0x1B
GS = 0x1D
LF = 0x0A

STATUS_PRINTER = 1
STATUS_OFFLINE_CAUSE = 2
STATUS_ERROR_CAUSE = 3
STATUS_PAPER_SENSOR = 4

FIXED_MASK = 0x93  # bits 0, 1, 4, 7
FIXED_VALUE = 0x12  # bits 1 and 4 on, 0 and 7 off

PRINTER_OFFLINE = 0x08
OFFLINE_COVER_OPEN = 0x04
OFFLINE_PAPER_END_STOP = 0x20
OFFLINE_ERROR = 0x40
PAPER_NEAR_END = 0x0C
PAPER_END = 0x60

MARKER = re.compile(r"^#(?P<kind>[A-Za-z0-9_-]+):(?P<reference>\S+)$")


def status_query(n: int) -> bytes:
    if n not in (1, 2, 3, 4):
        raise ValueError("DLE EOT n: n is 1..4")
    return bytes([DLE, EOT, n])


@dataclass(frozen=True)
class RealTimeStatus:
    offline: bool = False
    cover_open: bool = False
    paper_end_stop: bool = False
    error: bool = False
    paper_near_end: bool = False
    paper_out: bool = False

    @property
    def faults(self) -> frozenset[str]:
        """Fault codes of :class:`lane.ports.PrinterStatus`; a near end is a warning, not a fault."""
        found = set()
        if self.paper_out or self.paper_end_stop:
            found.add("paper_out")
        if self.cover_open:
            found.add("cover_open")
        return frozenset(found)


def check_status_byte(n: int, value: int) -> int:
    if value & FIXED_MASK != FIXED_VALUE:
        raise ProtocolError(f"DLE EOT {n} reply 0x{value:02X} has wrong fixed bits")
    return value


def decode_status(printer: int, offline_cause: int, paper: int) -> RealTimeStatus:
    """Interpret the replies to DLE EOT 1, 2 and 4; ProtocolError if a byte is not a status byte."""
    check_status_byte(1, printer)
    check_status_byte(2, offline_cause)
    check_status_byte(4, paper)
    return RealTimeStatus(
        offline=bool(printer & PRINTER_OFFLINE),
        cover_open=bool(offline_cause & OFFLINE_COVER_OPEN),
        paper_end_stop=bool(offline_cause & OFFLINE_PAPER_END_STOP),
        error=bool(offline_cause & OFFLINE_ERROR),
        paper_near_end=paper & PAPER_NEAR_END == PAPER_NEAR_END,
        paper_out=paper & PAPER_END == PAPER_END,
    )


def encode_status_byte(n: int, status: RealTimeStatus) -> int:
    """The byte a printer in ``status`` answers to DLE EOT ``n`` (simulator side)."""
    value = FIXED_VALUE
    if n == STATUS_PRINTER and status.offline:
        value |= PRINTER_OFFLINE
    elif n == STATUS_OFFLINE_CAUSE:
        value |= OFFLINE_COVER_OPEN if status.cover_open else 0
        value |= OFFLINE_PAPER_END_STOP if status.paper_end_stop else 0
        value |= OFFLINE_ERROR if status.error else 0
    elif n == STATUS_PAPER_SENSOR:
        value |= PAPER_NEAR_END if status.paper_near_end else 0
        value |= PAPER_END if status.paper_out else 0
    return value


# ---------------------------------------------------------------------- rendering
def render_document(doc: PrintDocument) -> bytes:
    """The ESC/POS bytes of one receipt or referral slip (title, lines, QR, marker, cut)."""
    from escpos.printer import Dummy  # imported lazily: python-escpos pulls in a lot

    printer = Dummy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Dummy has no profile width; centring still emits ESC a 1
        printer.hw("INIT")
        printer.set(align="center", bold=True, double_height=True, double_width=True)
        printer.textln(doc.title)
        printer.set_with_default()
        printer.textln(f"Ref: {doc.reference}")
        for line in doc.lines:
            printer.textln(line)
        if doc.qr:
            printer.set(align="center")
            printer.qr(doc.qr, native=True, size=6)
        printer.set_with_default(font="b")
        printer.textln(f"#{doc.kind}:{doc.reference}")
        printer.cut()
    return bytes(printer.output)


# ---------------------------------------------------------------------- parsing (simulator side)
@dataclass
class ParsedDocument:
    text: str = ""
    qr: list[str] = field(default_factory=list)

    @property
    def lines(self) -> list[str]:
        return self.text.splitlines()

    def marker(self) -> tuple[str, str] | None:
        for line in self.lines:
            match = MARKER.match(line.strip())
            if match:
                return match["kind"], match["reference"]
        return None


# ESC commands python-escpos emits, by how many parameter bytes follow.
_ESC_ARGS = {ord(c): 1 for c in "!EaMt{-GJ3dUVr"} | {ord("@"): 0, ord("2"): 0}
_GS_ARGS = {ord(c): 1 for c in "!bBHfhw"} | {ord("L"): 2}


class EscPosParser:
    """Incremental parser for the subset of ESC/POS python-escpos produces.

    ``feed`` returns events: ``("status", n)`` for DLE EOT n, ``("document", ParsedDocument)`` at a cut.
    Unknown commands are logged and skipped; the parser never raises.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self.current = ParsedDocument()
        self._text = bytearray()
        self._qr_store: str | None = None
        self.unknown = 0

    def feed(self, data: bytes) -> list[tuple[str, object]]:
        self._buf.extend(data)
        events: list[tuple[str, object]] = []
        while self._buf:
            consumed = self._step(events)
            if consumed == 0:
                break  # need more bytes
            del self._buf[:consumed]
        return events

    def _step(self, events: list[tuple[str, object]]) -> int:
        buf = self._buf
        head = buf[0]
        if head == DLE:
            if len(buf) < 3:
                return 0
            if buf[1] == EOT:
                events.append(("status", buf[2]))
                return 3
            return self._skip(2, "DLE")
        if head == ESC:
            if len(buf) < 2:
                return 0
            nargs = _ESC_ARGS.get(buf[1])
            if nargs is None:
                return self._skip(2, "ESC")
            return 2 + nargs if len(buf) >= 2 + nargs else 0
        if head == GS:
            return self._gs(events)
        if head == LF:
            self._text.append(LF)
            return 1
        if head < 0x20:
            return 1  # other control bytes: nothing printed
        self._text.append(head)
        return 1

    def _gs(self, events: list[tuple[str, object]]) -> int:
        buf = self._buf
        if len(buf) < 3:
            return 0
        op = buf[1]
        if op == ord("("):  # GS ( k pL pH cn fn data: 2D symbol (QR) functions
            if len(buf) < 5:
                return 0
            size = buf[3] + 256 * buf[4]
            total = 5 + size
            if len(buf) < total:
                return 0
            if buf[2] == ord("k") and size >= 3 and buf[5] == 0x31:
                self._qr(buf[6], bytes(buf[8:total]))
            return total
        if op == ord("V"):  # cut: modes 65/66 carry a feed byte
            mode = buf[2]
            total = 4 if mode in (65, 66) else 3
            if len(buf) < total:
                return 0
            self._finish(events)
            return total
        if op == ord("v"):  # GS v 0 m xL xH yL yH raster image
            if len(buf) < 8:
                return 0
            total = 8 + (buf[4] + 256 * buf[5]) * (buf[6] + 256 * buf[7])
            return total if len(buf) >= total else 0
        if op in _GS_ARGS:
            total = 2 + _GS_ARGS[op]
            return total if len(buf) >= total else 0
        return self._skip(2, "GS")

    def _qr(self, function: int, data: bytes) -> None:
        if function == 0x50:  # store data
            self._qr_store = data.decode("latin-1")
        elif function == 0x51 and self._qr_store is not None:  # print stored symbol
            self.current.qr.append(self._qr_store)

    def _finish(self, events: list[tuple[str, object]]) -> None:
        self.current.text = self._text.decode("cp437", errors="replace")
        events.append(("document", self.current))
        self.current = ParsedDocument()
        self._text.clear()
        self._qr_store = None

    def discard(self) -> None:
        """Drop the document in progress (the printer went offline while receiving it)."""
        self.current = ParsedDocument()
        self._text.clear()

    def _skip(self, count: int, prefix: str) -> int:
        self.unknown += 1
        log.info("escpos: unknown %s command %s skipped", prefix, bytes(self._buf[:count]).hex(" "))
        return count
