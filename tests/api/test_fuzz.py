"""Property-based fuzzing of every operation in the OpenAPI schema: whatever schemathesis generates,
the API answers with a decision (2xx/4xx), never a 500. Bounded: a few examples per operation.

Schemathesis' pytest plugin does not load under this pytest, so each operation's hypothesis strategy
is driven directly (same generation, same check)."""

from __future__ import annotations

import warnings

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from api.app import create_app
from tests.api.conftest import make_auth

pytestmark = pytest.mark.filterwarnings("ignore")
EXAMPLES = 8


@pytest.fixture(scope="module")
def fuzz_app(api_store):
    return create_app(api_store, {}, auth=make_auth(api_store))


@pytest.fixture(scope="module")
def operations(fuzz_app):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)
        return [r.ok() for r in schema.get_all_operations()]


def _fuzz(operation, headers: dict[str, str] | None, examples: int) -> None:
    @given(case=operation.as_strategy())
    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
              database=None)
    def run(case) -> None:
        if case.path_parameters and case.path_parameters.get("username") == "admin":
            case.path_parameters["username"] = "someone-else"  # keep the fuzzing account alive
        case.call_and_validate(headers=headers, checks=[not_a_server_error])

    run()


def test_schema_covers_the_api(operations):
    paths = {(op.method.upper(), op.path) for op in operations}
    assert ("POST", "/api/v1/visits/{visit_id}/actions") in paths and ("GET", "/api/v1/reports/daily") in paths
    assert len(paths) >= 25


def test_no_operation_answers_500_to_an_admin(fuzz_app, operations):
    auth = fuzz_app.state.auth
    headers = {"Authorization": f"Bearer {auth.issue(auth.accounts.get('admin'))[0]}"}
    for op in operations:
        _fuzz(op, headers, EXAMPLES)


def test_no_operation_answers_500_to_anonymous_callers(operations):
    for op in operations:
        _fuzz(op, None, 3)
