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

import socket
import threading
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from pipeline import add_custom_job, add_users, make_queues
from schemathesis.specs.openapi.checks import positive_data_acceptance
from test_admin_api import load_admin_app

from job_scheduler import admin_tokens
from job_scheduler.config import get_settings
from job_scheduler.db import connect

EXAMPLES_PER_OPERATION = 80
MINIMUM_CASES = 1000


@pytest.fixture(scope="module")
def served(database_url, moto_server) -> Iterator[tuple[str, str]]:
    """The admin API on a free port, and an admin token for it."""
    from chalice.config import Config
    from chalice.local import create_local_server

    patch = pytest.MonkeyPatch()
    patch.setenv("AWS_ACCESS_KEY_ID", "testing")
    patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    queues = make_queues(moto_server)
    for name, value in {
        "DATABASE_URL": database_url,
        "AWS_ENDPOINT_URL": moto_server,
        "JOBS_QUEUE_URL": queues.jobs["url"],
        "JOBS_QUEUE_ARN": queues.jobs["arn"],
        "RULE_PREFIX": "openapi-test",
    }.items():
        patch.setenv(name, value)
    get_settings.cache_clear()
    conn = connect(database_url)
    conn.execute("TRUNCATE admin_tokens, scheduled_jobs, users CASCADE")
    add_users(conn, 5)
    add_custom_job(conn)
    token = admin_tokens.create(conn, "schemathesis", "test")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = create_local_server(load_admin_app(), Config.create(), "127.0.0.1", port)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}", token
    finally:
        server.shutdown()
        conn.close()
        patch.undo()
        get_settings.cache_clear()


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
