"""Backups a site can restore: ``lajur db backup`` of a database that served a lane, ``lajur db restore``
into an empty one, and a controller on the restored database serving the lane again, with what it
had done before (the visit's number continues). PostgreSQL through pg_dump/pg_restore; SQLite through its online backup."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from api.accounts_cli import add_user
from cli.db import backup as make_backup
from cli.db import restore
from lane.errors import ConfigError
from lane.persistence import Store, upgrade_database
from tests.fixtures.db import PG_URL
from tests.lane.test_lane_end_to_end import running_lane

ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def _postgres_databases() -> Iterator[tuple[str, str]]:
    if not PG_URL:
        pytest.skip("PostgreSQL backups need LAJUR_TEST_POSTGRES_URL")
    if not (shutil.which("pg_dump") and shutil.which("pg_restore")):
        pytest.skip("pg_dump/pg_restore not installed")
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    names = [f"lajur_test_{uuid.uuid4().hex[:10]}" for _ in range(2)]
    with admin.connect() as conn:
        for name in names:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        a, b = (make_url(PG_URL).set(database=n).render_as_string(hide_password=False) for n in names)
        yield a, b
    finally:
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _lajur(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lane", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**os.environ})


@pytest.mark.postgres
async def test_a_restored_postgresql_backup_serves_the_lane_and_keeps_its_visits(mqtt_broker, tmp_path):
    with _postgres_databases() as (site_db, restored_db):
        (tmp_path / "before").mkdir()
        async with running_lane(mqtt_broker.url, tmp_path / "before", database_url=site_db) as lane:
            [first] = await lane.run(lane.driver())

        made = _lajur("db", "backup", "--url", site_db, "--dir", str(tmp_path / "backups"), "--keep", "2")
        assert made.returncode == 0, made.stderr
        [backup] = list((tmp_path / "backups").iterdir())
        assert backup.suffix == ".dump"
        assert oct(backup.stat().st_mode & 0o777) == "0o600"

        restored = _lajur("db", "restore", str(backup), "--url", restored_db)
        assert restored.returncode == 0, restored.stderr
        with pytest.raises(ConfigError, match="--replace"):  # it holds a site now: not overwritten unasked
            restore(backup, restored_db)

        (tmp_path / "after").mkdir()
        async with running_lane(mqtt_broker.url, tmp_path / "after", database_url=restored_db) as lane:
            assert lane.site.store.get_visit(first["id"]).outcome == "completed"
            [second] = await lane.run(lane.driver())
        assert second["outcome"] == "completed"
        assert int(second["id"].rsplit("-", 1)[1]) == int(first["id"].rsplit("-", 1)[1]) + 1


def test_a_sqlite_site_is_backed_up_while_open_and_restored_with_its_accounts(tmp_path):
    url = f"sqlite:///{tmp_path}/site.db"
    upgrade_database(url)
    store = Store(url)  # a controller has the database open (WAL) while the backup runs
    add_user(store, "kepala-loket", "supervisor", "a long password 1")
    saved = make_backup(url, tmp_path / "backups")
    restored = f"sqlite:///{tmp_path}/restored/site.db"
    restore(saved, restored)
    with pytest.raises(ConfigError, match="--replace"):
        restore(saved, restored)
    restore(saved, restored, replace=True)
    store.close()
    copy = Store(restored)
    assert copy.ping() and _usernames(restored) == ["kepala-loket"]
    copy.close()


def _usernames(url: str) -> list[str]:
    engine = create_engine(url)
    with engine.connect() as conn:
        names = list(conn.execute(text("SELECT username FROM accounts")).scalars())
    engine.dispose()
    return names


def test_backups_beyond_keep_are_removed_oldest_first(tmp_path):
    url = f"sqlite:///{tmp_path}/site.db"
    upgrade_database(url)
    kept = tmp_path / "backups"
    kept.mkdir()
    for stamp in ("20260101T000000Z", "20260102T000000Z", "20260103T000000Z"):  # older backups
        (kept / f"lajur-site-{stamp}.sqlite").write_bytes(b"old")
    newest = make_backup(url, kept, keep=2)
    assert sorted(p.name for p in kept.iterdir()) == ["lajur-site-20260103T000000Z.sqlite", newest.name]
