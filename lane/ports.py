"""Ports: what the lane controller needs from each device, independent of wire and transport.

`devices/` implements these (a serial gate and an MQTT gate both satisfy :class:`BarrierGate`), the
controller depends only on them, and the composition root (``cli/``) plugs the two together.
All methods are async; device state changes reach the controller through listeners so it never polls.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

Listener = Callable[[Any], None]
"""Called with the device's new status (or an event object) on the asyncio loop thread."""


@runtime_checkable
class Device(Protocol):
    """Common to every device driver."""

    name: str

    @property
    def online(self) -> bool: ...

    async def start(self) -> None:
        """Connect / start polling. Must not raise if the device is absent: it is then offline."""

    async def stop(self) -> None: ...

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        """Register ``listener`` for status changes/events; returns a function that removes it.

        Besides its own status, every driver hands its listeners a :class:`MessageRefused` for each
        message from the device it did not believe."""


@dataclass(frozen=True)
class MessageRefused:
    """A message from a device that the driver refused: nobody asked for it, it answers a command
    that is not outstanding, it names the wrong amount or job, it is malformed, or retained where it
    must not be. The driver counts it and goes on as if it never came (nothing the lane waits for is
    lost: the real answer still counts); the lane may raise an alert. Never carries personal data:
    a reason code and a short technical detail (topic, command id, amounts)."""

    device: str
    reason: str
    """e.g. ``unsolicited``, ``not_outstanding``, ``wrong_amount``, ``malformed``, ``retained``."""
    detail: str = ""
    count: int = 1
    """How many messages this driver has refused so far (all reasons)."""


# ---------------------------------------------------------------- barrier gate
class GatePosition(StrEnum):
    CLOSED = "closed"
    OPENING = "opening"
    OPEN = "open"
    CLOSING = "closing"
    FAULT = "fault"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class GateStatus:
    position: GatePosition = GatePosition.UNKNOWN
    presence_loop: bool = False
    """Arming loop in front of the boom: a vehicle is waiting at the gate."""
    safety_loop: bool = False
    """Loop under the boom: a vehicle is passing. The boom must never close on it."""
    faults: frozenset[str] = frozenset()
    online: bool = False
    passages: int | None = None
    """Vehicles the gate itself counted clearing its safety loop, modulo 256 (None: this gate does not
    count). A count is latched in the gate, so a vehicle that crossed the loops between two polls, or
    a car that rolled onto the arming loop as the one before left it, is not lost (issue 24's freeze)."""


PASSAGE_MODULUS = 256


class BarrierGate(Device, Protocol):
    @property
    def status(self) -> GateStatus: ...

    async def open(self) -> None:
        """Command the boom up; returns when the gate acknowledged (not when fully open)."""

    async def close(self) -> None:
        """Command the boom down. Raises GateSafetyError while the safety loop is occupied."""

    async def stop_motion(self) -> None: ...


# ---------------------------------------------------------------- printers
@dataclass(frozen=True)
class CardJob:
    renewal_id: str
    """With ``copy``, the idempotency key: the printer recognises a retried job and does not print a
    second card."""
    sim_number: str
    holder_name: str
    sim_class: str
    expires: date
    photo_ref: str | None = None
    """The biometric capture's references (:class:`CaptureResult`): printed on and encoded in the card."""
    signature_ref: str | None = None
    fingerprint_ref: str | None = None
    copy: int = 1
    """1 for a renewal's first card; a reprint (a spoiled or lost card) is copy 2, 3…: a new job
    that the printer prints, where a retry of the same copy prints nothing."""
    card_serial: str | None = None
    """The serial of the card blank this job goes on (the site's blank log), when the lane tracks it."""


@dataclass(frozen=True)
class PrinterStatus:
    online: bool
    ready: bool
    faults: frozenset[str] = frozenset()
    """Codes: ribbon_out, card_jam, hopper_empty, cover_open (card); paper_out, cover_open (receipt)."""


@dataclass(frozen=True)
class CardPrintResult:
    renewal_id: str
    reprinted: bool = False
    """A copy after the first (``CardJob.copy`` > 1)."""
    already_printed: bool = False
    """True when the printer had this renewal id and copy already: no second card came out."""
    copy: int = 1


class CardPrinter(Device, Protocol):
    async def print_card(self, job: CardJob) -> CardPrintResult:
        """Print one card; raises DeviceFault with the fault code if the printer cannot."""

    async def status(self) -> PrinterStatus: ...


@dataclass(frozen=True)
class PrintDocument:
    """A receipt or a referral slip, printed at window 1."""

    kind: str  # "receipt" | "referral"
    reference: str
    title: str
    lines: list[str]
    qr: str | None = None


class ReceiptPrinter(Device, Protocol):
    async def print_document(self, doc: PrintDocument) -> None: ...

    async def status(self) -> PrinterStatus: ...


# ---------------------------------------------------------------- payment
class PaymentOutcome(StrEnum):
    PAID = "paid"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class PaymentResult:
    reference: str
    outcome: PaymentOutcome
    amount: int
    detail: str = ""


@dataclass(frozen=True)
class ChargeSummary:
    """What the applicant checks on the terminal's screen (and the window display) before the charge:
    the name read from their e-KTP, the class renewed and the fee for it."""

    reference: str
    """Names this confirmation (one per visit): asking again answers with the answer already given."""
    holder_name: str
    sim_class: str
    amount: int


class PaymentTerminal(Device, Protocol):
    async def confirm(self, summary: ChargeSummary, *, timeout: float) -> bool:
        """Show ``summary`` on the terminal and wait for the applicant's OK (True) or Cancel (False).
        Nothing is charged. Raises DeviceTimeout when nobody answers within ``timeout`` wall seconds."""

    async def charge(self, reference: str, amount: int, *, timeout: float) -> PaymentResult:
        """Ask the terminal to collect ``amount`` rupiah. Idempotent by ``reference``: asking again
        for a reference the terminal already settled returns that result and charges nothing.
        ``timeout`` is in wall seconds. Raises DeviceTimeout when no result arrives in time."""


# ---------------------------------------------------------------- identity, biometrics
@dataclass(frozen=True)
class IdentityCard:
    """What the e-KTP reader returns."""

    nik: str
    name: str
    birth_date: date
    sim_number: str
    """The old SIM's number, read or typed at the same step."""


class CardReader(Device, Protocol):
    async def read(self, *, timeout: float) -> IdentityCard: ...


@dataclass(frozen=True)
class CaptureResult:
    renewal_id: str
    photo_ref: str
    fingerprint_ref: str
    signature_ref: str


class BiometricStation(Device, Protocol):
    async def capture(self, renewal_id: str, *, timeout: float) -> CaptureResult: ...

    async def delete(self, renewal_id: str, *, timeout: float) -> None:
        """Delete the photo, fingerprint and signature taken for ``renewal_id`` from the station: once
        the card is printed they are not needed there (UU 27/2022, personal data kept no longer than
        its purpose). Idempotent: deleting what is gone is no error. Raises DeviceOffline,
        DeviceTimeout or DeviceFault like any command."""


# ---------------------------------------------------------------- displays and signals
class Signal(StrEnum):
    RED = "red"
    GREEN = "green"
    OFF = "off"


@dataclass(frozen=True)
class DisplayMessage:
    """What one station's display and signal show. Never any personal data beyond the plate."""

    station: str
    signal: Signal
    step: str
    text_id: str
    text_en: str
    plate: str | None = None
    fee: int | None = None
    queue_length: int | None = None
    """At the entry: vehicles waiting before it (None: not shown)."""
    expected_wait: int | None = None
    """At the entry: seconds the first of them should still wait, in whole minutes (None: not shown)."""


class Display(Device, Protocol):
    async def show(self, message: DisplayMessage) -> None: ...


# ---------------------------------------------------------------- licence registry
@dataclass(frozen=True)
class LicenceRecord:
    nik: str
    name: str
    birth_date: date
    sim_number: str
    sim_class: str
    expires: date


@dataclass(frozen=True)
class Certificate:
    kind: str  # "health" | "psychology"
    nik: str
    issued: date
    number: str = ""


@dataclass(frozen=True)
class RegistryAnswer:
    licence: LicenceRecord | None
    certificates: list[Certificate] = field(default_factory=list)


class LicenceRegistry(Protocol):
    async def lookup(self, nik: str, sim_number: str) -> RegistryAnswer:
        """Raises DeviceOffline/DeviceTimeout when the registry is unreachable."""


# ---------------------------------------------------------------- camera / plate
@dataclass(frozen=True)
class PlateRead:
    plate: str | None
    """Normalised (upper case, no spaces), or None when no plate was found."""
    confidence: float
    bbox: tuple[int, int, int, int] | None = None
    ms: float = 0.0
    crop_jpeg: bytes | None = None


class PlateCamera(Protocol):
    """A camera plus the reader: returns the best read over a few frames."""

    name: str

    async def read_plate(self, *, timeout: float) -> PlateRead: ...
