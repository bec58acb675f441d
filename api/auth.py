"""Officer authentication and authorisation for the console and the API.

- Passwords: argon2id (argon2-cffi), rehashed on login when the parameters change.
- Sessions: a signed, timestamped token (itsdangerous) naming the account, its session version, its
  session (a row the server keeps: logout and account changes end it for good) and a CSRF token. Browsers carry it in an HttpOnly SameSite=Strict cookie and must echo the CSRF token
  (double submit: readable ``lajur_csrf`` cookie -> ``X-CSRF-Token`` header) on every mutating call;
  API clients send the same token as ``Authorization: Bearer``, which needs no CSRF header.
- Every check fails with 401 (who are you?) or 403 (not allowed) and a JSON reason, never a 500.
"""

from __future__ import annotations

import hmac
import logging
import math
import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from fastapi import Request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from lane.errors import ConfigError
from lane.persistence import Store
from lane.persistence.accounts import ROLES, Account, AccountStore

log = logging.getLogger(__name__)

SESSION_COOKIE = "lajur_session"
CSRF_COOKIE = "lajur_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SESSION_SECONDS = 12 * 3600  # one working day plus overtime

# What each role may do. ``admin`` may do everything (it is the site's superuser).
PERMISSIONS: dict[str, frozenset[str]] = {
    "visit_action": frozenset({"officer", "supervisor", "admin"}),
    "decision_approve": frozenset({"supervisor", "admin"}),  # never the officer who proposed it (lane rule)
    "gate_override": frozenset({"officer", "supervisor", "admin"}),  # technicians: device test commands
    "alert_ack": frozenset({"officer", "supervisor", "admin"}),
    "device_test": frozenset({"technician", "admin"}),
    "fault_inject": frozenset({"technician", "admin"}),
    "user_admin": frozenset({"admin"}),
}
UNMASK_ROLES = frozenset({"supervisor"})
"""Only supervisors see a driver's NIK and name in full."""


class ApiRefusal(Exception):
    """A refusal with an HTTP status and a machine-readable reason (rendered as JSON)."""

    def __init__(self, status: int, reason: str, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.reason = reason
        self.detail = detail
        self.headers = headers or {}


@dataclass(frozen=True)
class Principal:
    username: str
    role: str
    via: str  # cookie | bearer
    csrf: str
    session_id: str = ""

    @property
    def sees_personal_data(self) -> bool:
        return self.role in UNMASK_ROLES


@dataclass
class _Failures:
    count: int = 0
    last: float = 0.0
    blocked_until: float = 0.0


class LoginLimiter:
    """Failed logins, throttled per (account, client address) and per client address, with a
    back-off that grows with each failure past the free tries.

    Nobody can lock an officer out: failures from one address slow down only that address (for
    that account, and for every account once it has guessed at many), never the officer at their
    own terminal. The table is bounded: entries expire ``window`` seconds after their last failure,
    and past ``capacity`` the entry that failed longest ago goes first (a busy attacker's own
    entries stay, being the most recent). Thread-safe: logins run in FastAPI's worker threads."""

    def __init__(self, per_user: int = 5, per_client: int = 20, window: float = 900.0, max_wait: float = 300.0,
                 capacity: int = 10_000, now: Callable[[], float] = time.monotonic) -> None:
        self.per_user, self.per_client, self.window, self.max_wait = per_user, per_client, window, max_wait
        self.capacity, self.now = capacity, now
        self._fails: OrderedDict[str, _Failures] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._fails)

    @staticmethod
    def _keys(username: str, client: str) -> tuple[str, str]:
        return f"u:{client}\x00{username.lower()}", f"c:{client}"

    def _expire(self, now: float) -> None:
        while self._fails:
            entry = next(iter(self._fails.values()))
            if entry.last + self.window > now and len(self._fails) <= self.capacity:
                return
            self._fails.popitem(last=False)

    def retry_after(self, username: str, client: str) -> int:
        """Seconds this client must wait before trying this account again (0: try now)."""
        with self._lock:
            now = self.now()
            self._expire(now)
            waits = [e.blocked_until - now for k in self._keys(username, client) if (e := self._fails.get(k))]
            return max(0, math.ceil(max(waits, default=0.0)))

    def failed(self, username: str, client: str) -> None:
        with self._lock:
            now = self.now()
            for key, free in zip(self._keys(username, client), (self.per_user, self.per_client), strict=True):
                entry = self._fails.pop(key, None) or _Failures()
                entry.count += 1
                entry.last = now
                if entry.count >= free:
                    entry.blocked_until = now + min(self.max_wait, 2.0 ** (entry.count - free + 1))
                self._fails[key] = entry  # now the most recent
            self._expire(now)

    def succeeded(self, username: str, client: str) -> None:
        with self._lock:
            self._fails.pop(self._keys(username, client)[0], None)


class Auth:
    def __init__(self, store: Store, secret: str | None = None, *, limiter: LoginLimiter | None = None,
                 session_seconds: int = SESSION_SECONDS, hasher: PasswordHasher | None = None) -> None:
        self.accounts = AccountStore(store)
        self.hasher = hasher or PasswordHasher()
        secret = secret or secrets.token_urlsafe(32)  # the settings' secret_key, else one per process
        self.serializer = URLSafeTimedSerializer(secret, salt="lajur-session")
        self.limiter = limiter or LoginLimiter()
        self.session_seconds = session_seconds
        self._dummy: str | None = None

    @property
    def _dummy_hash(self) -> str:
        if self._dummy is None:
            self._dummy = self.hasher.hash(secrets.token_urlsafe(16))
        return self._dummy

    # ------------------------------------------------------------ passwords
    def hash_password(self, password: str) -> str:
        return self.hasher.hash(password)

    def check_password(self, username: str, password: str) -> Account | None:
        account = self.accounts.get(username)
        if account is None or account.disabled:
            # Same work either way, so response time does not tell which usernames exist.
            try:
                self.hasher.verify(self._dummy_hash, password)
            except VerificationError:
                pass
            return None
        try:
            self.hasher.verify(account.password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if self.hasher.check_needs_rehash(account.password_hash):
            account.password_hash = self.hash_password(password)
            account = self.accounts.save(account)
        return account

    # ------------------------------------------------------------ sessions
    def issue(self, account: Account, client: str = "") -> tuple[str, str]:
        """A new session (recorded, so it can be ended) and its token and CSRF token."""
        csrf = secrets.token_urlsafe(24)
        session_id = secrets.token_urlsafe(18)
        self.accounts.open_session(session_id, account.username, client, self.session_seconds)
        token = self.serializer.dumps({"u": account.username, "v": account.session_version, "c": csrf,
                                       "s": session_id})
        return token, csrf

    def principal(self, token: str, via: str) -> Principal | None:
        """Who holds this token: None when it is forged, expired, logged out, or its account was
        disabled, removed or changed since."""
        try:
            data = self.serializer.loads(token, max_age=self.session_seconds)
        except BadSignature:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("u"), str) or not isinstance(data.get("s"), str):
            return None
        account = self.accounts.session_account(data["s"], data["u"])
        if account is None or account.disabled or account.session_version != data.get("v"):
            return None
        return Principal(account.username, account.role, via, str(data.get("c", "")), data["s"])

    def end_session(self, who: Principal) -> None:
        self.accounts.revoke_session(who.session_id)

    def end_sessions(self, username: str) -> int:
        return self.accounts.revoke_sessions(username)

    def authenticate(self, request: Request) -> Principal | None:
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            return self.principal(header[7:].strip(), "bearer")
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            return self.principal(cookie, "cookie")
        return None

    def require(self, request: Request, permission: str | None = None) -> Principal:
        """The caller, or an ApiRefusal: 401 when anonymous, 403 on a wrong role or a missing CSRF token."""
        who = self.authenticate(request)
        if who is None:
            raise ApiRefusal(401, "not_authenticated", "log in first (session cookie or bearer token)",
                             {"WWW-Authenticate": "Bearer"})
        if permission is not None:
            allowed = PERMISSIONS[permission]
            if who.role not in allowed:
                raise ApiRefusal(403, "forbidden_role",
                                 f"role {who.role!r} may not do this ({permission}); allowed: "
                                 f"{', '.join(sorted(allowed))}")
        if who.via == "cookie" and request.method not in SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER, "")
            if not sent or not hmac.compare_digest(sent, who.csrf):
                raise ApiRefusal(403, "csrf", f"missing or wrong {CSRF_HEADER} header for a cookie session")
        return who


def secret_from_file(path: Path) -> str:
    """The console's signing key kept in ``path``: read it, or create it once (private to this
    user: 0600 in a 0700 directory) so a restart keeps everyone's session. Used when
    ``LAJUR_SECRET_KEY`` is not set."""
    path = Path(path)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            if path.stat().st_mode & 0o077:
                log.warning("%s was readable by others; made private (0600)", path)
                path.chmod(0o600)
            key = path.read_text(encoding="ascii").strip()
            if len(key) < 32:
                raise ConfigError(f"{path}: the console's secret key is too short (32 characters or more); "
                                  "remove the file to make a new one (everyone logs in again)") from None
            log.warning("console sessions are signed with the key in %s (LAJUR_SECRET_KEY is not set)", path)
            return key
        key = secrets.token_urlsafe(48)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(key + "\n")
    except OSError as exc:
        raise ConfigError(f"cannot keep the console's secret key in {path}: {exc.strerror or exc}") from exc
    log.warning("console sessions are signed with a new key kept in %s (LAJUR_SECRET_KEY is not set)", path)
    return key


def validate_role(role: str) -> str:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    return role


__all__ = ["PERMISSIONS", "ROLES", "ApiRefusal", "Auth", "LoginLimiter", "Principal", "secret_from_file",
           "validate_role"]
