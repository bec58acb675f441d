"""Receipt printer: ESC/POS status bits, rendering, and driver <-> simulator over a real pty."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
import pytest_asyncio

from devices.receipt_printer import codec
from devices.receipt_printer.codec import EscPosParser, ParsedDocument, RealTimeStatus
from devices.receipt_printer.driver import SerialReceiptPrinter
from devices.transport.serial import SerialTransport
from lane.errors import DeviceFault, DeviceOffline, ProtocolError
from lane.ports import PrintDocument, PrinterStatus, ReceiptPrinter
from simulators.receipt_printer import ReceiptPrinterSimulator

RECEIPT = PrintDocument(
    kind="receipt",
    reference="PAY-2026-000042",
    title="KWITANSI / RECEIPT",
    lines=["Perpanjangan SIM A", "Biaya / Fee: Rp 80.000", "Plat: B 1234 XYZ"],
    qr="https://lajur.example/r/PAY-2026-000042",
)


async def until(predicate: Callable[[], bool], timeout: float = 3.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)


# ---------------------------------------------------------------------- status bits (golden)
@pytest.mark.parametrize(
    ("n", "status", "byte"),
    [
        (1, RealTimeStatus(), 0x12),
        (1, RealTimeStatus(offline=True), 0x1A),
        (2, RealTimeStatus(), 0x12),
        (2, RealTimeStatus(cover_open=True), 0x16),
        (2, RealTimeStatus(paper_end_stop=True), 0x32),
        (4, RealTimeStatus(), 0x12),
        (4, RealTimeStatus(paper_near_end=True), 0x1E),
        (4, RealTimeStatus(paper_out=True, paper_near_end=True), 0x7E),
    ],
)
def test_status_bytes_use_the_epson_bit_meanings(n: int, status: RealTimeStatus, byte: int) -> None:
    assert codec.encode_status_byte(n, status) == byte


def test_status_queries_are_dle_eot_n() -> None:
    assert [codec.status_query(n).hex(" ") for n in (1, 2, 4)] == ["10 04 01", "10 04 02", "10 04 04"]


def test_decoding_status_rejects_bytes_with_wrong_fixed_bits() -> None:
    assert codec.decode_status(0x12, 0x16, 0x7E).faults == {"paper_out", "cover_open"}
    with pytest.raises(ProtocolError):
        codec.decode_status(0x13, 0x12, 0x12)
    with pytest.raises(ProtocolError):
        codec.decode_status(0x12, 0x92, 0x12)


def test_rendered_document_parses_back_to_its_text_and_qr() -> None:
    data = codec.render_document(RECEIPT)
    assert data.startswith(b"\x1b@")  # ESC @ initialise
    assert b"\x1d(k" in data and data.endswith(b"\x1dV\x00")  # native QR, full cut
    events = EscPosParser().feed(data)
    assert [kind for kind, _ in events] == ["document"]
    document = events[0][1]
    assert isinstance(document, ParsedDocument)
    assert document.lines[0] == "KWITANSI / RECEIPT"
    assert "Biaya / Fee: Rp 80.000" in document.lines
    assert document.qr == [RECEIPT.qr]
    assert document.marker() == ("receipt", "PAY-2026-000042")


def test_parser_survives_arbitrary_bytes_split_anywhere() -> None:
    import random

    rng = random.Random(5)
    data = codec.render_document(RECEIPT)
    parser = EscPosParser()
    events = []
    i = 0
    while i < len(data):
        step = rng.randint(1, 7)
        events += parser.feed(data[i : i + step])
        i += step
    assert [k for k, _ in events] == ["document"]
    noise = EscPosParser()
    for _ in range(200):
        noise.feed(rng.randbytes(rng.randint(1, 50)))  # must not raise


# ---------------------------------------------------------------------- driver <-> simulator
@pytest_asyncio.fixture
async def printer(receipt_printer_sim: ReceiptPrinterSimulator) -> AsyncIterator[SerialReceiptPrinter]:
    driver = SerialReceiptPrinter(
        "receipt-printer", SerialTransport(receipt_printer_sim.port_path), reply_timeout=0.2, poll_interval=0.05
    )
    await driver.start()
    try:
        yield driver
    finally:
        await driver.stop()


async def test_driver_implements_the_port_and_reports_ready(printer: SerialReceiptPrinter) -> None:
    assert isinstance(printer, ReceiptPrinter)
    assert await printer.status() == PrinterStatus(online=True, ready=True)


async def test_prints_a_receipt_with_fee_reference_and_qr(
    printer: SerialReceiptPrinter, receipt_printer_sim: ReceiptPrinterSimulator
) -> None:
    await printer.print_document(RECEIPT)
    await until(lambda: len(receipt_printer_sim.printed) == 1)
    document = receipt_printer_sim.printed[0]
    assert "Ref: PAY-2026-000042" in document.lines
    assert "Biaya / Fee: Rp 80.000" in document.lines
    assert document.qr == [RECEIPT.qr]
    (entry,) = receipt_printer_sim.ledger.effects("receipt_printed")
    assert (entry["reference"], entry["kind"]) == ("PAY-2026-000042", "receipt")


async def test_referral_slip_without_qr(
    printer: SerialReceiptPrinter, receipt_printer_sim: ReceiptPrinterSimulator
) -> None:
    slip = PrintDocument(kind="referral", reference="RN-77", title="RUJUKAN", lines=["Ke loket / To window 4"])
    await printer.print_document(slip)
    await until(lambda: bool(receipt_printer_sim.ledger.effects("receipt_printed")))
    assert receipt_printer_sim.printed[0].qr == []
    assert receipt_printer_sim.ledger.effects("receipt_printed")[0]["kind"] == "referral"


@pytest.mark.parametrize("fault", ["paper_out", "cover_open"])
async def test_fault_refuses_the_print_and_clearing_it_recovers(
    printer: SerialReceiptPrinter, receipt_printer_sim: ReceiptPrinterSimulator, fault: str
) -> None:
    statuses: list[PrinterStatus] = []
    printer.add_listener(statuses.append)
    await receipt_printer_sim.inject(fault)
    with pytest.raises(DeviceFault) as refused:
        await printer.print_document(RECEIPT)
    assert refused.value.fault == fault
    assert (await printer.status()) == PrinterStatus(online=True, ready=False, faults=frozenset({fault}))
    assert receipt_printer_sim.ledger.effects("receipt_printed") == []
    await receipt_printer_sim.inject(fault, False)
    await until(lambda: printer.last_status.ready)  # the status poll notices the recovery
    await printer.print_document(RECEIPT)
    await until(lambda: len(receipt_printer_sim.ledger.effects("receipt_printed")) == 1)
    assert statuses[0].faults == {fault} and statuses[-1].ready


async def test_paper_near_end_is_a_warning_not_a_fault(
    printer: SerialReceiptPrinter, receipt_printer_sim: ReceiptPrinterSimulator
) -> None:
    await receipt_printer_sim.inject("paper_near_end")
    assert (await printer.status()).ready
    assert printer.last_realtime is not None and printer.last_realtime.paper_near_end


async def test_silent_printer_goes_offline_and_comes_back(
    printer: SerialReceiptPrinter, receipt_printer_sim: ReceiptPrinterSimulator
) -> None:
    await receipt_printer_sim.inject("offline")
    await until(lambda: not printer.online)
    with pytest.raises(DeviceOffline):
        await printer.print_document(RECEIPT)
    await receipt_printer_sim.inject("offline", False)
    await until(lambda: printer.online)
    await printer.print_document(RECEIPT)
    await until(lambda: len(receipt_printer_sim.printed) == 1)


def test_rendered_receipt_matches_golden_bytes() -> None:
    """Pins python-escpos's output for a small receipt (the example in docs/wire/serial.md)."""
    doc = PrintDocument(kind="receipt", reference="PAY-1", title="KWITANSI", lines=["Biaya: Rp 80.000"], qr="PAY-1")
    golden = (
        "1B 40 1B 21 00 1B 21 00 1B 21 30 1B 45 01 1B 61 01 1B 74 00 4B 57 49 54 41 4E 53 49 0A"
        " 1B 21 00 1B 21 00 1B 21 00 1B 7B 00 1D 62 00 1B 45 00 1B 2D 00 1B 4D 00 1B 61 00 1D 42 00"
        " 52 65 66 3A 20 50 41 59 2D 31 0A 42 69 61 79 61 3A 20 52 70 20 38 30 2E 30 30 30 0A"
        " 1B 61 01 1D 28 6B 04 00 31 41 32 00 1D 28 6B 03 00 31 43 06 1D 28 6B 03 00 31 45 30"
        " 1D 28 6B 08 00 31 50 30 50 41 59 2D 31 1D 28 6B 03 00 31 51 30"
        " 1B 21 00 1B 21 00 1B 21 00 1B 7B 00 1D 62 00 1B 45 00 1B 2D 00 1B 4D 01 1B 61 00 1D 42 00"
        " 23 72 65 63 65 69 70 74 3A 50 41 59 2D 31 0A 1B 64 06 1D 56 00"
    )
    assert codec.render_document(doc) == bytes.fromhex(golden)
