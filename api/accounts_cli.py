"""``lajur user add --role ROLE USERNAME``: create or reset an officer account, and the demo's accounts."""

from __future__ import annotations

import argparse
import getpass
import os
import secrets
import sys

from api.auth import Auth
from lane.errors import LajurError
from lane.persistence import Store, upgrade_database
from lane.persistence.accounts import ROLES, AccountStore

MIN_PASSWORD = 8


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lajur user add", description="Create an officer account (or, with "
                                "--reset, set a new password and role for an existing one).")
    p.add_argument("username")
    p.add_argument("--role", required=True, choices=ROLES)
    p.add_argument("--password", default=None,
                   help="the password (default: $LAJUR_PASSWORD, else asked for twice on the terminal)")
    p.add_argument("--full-name", default=None)
    p.add_argument("--reset", action="store_true", help="update the account if it exists")
    p.add_argument("--config", default=None, help="TOML settings file")
    p.add_argument("--url", default=None, help="database URL (default: settings / LAJUR_DATABASE_URL)")
    return p


def _password(args: argparse.Namespace) -> str:
    if args.password:
        return str(args.password)
    if os.environ.get("LAJUR_PASSWORD"):
        return os.environ["LAJUR_PASSWORD"]
    if not sys.stdin.isatty():
        raise LajurError("no password: use --password, LAJUR_PASSWORD, or run on a terminal")
    first = getpass.getpass(f"password for {args.username}: ")
    if getpass.getpass("again: ") != first:
        raise LajurError("the passwords differ")
    return first


def add_user(store: Store, username: str, role: str, password: str, *, full_name: str | None = None,
             reset: bool = False, auth: Auth | None = None) -> str:
    """Create (or with ``reset`` update) an account; returns 'created' or 'updated'. Audited."""
    if role not in ROLES:
        raise LajurError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD:
        raise LajurError(f"the password needs at least {MIN_PASSWORD} characters")
    auth = auth or Auth(store, secret="cli")
    accounts = AccountStore(store)
    existing = accounts.get(username)
    if existing is not None and not reset:
        raise LajurError(f"user {username!r} exists (use --reset to change it)")
    if existing is None:
        accounts.create(username, role, auth.hash_password(password), full_name)
        what = "created"
    else:
        existing.role = role
        existing.password_hash = auth.hash_password(password)
        existing.session_version += 1
        existing.disabled = False
        if full_name:
            existing.full_name = full_name
        accounts.save(existing)
        what = "updated"
    store.audit(actor=getpass.getuser() if hasattr(os, "getuid") else "cli", role="cli", action=f"user_{what}",
                detail={"target": username, "role": role})
    return what


def user_add_main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        from lane.settings import load_settings

        url = args.url or load_settings(args.config).database_url
        upgrade_database(url)
        store = Store(url)
        try:
            what = add_user(store, args.username, args.role, _password(args), full_name=args.full_name,
                            reset=args.reset)
        finally:
            store.close()
    except LajurError as exc:
        print(f"lajur: error: {exc}", file=sys.stderr)
        return 2
    print(f"user {args.username} ({args.role}) {what}")
    return 0


DEMO_USERS = (("officer", "officer"), ("supervisor", "supervisor"), ("technician", "technician"),
              ("admin", "admin"))


def ensure_demo_accounts(store: Store, password: str | None = None) -> dict[str, str]:
    """Demo accounts (one per role, same fresh password unless ``password``: the ``demo_password``
    setting, LAJUR_DEMO_PASSWORD); returns {username: password}. Existing accounts get the new password."""
    password = password or f"demo-{secrets.token_hex(3)}"
    for username, role in DEMO_USERS:
        add_user(store, username, role, password, full_name=f"Demo {role}", reset=True)
    return {u: password for u, _ in DEMO_USERS}


def ensure_demo_account(store: Store, out: object = None, password: str | None = None) -> dict[str, str]:
    """What ``lajur demo`` calls: create the demo accounts and print how to log in."""
    creds = ensure_demo_accounts(store, password)
    stream = out or sys.stdout
    pw = creds["officer"]
    print(f"demo login: officer / {pw}   (also supervisor, technician, admin with the same password)",
          file=stream, flush=True)  # type: ignore[call-overload]
    return creds
