"""The admin API against its own OpenAPI description: schemathesis generates requests from
/api/openapi.json and checks every answer (no server errors, documented statuses, bodies
and content types that match the schemas, 401 without a token).

The API runs as ``chalice local`` runs it (Chalice's local dev server, on a loopback port),
against the real Postgres and moto's EventBridge and SQS.

One of schemathesis's checks is left out: ``positive_data_acceptance`` wants every request
the schema allows to succeed, but much of what the API checks cannot be said in JSON
Schema (the cron grammar, timezone names, the template language, ids that must exist), and
those refusals are 422s by design. Everything else runs, including the check that
schema-invalid requests are refused.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from admin_helpers import serve_admin
from hypothesis import HealthCheck, given, settings
from pipeline import add_custom_job, add_users
from schemathesis.specs.openapi.checks import positive_data_acceptance

from job_scheduler.adapters.db import connect
from job_scheduler.admin import tokens as admin_tokens

EXAMPLES_PER_OPERATION = 80
MINIMUM_CASES = 1000


@pytest.fixture(scope="module")
def served(database_url, moto_server) -> Iterator[tuple[str, str]]:
    """The admin API on a free port, and an admin token for it."""
    conn = connect(database_url)
    conn.execute("TRUNCATE admin_tokens, scheduled_jobs, users CASCADE")
    add_users(conn, 5)
    add_custom_job(conn)
    token = admin_tokens.create(conn, "schemathesis", "test")
    try:
        with serve_admin(database_url, moto_server) as (url, _):
            yield url, token
    finally:
        conn.close()


def test_every_answer_matches_the_description(served):
    """Each operation in turn, up to EXAMPLES_PER_OPERATION generated cases each (fewer where
    the inputs allow fewer), every answer validated. (Not ``schemathesis.pytest``: its
    fixture support does not run on this pytest.)"""
    url, token = served
    api = schemathesis.openapi.from_url(f"{url}/api/openapi.json")
    headers = {"Authorization": f"Bearer {token}"}
    cases: dict[str, int] = {}
    for found in api.get_all_operations():
        operation = found.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def check(case):
            cases[case.operation.label] = cases.get(case.operation.label, 0) + 1
            case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])

        check()
    total = sum(cases.values())
    print(f"schemathesis: {total} generated cases over {len(cases)} operations: {cases}")
    assert total >= MINIMUM_CASES, f"only {total} generated cases ran: {cases}"
    documented = {
        f"{method.upper()} {path}"
        for path, item in httpx.get(f"{url}/api/openapi.json").json()["paths"].items()
        for method in item
        if method != "parameters"
    }
    # schemathesis leaves out the document it was read from; the test below covers it.
    assert set(cases) == documented - {"GET /api/openapi.json"}


def test_the_description_is_served_without_a_token(served):
    url, _ = served
    document = httpx.get(f"{url}/api/openapi.json").json()
    assert document["openapi"].startswith("3.")
    assert "/api/jobs/{name}" in document["paths"]
