"""Officer accounts and their console sessions.

Passwords are stored only as argon2 hashes. Roles are fixed by the spec: officer, supervisor,
technician, admin. Every login opens a session row; a token names its session, so logging out (or
disabling the account, changing its password or role) ends the session for good, in every
controller process that shares the database, not only in the browser that asked.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
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
    language: str = Field(default="id", max_length=8)
    """The pages' language for this account: Bahasa Indonesia (``id``) unless the officer chose English."""
    created_at: datetime
    updated_at: datetime


class ConsoleSession(SQLModel, table=True):
    """One login: the token names it, and it ends when revoked or at ``expires_at``."""

    __tablename__ = "console_sessions"

    id: str = Field(primary_key=True, max_length=64)
    username: str = Field(index=True, max_length=64)
    client: str = Field(default="", max_length=64)
    created_at: datetime
    expires_at: datetime = Field(index=True)
    revoked_at: datetime | None = None


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

    # ------------------------------------------------------------ sessions
    def open_session(self, session_id: str, username: str, client: str, seconds: float) -> None:
        """Record a new login; sessions that ended more than a day ago are dropped on the way, so
        the table holds about a day of logins, not every login ever."""
        now = utcnow()
        t = ConsoleSession.__table__
        with self.store.session() as s:
            s.connection().execute(delete(t).where(t.c.expires_at < now - timedelta(days=1)))
            s.add(ConsoleSession(id=session_id, username=username, client=client[:64], created_at=now,
                                 expires_at=now + timedelta(seconds=seconds)))

    def session_account(self, session_id: str, username: str) -> Account | None:
        """The account of a live session (not revoked, not expired, the account still there)."""
        with self.store.session() as s:
            row = s.get(ConsoleSession, session_id)
            if row is None or row.username != username or row.revoked_at is not None:
                return None
            if row.expires_at <= utcnow():
                return None
            return s.get(Account, username)

    def revoke_session(self, session_id: str) -> None:
        t = ConsoleSession.__table__
        with self.store.session() as s:
            s.connection().execute(update(t).where(t.c.id == session_id, t.c.revoked_at.is_(None))
                                   .values(revoked_at=utcnow()))

    def revoke_sessions(self, username: str) -> int:
        """End every session of ``username``; how many were live."""
        t = ConsoleSession.__table__
        with self.store.session() as s:
            return s.connection().execute(update(t).where(t.c.username == username, t.c.revoked_at.is_(None))
                                          .values(revoked_at=utcnow())).rowcount

    def delete(self, username: str) -> bool:
        with self.store.session() as s:
            row = s.get(Account, username)
            if row is None:
                return False
            s.delete(row)
            return True


__all__ = ["ROLES", "Account", "AccountStore", "ConsoleSession"]
