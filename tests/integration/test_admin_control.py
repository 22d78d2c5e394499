"""Stopping and resuming sends against the real services: cancel in the middle of a send
(with a slow fake Telegram), the system-wide pause, retrying what failed, and the
dead-letter queues' redrive, each read where an admin would read it (Postgres, the fake
Telegram's messages, the queues)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from execution_fixtures import *  # noqa: F403 - the fixtures
from execution_fixtures import Flaky, chats, deliver, now_minute
from pipeline import (
    add_custom_job,
    add_users,
    drain_notifications,
    execution_rows,
    firing,
    receive_all,
)

from job_scheduler.delivery import pause
from job_scheduler.delivery.outbox import Outbox
from job_scheduler.delivery.retry import retry_failed
from job_scheduler.delivery.window import Window
from job_scheduler.errors import ExecutionNotFound, ExecutionSettled, NotPaused, SystemPaused
from job_scheduler.execution.cancellation import cancel_execution
from job_scheduler.ops.dead_letters import DeadLetters


def statuses(db, execution_id: int) -> dict[str, int]:
    rows = db.execute(
        "SELECT status, count(*) AS n FROM notification_deliveries WHERE execution_id = %s"
        " GROUP BY status",
        (execution_id,),
    ).fetchall()
    return {row["status"]: row["n"] for row in rows}


def window_of(settings, queues) -> Window:
    outbox = Outbox(queues.sqs, settings.notifications_queue_url)
    return Window(outbox, settings.recipients_per_message, settings.notify_window_messages)


def sent_count(db, execution_id: int) -> int:
    return db.execute(
        "SELECT count(*) AS n FROM notification_deliveries WHERE execution_id = %s"
        " AND status = 'sent'",
        (execution_id,),
    ).fetchone()["n"]


# --- cancel -------------------------------------------------------------------------------


def test_cancel_in_the_middle_of_a_send_to_2000_stops_it_with_exact_counts(
    db, executor, notifier, queues, telegram
):
    """2,000 people, a fake Telegram answering in 20 ms: cancelled once 300 are sent. After
    the cancel returns, Telegram receives at most the deliveries it reported in flight, and
    every row is sent, cancelled, or what its send became."""
    add_users(db, 2000)
    add_custom_job(db)
    telegram.configure(latency_ms=20)
    outcome = executor.execute(firing("promo", now_minute()))
    assert outcome.status == "ran" and outcome.result.messages == 2000
    sender = threading.Thread(target=deliver, args=(queues, notifier))
    sender.start()
    deadline = time.monotonic() + 60
    while sent_count(db, outcome.execution_id) < 300 and time.monotonic() < deadline:
        time.sleep(0.02)

    done = cancel_execution(db, outcome.execution_id, "admin:sara", datetime.now(UTC))
    received_at_cancel = len(telegram.messages())
    sender.join(timeout=120)

    after_cancel = len(telegram.messages()) - received_at_cancel
    counts = statuses(db, outcome.execution_id)
    (execution,) = execution_rows(db)
    assert not sender.is_alive()
    assert (done.was, execution["status"], execution["cancelled_by"]) == (
        "succeeded",
        "cancelled",
        "admin:sara",
    )
    assert after_cancel <= done.in_flight <= notifier.settings.notifier_concurrency * 2
    assert set(counts) <= {"sent", "cancelled"}, counts
    assert counts["cancelled"] == done.cancelled == execution["cancelled_count"]
    assert counts["sent"] == execution["sent_count"] == len(telegram.messages())
    assert counts["sent"] + counts["cancelled"] == 2000
    assert 300 <= counts["sent"] < 2000
    assert len(set(chats(telegram))) == len(telegram.messages())  # nobody twice
    print(f"cancel: {done.in_flight} in flight, {after_cancel} arrived after it")  # for -s


def test_a_cancel_during_the_fan_out_stops_writing_rows(db, executor, queues):
    """The cancel lands while the job is still making its messages: the fan-out writes no
    further chunk, and the executor's end of run keeps the execution cancelled."""
    add_users(db, 3000)
    Flaky.schedule = "cron(* * * * ? *)"
    db.execute(
        "INSERT INTO scheduled_jobs (name, kind, cron_expression, timezone, created_by,"
        " updated_by) VALUES ('flaky', 'coded', 'cron(* * * * ? *)', 'UTC', 'test', 'test')"
    )
    cancelled: list[object] = []

    def cancel_now() -> None:
        execution_id = db.execute("SELECT max(id) AS id FROM job_executions").fetchone()["id"]
        cancelled.append(cancel_execution(db, execution_id, "admin:sara", datetime.now(UTC)))

    Flaky.fail_after, Flaky.on_fail = 1500, staticmethod(cancel_now)

    outcome = executor.execute(firing("flaky", now_minute()))

    (execution,) = execution_rows(db)
    assert outcome.status == "cancelled" and outcome.result.cancelled
    assert execution["status"] == "cancelled"
    assert statuses(db, execution["id"]) == {"cancelled": 1000}  # the first chunk only
    assert cancelled[0].was == "running" and cancelled[0].cancelled <= 1000
    assert execution["cancelled_count"] == 1000 and execution["finished_at"] is not None


def test_a_message_already_on_the_queue_sends_nothing_once_cancelled(
    db, executor, notifier, queues, telegram
):
    add_users(db, 10)
    add_custom_job(db)
    outcome = executor.execute(firing("promo", now_minute()))
    cancel_execution(db, outcome.execution_id, "admin:sara", datetime.now(UTC))

    deliver(queues, notifier)

    assert telegram.messages() == []
    assert statuses(db, outcome.execution_id) == {"cancelled": 10}
    (execution,) = execution_rows(db)
    assert (execution["cancelled_count"], execution["sent_count"]) == (10, 0)


def test_cancel_refuses_a_finished_send_a_skipped_firing_and_a_second_cancel(
    db, executor, notifier, queues
):
    add_users(db, 3)
    add_custom_job(db)
    finished = executor.execute(firing("promo", now_minute()))
    deliver(queues, notifier)
    with pytest.raises(ExecutionSettled, match="finished sending"):
        cancel_execution(db, finished.execution_id, "admin:sara", datetime.now(UTC))

    db.execute("UPDATE scheduled_jobs SET enabled = false")
    skipped = executor.execute(firing("promo", now_minute() - timedelta(minutes=1)))
    with pytest.raises(ExecutionSettled, match="was skipped"):
        cancel_execution(db, skipped.execution_id, "admin:sara", datetime.now(UTC))

    db.execute("UPDATE scheduled_jobs SET enabled = true")
    running = executor.execute(firing("promo", now_minute() - timedelta(minutes=2)))
    cancel_execution(db, running.execution_id, "admin:sara", datetime.now(UTC))
    with pytest.raises(ExecutionSettled, match="already cancelled by admin:sara"):
        cancel_execution(db, running.execution_id, "admin:nima", datetime.now(UTC))
    with pytest.raises(ExecutionNotFound):
        cancel_execution(db, 999_999, "admin:sara", datetime.now(UTC))
    audit = db.execute(
        "SELECT actor, entity_name, after FROM audit_log WHERE action = 'cancel'"
    ).fetchall()
    assert [(row["actor"], row["entity_name"]) for row in audit] == [
        ("admin:sara", str(running.execution_id))
    ]
    assert audit[0]["after"]["cancelled"] == 3


def test_a_cancelled_firing_delivered_again_is_a_duplicate(db, executor, notifier, queues):
    add_users(db, 3)
    add_custom_job(db)
    at = now_minute()
    first = executor.execute(firing("promo", at))
    cancel_execution(db, first.execution_id, "admin:sara", datetime.now(UTC))

    again = executor.execute(firing("promo", at))

    assert again.status == "duplicate" and "cancelled" in again.detail


# --- pause --------------------------------------------------------------------------------


def test_while_paused_firings_are_skipped_and_queued_deliveries_wait_then_go_on_resume(
    db, executor, notifier, queues, telegram, settings
):
    add_users(db, 20)
    add_custom_job(db)
    at = now_minute()
    running = executor.execute(firing("promo", at - timedelta(minutes=1)))  # queued before
    made = pause.pause(db, "admin:sara", "a typo in the promo", datetime.now(UTC))

    skipped = executor.execute(firing("promo", at))
    deliver(queues, notifier)  # its window's messages arrive while paused

    assert skipped.status == "skipped" and "paused (by admin:sara" in skipped.detail
    assert "a typo in the promo" in skipped.detail
    assert telegram.messages() == []
    assert statuses(db, running.execution_id) == {"ready": 20}
    assert pause.current(db) == made
    with pytest.raises(SystemPaused, match="already paused"):
        pause.pause(db, "admin:nima", "", datetime.now(UTC))

    done = pause.resume_and_top_up(db, window_of(settings, queues).top_up, "admin:sara", 3600,
                                   datetime.now(UTC))  # fmt: skip
    deliver(queues, notifier)

    assert (done.executions, done.dropped) == (1, 0)
    assert statuses(db, running.execution_id) == {"sent": 20}
    assert len(telegram.messages()) == 20
    assert pause.current(db) is None
    with pytest.raises(NotPaused):
        pause.resume(db, "admin:sara", 3600, datetime.now(UTC))
    actions = [row["action"] for row in db.execute(
        "SELECT action FROM audit_log WHERE entity_type = 'system' ORDER BY id")]  # fmt: skip
    assert actions == ["pause", "resume"]


def test_a_pause_longer_than_its_bound_drops_what_it_held_as_missed(
    db, executor, notifier, queues, telegram, settings
):
    add_users(db, 5)
    add_custom_job(db)
    running = executor.execute(firing("promo", now_minute()))
    pause.pause(db, "admin:sara", "", datetime.now(UTC) - timedelta(hours=2))
    deliver(queues, notifier)

    done = pause.resume_and_top_up(db, window_of(settings, queues).top_up, "admin:sara", 3600,
                                   datetime.now(UTC))  # fmt: skip
    deliver(queues, notifier)

    assert done.dropped == 5 and done.paused_seconds >= 7200
    assert telegram.messages() == []
    reasons = {row["last_error"] for row in db.execute(
        "SELECT last_error FROM notification_deliveries")}  # fmt: skip
    assert len(reasons) == 1 and reasons.pop().startswith("missed: sending was paused for 120")
    assert statuses(db, running.execution_id) == {"skipped": 5}


# --- retry failed -------------------------------------------------------------------------


def test_retry_failed_sends_each_retryable_failure_once_and_never_a_blocked_person(
    db, executor, notifier, queues, telegram, settings
):
    users = add_users(db, 6)
    add_custom_job(db)
    telegram.configure(server_error_every=1)  # Telegram is down
    outcome = executor.execute(firing("promo", now_minute()))
    drain_notifications(queues, notifier.process, quiet_seconds=4)  # every receive fails
    counts = statuses(db, outcome.execution_id)
    assert counts == {"failed": 6}, counts

    telegram.configure(server_error_every=0)
    db.execute(  # meanwhile one blocked the bot (the webhook heard it), one said /stop
        "UPDATE users SET is_active = false, inactive_reason = 'blocked', inactive_since = now()"
        " WHERE id = %s", (users[0],))  # fmt: skip
    db.execute("UPDATE users SET opted_out_at = now() WHERE id = %s", (users[1],))
    done = retry_failed(db, window_of(settings, queues), outcome.execution_id, "admin:sara",
                        datetime.now(UTC))  # fmt: skip
    deliver(queues, notifier)

    assert (done.retried, done.not_retried) == (4, 2)
    assert sorted(chats(telegram)) == [5002, 5003, 5004, 5005]
    assert statuses(db, outcome.execution_id) == {"sent": 4, "failed": 2}
    (execution,) = execution_rows(db)
    assert (execution["sent_count"], execution["failed_count"]) == (4, 2)

    again = retry_failed(db, window_of(settings, queues), outcome.execution_id, "admin:sara",
                         datetime.now(UTC))  # fmt: skip
    deliver(queues, notifier)
    assert again.retried == 0 and len(telegram.messages()) == 4  # each once


def test_retry_failed_refuses_a_cancelled_execution(db, executor, settings, queues):
    add_users(db, 2)
    add_custom_job(db)
    outcome = executor.execute(firing("promo", now_minute()))
    cancel_execution(db, outcome.execution_id, "admin:sara", datetime.now(UTC))
    with pytest.raises(ExecutionSettled, match="cancelled"):
        retry_failed(db, window_of(settings, queues), outcome.execution_id, "admin:sara",
                     datetime.now(UTC))  # fmt: skip


# --- dead letters -------------------------------------------------------------------------


def test_a_notifications_redrive_really_sends_what_dead_lettered(
    db, executor, notifier, queues, telegram, settings
):
    """Telegram down for every receive: the message lands in the dead-letter queue and its
    deliveries are marked failed. The redrive resets them, so the message sends."""
    add_users(db, 3)
    add_custom_job(db)
    telegram.configure(server_error_every=1)
    outcome = executor.execute(firing("promo", now_minute()))
    drain_notifications(queues, notifier.process, quiet_seconds=4)
    assert statuses(db, outcome.execution_id) == {"failed": 3}
    letters = DeadLetters(settings, "notifications")
    shown = letters.show()
    assert len(shown) == 1 and f"execution {outcome.execution_id} of promo" in shown[0].summary
    assert [letter.message_id for letter in letters.show()] == [shown[0].message_id]  # kept

    telegram.configure(server_error_every=0)
    done = letters.redrive(db)
    deliver(queues, notifier)

    assert (done.messages, done.deliveries_reset) == (1, 3)
    assert sorted(chats(telegram)) == [5000, 5001, 5002]
    assert statuses(db, outcome.execution_id) == {"sent": 3}
    assert letters.count() == 0


def test_a_jobs_redrive_moves_the_firing_back_to_its_queue(settings, queues):
    body = json.dumps({"source": "manual", "job": "promo", "time": "2026-12-01T10:00:00Z"})
    queues.sqs.send_message(QueueUrl=queues.jobs_dlq["url"], MessageBody=body)
    letters = DeadLetters(settings, "jobs")
    assert [letter.summary for letter in letters.show()] == [
        "manual firing of promo for 2026-12-01T10:00:00Z"
    ]

    done = letters.redrive()  # a firing has no deliveries to reset: no database needed

    assert done.messages == 1
    assert [message["Body"] for message in receive_all(queues, queues.jobs)] == [body]
    assert receive_all(queues, queues.jobs_dlq) == []


def test_dead_letters_name_a_queue_that_exists(settings):
    from job_scheduler.errors import InvalidField

    with pytest.raises(InvalidField, match="jobs, notifications"):
        DeadLetters(settings, "emails")


def test_a_batch_of_the_dead_letter_queue_that_is_unreadable_is_shown_as_such(settings, queues):
    queues.sqs.send_message(QueueUrl=queues.notifications_dlq["url"], MessageBody="{oops")
    (shown,) = DeadLetters(settings, "notifications").show()
    assert shown.summary == "unreadable: {oops"


# --- jobsctl ------------------------------------------------------------------------------


def jobsctl(settings, *args: str):
    env = {**os.environ, "DATABASE_URL": settings.database_url,
           "AWS_ENDPOINT_URL": settings.aws_endpoint_url,
           "JOBS_QUEUE_URL": settings.jobs_queue_url,
           "NOTIFICATIONS_QUEUE_URL": settings.notifications_queue_url,
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}  # fmt: skip
    return subprocess.run([sys.executable, "-m", "job_scheduler", *args], capture_output=True,
                          text=True, timeout=60, env=env)  # fmt: skip


def test_jobsctl_cancels_pauses_resumes_searches_and_redrives(
    db, executor, settings, queues, telegram
):
    add_users(db, 4)
    add_custom_job(db)
    outcome = executor.execute(firing("promo", now_minute()))

    cancelled = jobsctl(settings, "execution", "cancel", str(outcome.execution_id))
    assert cancelled.returncode == 0, cancelled.stderr
    assert "4 deliveries will not be sent; 0 were in flight" in cancelled.stdout
    again = jobsctl(settings, "execution", "cancel", str(outcome.execution_id))
    assert again.returncode == 2 and "already cancelled by cli:" in again.stderr

    listed = jobsctl(
        settings, "executions", "--status", "cancelled", "--since", "2026-01-01T00:00Z"
    )
    assert listed.returncode == 0, listed.stderr
    assert len(listed.stdout.splitlines()) == 2 and "promo" in listed.stdout.splitlines()[1]

    paused = jobsctl(settings, "pause", "--reason", "checking the audience")
    assert paused.returncode == 0 and "sending is paused (by cli:" in paused.stdout
    assert "already paused" in jobsctl(settings, "pause").stderr
    resumed = jobsctl(settings, "resume")
    assert resumed.returncode == 0 and "resumed after" in resumed.stdout, resumed.stderr

    queues.sqs.send_message(QueueUrl=queues.jobs_dlq["url"], MessageBody=json.dumps(
        {"source": "manual", "job": "promo", "time": "2026-12-01T10:00:00Z"}))  # fmt: skip
    shown = jobsctl(settings, "dlq", "show", "jobs")
    assert "1 message(s) in the jobs dead-letter queue" in shown.stdout, shown.stderr
    assert "manual firing of promo for 2026-12-01T10:00:00Z" in shown.stdout
    moved = jobsctl(settings, "dlq", "redrive", "jobs")
    assert "1 message(s) moved back to the jobs queue" in moved.stdout, moved.stderr
    assert jobsctl(settings, "dlq", "show", "emails").returncode == 2  # argparse names the choices


def test_housekeeping_runs_on_while_paused(db, settings, queues):
    from job_scheduler.execution.handler import build_executor
    from job_scheduler.jobs.sweeper import StrandedWorkSweeper

    db.execute(
        "INSERT INTO scheduled_jobs (name, kind, cron_expression, timezone, created_by,"
        " updated_by) VALUES (%s, 'coded', 'cron(0/5 * * * ? *)', 'UTC', 'test', 'test')",
        (StrandedWorkSweeper.name,),
    )
    pause.pause(db, "admin:sara", "", datetime.now(UTC))
    at = now_minute().replace(minute=now_minute().minute // 5 * 5)

    outcome = build_executor(settings).execute(firing(StrandedWorkSweeper.name, at))

    assert outcome.status == "ran"  # the sweeper sends nothing: a pause does not stop it
