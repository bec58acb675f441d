"""Officer accounts: who may log in to the console and with which role.

Passwords are stored only as argon2 hashes. Roles are fixed by the spec: officer, supervisor,
technician, admin.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlmodel import Field, SQLModel

from lane.persistence.store import Store, utcnow

ROLES = ("officer", "supervisor", "technician", "admin")


class Account(SQLModel, table=True):
    __tablename__ = "accounts"

    username: str = Field(primary_key=True, max_length=64)
    role: str = Field(max_length=16)
    password_hash: str = Field(max_length=200)
    full_name: str | None = Field(default=None, max_length=200)
    disabled: bool = False
    session_version: int = 1
    """Bumped on password change or disable: sessions signed with an older version stop working."""
    created_at: datetime
    updated_at: datetime


class AccountStore:
    """Account reads and writes through the lane store's engine (one short transaction each)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, username: str) -> Account | None:
        with self.store.session() as s:
            return s.get(Account, username)

    def list(self) -> list[Account]:
        with self.store.session() as s:
            return list(s.exec(select(Account).order_by(Account.username)).scalars())

    def save(self, account: Account) -> Account:
        account.updated_at = utcnow()
        with self.store.session() as s:
            merged = s.merge(account)
            s.flush()
            return merged

    def create(self, username: str, role: str, password_hash: str, full_name: str | None = None) -> Account:
        now = utcnow()
        return self.save(Account(username=username, role=role, password_hash=password_hash,
                                 full_name=full_name, created_at=now, updated_at=now))

    def delete(self, username: str) -> bool:
        with self.store.session() as s:
            row = s.get(Account, username)
            if row is None:
                return False
            s.delete(row)
            return True


__all__ = ["ROLES", "Account", "AccountStore"]
