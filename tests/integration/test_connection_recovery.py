"""After Postgres drops connections (a restart, a failover), the next use gets a new one: a
stale connection is checked before use, and a record whose connection broke under it is
tried once more at once instead of waiting out a visibility timeout."""

from __future__ import annotations

from datetime import UTC, datetime

from execution_fixtures import *  # noqa: F403 - the fixtures
from execution_fixtures import now_minute
from pipeline import add_custom_job, add_users, execution_rows, firing

from job_scheduler.adapters import db as db_adapter
from job_scheduler.adapters.db import get_connection
from job_scheduler.execution.handler import FiringHandler


def terminate_other_backends(db) -> None:
    db.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )


def test_an_idle_connection_that_went_stale_is_replaced_before_use(db, database_url, monkeypatch):
    first = get_connection(database_url)
    first.execute("SELECT 1")
    terminate_other_backends(db)
    monkeypatch.setattr(db_adapter, "IDLE_CHECK_SECONDS", 0.0)  # as if it sat idle a while

    second = get_connection(database_url)

    assert second is not first and second.execute("SELECT 1 AS one").fetchone()["one"] == 1


def test_a_firing_whose_connection_broke_under_it_is_run_at_once_on_a_new_one(
    db, executor, database_url
):
    add_users(db, 3)
    add_custom_job(db)
    get_connection(database_url).execute("SELECT 1")  # the executor thread's connection
    terminate_other_backends(db)  # Postgres restarted: that connection is dead, unknown to it
    handler = FiringHandler(executor)
    record = sqs_record(firing("promo", now_minute()))

    outcome = handler.handle(record)

    assert outcome.status == "ran"
    assert [row["status"] for row in execution_rows(db)] == ["succeeded"]


def sqs_record(fired):
    import json

    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    now_ms = str(int(datetime.now(UTC).timestamp() * 1000))
    return SQSRecord({"messageId": "m1", "body": json.dumps(fired.to_message()),
                      "attributes": {"ApproximateFirstReceiveTimestamp": now_ms,
                                     "ApproximateReceiveCount": "1"}})  # fmt: skip
