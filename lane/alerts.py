"""What an alert is about, as values: the console (and any other reader) says it in its own language
from these, while the alert's English ``message`` stays for the logs and exports.

An officer at a Bahasa-first site reads "Kunjungan lane-1-...-0003 (G 8641 J) melewati batas waktu
tahap Keluar (2 menit)", not the lane's English sentence with a raw stage code: so each raiser
(budgets, holds, stages, refused messages...) hands over the facts, and the page words them through
the message catalogue. Personal data here is the plate only (``plate``, ``read``), erased with the
visit's (``lane.persistence.retention``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from lane.errors import DeviceError, DeviceOffline, DeviceTimeout, PersistenceError, WatchdogExpired

PLATE_FACTS = ("plate", "read", "old_plate")
"""The facts (and stage notes' values, ``lane.notes``) that name a vehicle: erased after
``personal_data_days`` like the visit's plate."""


class AlertFacts(BaseModel):
    """The values an alert's text is made of; which ones an alert carries depends on its kind."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    plate: str | None = Field(None, description="the visit's plate when the alert was raised (null: none yet)")
    stage: str | None = Field(None, description="the stage code (stage_over_budget): queued, arriving, ... exiting")
    minutes: float | None = Field(None, description="the budget that was passed, in minutes")
    device: str | None = Field(None, description="the device or step at fault: entry-gate, card-printer-2, payment...")
    fault: str | None = Field(None, description="the device's fault code (paper_out, ribbon_out...) or the watchdog's")
    seconds: float | None = Field(None, description="a watchdog's limit, in seconds")
    reason: str | None = Field(None, description="why a device message was refused (unsolicited, malformed...)")
    count: int | None = Field(None, description="how many refused so far (message_refused)")
    read: str | None = Field(None, description="the plate a camera read (null: nothing read)")
    outcome: str | None = Field(None, description="the payment terminal's answer (failed, cancelled)")
    missing: list[str] | None = Field(None, description="the card data a card cannot be printed without")
    step: str | None = Field(None, description="what waits for the database (a side effect's kind: card_job...)")
    error: str | None = Field(None, description="a technical detail, shown as is (an exception's name)")

    def stored(self) -> dict[str, Any]:
        """As the alerts table keeps them: only the facts given, texts cut to ``TEXT_LIMIT`` without NUL
        (a device's fault code comes from outside; a record must never fail on it)."""
        return {k: _clean(v) for k, v in self.model_dump(mode="json", exclude_none=True).items()}


TEXT_LIMIT = 120


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "")[:TEXT_LIMIT]
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def fault_facts(device: str, exc: Exception) -> AlertFacts:
    """A held step's alert (``lane.holds``): the device and its fault code, or what the watchdog missed."""
    if isinstance(exc, WatchdogExpired):
        return AlertFacts(device=device, fault=exc.code, seconds=round(exc.seconds))
    fault = getattr(exc, "fault", None) if isinstance(exc, DeviceError) else None
    if not fault:
        fault = ("offline" if isinstance(exc, DeviceOffline) else "timeout" if isinstance(exc, DeviceTimeout)
                 else "database" if isinstance(exc, PersistenceError) else "error")
    return AlertFacts(device=device, fault=fault)
