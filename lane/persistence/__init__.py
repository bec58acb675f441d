"""Persistence: SQLModel tables, the store the controller writes through, Alembic migrations."""

from lane.persistence.models import (
    AlertRow,
    AuditEntry,
    CardBlank,
    DeviceEventRow,
    LaneRow,
    OfficerAction,
    SideEffect,
    StageTransition,
    VisitRow,
)
from lane.persistence.store import Store, upgrade_database

__all__ = [
    "AlertRow",
    "AuditEntry",
    "CardBlank",
    "DeviceEventRow",
    "LaneRow",
    "OfficerAction",
    "SideEffect",
    "StageTransition",
    "Store",
    "VisitRow",
    "upgrade_database",
]
