"""The admin API's routes for stopping and watching sends, through Chalice's test client
against the real Postgres and moto's SQS: cancel, retry failed, pause and resume, the
progress figures, and the search across jobs; each with an admin's and a viewer's token."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from admin_helpers import admin_settings, load_admin_app
from chalice.test import Client
from pipeline import add_custom_job, add_users, make_queues

from job_scheduler.admin import tokens as admin_tokens


@pytest.fixture
def queues(aws):
    return make_queues(aws)


@pytest.fixture
def client(db, database_url, aws, queues):
    with Client(load_admin_app(admin_settings(database_url, aws, queues))) as test:
        yield test


@pytest.fixture
def tokens(db) -> dict[str, str]:
    return {"admin": admin_tokens.create(db, "sara", "test"),
            "viewer": admin_tokens.create(db, "vera", "test", role="viewer")}  # fmt: skip


def call(client, method: str, path: str, token: str, body=None):
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    answer = client.http.request(method, path, headers=headers,
                                 body=json.dumps(body) if body is not None else b"")  # fmt: skip
    return answer.status_code, json.loads(answer.body or b"null")


def an_execution(db, states: dict[str, int], status: str = "succeeded", at=None) -> int:
    job = db.execute("SELECT id FROM scheduled_jobs LIMIT 1").fetchone() or add_custom_job(db)
    execution_id = db.execute(
        "INSERT INTO job_executions (job_id, scheduled_for, trigger, status) VALUES"
        " (%s, %s, 'manual', %s) RETURNING id",
        (job["id"], at or datetime.now(UTC), status),
    ).fetchone()["id"]
    users = add_users(db, sum(states.values()), first_chat_id=9000 + execution_id * 100)
    people = iter(users)
    for state, count in states.items():
        for _ in range(count):
            db.execute(
                "INSERT INTO notification_deliveries (execution_id, user_id, status, payload,"
                " sent_at, retryable) VALUES (%s, %s, %s, '{\"text\": \"hi\"}', %s, %s)",
                (execution_id, next(people), state,
                 datetime.now(UTC) if state == "sent" else None, state == "failed"),
            )  # fmt: skip
    return execution_id


def test_cancel_answers_what_it_stopped_and_refuses_twice(db, client, tokens):
    execution_id = an_execution(db, {"sent": 2, "queued": 3, "ready": 5, "sending": 1})

    assert (
        call(client, "POST", f"/api/executions/{execution_id}/cancel", tokens["viewer"])[0] == 403
    )
    status, body = call(client, "POST", f"/api/executions/{execution_id}/cancel", tokens["admin"])

    assert status == 200
    assert body == {"execution_id": execution_id, "job": "promo", "was": "succeeded",
                    "cancelled": 8, "in_flight": 1}  # fmt: skip
    status, again = call(client, "POST", f"/api/executions/{execution_id}/cancel", tokens["admin"])
    assert (status, again["error"]["code"]) == (409, "conflict")
    assert "already cancelled by admin:sara" in again["error"]["message"]
    status, _ = call(client, "POST", "/api/executions/424242/cancel", tokens["admin"])
    assert status == 404
    _, detail = call(client, "GET", f"/api/executions/{execution_id}", tokens["viewer"])
    assert (detail["status"], detail["cancelled_count"], detail["cancelled_by"]) == (
        "cancelled", 8, "admin:sara")  # fmt: skip
    assert detail["progress"]["cancelled"] == 8 and detail["progress"]["sending"] is False


def test_progress_says_where_a_send_stands(db, client, tokens):
    execution_id = an_execution(db, {"sent": 40, "failed": 2, "ready": 58})
    db.execute("UPDATE notification_deliveries SET sent_at = now() - interval '20 seconds'"
               " WHERE id IN (SELECT id FROM notification_deliveries WHERE status = 'sent'"
               " ORDER BY id LIMIT 20)")  # fmt: skip

    _, detail = call(client, "GET", f"/api/executions/{execution_id}", tokens["viewer"])

    progress = detail["progress"]
    assert (progress["total"], progress["sent"], progress["failed"], progress["waiting"]) == (
        100, 40, 2, 58)  # fmt: skip
    assert progress["per_second"] == 2.0  # 20 sent within the last 10 s
    assert progress["seconds_left"] == 29 and progress["sending"] is True
    assert detail["retryable_failed"] == 2


def test_retry_failed_queues_each_failure_once(db, client, tokens, queues):
    execution_id = an_execution(db, {"sent": 1, "failed": 3})

    assert call(client, "POST", f"/api/executions/{execution_id}/retry-failed",
                tokens["viewer"])[0] == 403  # fmt: skip
    status, body = call(client, "POST", f"/api/executions/{execution_id}/retry-failed",
                        tokens["admin"])  # fmt: skip
    _, second = call(client, "POST", f"/api/executions/{execution_id}/retry-failed",
                     tokens["admin"])  # fmt: skip

    assert status == 200 and (body["retried"], body["not_retried"], body["queued"]) == (3, 0, 3)
    assert second["retried"] == 0
    assert queues.depth(queues.notifications) == 1
    audit = db.execute("SELECT actor FROM audit_log WHERE action = 'retry-failed'").fetchall()
    assert [row["actor"] for row in audit] == ["admin:sara", "admin:sara"]


def test_pause_and_resume_through_the_api(db, client, tokens):
    add_custom_job(db)
    assert call(client, "GET", "/api/system", tokens["viewer"]) == (200, {"paused": False})
    assert call(client, "POST", "/api/system/pause", tokens["viewer"], {})[0] == 403

    status, paused = call(client, "POST", "/api/system/pause", tokens["admin"],
                          {"reason": "wrong audience"})  # fmt: skip
    assert status == 200 and (paused["by"], paused["reason"]) == ("admin:sara", "wrong audience")
    assert call(client, "GET", "/api/system", tokens["viewer"])[1]["paused"] is True
    status, refused = call(client, "POST", "/api/jobs/promo/run", tokens["admin"])
    assert status == 409 and "resume it first" in refused["error"]["message"]
    status, twice = call(client, "POST", "/api/system/pause", tokens["admin"], {})
    assert status == 409 and "already paused" in twice["error"]["message"]
    status, bad = call(client, "POST", "/api/system/pause", tokens["admin"], {"reason": "x" * 501})
    assert (status, bad["error"]["field"]) == (422, "reason")

    assert call(client, "POST", "/api/system/resume", tokens["viewer"])[0] == 403
    status, resumed = call(client, "POST", "/api/system/resume", tokens["admin"])
    assert status == 200 and resumed["paused"] is False and resumed["deliveries_dropped"] == 0
    assert call(client, "POST", "/api/system/resume", tokens["admin"])[0] == 409
    assert call(client, "POST", "/api/jobs/promo/run", tokens["admin"])[0] == 200


def test_executions_are_found_across_jobs_by_status_and_time(db, client, tokens):
    add_custom_job(db, name="promo-a")
    other = add_custom_job(db, name="promo-b")
    day = datetime(2026, 11, 10, tzinfo=UTC)
    an_execution(db, {"sent": 1}, "succeeded", day)
    failed = an_execution(db, {"failed": 1}, "failed", day + timedelta(days=2))
    db.execute("UPDATE job_executions SET job_id = %s WHERE id = %s", (other["id"], failed))
    an_execution(db, {"failed": 1}, "failed", day - timedelta(days=20))

    status, found = call(client, "GET", "/api/executions?status=failed&since=2026-11-01",
                         tokens["viewer"])  # fmt: skip
    assert status == 200
    assert [(row["id"], row["job"]) for row in found["executions"]] == [(failed, "promo-b")]
    _, everything = call(client, "GET", "/api/executions?limit=2", tokens["viewer"])
    assert len(everything["executions"]) == 2 and everything["next"]
    _, rest = call(client, "GET", f"/api/executions?limit=2&before={everything['next']}",
                   tokens["viewer"])  # fmt: skip
    assert len(rest["executions"]) == 1
    _, window = call(client, "GET", "/api/executions?since=2026-11-09T00:00%2B03:30"
                     "&until=2026-11-11", tokens["viewer"])  # fmt: skip
    assert len(window["executions"]) == 1

    for query, field in (("status=done", "status"), ("since=yesterday", "since"),
                         ("since=2026-11-02&until=2026-11-01", "until")):  # fmt: skip
        status, error = call(client, "GET", f"/api/executions?{query}", tokens["viewer"])
        assert (status, error["error"]["field"]) == (400, field), query
