"""A site upgrades its database by starting the new version: ``lajur serve`` migrates the schema at
start, keeps what the database held, and two controllers starting at once on one PostgreSQL
database do not trip over each other's migration."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request

from alembic.config import Config
from alembic.script import ScriptDirectory
from argon2 import PasswordHasher
from sqlalchemy import create_engine, text

from lane.persistence import upgrade_database
from lane.persistence.store import MIGRATIONS
from tests.lane.procs import Procs


def _head() -> str:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None
    return head


def _version(url: str) -> str:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    finally:
        engine.dispose()


def test_serve_upgrades_an_older_database_at_start_and_keeps_its_accounts(tmp_path, mqtt_broker):
    url = f"sqlite:///{tmp_path}/lajur.db"
    upgrade_database(url, "0002")  # a site's database from before officer actions were kept
    # written as that version wrote it: today's account model has columns 0002 did not
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO accounts (username, role, password_hash, full_name, disabled, "
                          "session_version, created_at, updated_at) VALUES ('kepala-loket', 'supervisor', :h, "
                          "NULL, 0, 1, '2026-01-01 00:00:00', '2026-01-01 00:00:00')"),
                     {"h": PasswordHasher().hash("a long password 1")})
    engine.dispose()
    assert _version(url) == "0002"
    procs = Procs(tmp_path, mqtt_broker.url, url)
    try:
        procs.sim_site(lanes=1)
        port = procs.serve()
        assert _version(url) == _head()
        assert procs.query("SELECT COUNT(*) FROM officer_actions")[0][0] == 0  # the new table is there
        login = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/auth/login", method="POST",
            data=json.dumps({"username": "kepala-loket", "password": "a long password 1"}).encode(),
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(login, timeout=5) as r:
            assert r.status == 200 and json.load(r)["role"] == "supervisor"
    finally:
        procs.close()


def test_two_controllers_upgrading_one_postgresql_database_at_once_both_start(postgres_url):
    # Without the schema lock one of two simultaneous upgrades of a fresh database failed about every
    # other time ("relation alembic_version already exists"); two rounds of two.
    for round_ in range(2):
        if round_:
            engine = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
            with engine.connect() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
            engine.dispose()
        procs = [subprocess.Popen([sys.executable, "-m", "lane", "db", "upgrade", "--url", postgres_url],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)]
        outputs = [p.communicate(timeout=120)[0] for p in procs]
        assert [p.returncode for p in procs] == [0, 0], outputs
        assert _version(postgres_url) == _head()
