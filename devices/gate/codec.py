"""Barrier gate wire codec (RS-485, polled master/slave), shared by the driver and the simulator.

Frame::

    STX  addr  cmd  len  data[len]  CRC-lo CRC-hi  ETX
    0x02 1..247     0..32           CRC-16/MODBUS of addr, cmd, len, data  0x03

Commands (controller -> gate)            Replies (gate -> controller)
  0x10 STATUS   len 0                      0x20 STATUS  len 3 or 4: position, loops, faults[, passages]
  0x11 OPEN     len 0                      0x06 ACK     len 1: the command acknowledged
  0x12 CLOSE    len 0                      0x15 NAK     len 2: the command refused, reason
  0x13 STOP     len 0
  0x14 AUTO_CLOSE len 1: seconds (0 = off)

Status ``position``: 0 closed, 1 opening, 2 open, 3 closing, 4 fault, 5 halted between end positions.
``loops`` bit 0 presence, bit 1 safety. ``faults`` bit 0 motor_fault, bit 1 stuck, bit 2 loop_fault.
``passages`` (optional 4th byte): vehicles the gate counted clearing its safety loop, modulo 256; a
gate without the counter answers 3 bytes.
NAK reasons: 1 safety loop occupied, 2 gate in fault, 3 unknown command, 4 bad argument.
See docs/wire/serial.md; tests/devices/test_gate_codec.py pins every frame.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import IntEnum

from lane.errors import ProtocolError
from lane.ports import PASSAGE_MODULUS, GatePosition

log = logging.getLogger(__name__)

STX = 0x02
ETX = 0x03
MAX_DATA = 32
MAX_ADDRESS = 247
HEADER_LEN = 4  # STX addr cmd len
OVERHEAD = 7  # header + CRC (2) + ETX


class Command(IntEnum):
    STATUS = 0x10
    OPEN = 0x11
    CLOSE = 0x12
    STOP = 0x13
    AUTO_CLOSE = 0x14


class ReplyCode(IntEnum):
    ACK = 0x06
    NAK = 0x15
    STATUS = 0x20


class NakReason(IntEnum):
    SAFETY_OCCUPIED = 0x01
    GATE_FAULT = 0x02
    UNKNOWN_COMMAND = 0x03
    BAD_ARGUMENT = 0x04


class WirePosition(IntEnum):
    CLOSED = 0
    OPENING = 1
    OPEN = 2
    CLOSING = 3
    FAULT = 4
    HALTED = 5


WIRE_TO_POSITION: dict[WirePosition, GatePosition] = {
    WirePosition.CLOSED: GatePosition.CLOSED,
    WirePosition.OPENING: GatePosition.OPENING,
    WirePosition.OPEN: GatePosition.OPEN,
    WirePosition.CLOSING: GatePosition.CLOSING,
    WirePosition.FAULT: GatePosition.FAULT,
    # The port has no "halted" value: a boom stopped mid-travel is neither open nor closed.
    WirePosition.HALTED: GatePosition.UNKNOWN,
}

LOOP_PRESENCE = 0x01
LOOP_SAFETY = 0x02

FAULT_BITS: dict[str, int] = {"motor_fault": 0x01, "stuck": 0x02, "loop_fault": 0x04}
"""Fault names as the port reports them (``GateStatus.faults``) and their bit in the status reply."""

ALL_FAULT_BITS = 0x07

COMMAND_DATA_LEN: dict[Command, int] = {
    Command.STATUS: 0,
    Command.OPEN: 0,
    Command.CLOSE: 0,
    Command.STOP: 0,
    Command.AUTO_CLOSE: 1,
}
REPLY_DATA_LEN: dict[ReplyCode, tuple[int, ...]] = {ReplyCode.ACK: (1,), ReplyCode.NAK: (2,), ReplyCode.STATUS: (3, 4)}


@dataclass(frozen=True)
class Frame:
    addr: int
    cmd: int
    data: bytes = b""


@dataclass(frozen=True)
class StatusReply:
    position: WirePosition
    presence: bool
    safety: bool
    faults: frozenset[str]
    passages: int | None = None
    """Vehicles counted clearing the safety loop, modulo 256 (None: a gate without the counter)."""


@dataclass(frozen=True)
class Ack:
    command: int


@dataclass(frozen=True)
class Nak:
    command: int
    reason: NakReason


Reply = StatusReply | Ack | Nak


# ---------------------------------------------------------------------- framing
def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC_TABLE = _crc_table()


def crc16(body: bytes | bytearray | memoryview) -> int:
    """CRC-16/MODBUS (poly 0x8005 reflected, init 0xFFFF, no final XOR; check value of b"123456789"
    is 0x4B37), the CRC RS-485 gate controllers already speak. Over a frame of at most 35 bytes it
    detects every error of up to three bits and every burst up to 16 bits, and lets a random
    candidate through once in 65,536 before the ETX, length and content checks; the XOR BCC it
    replaces missed any two flips of the same bit in two bytes (issue 23: 4 false statuses in 15,079
    corrupted frames)."""
    crc = 0xFFFF
    table = _CRC_TABLE
    for byte in body:
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc


def encode_frame(frame: Frame) -> bytes:
    if not 0 <= frame.addr <= 0xFF or not 0 <= frame.cmd <= 0xFF:
        raise ValueError(f"address/command out of range: {frame}")
    if len(frame.data) > MAX_DATA:
        raise ValueError(f"data too long ({len(frame.data)} > {MAX_DATA})")
    body = bytes([frame.addr, frame.cmd, len(frame.data)]) + frame.data
    crc = crc16(body)
    return bytes([STX]) + body + bytes([crc & 0xFF, crc >> 8, ETX])


# ---------------------------------------------------------------------- commands
def encode_status_poll(addr: int) -> bytes:
    return encode_frame(Frame(addr, Command.STATUS))


def encode_open(addr: int) -> bytes:
    return encode_frame(Frame(addr, Command.OPEN))


def encode_close(addr: int) -> bytes:
    return encode_frame(Frame(addr, Command.CLOSE))


def encode_stop(addr: int) -> bytes:
    return encode_frame(Frame(addr, Command.STOP))


def encode_auto_close(addr: int, seconds: int) -> bytes:
    if not 0 <= seconds <= 255:
        raise ValueError("auto-close seconds must be 0..255 (0 = off)")
    return encode_frame(Frame(addr, Command.AUTO_CLOSE, bytes([seconds])))


# ---------------------------------------------------------------------- replies
def encode_status_reply(addr: int, status: StatusReply) -> bytes:
    loops = (LOOP_PRESENCE if status.presence else 0) | (LOOP_SAFETY if status.safety else 0)
    fault_bits = 0
    for name in status.faults:
        fault_bits |= FAULT_BITS.get(name, 0)
    data = [status.position, loops, fault_bits]
    if status.passages is not None:
        data.append(status.passages % PASSAGE_MODULUS)
    return encode_frame(Frame(addr, ReplyCode.STATUS, bytes(data)))


def encode_ack(addr: int, command: int) -> bytes:
    return encode_frame(Frame(addr, ReplyCode.ACK, bytes([command])))


def encode_nak(addr: int, command: int, reason: NakReason) -> bytes:
    return encode_frame(Frame(addr, ReplyCode.NAK, bytes([command, reason])))


def decode_reply(frame: Frame) -> Reply:
    """Interpret a well-framed reply; ProtocolError if it is not one we know."""
    try:
        code = ReplyCode(frame.cmd)
    except ValueError:
        raise ProtocolError(f"unknown reply code 0x{frame.cmd:02X}") from None
    if len(frame.data) not in REPLY_DATA_LEN[code]:
        raise ProtocolError(f"{code.name} reply with {len(frame.data)} data bytes")
    if code is ReplyCode.ACK:
        return Ack(frame.data[0])
    if code is ReplyCode.NAK:
        try:
            return Nak(frame.data[0], NakReason(frame.data[1]))
        except ValueError:
            raise ProtocolError(f"unknown NAK reason 0x{frame.data[1]:02X}") from None
    position_byte, loops, fault_bits = frame.data[:3]
    passages = frame.data[3] if len(frame.data) == 4 else None
    if loops & ~(LOOP_PRESENCE | LOOP_SAFETY) or fault_bits & ~ALL_FAULT_BITS:
        raise ProtocolError(f"reserved status bits set: loops 0x{loops:02X}, faults 0x{fault_bits:02X}")
    try:
        position = WirePosition(position_byte)
    except ValueError:
        raise ProtocolError(f"unknown boom position {position_byte}") from None
    faults = frozenset(name for name, bit in FAULT_BITS.items() if fault_bits & bit)
    return StatusReply(position, bool(loops & LOOP_PRESENCE), bool(loops & LOOP_SAFETY), faults, passages)


def decode_command(frame: Frame) -> tuple[Command, bytes]:
    """Interpret a well-framed command (simulator side); ProtocolError if unknown or mis-sized."""
    try:
        command = Command(frame.cmd)
    except ValueError:
        raise ProtocolError(f"unknown command 0x{frame.cmd:02X}") from None
    if len(frame.data) != COMMAND_DATA_LEN[command]:
        raise ProtocolError(f"{command.name} with {len(frame.data)} data bytes")
    return command, frame.data


def is_reply(frame: Frame) -> bool:
    """Frame filter for the controller side: only well-formed replies count as frames."""
    try:
        decode_reply(frame)
    except ProtocolError:
        return False
    return True


def is_command(frame: Frame) -> bool:
    """Frame filter for the gate side: only well-formed commands count as frames."""
    try:
        decode_command(frame)
    except ProtocolError:
        return False
    return True


# ---------------------------------------------------------------------- decoder
class FrameDecoder:
    """Turns an arbitrary byte stream into valid frames.

    Anything that is not a whole, well-formed frame is dropped and counted in ``errors``
    (``garbage``: bytes outside any frame, ``bad_length``, ``bad_crc``, ``bad_etx``, ``bad_content``). After a bad
    frame only its STX is discarded, so a real frame that started inside the bad one is still found.
    Never raises on input.

    Each end also passes ``accept`` (:func:`is_reply` / :func:`is_command`): a frame that checks out
    but means nothing is rejected like a bad one (``bad_content``) and only its STX is dropped, so it
    cannot swallow a real frame that follows.
    """

    def __init__(self, name: str = "gate", accept: Callable[[Frame], bool] | None = None) -> None:
        self.name = name
        self.accept = accept
        self._buf = bytearray()
        self.errors: Counter[str] = Counter()
        self.frames = 0

    def reset(self) -> None:
        """Forget a partial frame (e.g. before a new exchange); counters are kept."""
        if self._buf:
            self.errors["garbage"] += len(self._buf)
        self._buf.clear()

    def feed(self, data: bytes) -> list[Frame]:
        self._buf.extend(data)
        return list(self._drain())

    def _drain(self) -> Iterator[Frame]:
        buf = self._buf
        while buf:
            start = buf.find(STX)
            if start < 0:
                self._drop("garbage", len(buf), buf[:16])
                return
            if start > 0:
                self._drop("garbage", start, buf[:start][:16])
            if len(buf) < HEADER_LEN:
                return
            length = buf[3]
            if length > MAX_DATA:
                self._drop("bad_length", 1, buf[:HEADER_LEN])
                continue
            total = OVERHEAD + length
            if len(buf) < total:
                return
            if buf[total - 1] != ETX:
                self._drop("bad_etx", 1, buf[:total])
                continue
            body = bytes(buf[1 : total - 3])
            if crc16(body) != buf[total - 3] | buf[total - 2] << 8:
                self._drop("bad_crc", 1, buf[:total])
                continue
            frame = Frame(body[0], body[1], body[3:])
            if self.accept is not None and not self.accept(frame):
                self._drop("bad_content", 1, buf[:total])
                continue
            del buf[:total]
            self.frames += 1
            yield frame

    def _drop(self, reason: str, count: int, context: bytes | bytearray) -> None:
        self.errors[reason] += count if reason == "garbage" else 1
        level = logging.DEBUG if reason == "garbage" else logging.INFO
        if log.isEnabledFor(level):  # a noisy line drops thousands of candidates: no hex unless logged
            log.log(level, "%s: dropped %d byte(s), %s: %s", self.name, count, reason, bytes(context).hex(" "))
        del self._buf[:count]
