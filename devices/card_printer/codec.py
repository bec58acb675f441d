"""Card printer wire codec (ASCII command/response), shared by the driver and the simulator.

Command line: ``ESC <command> [;<arg>]... CR``. Reply line: ``OK[;<field>]... CR`` or ``ERR;<CODE> CR``.
Arguments and fields are escaped (``\\XX`` hex for control bytes, ``;``, ``=``, ``\\`` and non-ASCII
UTF-8 bytes), so a holder name can never end or split a frame.

============  =====================  =======================================================
command       arguments              reply
============  =====================  =======================================================
``ST``        -                      ``OK;READY`` / ``OK;BUSY`` / ``OK;FAULT;<CODE>[,<CODE>]``
``JS``        renewal id; copy       ``OK`` (opens a job; ``ERR;BUSY`` while printing)
``JD``        ``<field>=<value>``    ``OK`` (one field of the open job)
``JP``        -                      ``OK`` (printing started), ``OK;ALREADY_PRINTED``, ``ERR;<fault>``
``JQ``        renewal id; copy       ``OK;<state>;<renewal id>;<copy>[;<fault>]``, state NONE, PENDING,
                                     PRINTING, PRINTED or FAILED (with the fault)
============  =====================  =======================================================

A job is one card: a renewal id and a copy number (1 for the first card, 2… for reprints). The
printer prints a job once; a retried job is answered, not printed again; a reprint is a new job.
The JQ answer names the job it is about, so the driver believes it only for the job it asked after.

Fault codes: RIBBON_OUT, CARD_JAM, HOPPER_EMPTY, COVER_OPEN; other errors: BUSY, SYNTAX, NO_JOB, UNKNOWN.
See docs/wire/serial.md; tests/devices/test_card_printer.py pins the bytes.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum

from lane.errors import ProtocolError
from lane.ports import CardJob

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

JOB_FIELDS = ("card_serial", "sim_number", "holder_name", "sim_class", "expires", "photo_ref", "signature_ref",
              "fingerprint_ref")
"""What a job carries to the card (JD lines, in this order); empty values are sent as empty."""


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


# ---------------------------------------------------------------------- jobs
@dataclass(frozen=True)
class JobAnswer:
    """The printer's answer to ``JQ``: the state of one job, named."""

    state: JobState
    renewal_id: str
    copy: int
    fault: str | None = None
    """The fault word of a FAILED job."""


def job_data(job: CardJob) -> dict[str, str]:
    """The JD fields of a card job, in :data:`JOB_FIELDS` order."""
    values = {
        "card_serial": job.card_serial or "", "sim_number": job.sim_number, "holder_name": job.holder_name,
        "sim_class": job.sim_class, "expires": job.expires.isoformat(), "photo_ref": job.photo_ref or "",
        "signature_ref": job.signature_ref or "", "fingerprint_ref": job.fingerprint_ref or "",
    }
    return {key: values[key] for key in JOB_FIELDS}


def encode_job_start(renewal_id: str, copy: int) -> bytes:
    return encode_command(Cmd.JOB_START, renewal_id, str(copy))


def encode_job_query(renewal_id: str, copy: int) -> bytes:
    return encode_command(Cmd.JOB_QUERY, renewal_id, str(copy))


def parse_job_args(args: tuple[str, ...]) -> tuple[str, int]:
    """``(renewal id, copy)`` of a JS/JQ command (simulator side); a missing copy is 1."""
    if not 1 <= len(args) <= 2 or not args[0]:
        raise ProtocolError("a job is named by a renewal id and a copy number")
    copy = args[1] if len(args) == 2 else "1"
    if not copy.isascii() or not copy.isdigit() or int(copy) < 1:
        raise ProtocolError("the copy number must be a positive integer")
    return args[0], int(copy)


def encode_job_answer(answer: JobAnswer) -> bytes:
    fields = [answer.state.value, answer.renewal_id, str(answer.copy)]
    if answer.fault:
        fields.append(answer.fault)
    return encode_ok(*fields)


def decode_job_answer(reply: Reply) -> JobAnswer:
    """The JQ answer in an OK reply (driver side); ProtocolError if it is not one."""
    fields = reply.fields
    if not reply.ok or len(fields) not in (3, 4):
        raise ProtocolError(f"not a job answer ({len(fields)} fields)")
    try:
        state = JobState(fields[0])
    except ValueError:
        raise ProtocolError("unknown job state") from None
    if not fields[2].isascii() or not fields[2].isdigit():
        raise ProtocolError("job answer without a copy number")
    fault = fields[3] if len(fields) == 4 else None
    if (state is JobState.FAILED) != (fault is not None):
        raise ProtocolError("a fault word goes with FAILED, and only with it")
    return JobAnswer(state, fields[1], int(fields[2]), fault)


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
