"""Card printer: golden lines, and driver <-> simulator over a real pseudo-terminal."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import date

import pytest
import pytest_asyncio

from devices.card_printer import codec
from devices.card_printer.driver import SerialCardPrinter
from devices.transport.serial import SerialTransport
from lane.errors import DeviceFault, DeviceOffline, DeviceTimeout, ProtocolError, ValidationError
from lane.ports import CardJob, CardPrinter, CardPrintResult, PrinterStatus
from simulators.card_printer import CardPrinterSimulator

JOB = CardJob(
    renewal_id="RN-2026-000123",
    sim_number="1234-5678-000123",
    holder_name="BUDI; SANTOSO\r\x1b=TEST",
    sim_class="A",
    expires=date(2031, 11, 23),
    photo_ref="biometric/RN-2026-000123/photo.jpg",
    signature_ref="biometric/RN-2026-000123/signature.png",
    fingerprint_ref="biometric/RN-2026-000123/fingerprint.wsq",
    card_serial="K-0001",
)


# ---------------------------------------------------------------------- codec (golden)
@pytest.mark.parametrize(
    ("encoded", "golden"),
    [
        (codec.encode_command("ST"), "1B 53 54 0D"),
        (codec.encode_job_start("RN-1", 1), "1B 4A 53 3B 52 4E 2D 31 3B 31 0D"),
        (codec.encode_job_start("RN-1", 2), "1B 4A 53 3B 52 4E 2D 31 3B 32 0D"),
        (codec.encode_job_data("sim_class", "A"), "1B 4A 44 3B 73 69 6D 5F 63 6C 61 73 73 3D 41 0D"),
        (codec.encode_job_data("holder_name", "A;B"), "1B 4A 44 3B" + " 68 6F 6C 64 65 72 5F 6E 61 6D 65 3D 41 5C 33 42 42 0D"),
        (codec.encode_command("JP"), "1B 4A 50 0D"),
        (codec.encode_job_query("RN-1", 2), "1B 4A 51 3B 52 4E 2D 31 3B 32 0D"),
        (codec.encode_job_data("photo_ref", "p/1.jpg"), "1B 4A 44 3B 70 68 6F 74 6F 5F 72 65 66 3D 70 2F 31 2E 6A 70 67 0D"),
        (codec.encode_ok(), "4F 4B 0D"),
        (codec.encode_ok("READY"), "4F 4B 3B 52 45 41 44 59 0D"),
        (codec.encode_ok("FAULT", "RIBBON_OUT,CARD_JAM"), "4F 4B 3B 46 41 55 4C 54 3B" + " 52 49 42 42 4F 4E 5F 4F 55 54 2C 43 41 52 44 5F 4A 41 4D 0D"),
        (codec.encode_job_answer(codec.JobAnswer(codec.JobState.PRINTED, "RN-1", 2)),
         "4F 4B 3B 50 52 49 4E 54 45 44 3B 52 4E 2D 31 3B 32 0D"),
        (codec.encode_job_answer(codec.JobAnswer(codec.JobState.FAILED, "RN-1", 1, "CARD_JAM")),
         "4F 4B 3B 46 41 49 4C 45 44 3B 52 4E 2D 31 3B 31 3B 43 41 52 44 5F 4A 41 4D 0D"),
        (codec.encode_error("RIBBON_OUT"), "45 52 52 3B 52 49 42 42 4F 4E 5F 4F 55 54 0D"),
    ],
)
def test_lines_match_golden_bytes(encoded: bytes, golden: str) -> None:
    assert encoded == bytes.fromhex(golden)


def test_field_escaping_round_trips_and_never_leaks_frame_bytes() -> None:
    nasty = "Ni Luh Putu; Ayu\r\n\x1b=\\ é 日本"
    escaped = codec.escape_field(nasty)
    assert not set(escaped.encode()) & {0x0D, 0x1B, ord(";"), ord("=")}
    assert codec.unescape_field(escaped) == nasty
    line = codec.encode_job_data("holder_name", nasty)
    assert codec.decode_command(line[:-1]) == codec.Command("JD", ("holder_name", nasty))


def test_malformed_lines_are_protocol_errors_and_the_decoder_resyncs_on_esc() -> None:
    with pytest.raises(ProtocolError):
        codec.decode_reply(b"HELLO")
    with pytest.raises(ProtocolError):
        codec.unescape_field("\\4")
    decoder = codec.LineDecoder(command_mode=True)
    lines = decoder.feed(b"\x00garbage\r\xff\xfe" + codec.encode_command("ST") + b"x" * 600 + b"\r")
    assert lines == [b"\x1bST"]
    assert decoder.errors["garbage"] == 2 and decoder.errors["overlong"] == 1


# ---------------------------------------------------------------------- driver <-> simulator
@pytest_asyncio.fixture
async def printer(card_printer_sim: CardPrinterSimulator) -> AsyncIterator[SerialCardPrinter]:
    driver = SerialCardPrinter(
        "card-printer", SerialTransport(card_printer_sim.port_path), reply_timeout=0.3,
        print_timeout=3.0, job_poll_interval=0.02, poll_interval=0.05,
    )
    await driver.start()
    try:
        yield driver
    finally:
        await driver.stop()


async def test_driver_implements_the_port_and_reports_ready(printer: SerialCardPrinter) -> None:
    assert isinstance(printer, CardPrinter)
    assert printer.online
    assert await printer.status() == PrinterStatus(online=True, ready=True)


async def test_prints_a_card_once_with_every_field(
    printer: SerialCardPrinter, card_printer_sim: CardPrinterSimulator
) -> None:
    result = await printer.print_card(JOB)
    assert result == CardPrintResult(JOB.renewal_id)
    assert card_printer_sim.printed[(JOB.renewal_id, 1)] == {
        "card_serial": "K-0001",
        "sim_number": JOB.sim_number,
        "holder_name": JOB.holder_name,
        "sim_class": "A",
        "expires": "2031-11-23",
        "photo_ref": JOB.photo_ref,
        "signature_ref": JOB.signature_ref,
        "fingerprint_ref": JOB.fingerprint_ref,
    }
    (line,) = card_printer_sim.ledger.effects("card_printed")
    assert (line["renewal_id"], line["copy"], line["card_serial"]) == (JOB.renewal_id, 1, "K-0001")
    assert (line["photo_ref"], line["signature_ref"], line["fingerprint_ref"]) == (
        JOB.photo_ref, JOB.signature_ref, JOB.fingerprint_ref)


async def test_retried_job_is_recognised_and_no_second_card_comes_out(
    printer: SerialCardPrinter, card_printer_sim: CardPrinterSimulator
) -> None:
    await printer.print_card(JOB)
    again = await printer.print_card(JOB)
    assert again.already_printed
    assert len(card_printer_sim.ledger.effects("card_printed")) == 1
    assert [c.name for c in card_printer_sim.received].count("JP") == 1


async def test_retry_while_still_printing_waits_for_the_same_card(
    printer: SerialCardPrinter, card_printer_sim: CardPrinterSimulator
) -> None:
    first = asyncio.create_task(printer.print_card(JOB))
    await _until(lambda: card_printer_sim.busy)
    second = await printer.print_card(JOB)  # e.g. the controller restarted mid-print
    assert (await first).renewal_id == second.renewal_id == JOB.renewal_id
    assert len(card_printer_sim.ledger.effects("card_printed")) == 1


@pytest.mark.parametrize("fault", ["ribbon_out", "card_jam", "hopper_empty", "cover_open"])
async def test_each_fault_refuses_the_job_and_clearing_it_recovers(
    printer: SerialCardPrinter, card_printer_sim: CardPrinterSimulator, fault: str
) -> None:
    await card_printer_sim.inject(fault)
    with pytest.raises(DeviceFault) as refused:
        await printer.print_card(JOB)
    assert refused.value.fault == fault
    assert (await printer.status()).faults == {fault}
    assert card_printer_sim.ledger.effects("card_printed") == []
    await card_printer_sim.inject(fault, False)
    assert (await printer.print_card(JOB)).already_printed is False
    assert len(card_printer_sim.ledger.effects("card_printed")) == 1


async def test_jam_during_printing_fails_the_job_then_a_retry_prints(
    printer: SerialCardPrinter, card_printer_sim: CardPrinterSimulator
) -> None:
    job = asyncio.create_task(printer.print_card(JOB))
    await _until(lambda: card_printer_sim.busy)
    await card_printer_sim.inject("card_jam")
    with pytest.raises(DeviceFault) as failed:
        await job
    assert failed.value.fault == "card_jam"
    await card_printer_sim.inject("card_jam", False)
    assert not (await printer.print_card(JOB)).already_printed
    assert len(card_printer_sim.ledger.effects("card_printed")) == 1


async def test_silent_printer_times_out_then_goes_offline_and_comes_back(
    printer: SerialCardPrinter, card_printer_sim: CardPrinterSimulator
) -> None:
    await card_printer_sim.inject("offline")
    with pytest.raises(DeviceTimeout):
        await printer.print_card(JOB)
    await _until(lambda: not printer.online)
    with pytest.raises((DeviceOffline, DeviceTimeout)):
        await printer.print_card(JOB)
    await card_printer_sim.inject("offline", False)
    await _until(lambda: printer.online)
    assert (await printer.print_card(JOB)).renewal_id == JOB.renewal_id


async def test_noise_before_a_reply_is_skipped(printer: SerialCardPrinter, card_printer_sim: CardPrinterSimulator) -> None:
    original = card_printer_sim.handle
    card_printer_sim.handle = lambda line: b"\xff\x00#!\r" + original(line)  # type: ignore[method-assign]
    assert (await printer.status()).ready
    assert printer.decoder.errors["bad_reply"] >= 1


async def test_a_reprint_is_a_new_job_and_its_card_comes_out(
    printer: SerialCardPrinter, card_printer_sim: CardPrinterSimulator
) -> None:
    """The first card was spoiled: copy 2 on a new blank prints, where a retry of copy 1 does not."""
    await printer.print_card(JOB)
    reprint = replace(JOB, copy=2, card_serial="K-0002")
    assert await printer.print_card(reprint) == CardPrintResult(JOB.renewal_id, reprinted=True, copy=2)
    assert (await printer.print_card(reprint)).already_printed
    assert (await printer.print_card(JOB)).already_printed
    cards = card_printer_sim.ledger.effects("card_printed")
    assert [(c["copy"], c["card_serial"]) for c in cards] == [(1, "K-0001"), (2, "K-0002")]
    assert all(c["photo_ref"] == JOB.photo_ref for c in cards)


async def test_a_job_answer_about_another_job_is_refused(
    printer: SerialCardPrinter, card_printer_sim: CardPrinterSimulator
) -> None:
    """The printer says "PRINTED" about another renewal: the driver does not take it for its own."""
    original = card_printer_sim.handle

    def confused(line: bytes) -> bytes:
        if line.startswith(codec.encode_command("JQ")[:-1]):
            return codec.encode_job_answer(codec.JobAnswer(codec.JobState.PRINTED, "RN-OTHER", 1))
        return original(line)

    card_printer_sim.handle = confused  # type: ignore[method-assign]
    with pytest.raises(DeviceTimeout):
        await printer.print_card(JOB)
    assert printer.refusals.by_reason["wrong_job"] >= 1
    assert card_printer_sim.ledger.effects("card_printed") == []


async def test_a_field_too_long_for_the_printer_is_refused_before_anything_is_sent(
    printer: SerialCardPrinter, card_printer_sim: CardPrinterSimulator
) -> None:
    with pytest.raises(ValidationError):
        await printer.print_card(replace(JOB, holder_name="X" * 600))
    assert [c.name for c in card_printer_sim.received if c.name in ("JS", "JD", "JP")] == []


async def _until(predicate: Callable[[], bool], timeout: float = 3.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)
