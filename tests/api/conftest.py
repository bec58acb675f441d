"""API fixtures: one migrated SQLite store per module with an account per role, and the app without
lanes (the browser tests start a real simulated lane themselves). Tests hash with cheap argon2
parameters; production keeps argon2-cffi's defaults."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher

from api.accounts_cli import add_user
from api.app import create_app
from api.auth import Auth
from lane.persistence import Store, upgrade_database
from lane.persistence.accounts import ROLES

warnings.filterwarnings("ignore", message=".*httpx2.*")
from fastapi.testclient import TestClient  # noqa: E402

PASSWORD = "correct horse battery"
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def make_auth(store: Store) -> Auth:
    return Auth(store, "test-secret", hasher=FAST_HASHER)


@pytest.fixture(scope="module")
def api_store(tmp_path_factory) -> Iterator[Store]:
    url = f"sqlite:///{tmp_path_factory.mktemp('api')}/lajur.db"
    upgrade_database(url)
    store = Store(url)
    auth = make_auth(store)
    for role in ROLES:  # each username is its role's name
        add_user(store, role, role, PASSWORD, auth=auth)
    yield store
    store.close()


@pytest.fixture(scope="module")
def app(api_store):
    return create_app(api_store, {}, auth=make_auth(api_store))


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="module")
def tokens(app) -> dict[str, str]:
    auth: Auth = app.state.auth
    return {role: auth.issue(auth.accounts.get(role))[0] for role in ROLES}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
