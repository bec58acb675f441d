"""Card printer wire codec (ASCII command/response), shared by the driver and the simulator.

Command line: ``ESC <command> [;<arg>]... CR``. Reply line: ``OK[;<field>]... CR`` or ``ERR;<CODE> CR``.
Arguments and fields are escaped (``\\XX`` hex for control bytes, ``;``, ``=``, ``\\`` and non-ASCII
UTF-8 bytes), so a holder name can never end or split a frame.

============  =====================  =======================================================
command       arguments              reply
============  =====================  =======================================================
``ST``        -                      ``OK;READY`` / ``OK;BUSY`` / ``OK;FAULT;<CODE>[,<CODE>]``
``JS``        renewal id             ``OK`` (opens a job; ``ERR;BUSY`` while printing)
``JD``        ``<field>=<value>``    ``OK`` (one field of the open job)
``JP``        -                      ``OK`` (printing started), ``OK;ALREADY_PRINTED``, ``ERR;<fault>``
``JQ``        renewal id             ``OK;NONE|PENDING|PRINTING|PRINTED`` or ``OK;FAILED;<fault>``
============  =====================  =======================================================

Fault codes: RIBBON_OUT, CARD_JAM, HOPPER_EMPTY, COVER_OPEN; other errors: BUSY, SYNTAX, NO_JOB, UNKNOWN.
See docs/wire/serial.md; tests/devices/test_card_printer.py pins the bytes.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum

from lane.errors import ProtocolError

log = logging.getLogger(__name__)

ESC = 0x1B
CR = 0x0D
MAX_LINE = 512
_SPECIAL = frozenset(b";=\\")


class Cmd(StrEnum):
    STATUS = "ST"
    JOB_START = "JS"
    JOB_DATA = "JD"
    JOB_PRINT = "JP"
    JOB_QUERY = "JQ"


class JobState(StrEnum):
    NONE = "NONE"
    PENDING = "PENDING"
    PRINTING = "PRINTING"
    PRINTED = "PRINTED"
    FAILED = "FAILED"


FAULT_CODES: dict[str, str] = {
    "RIBBON_OUT": "ribbon_out",
    "CARD_JAM": "card_jam",
    "HOPPER_EMPTY": "hopper_empty",
    "COVER_OPEN": "cover_open",
}
"""Wire error word -> fault code of :class:`lane.ports.PrinterStatus`."""
FAULT_WORDS = {code: word for word, code in FAULT_CODES.items()}

JOB_FIELDS = ("sim_number", "holder_name", "sim_class", "expires", "photo_ref")


@dataclass(frozen=True)
class Command:
    name: str
    args: tuple[str, ...] = ()


@dataclass(frozen=True)
class Reply:
    ok: bool
    fields: tuple[str, ...] = ()

    @property
    def error(self) -> str | None:
        """The error word of an ``ERR`` reply."""
        if self.ok:
            return None
        return self.fields[0] if self.fields else "UNKNOWN"


# ---------------------------------------------------------------------- escaping
def escape_field(value: str) -> str:
    out: list[str] = []
    for byte in value.encode("utf-8"):
        if byte < 0x20 or byte >= 0x7F or byte in _SPECIAL:
            out.append(f"\\{byte:02X}")
        else:
            out.append(chr(byte))
    return "".join(out)


def unescape_field(text: str) -> str:
    raw = bytearray()
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            pair = text[i + 1 : i + 3]
            try:
                if len(pair) != 2:
                    raise ValueError(pair)
                raw.append(int(pair, 16))
            except ValueError:
                raise ProtocolError(f"bad escape at character {i}") from None
            i += 3
        else:
            raw.append(ord(ch))
            i += 1
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"field is not UTF-8 (byte {exc.start})") from None


def _split(body: bytes) -> list[str]:
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        raise ProtocolError(f"non-ASCII byte in a {len(body)}-byte line") from None
    if any(ord(c) < 0x20 for c in text):
        raise ProtocolError(f"control byte in a {len(body)}-byte line")
    return text.split(";")


# ---------------------------------------------------------------------- commands
def encode_command(name: str, *args: str) -> bytes:
    line = name + "".join(";" + escape_field(a) for a in args)
    return bytes([ESC]) + line.encode("ascii") + bytes([CR])


def encode_job_data(field: str, value: str) -> bytes:
    """``JD;<field>=<value>``: both sides escaped, so '=' and ';' in a value are harmless."""
    return bytes([ESC]) + f"JD;{escape_field(field)}={escape_field(value)}".encode("ascii") + bytes([CR])


def decode_command(line: bytes) -> Command:
    """One command line without its CR (simulator side)."""
    if not line or line[0] != ESC:
        raise ProtocolError(f"command without ESC ({len(line)} bytes)")
    parts = _split(line[1:])
    name = parts[0]
    if name == Cmd.JOB_DATA:
        if len(parts) != 2 or "=" not in parts[1]:
            raise ProtocolError("JD needs one field=value")
        key, value = parts[1].split("=", 1)
        return Command(name, (unescape_field(key), unescape_field(value)))
    return Command(name, tuple(unescape_field(p) for p in parts[1:]))


# ---------------------------------------------------------------------- replies
def encode_ok(*fields: str) -> bytes:
    return ";".join(["OK", *(escape_field(f) for f in fields)]).encode("ascii") + bytes([CR])


def encode_error(word: str) -> bytes:
    return f"ERR;{escape_field(word)}".encode("ascii") + bytes([CR])


def decode_reply(line: bytes) -> Reply:
    """One reply line without its CR (driver side)."""
    parts = _split(line)
    head, rest = parts[0], tuple(unescape_field(p) for p in parts[1:])
    if head == "OK":
        return Reply(True, rest)
    if head == "ERR":
        return Reply(False, rest or ("UNKNOWN",))
    raise ProtocolError(f"reply is neither OK nor ERR ({len(line)} bytes)")


# ---------------------------------------------------------------------- line framing
class LineDecoder:
    """Splits a byte stream into CR-terminated lines; never raises.

    Overlong lines are dropped (``errors['overlong']``). With ``command_mode`` a line must start at an
    ESC: bytes before the last ESC are noise (``errors['garbage']``), so a command resynchronises on it.
    """

    def __init__(self, name: str = "card-printer", *, command_mode: bool = False) -> None:
        self.name = name
        self.command_mode = command_mode
        self._buf = bytearray()
        self._discarding = False
        self.errors: Counter[str] = Counter()

    def reset(self) -> None:
        self._buf.clear()
        self._discarding = False

    def feed(self, data: bytes) -> list[bytes]:
        lines: list[bytes] = []
        for byte in data:
            if byte == CR:
                if not self._discarding:
                    line = self._clean(bytes(self._buf))
                    if line is not None:
                        lines.append(line)
                self._buf.clear()
                self._discarding = False
            elif self._discarding:
                continue
            elif len(self._buf) >= MAX_LINE:
                self.errors["overlong"] += 1
                log.info("%s: overlong line dropped (over %d bytes)", self.name, MAX_LINE)
                self._buf.clear()
                self._discarding = True
            else:
                self._buf.append(byte)
        return lines

    def _clean(self, line: bytes) -> bytes | None:
        if self.command_mode:
            start = line.rfind(bytes([ESC]))
            if start < 0:
                if line:
                    self.errors["garbage"] += 1
                    log.info("%s: line without ESC dropped (%d bytes)", self.name, len(line))
                return None
            if start > 0:
                self.errors["garbage"] += 1
                line = line[start:]
            return line
        line = line.lstrip(b"\n\x00")
        return line or None
