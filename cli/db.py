"""``lajur db backup`` and ``lajur db restore``: a site's database to a file and back (docs/recovery.md);
``lajur db purge``: personal data erased after ``personal_data_days`` (docs/security.md).

PostgreSQL goes through its own tools: ``pg_dump --format=custom`` (compressed, consistent while the
controllers write) and ``pg_restore`` in one transaction (a restore that fails leaves the database
as it was). SQLite uses its online backup, which copies a consistent database while a controller
writes to it (WAL included). A backup is written beside its final name and renamed when complete,
so a file named ``lajur-*.dump`` is never half a backup; ``--keep N`` removes the oldest beyond N.

A restore refuses a database that already holds a site unless told ``--replace``, and brings the
schema up to date afterwards (a backup from an older version is upgraded, as ``serve`` would).
Passwords never appear on a command line or in output: they reach ``pg_dump`` in its environment.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import make_url

from lane.errors import ConfigError, LajurError, PersistenceError
from lane.settings import Settings

SUFFIX = {"postgresql": ".dump", "sqlite": ".sqlite"}


def _kind(url: str) -> str:
    backend = make_url(url).get_backend_name()
    if backend not in SUFFIX:
        raise ConfigError(f"backups are made of PostgreSQL or SQLite databases, not {backend}")
    return backend


def shown(url: str) -> str:
    """The URL as it may be printed: without its password."""
    return make_url(url).render_as_string(hide_password=True)


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq connection URI for PostgreSQL's tools, and the environment carrying the password."""
    u = make_url(url)
    env = {**os.environ}
    if u.password:
        env["PGPASSWORD"] = str(u.password)
    uri = u.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    return uri, env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise ConfigError(f"{name} not found: install PostgreSQL's client tools (Debian: postgresql-client)")
    return found


def _run(argv: list[str], env: dict[str, str], what: str) -> None:
    proc = subprocess.run(argv, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise PersistenceError(f"{what} failed: {proc.stderr.strip()[-800:] or f'exit {proc.returncode}'}")


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise ConfigError("an in-memory SQLite database cannot be backed up")
    return Path(database)


def _sqlite_copy(source: Path, target: Path) -> None:
    """SQLite's online backup: a consistent copy even while another process writes the source."""
    with contextlib.closing(sqlite3.connect(source)) as src, contextlib.closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


def backup(url: str, directory: Path, keep: int | None = None) -> Path:
    """Write a backup of the database at ``url`` into ``directory``; returns its path."""
    kind = _kind(url)
    directory.mkdir(parents=True, exist_ok=True)
    name = make_url(url).database or "lajur"
    stem = f"lajur-{Path(name).stem}"
    final = directory / f"{stem}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}{SUFFIX[kind]}"
    partial = final.with_name(final.name + ".partial")
    try:
        if kind == "postgresql":
            uri, env = _libpq(url)
            _run([_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges", f"--file={partial}",
                  f"--dbname={uri}"], env, "pg_dump")
        else:
            source = _sqlite_path(url)
            if not source.exists():
                raise ConfigError(f"no SQLite database at {source}")
            _sqlite_copy(source, partial)
        partial.chmod(0o600)  # visits, names and NIKs: readable by the site's operator only
        partial.rename(final)
    finally:
        partial.unlink(missing_ok=True)
    if keep is not None:
        for old in sorted(directory.glob(f"{stem}-*{SUFFIX[kind]}"))[:-keep]:
            old.unlink()
    return final


def _holds_a_site(url: str) -> bool:
    engine = create_engine(url)
    try:
        return bool(set(inspect(engine).get_table_names()) & {"alembic_version", "visits", "lanes"})
    finally:
        engine.dispose()


def restore(path: Path, url: str, *, replace: bool = False) -> None:
    """Restore the backup at ``path`` into the database at ``url`` (which must exist for PostgreSQL)."""
    from lane.persistence import upgrade_database

    kind = _kind(url)
    if not path.is_file():
        raise ConfigError(f"no backup at {path}")
    if path.suffix != SUFFIX[kind]:
        raise ConfigError(f"{path.name} is not a {kind} backup (expected a {SUFFIX[kind]} file)")
    if kind == "postgresql":
        if _holds_a_site(url) and not replace:
            raise ConfigError(f"{shown(url)} already holds a site; stop its controllers and add --replace to "
                              "overwrite it")
        uri, env = _libpq(url)
        _run([_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--no-privileges", "--exit-on-error",
              "--single-transaction", f"--dbname={uri}", str(path)], env, "pg_restore")
    else:
        target = _sqlite_path(url)
        if target.exists() and not replace:
            raise ConfigError(f"{target} exists; stop its controllers and add --replace to overwrite it")
        target.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        _sqlite_copy(path, target)
    upgrade_database(url)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    b = sub.add_parser("backup", help="write a backup of the site's database into a directory",
                       description="Back up the site's database (PostgreSQL: pg_dump custom format; SQLite: "
                                   "online backup) into DIR as lajur-<database>-<UTC time>.dump|.sqlite.")
    b.add_argument("--config", default=None, help="the site's TOML (its database_url)")
    b.add_argument("--url", default=None, help="database URL (default: settings / LAJUR_DATABASE_URL)")
    b.add_argument("--dir", required=True, help="directory of the backups")
    b.add_argument("--keep", type=int, default=None, help="keep only the newest N backups of this database")
    r = sub.add_parser("restore", help="restore a backup into the site's database",
                       description="Restore a backup written by `lajur db backup`, then upgrade the schema. "
                                   "Stop the site's controllers first.")
    r.add_argument("backup", help="the .dump (PostgreSQL) or .sqlite file")
    r.add_argument("--config", default=None, help="the site's TOML (its database_url)")
    r.add_argument("--url", default=None, help="database URL (default: settings / LAJUR_DATABASE_URL)")
    r.add_argument("--replace", action="store_true", help="overwrite a database that already holds a site")
    p = sub.add_parser("purge", help="erase personal data of visits older than personal_data_days",
                       description="Erase the NIK, name, SIM number and plate of every visit that ended more "
                                   "than personal_data_days ago (default 30), keeping anonymised figures for "
                                   "the reports. The controller does it every hour by itself; this is for a "
                                   "site that wants it now, or has no controller running.")
    p.add_argument("--config", default=None, help="the site's TOML (its database_url, personal_data_days)")
    p.add_argument("--url", default=None, help="database URL (default: settings / LAJUR_DATABASE_URL)")
    p.add_argument("--days", type=_days, default=None, help="override personal_data_days for this run")


def _days(text: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from exc
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return value


def purge(url: str, settings: Settings) -> int:
    """Erase what ``personal_data_days`` says must go, now; how many visits were anonymised (audited)."""
    from lane.persistence import Store, upgrade_database
    from lane.privacy import purge_once

    upgrade_database(url)
    store = Store(url)
    try:
        n = purge_once(store, datetime.now(UTC), settings)
        if n:
            store.audit(actor="cli", role="cli", action="purge_personal_data",
                        detail={"visits": n, "days": settings.personal_data_days})
        return n
    finally:
        store.close()


def db_main(args: argparse.Namespace) -> int:
    from lane.persistence import upgrade_database
    from lane.settings import load_settings

    settings = load_settings(args.config, personal_data_days=getattr(args, "days", None))
    url = args.url or settings.database_url
    if args.db_cmd == "upgrade":
        upgrade_database(url)
        print(f"database at {shown(url)} is up to date")
    elif args.db_cmd == "backup":
        if args.keep is not None and args.keep < 1:
            raise ConfigError("--keep must be 1 or more")
        path = backup(url, Path(args.dir), args.keep)
        print(f"backup of {shown(url)} written to {path} ({path.stat().st_size} bytes)")
    elif args.db_cmd == "restore":
        restore(Path(args.backup), url, replace=args.replace)
        print(f"{args.backup} restored into {shown(url)}; schema up to date")
    elif args.db_cmd == "purge":
        n = purge(url, settings)
        print(f"personal data of {n} visits that ended more than {settings.personal_data_days:g} days ago erased "
              "(anonymised figures kept)")
    else:  # pragma: no cover - argparse allows only these
        raise LajurError(f"unknown db command {args.db_cmd}")
    return 0
