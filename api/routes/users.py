"""Console accounts (admins only). The last active admin cannot be removed, demoted or disabled."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from sqlalchemy.exc import IntegrityError

from api.auditing import audit
from api.auth import ApiRefusal, Auth
from api.deps import AuthDep, StoreDep, UserAdmin, Username
from api.models import AccountOut, UserCreate, UserDeleted, UserUpdate
from lane.persistence.accounts import Account

router = APIRouter(prefix="/api/v1/users", tags=["users"])


def account_json(a: Account) -> dict[str, Any]:
    return {"username": a.username, "role": a.role, "full_name": a.full_name, "disabled": a.disabled,
            "created_at": a.created_at.isoformat()}


def end_sessions(request: Request, auth: Auth, username: str) -> None:
    """Every session of ``username`` ends now: tokens refused, live sockets closed."""
    auth.end_sessions(username)
    request.app.state.live_sockets.end_user(username)


def _other_active_admins(auth: Auth, username: str) -> int:
    return sum(1 for a in auth.accounts.list() if a.role == "admin" and not a.disabled and a.username != username)


@router.get("", response_model=list[AccountOut])
def users(_: UserAdmin, auth: AuthDep) -> list[dict[str, Any]]:
    return [account_json(a) for a in auth.accounts.list()]


@router.post("", status_code=201, response_model=AccountOut, responses={401: {}, 403: {}, 409: {}})
def add_user(body: UserCreate, who: UserAdmin, auth: AuthDep, store: StoreDep) -> dict[str, Any]:
    if auth.accounts.get(body.username) is not None:
        raise ApiRefusal(409, "conflict", f"user {body.username!r} exists")
    try:
        account = auth.accounts.create(body.username, body.role, auth.hash_password(body.password), body.full_name)
    except IntegrityError as exc:
        raise ApiRefusal(409, "conflict", f"user {body.username!r} exists") from exc
    audit(store, who, "user_add", target=body.username, new_role=body.role)
    return account_json(account)


@router.patch("/{username}", response_model=AccountOut, responses={401: {}, 403: {}, 404: {}, 409: {}})
def update_user(request: Request, username: Username, body: UserUpdate, who: UserAdmin, auth: AuthDep,
                store: StoreDep) -> dict[str, Any]:
    """Change an account. A new password, a new role or disabling it ends its sessions at once."""
    account = auth.accounts.get(username)
    if account is None:
        raise HTTPException(404, f"no user {username!r}")
    demoting = account.role == "admin" and ((body.role not in (None, "admin")) or body.disabled)
    if demoting and not _other_active_admins(auth, username):
        raise ApiRefusal(409, "last_admin", "the last admin cannot be demoted or disabled")
    changes: dict[str, Any] = {}
    if body.role is not None:
        changes["role"] = account.role = body.role
    if body.full_name is not None:
        account.full_name = body.full_name
    if body.disabled is not None:
        changes["disabled"] = account.disabled = body.disabled
    if body.password is not None:
        account.password_hash = auth.hash_password(body.password)
        changes["password"] = "changed"
    ends = body.password is not None or bool(body.disabled) or body.role is not None
    if ends:
        account.session_version += 1  # tokens signed before this change stop working
    account = auth.accounts.save(account)
    if ends:
        end_sessions(request, auth, username)
    audit(store, who, "user_update", target=username, **changes)
    return account_json(account)


@router.delete("/{username}", response_model=UserDeleted, responses={401: {}, 403: {}, 404: {}, 409: {}})
def delete_user(request: Request, username: Username, who: UserAdmin, auth: AuthDep,
                store: StoreDep) -> UserDeleted:
    account = auth.accounts.get(username)
    if account is None:
        raise HTTPException(404, f"no user {username!r}")
    if account.role == "admin" and not _other_active_admins(auth, username):
        raise ApiRefusal(409, "last_admin", "the last admin cannot be removed")
    auth.accounts.delete(username)
    end_sessions(request, auth, username)
    audit(store, who, "user_delete", target=username)
    return UserDeleted(ok=True, username=username)
