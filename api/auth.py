"""Officer authentication and authorisation for the console and the API.

- Passwords: argon2id (argon2-cffi), rehashed on login when the parameters change.
- Sessions: a signed, timestamped token (itsdangerous) naming the account, its session version and a
  CSRF token. Browsers carry it in an HttpOnly SameSite=Strict cookie and must echo the CSRF token
  (double submit: readable ``lajur_csrf`` cookie -> ``X-CSRF-Token`` header) on every mutating call;
  API clients send the same token as ``Authorization: Bearer``, which needs no CSRF header.
- Every check fails with 401 (who are you?) or 403 (not allowed) and a JSON reason, never a 500.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from fastapi import Request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from lane.persistence import Store
from lane.persistence.accounts import ROLES, Account, AccountStore

SESSION_COOKIE = "lajur_session"
CSRF_COOKIE = "lajur_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SESSION_SECONDS = 12 * 3600  # one working day plus overtime

# What each role may do. ``admin`` may do everything (it is the site's superuser).
PERMISSIONS: dict[str, frozenset[str]] = {
    "visit_action": frozenset({"officer", "supervisor", "admin"}),
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

    @property
    def sees_personal_data(self) -> bool:
        return self.role in UNMASK_ROLES


class LoginLimiter:
    """Failed logins per username and per client address in a sliding window (thread-safe: the API
    may run in a worker thread)."""

    def __init__(self, per_user: int = 5, per_client: int = 20, window: float = 300.0,
                 now: Callable[[], float] = time.monotonic) -> None:
        self.per_user, self.per_client, self.window, self.now = per_user, per_client, window, now
        self._fails: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str) -> deque[float]:
        q = self._fails.setdefault(key, deque())
        cutoff = self.now() - self.window
        while q and q[0] < cutoff:
            q.popleft()
        return q

    def retry_after(self, username: str, client: str) -> int:
        """Seconds to wait, or 0 when a login attempt is allowed now."""
        with self._lock:
            waits = []
            for key, limit in ((f"u:{username.lower()}", self.per_user), (f"c:{client}", self.per_client)):
                q = self._recent(key)
                if len(q) >= limit:
                    waits.append(int(q[0] + self.window - self.now()) + 1)
            return max(waits, default=0)

    def failed(self, username: str, client: str) -> None:
        with self._lock:
            t = self.now()
            self._recent(f"u:{username.lower()}").append(t)
            self._recent(f"c:{client}").append(t)

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._fails.pop(f"u:{username.lower()}", None)


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
    def issue(self, account: Account) -> tuple[str, str]:
        """A session token and its CSRF token."""
        csrf = secrets.token_urlsafe(24)
        token = self.serializer.dumps({"u": account.username, "v": account.session_version, "c": csrf})
        return token, csrf

    def principal(self, token: str, via: str) -> Principal | None:
        try:
            data = self.serializer.loads(token, max_age=self.session_seconds)
        except BadSignature:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("u"), str):
            return None
        account = self.accounts.get(data["u"])
        if account is None or account.disabled or account.session_version != data.get("v"):
            return None
        return Principal(account.username, account.role, via, str(data.get("c", "")))

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


def validate_role(role: str) -> str:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    return role


__all__ = ["PERMISSIONS", "ROLES", "ApiRefusal", "Auth", "LoginLimiter", "Principal", "validate_role"]
