"""Golden tests: every gate frame pinned in hex (docs/wire/serial.md shows the same bytes)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.gate import codec
from devices.gate.codec import Ack, Frame, FrameDecoder, Nak, NakReason, StatusReply, WirePosition
from lane.errors import ProtocolError


def h(text: str) -> bytes:
    return bytes.fromhex(text)


@pytest.mark.parametrize(
    ("encoded", "golden"),
    [
        (codec.encode_status_poll(1), "02 01 10 00 11 03"),
        (codec.encode_open(1), "02 01 11 00 10 03"),
        (codec.encode_close(1), "02 01 12 00 13 03"),
        (codec.encode_stop(1), "02 01 13 00 12 03"),
        (codec.encode_auto_close(1, 30), "02 01 14 01 1E 0A 03"),
        (codec.encode_auto_close(1, 0), "02 01 14 01 00 14 03"),
        (codec.encode_status_poll(2), "02 02 10 00 12 03"),
        (
            codec.encode_status_reply(1, StatusReply(WirePosition.CLOSED, False, False, frozenset())),
            "02 01 20 03 00 00 00 22 03",
        ),
        (
            codec.encode_status_reply(1, StatusReply(WirePosition.OPENING, True, False, frozenset())),
            "02 01 20 03 01 01 00 22 03",
        ),
        (
            codec.encode_status_reply(
                1, StatusReply(WirePosition.OPEN, True, True, frozenset({"stuck", "loop_fault"}))
            ),
            "02 01 20 03 02 03 06 25 03",
        ),
        (
            codec.encode_status_reply(1, StatusReply(WirePosition.CLOSING, False, False, frozenset())),
            "02 01 20 03 03 00 00 21 03",
        ),
        (
            codec.encode_status_reply(1, StatusReply(WirePosition.FAULT, False, False, frozenset({"motor_fault"}))),
            "02 01 20 03 04 00 01 27 03",
        ),
        (
            codec.encode_status_reply(1, StatusReply(WirePosition.HALTED, False, False, frozenset())),
            "02 01 20 03 05 00 00 27 03",
        ),
        (codec.encode_ack(1, codec.Command.OPEN), "02 01 06 01 11 17 03"),
        (codec.encode_nak(1, codec.Command.CLOSE, NakReason.SAFETY_OCCUPIED), "02 01 15 02 12 01 05 03"),
        (codec.encode_nak(1, codec.Command.OPEN, NakReason.GATE_FAULT), "02 01 15 02 11 02 05 03"),
        (codec.encode_nak(1, 0x7F, NakReason.UNKNOWN_COMMAND), "02 01 15 02 7F 03 6A 03"),
    ],
)
def test_frames_match_golden_bytes(encoded: bytes, golden: str) -> None:
    assert encoded == h(golden)


def test_decoding_golden_replies() -> None:
    decoder = FrameDecoder()
    frames = decoder.feed(h("02 01 20 03 02 03 06 25 03 02 01 06 01 11 17 03 02 01 15 02 12 01 05 03"))
    assert [codec.decode_reply(f) for f in frames] == [
        StatusReply(WirePosition.OPEN, True, True, frozenset({"stuck", "loop_fault"})),
        Ack(codec.Command.OPEN),
        Nak(codec.Command.CLOSE, NakReason.SAFETY_OCCUPIED),
    ]
    assert sum(decoder.errors.values()) == 0


def test_decoder_reassembles_frames_split_byte_by_byte() -> None:
    decoder = FrameDecoder()
    out: list[Frame] = []
    for byte in h("02 01 14 01 1E 0A 03"):
        out += decoder.feed(bytes([byte]))
    assert out == [Frame(1, codec.Command.AUTO_CLOSE, b"\x1e")]


@pytest.mark.parametrize(
    ("wire", "error"),
    [
        ("02 01 10 00 12 03", "bad_bcc"),
        ("02 01 10 00 11 04", "bad_etx"),
        ("02 01 10 21 11 03", "bad_length"),
    ],
)
def test_bad_frames_are_dropped_counted_and_resynchronised(wire: str, error: str) -> None:
    decoder = FrameDecoder()
    frames = decoder.feed(h(wire) + h("FF 00") + codec.encode_open(1))
    assert frames == [Frame(1, codec.Command.OPEN)]
    assert decoder.errors[error] == 1


def test_a_valid_frame_inside_a_bad_one_is_still_found() -> None:
    # A stray STX whose "length" would swallow the next real frame.
    decoder = FrameDecoder()
    assert decoder.feed(h("02 01 10 05") + codec.encode_close(1) + h("00 00")) == [Frame(1, codec.Command.CLOSE)]


def test_reply_and_command_interpretation_rejects_unknown_values() -> None:
    with pytest.raises(ProtocolError):
        codec.decode_reply(Frame(1, 0x99, b""))
    with pytest.raises(ProtocolError):
        codec.decode_reply(Frame(1, codec.ReplyCode.STATUS, b"\x09\x00\x00"))
    with pytest.raises(ProtocolError):
        codec.decode_reply(Frame(1, codec.ReplyCode.ACK, b""))
    with pytest.raises(ProtocolError):
        codec.decode_command(Frame(1, codec.Command.OPEN, b"\x01"))
    with pytest.raises(ValueError):
        codec.encode_auto_close(1, 300)


def _random_reply(rng: random.Random) -> bytes:
    addr = 1 if rng.random() < 0.7 else rng.randint(2, 247)  # other gates share the bus
    kind = rng.randrange(3)
    if kind == 0:
        return codec.encode_ack(addr, rng.choice(list(codec.Command)))
    if kind == 1:
        return codec.encode_nak(addr, rng.choice(list(codec.Command)), rng.choice(list(NakReason)))
    status = StatusReply(
        WirePosition(rng.randrange(6)), rng.random() < 0.5, rng.random() < 0.5,
        frozenset(n for n in codec.FAULT_BITS if rng.random() < 0.3),
    )
    return codec.encode_status_reply(addr, status)


def test_ten_thousand_random_and_corrupted_frames_never_crash_or_forge_a_frame() -> None:
    """The driver's view of a noisy line: every intact reply comes out once, nothing else ever does."""
    rng = random.Random(20261123)
    decoder = FrameDecoder("noise-test", accept=codec.is_reply)
    expected: list[Frame] = []
    decoded: list[Frame] = []
    stream = bytearray()
    for _ in range(10_000):
        good = _random_reply(rng)
        roll = rng.random()
        if roll < 0.35:  # intact: must come out exactly once
            stream += good
            (frame,) = FrameDecoder().feed(good)
            expected.append(frame)
        elif roll < 0.8:  # one flipped bit: must never come out
            bad = bytearray(good)
            bad[rng.randrange(len(bad))] ^= 1 << rng.randrange(8)
            stream += bad
        else:  # random garbage, STX and ETX bytes included
            stream += rng.randbytes(rng.randint(1, 40))
        if len(stream) > 64:  # uneven chunks, as a line delivers them
            cut = rng.randint(1, len(stream))
            decoded += decoder.feed(bytes(stream[:cut]))
            del stream[:cut]
    decoded += decoder.feed(bytes(stream) + bytes(codec.OVERHEAD + codec.MAX_DATA))  # idle line flushes
    assert decoded == expected
    assert decoder.errors["bad_bcc"] > 0 and decoder.errors["garbage"] > 0


def test_truncated_frames_never_crash_the_decoder_and_outputs_stay_well_formed() -> None:
    """A frame cut short and followed at once by another can, rarely, pass an XOR BCC (documented
    limit of the gate's framing); the decoder must still never raise and never emit a malformed frame.
    The driver bounds the harm: it resets the decoder for every exchange and takes one reply."""
    rng = random.Random(7)
    decoder = FrameDecoder("trunc-test", accept=codec.is_reply)
    for _ in range(5_000):
        good = _random_reply(rng)
        chunk = good[: rng.randrange(1, len(good))] if rng.random() < 0.5 else good
        for frame in decoder.feed(chunk):
            assert codec.is_reply(frame)
            assert len(codec.encode_frame(frame)) == codec.OVERHEAD + len(frame.data)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=20))
def test_decoder_never_raises_and_yields_only_frames_present_in_the_input(chunks: list[bytes]) -> None:
    decoder = FrameDecoder()
    stream = b"".join(chunks)
    for chunk in chunks:
        for frame in decoder.feed(chunk):
            assert codec.encode_frame(frame) in stream
