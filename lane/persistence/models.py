"""Tables. Times are timezone-aware UTC; ``sim_*`` columns hold
simulated seconds from the lane clock, so stage durations survive a speeded-up demo."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, Table, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def fit(table: Table, values: dict[str, Any]) -> dict[str, Any]:
    """Text values made storable in their columns: cut to the column's length, without the NUL
    PostgreSQL cannot hold and without lone surrogates UTF-8 cannot encode. Our own records (a held
    reason quoting a device's error, an alert) must never be what makes a write fail; what comes from
    outside was checked where it came in (``lane.rules.check_text``)."""
    out = dict(values)
    for name, value in values.items():
        if not isinstance(value, str):
            continue
        col = table.c.get(name)
        length = getattr(col.type, "length", None) if col is not None else None
        clean = value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
        out[name] = clean[:length] if length else clean
    return out



class LaneRow(SQLModel, table=True):
    __tablename__ = "lanes"

    name: str = Field(primary_key=True, max_length=32)
    site: str = Field(max_length=64)
    owner: str | None = Field(default=None, max_length=128)
    """Controller instance holding the lease on this lane (many-lane deployments)."""
    lease_until: datetime | None = None
    created_at: datetime


class VisitRow(SQLModel, table=True):
    __tablename__ = "visits"
    __table_args__ = (UniqueConstraint("lane", "seq"),)

    id: str = Field(primary_key=True, max_length=64)
    lane: str = Field(index=True, max_length=32)
    seq: int
    plate: str | None = Field(default=None, max_length=16, index=True)
    plate_confidence: float | None = None
    stage: str = Field(max_length=32, index=True)
    outcome: str | None = Field(default=None, max_length=16)
    reason: str | None = Field(default=None, max_length=200)
    held: str | None = Field(default=None, max_length=200)
    nik: str | None = Field(default=None, max_length=16)
    holder_name: str | None = Field(default=None, max_length=200)
    sim_number: str | None = Field(default=None, max_length=16)
    sim_class: str | None = Field(default=None, max_length=4)
    fee: int | None = None
    payment_reference: str | None = Field(default=None, max_length=80)
    paid: bool = False
    new_expiry: str | None = Field(default=None, max_length=10)
    started_at: datetime = Field(index=True)
    ended_at: datetime | None = Field(default=None, index=True)
    sim_started: float = 0.0
    sim_ended: float | None = None
    stage_seconds: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    updated_at: datetime
    status_token: str | None = Field(default=None, max_length=32, index=True, unique=True)
    """The driver's status page (``/s/<token>``, the QR on the receipt): unguessable, no login, no
    personal data; it stops answering a while after the visit ended (``status_link_minutes``)."""
    purged_at: datetime | None = None
    """When its personal data (NIK, name, SIM number, plate) were erased (``personal_data_days`` after
    it ended): what is left are anonymised figures, which the reports still count."""
    photo_ref: str | None = Field(default=None, max_length=200)
    """The biometric station's references to what it captured (not the images): printed on and encoded
    in the card, so kept until the card is out and a reprint could still need them."""
    signature_ref: str | None = Field(default=None, max_length=200)
    fingerprint_ref: str | None = Field(default=None, max_length=200)


class StageTransition(SQLModel, table=True):
    __tablename__ = "stage_transitions"

    id: int | None = Field(default=None, primary_key=True)
    visit_id: str = Field(index=True, max_length=64)
    from_stage: str | None = Field(default=None, max_length=32)
    to_stage: str = Field(max_length=32)
    at: datetime
    sim_at: float
    note: str | None = Field(default=None, max_length=200)
    note_facts: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    """The note's message id and values (``lane.notes.Note``), for a page to say it in its language."""


class SideEffect(SQLModel, table=True):
    """A commanded side effect, written *before* it is commanded: the idempotency record that
    tells a restarted controller what it already asked the hardware to do."""

    __tablename__ = "side_effects"

    key: str = Field(primary_key=True, max_length=120)
    visit_id: str | None = Field(default=None, index=True, max_length=64)
    lane: str = Field(max_length=32)
    kind: str = Field(max_length=32)
    status: str = Field(max_length=16)  # intended | done | failed
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime
    updated_at: datetime


class DeviceEventRow(SQLModel, table=True):
    __tablename__ = "device_events"

    id: int | None = Field(default=None, primary_key=True)
    lane: str = Field(index=True, max_length=32)
    device: str = Field(max_length=32)
    kind: str = Field(max_length=32)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    at: datetime = Field(index=True)


class AlertRow(SQLModel, table=True):
    """Something an officer should look at. One per visit (or lane), kind and cause while it lasts:
    raised once, ``cleared_at`` set when its cause ends (the stage left, the device back, the visit
    gone), acknowledged by an officer independently."""

    __tablename__ = "alerts"

    id: int | None = Field(default=None, primary_key=True)
    lane: str = Field(index=True, max_length=32)
    visit_id: str | None = Field(default=None, max_length=64)
    kind: str = Field(max_length=64)
    cause: str | None = Field(default=None, max_length=64)
    """What within the kind: the stage over budget, the device at fault (None: the kind says it all)."""
    level: str = Field(max_length=16)  # warning | critical
    message: str = Field(max_length=300)
    """The alert in English, whole (logs, exports); pages say it from ``facts`` in their language."""
    facts: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    """What the alert is about, as values (``lane.alerts.AlertFacts``): the stage, the device, the plate,
    minutes, a reason code... None: an alert from before these were kept (the message is all)."""
    at: datetime = Field(index=True)
    acknowledged_by: str | None = Field(default=None, max_length=64)
    acknowledged_at: datetime | None = None
    cleared_at: datetime | None = Field(default=None, index=True)


class AuditEntry(SQLModel, table=True):
    """Every officer action and every override: who, when, what, why."""

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(index=True)
    actor: str = Field(max_length=64)
    role: str = Field(max_length=16)
    action: str = Field(max_length=64)
    lane: str | None = Field(default=None, max_length=32)
    visit_id: str | None = Field(default=None, max_length=64)
    reason: str | None = Field(default=None, max_length=300)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class OfficerAction(SQLModel, table=True):
    """An officer's action on a visit, kept until the workflow has taken it: the console answered
    "ok" to the officer, so a controller that dies before acting on it must act on it after the
    restart, not make the officer press again."""

    __tablename__ = "officer_actions"

    id: int | None = Field(default=None, primary_key=True)
    lane: str = Field(index=True, max_length=32)
    visit_id: str = Field(index=True, max_length=64)
    action: str = Field(max_length=32)
    params: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    actor: str = Field(max_length=64)
    role: str = Field(default="", max_length=16)
    """The actor's role when the action was accepted (an approval kept over a restart is checked again)."""
    at: datetime
    taken_at: datetime | None = None
    """When the workflow acted on it (or set it aside); None while it waits."""


class CardBlank(SQLModel, table=True):
    """The blank log: every card blank a job was given, by serial. A blank is ``issued`` to a job before
    the job is sent, ``printed`` when the card came out, ``spoiled`` when the officer had it reprinted
    (with the reason and who said so): the site accounts for every blank it was sent."""

    __tablename__ = "card_blanks"
    id: int | None = Field(default=None, primary_key=True)
    serial: str = Field(max_length=32, unique=True, index=True)
    job_key: str = Field(max_length=120, unique=True, index=True)
    """The card job's side-effect key: a job asked again (a retry, a restart) keeps its blank."""
    lane: str = Field(max_length=32)
    visit_id: str = Field(max_length=64, index=True)
    card_copy: int
    """The renewal's copy this blank went to (1: the first card; 2, 3...: reprints)."""
    printer: str = Field(max_length=32)
    status: str = Field(max_length=16)  # issued | printed | spoiled
    reason: str | None = Field(default=None, max_length=300)
    spoiled_by: str | None = Field(default=None, max_length=64)
    issued_at: datetime = Field(index=True)
    updated_at: datetime
