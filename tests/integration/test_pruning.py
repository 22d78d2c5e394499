"""prune-history against the real Postgres: old executions (with their deliveries), audit
rows and expired links go, a batch at a time; recent history and running runs stay; a dry
run counts and changes nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from pipeline import add_custom_job, add_users

from job_scheduler.jobs import pruning

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def add_execution(db, job_id: int, days_ago: int, status: str = "succeeded", users=()) -> int:
    at = NOW - timedelta(days=days_ago)
    execution = db.execute(
        "INSERT INTO job_executions (job_id, scheduled_for, trigger, status, started_at)"
        " VALUES (%s, %s, 'schedule', %s, %s) RETURNING id",
        (job_id, at, status, at),
    ).fetchone()["id"]
    for user in users:
        db.execute(
            "INSERT INTO notification_deliveries (execution_id, user_id, status)"
            " VALUES (%s, %s, 'sent')",
            (execution, user),
        )
    return execution


def count(db, table: str) -> int:
    return db.execute(f"SELECT count(*) AS n FROM {table}").fetchone()["n"]


@pytest.fixture
def history(db):
    users = add_users(db, 3)
    job = add_custom_job(db)["id"]
    old = [add_execution(db, job, 100 + n, users=users) for n in range(5)]
    running = add_execution(db, job, 200, status="running", users=users[:1])
    recent = add_execution(db, job, 3, users=users)
    for days in (400, 120, 1):
        db.execute(
            "INSERT INTO audit_log (at, actor, action, entity_type, entity_name)"
            " VALUES (%s, 'a', 'update', 'job', 'promo')",
            (NOW - timedelta(days=days),),
        )
    db.execute(
        "INSERT INTO rastar_link_states (state_sha256, user_id, expires_at)"
        " VALUES ('old', %s, %s), ('new', %s, %s)",
        (users[0], NOW - timedelta(days=95), users[0], NOW + timedelta(minutes=5)),
    )
    return old, running, recent


def test_history_older_than_the_days_kept_goes_and_the_rest_stays(db, history, monkeypatch):
    _, running, recent = history
    monkeypatch.setattr(pruning, "BATCH_ROWS", 2)  # many batches, each its own statement

    report = pruning.prune(db, keep_days=90, now=NOW)

    assert report.deleted == {
        "notification_deliveries": 15,
        "job_executions": 5,
        "audit_log": 2,
        "rastar_link_states": 1,
        "rastar_pick_offers": 0,
    }
    ids = [row["id"] for row in db.execute("SELECT id FROM job_executions ORDER BY id")]
    assert ids == [running, recent]  # a running run is never pruned, however old
    assert count(db, "notification_deliveries") == 4 and count(db, "audit_log") == 1
    assert "deleted 15 notification_deliveries, 5 job_executions" in report.summary()


def test_a_dry_run_counts_the_same_and_deletes_nothing(db, history):
    before = {t: count(db, t) for t in ("job_executions", "notification_deliveries", "audit_log")}
    report = pruning.prune(db, keep_days=90, dry_run=True, now=NOW)
    assert report.deleted["notification_deliveries"] == 15 and report.deleted["audit_log"] == 2
    assert report.summary().startswith("would delete")
    assert {t: count(db, t) for t in before} == before


def test_jobsctl_prune_dry_run_says_what_would_go(db, history, database_url):
    done = subprocess.run(
        [sys.executable, "-m", "job_scheduler", "prune", "--dry-run", "--days", "30"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "DATABASE_URL": database_url},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("would delete") and "job_executions" in done.stdout
    assert count(db, "job_executions") == 7
    bad = subprocess.run(
        [sys.executable, "-m", "job_scheduler", "prune", "--days", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "DATABASE_URL": database_url},
    )
    assert bad.returncode == 2 and "at least 1" in bad.stderr
