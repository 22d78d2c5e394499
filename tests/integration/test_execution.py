"""The execution path against real services: Postgres, Redis, moto's SQS and the fake Telegram.

Each test drives the executor and the notifier as the Lambdas would (one firing, one queue
message at a time) and reads the outcome where a user would see it: the fake Telegram's
recorded messages, and the executions and deliveries in Postgres.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from execution_fixtures import *  # noqa: F403 - the fixtures
from execution_fixtures import TOKEN, Flaky, chats, deliver, make_executor, now_minute
from pipeline import add_custom_job, add_users, execution_rows, firing, receive_all

from job_scheduler.delivery.notifier import MAX_DELIVERY_ATTEMPTS
from job_scheduler.delivery.outbox import DeliveryBatch
from job_scheduler.delivery.records import DeliveryRecords, recount_if_due
from job_scheduler.errors import ConnectionLost, DatabaseError, InvalidMessage, RetryLater
from job_scheduler.execution.firing import parse_firing
from job_scheduler.jobs.sweeper import Sweeper

# --- the happy path ---------------------------------------------------------------------


def test_a_firing_reaches_every_targeted_user_rendered(db, executor, notifier, queues, telegram):
    users = add_users(db, 20)
    add_custom_job(db, exclude_user_ids=[users[0]])

    outcome = executor.execute(firing("promo", now_minute()))
    deliver(queues, notifier)

    assert outcome.status == "ran" and outcome.result.recipients == 19
    assert chats(telegram) == list(range(5001, 5020))
    sample = next(m for m in telegram.messages() if int(m["chat_id"]) == 5001)
    assert (sample["text"], sample["parse_mode"], sample["disable_notification"]) == (
        "<b>Hi User1</b>",
        "HTML",
        False,
    )
    (execution,) = execution_rows(db)
    assert (
        execution["status"],
        execution["recipients_count"],
        execution["queued_count"],
        execution["sent_count"],
        execution["lock_mode"],
    ) == ("succeeded", 19, 19, 19, "redis")


def test_a_waves_sent_are_written_in_the_transaction_that_marks_the_next_wave(
    db, settings, registry, queues, notifier, telegram, monkeypatch
):
    """One commit a wave, not two: what a wave sent rides on the next wave's marks; only
    the tail, with no wave after it, is written on its own."""
    add_users(db, 100)
    add_custom_job(db)
    calls: dict[str, list[int]] = {"marks": [], "riding": [], "alone": []}
    mark_sending, mark_sent = DeliveryRecords.mark_sending, DeliveryRecords.mark_sent

    def marking(self, ids, token, sent=()):
        calls["marks"].append(len(ids))
        calls["riding"].append(len(sent))
        return mark_sending(self, ids, token, sent)

    def writing(self, sent):
        calls["alone"].append(len(sent))
        return mark_sent(self, sent)

    monkeypatch.setattr(DeliveryRecords, "mark_sending", marking)
    monkeypatch.setattr(DeliveryRecords, "mark_sent", writing)
    one_message = replace(settings, recipients_per_message=100, notifier_concurrency=4)
    make_executor(one_message, registry, queues, None).execute(firing("promo", now_minute()))
    deliver(queues, replace(notifier, settings=one_message))

    assert chats(telegram) == list(range(5000, 5100))
    assert calls["marks"] == [4] * 25
    assert calls["riding"][0] == 0 and sum(calls["riding"]) + sum(calls["alone"]) == 100
    assert len(calls["alone"]) <= 2 and sum(calls["alone"]) <= 2 * 4  # the tail: two waves
    (execution,) = execution_rows(db)
    assert (execution["sent_count"], execution["status"]) == (100, "succeeded")


def test_a_wave_whose_mark_was_committed_but_whose_answer_was_lost_is_sent_not_stranded(
    db, executor, notifier, queues, telegram, monkeypatch
):
    """Postgres commits a wave's ``sending`` and the connection drops before the answer:
    the wave never left, so its rows are given back and sent by the redelivery, rather
    than stranded as "sending" (and shown as "may have arrived" though nobody got them)."""
    add_users(db, 20)
    add_custom_job(db)
    mark_sending, cut = DeliveryRecords.mark_sending, []

    def committed_then_cut(self, ids, token, sent=()):
        marked = mark_sending(self, ids, token, sent)
        if not cut:
            cut.append(sorted(marked))
            raise ConnectionLost("the connection to Postgres was lost")
        return marked

    monkeypatch.setattr(DeliveryRecords, "mark_sending", committed_then_cut)
    executor.execute(firing("promo", now_minute()))
    deliver(queues, notifier)

    assert len(cut[0]) > 0
    assert chats(telegram) == list(range(5000, 5020))  # everyone once, the cut wave too
    statuses = db.execute("SELECT DISTINCT status FROM notification_deliveries").fetchall()
    assert statuses == [{"status": "sent"}]


def test_counts_are_taken_at_most_every_few_seconds_while_sending_and_exact_at_the_end(
    db, executor, notifier, queues, telegram
):
    add_users(db, 30)
    add_custom_job(db)
    executor.execute(firing("promo", now_minute()))
    (execution,) = execution_rows(db)
    first = execution["id"]
    assert recount_if_due(db, first, 60)  # never counted: counts
    db.execute("UPDATE notification_deliveries SET status = 'sent' WHERE id IN"
               " (SELECT id FROM notification_deliveries ORDER BY id LIMIT 5)")  # fmt: skip
    assert not recount_if_due(db, first, 60)  # counted a moment ago, and still sending
    assert execution_rows(db)[0]["sent_count"] == 0
    db.execute("UPDATE job_executions SET counted_at = now() - interval '61 seconds'")
    assert recount_if_due(db, first, 60) and execution_rows(db)[0]["sent_count"] == 5
    db.execute("UPDATE notification_deliveries SET status = 'sent'")
    assert recount_if_due(db, first, 60)  # nothing left to send: counted at once
    assert execution_rows(db)[0]["sent_count"] == 30


def test_the_same_firing_ten_times_at_once_runs_once_and_messages_once(
    db, executor, notifier, queues, telegram
):
    add_users(db, 15)
    add_custom_job(db)
    start = threading.Barrier(10)

    def fire() -> str:
        start.wait()
        try:
            return executor.execute(firing("promo", now_minute())).status
        except RetryLater:
            return "retry-later"

    with ThreadPoolExecutor(max_workers=10) as pool:
        first_round = list(pool.map(lambda _: fire(), range(10)))
    retried = [
        executor.execute(firing("promo", now_minute())).status for s in first_round if s != "ran"
    ]
    deliver(queues, notifier)

    assert first_round.count("ran") == 1
    assert set(retried) == {"duplicate"}
    assert len(execution_rows(db)) == 1
    assert chats(telegram) == list(range(5000, 5015))


def test_with_redis_unreachable_the_job_still_runs_once(
    db, settings, registry, queues, telegram, notifier
):
    add_users(db, 3)
    add_custom_job(db)
    lockless = make_executor(settings, registry, queues, "redis://127.0.0.1:1/0")

    minute = now_minute()
    assert lockless.execute(firing("promo", minute)).status == "ran"
    assert lockless.execute(firing("promo", minute)).status == "duplicate"
    deliver(queues, notifier)

    (execution,) = execution_rows(db)
    assert execution["lock_mode"] == "redis-unavailable"
    assert chats(telegram) == [5000, 5001, 5002]


def test_postgres_failing_mid_run_is_retried_without_loss_or_doubles(
    db, executor, notifier, queues, telegram
):
    add_users(db, 2500)
    job = add_custom_job(db, name="flaky", kind="coded")
    assert job["kind"] == "coded"

    def kill_my_connection() -> None:
        db.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )

    Flaky.fail_after, Flaky.on_fail = 1500, staticmethod(kill_my_connection)
    minute = now_minute()  # the retry is of the same firing, whenever the minute turns
    with pytest.raises(DatabaseError):
        executor.execute(firing("flaky", minute))
    (failed,) = execution_rows(db)
    assert failed["status"] == "failed" and "terminat" in failed["error"].lower()

    Flaky.fail_after = None
    assert executor.execute(firing("flaky", minute)).status == "ran"
    deliver(queues, notifier)

    (execution,) = execution_rows(db)
    assert (execution["status"], execution["attempts"]) == ("succeeded", 2)
    assert chats(telegram) == list(range(5000, 7500))


def test_a_resumed_run_skips_rows_its_job_no_longer_produces(
    db, executor, notifier, queues, telegram
):
    add_users(db, 1500)
    add_custom_job(db, name="flaky", kind="coded")

    def fail() -> None:
        raise RuntimeError("the job broke after its first chunk was queued")

    Flaky.fail_after, Flaky.on_fail = 1200, staticmethod(fail)
    minute = now_minute()  # the retry is of the same firing, whenever the minute turns
    with pytest.raises(RuntimeError):
        executor.execute(firing("flaky", minute))
    Flaky.fail_after, Flaky.only_first = None, 500  # now it wants the first 500 only
    assert executor.execute(firing("flaky", minute)).status == "ran"
    deliver(queues, notifier)

    counts = db.execute(
        "SELECT status, count(*) AS n FROM notification_deliveries GROUP BY status ORDER BY 1"
    ).fetchall()
    assert [(row["status"], row["n"]) for row in counts] == [("sent", 500), ("skipped", 500)]
    assert chats(telegram) == list(range(5000, 5500))  # once each, none of the 500 dropped


# --- what is not run ----------------------------------------------------------------------


def test_a_superset_firing_that_is_not_due_is_dropped(db, executor):
    add_custom_job(db, cron="cron(30 2 * * ? *)", timezone="Europe/Berlin")
    not_due = datetime(2026, 7, 1, 1, 30, tzinfo=UTC)  # 03:30 CEST: the rule's other hour

    assert executor.execute(firing("promo", not_due)).status == "not-due"
    assert execution_rows(db) == []


def test_a_disabled_job_records_skipped_but_run_now_still_runs(db, executor, telegram):
    add_users(db, 1)
    add_custom_job(db, enabled=False)

    assert executor.execute(firing("promo", now_minute())).status == "skipped"
    assert executor.execute(firing("promo", now_minute(), trigger="manual")).status == "ran"

    rows = execution_rows(db)
    assert [(r["trigger"], r["status"]) for r in rows] == [
        ("schedule", "skipped"),
        ("manual", "succeeded"),
    ]
    assert rows[0]["detail"] == "the job is disabled"


def test_a_late_firing_past_its_grace_is_missed_not_run(db, executor):
    add_users(db, 1)
    add_custom_job(db, misfire_grace_seconds=120)

    assert executor.execute(firing("promo", now_minute() - timedelta(minutes=5))).status == "missed"
    assert executor.execute(firing("promo", now_minute() - timedelta(minutes=1))).status == "ran"

    missed = execution_rows(db)[0]
    assert missed["status"] == "missed" and "misfire grace is 120 s" in missed["detail"]


@pytest.mark.parametrize("policy, expected", [("skip", "skipped"), ("allow", "ran")])
def test_overlap_policy_while_a_previous_run_is_going(db, executor, policy, expected):
    add_users(db, 1)
    job = add_custom_job(db, overlap_policy=policy)
    db.execute(
        "INSERT INTO job_executions (job_id, scheduled_for, trigger, status, lease_until)"
        " VALUES (%s, %s, 'schedule', 'running', now() + interval '1 minute')",
        (job["id"], now_minute() - timedelta(minutes=1)),
    )

    assert executor.execute(firing("promo", now_minute())).status == expected


def test_a_stale_run_does_not_block_the_next_one(db, executor):
    add_users(db, 1)
    job = add_custom_job(db)
    db.execute(
        "INSERT INTO job_executions (job_id, scheduled_for, trigger, status, lease_until)"
        " VALUES (%s, %s, 'schedule', 'running', now() - interval '1 minute')",
        (job["id"], now_minute() - timedelta(minutes=1)),
    )
    assert executor.execute(firing("promo", now_minute())).status == "ran"


def test_a_firing_for_a_deleted_job_is_dropped(db, executor):
    assert executor.execute(firing("gone", now_minute())).status == "unknown-job"


# --- Telegram's answers -------------------------------------------------------------------


def test_a_429_storm_delivers_everything_exactly_once(db, executor, notifier, queues, telegram):
    add_users(db, 30)
    add_custom_job(db)
    telegram.configure(rate_limit_every=3, retry_after=1)

    executor.execute(firing("promo", now_minute()))
    deliver(queues, notifier)

    assert chats(telegram) == list(range(5000, 5030))
    assert telegram.stats()["429"] >= 9
    (execution,) = execution_rows(db)
    assert execution["sent_count"] == 30


def test_a_delivery_rate_limited_on_every_attempt_fails_instead_of_circling(
    db, executor, notifier, queues, telegram
):
    add_users(db, 2)
    add_custom_job(db)
    executor.execute(firing("promo", now_minute()))
    # One delivery already claimed as often as a delivery may be, short of its last try.
    db.execute(
        "UPDATE notification_deliveries SET attempts = %s WHERE user_id = ("
        " SELECT id FROM users WHERE telegram_chat_id = 5001)",
        (MAX_DELIVERY_ATTEMPTS - 1,),
    )
    telegram.configure(rate_limit_every=1, retry_after=1)  # every send: 429
    (message,) = receive_all(queues, queues.notifications)

    result = notifier.process(DeliveryBatch.from_json(message["Body"]))

    rows = db.execute(
        "SELECT u.telegram_chat_id AS chat, d.status, d.last_error FROM notification_deliveries d"
        " JOIN users u ON u.id = d.user_id ORDER BY chat"
    ).fetchall()
    assert [(row["chat"], row["status"]) for row in rows] == [(5000, "queued"), (5001, "failed")]
    assert f"on {MAX_DELIVERY_ATTEMPTS} attempts" in rows[1]["last_error"]
    assert (result.requeued, result.failed) == (1, 1)
    (execution,) = execution_rows(db)
    assert execution["failed_count"] == 1


def test_a_user_who_blocked_the_bot_goes_inactive_and_is_not_targeted_again(
    db, executor, notifier, queues, telegram
):
    add_users(db, 3)
    add_custom_job(db)
    telegram.configure(blocked_chat_ids=[5001])

    executor.execute(firing("promo", now_minute()))
    deliver(queues, notifier)

    user = db.execute(
        "SELECT is_active, inactive_reason FROM users WHERE telegram_chat_id = 5001"
    ).fetchone()
    assert user["is_active"] is False and "blocked" in user["inactive_reason"]
    assert chats(telegram) == [5000, 5002]
    assert (
        executor.execute(firing("promo", now_minute() + timedelta(minutes=1))).result.recipients
        == 2
    )
    (first, _) = execution_rows(db)
    assert (first["sent_count"], first["failed_count"]) == (2, 1)


def test_a_migrated_chat_is_followed(db, executor, notifier, queues, telegram):
    add_users(db, 1)
    add_custom_job(db)
    telegram.configure(migrated_chats={5000: -1009000})

    executor.execute(firing("promo", now_minute()))
    deliver(queues, notifier)

    assert chats(telegram) == [-1009000]
    assert (
        db.execute("SELECT telegram_chat_id FROM users").fetchone()["telegram_chat_id"] == -1009000
    )


def test_server_errors_are_retried_and_delivered(db, executor, notifier, queues, telegram):
    add_users(db, 10)
    add_custom_job(db)
    telegram.configure(server_error_every=2)

    executor.execute(firing("promo", now_minute()))
    deliver(queues, notifier)

    assert chats(telegram) == list(range(5000, 5010))


def test_a_redelivered_batch_sends_nothing_twice(db, executor, notifier, queues, telegram):
    """The notifier 'killed' after recording its sends but before SQS heard back."""
    add_users(db, 8)
    add_custom_job(db)
    executor.execute(firing("promo", now_minute()))
    bodies = [m for m in receive_all(queues, queues.notifications)]

    for message in bodies:  # processed, never deleted: SQS will hand them out again
        notifier.process(DeliveryBatch.from_json(message["Body"]))
    deliver(queues, notifier)  # the redelivered copies

    assert chats(telegram) == list(range(5000, 5008))


def test_a_send_whose_notifier_died_is_never_sent_again_but_shown_as_may_have_arrived(
    db, settings, executor, notifier, queues, telegram
):
    """Its request may have reached Telegram before the process died: at most once means it
    is not sent again; the sweeper settles it as uncertain, counted apart."""
    add_users(db, 2)
    add_custom_job(db)
    executor.execute(firing("promo", now_minute()))
    db.execute(
        "UPDATE notification_deliveries SET status = 'sending',"
        " claimed_until = now() - interval '2 minutes' WHERE user_id = 1"
    )  # a claim its notifier never came back to
    telegram.configure()  # nothing odd

    deliver(queues, notifier)
    report = Sweeper.from_settings(settings, db).sweep()

    assert chats(telegram) == [5001]
    assert report.uncertain == 1
    rows = db.execute("SELECT user_id, status FROM notification_deliveries ORDER BY 1").fetchall()
    assert [(row["user_id"], row["status"]) for row in rows] == [(1, "uncertain"), (2, "sent")]
    (execution,) = execution_rows(db)
    assert (execution["sent_count"], execution["uncertain_count"]) == (1, 1)


def test_after_max_receives_a_failing_firing_is_in_the_dlq_and_the_execution_failed(
    db, settings, registry, queues
):
    """Three receives (maxReceiveCount 3), each failing, then SQS moves it to the DLQ."""
    add_users(db, 2)
    add_custom_job(db, name="flaky", kind="coded")

    def boom() -> None:
        raise RuntimeError("the job broke")

    Flaky.fail_after, Flaky.on_fail = 0, staticmethod(boom)
    executor = make_executor(settings, registry, queues, None)
    body = json.dumps(firing("flaky", now_minute()).to_message())
    queues.sqs.send_message(QueueUrl=queues.jobs["url"], MessageBody=body)
    for _ in range(3):
        (message,) = queues.sqs.receive_message(
            QueueUrl=queues.jobs["url"], WaitTimeSeconds=5, MaxNumberOfMessages=1
        )["Messages"]
        with pytest.raises(RuntimeError):
            executor.execute(parse_firing(message["Body"], executor.job_for_rule))

    assert receive_all(queues, queues.jobs, wait=2.5) == []
    assert queues.depth(queues.jobs_dlq) == 1
    (execution,) = execution_rows(db)
    assert execution["status"] == "failed" and "the job broke" in execution["error"]
    assert execution["attempts"] == 3


# --- found in review: each of these once broke a property ----------------------------------


def test_a_failing_chat_move_does_not_resend_the_others(db, executor, notifier, queues, telegram):
    add_users(db, 4)  # chats 5000..5003
    add_custom_job(db)
    telegram.configure(migrated_chats={5000: 5003})  # onto a chat another user already has

    executor.execute(firing("promo", now_minute()))
    deliver(queues, notifier)

    assert chats(telegram) == [5001, 5002, 5003]  # each once, over every redelivery
    statuses = db.execute(
        "SELECT u.telegram_chat_id, d.status FROM notification_deliveries d"
        " JOIN users u ON u.id = d.user_id ORDER BY 1"
    ).fetchall()
    assert [(r["telegram_chat_id"], r["status"]) for r in statuses] == [
        (5000, "failed"),
        (5001, "sent"),
        (5002, "sent"),
        (5003, "sent"),
    ]
    (execution,) = execution_rows(db)
    assert (execution["sent_count"], execution["failed_count"]) == (3, 1)


def test_no_answer_after_sending_is_not_sent_again(db, executor, notifier, queues, telegram):
    add_users(db, 6)
    add_custom_job(db)
    telegram.configure(drop_connection_every=3)

    executor.execute(firing("promo", now_minute()))
    deliver(queues, notifier)

    uncertain = db.execute(
        "SELECT last_error FROM notification_deliveries WHERE status = 'uncertain'"
    ).fetchall()
    assert len(uncertain) == 2 and all("may have delivered" in r["last_error"] for r in uncertain)
    (execution,) = execution_rows(db)
    assert (execution["sent_count"], execution["uncertain_count"]) == (4, 2)
    assert len(chats(telegram)) == 4
    assert telegram.stats()["dropped"] == 2


def test_near_its_deadline_the_notifier_requeues_instead_of_sending(
    db, executor, notifier, queues, telegram
):
    add_users(db, 5)
    add_custom_job(db)
    executor.execute(firing("promo", now_minute()))

    (message,) = receive_all(queues, queues.notifications)
    result = notifier.process(DeliveryBatch.from_json(message["Body"]), deadline=0.0)

    assert (result.sent, result.requeued) == (0, 5) and telegram.messages() == []
    deliver(queues, notifier)
    assert chats(telegram) == list(range(5000, 5005))


def test_a_retry_of_a_firing_that_arrived_on_time_is_not_missed(db, executor):
    add_users(db, 1)
    add_custom_job(db, misfire_grace_seconds=300)
    scheduled = now_minute() - timedelta(minutes=10)
    on_time = replace(firing("promo", scheduled), first_received_at=scheduled)

    assert executor.execute(on_time).status == "ran"


def test_skip_overlap_holds_when_many_minutes_of_one_job_arrive_at_once(db, executor):
    add_users(db, 1)
    add_custom_job(db, name="flaky", kind="coded", misfire_grace_seconds=3600)
    Flaky.fail_after, Flaky.on_fail = 0, staticmethod(lambda: time.sleep(1))
    minutes = [now_minute() - timedelta(minutes=offset) for offset in range(8)]
    start = threading.Barrier(len(minutes))

    def fire(minute: datetime) -> str:
        start.wait()
        return executor.execute(firing("flaky", minute)).status

    with ThreadPoolExecutor(max_workers=len(minutes)) as pool:
        statuses = list(pool.map(fire, minutes))

    assert sorted(statuses) == ["ran"] + ["skipped"] * 7


def test_errors_stored_for_admins_are_scrubbed(db, settings, registry, queues):
    add_users(db, 1)
    add_custom_job(db, name="flaky", kind="coded")

    def leak() -> None:
        raise RuntimeError(f"telegram refused token {TOKEN}")

    Flaky.fail_after, Flaky.on_fail = 0, staticmethod(leak)
    executor = make_executor(settings, registry, queues, None)
    with pytest.raises(RuntimeError):
        executor.execute(firing("flaky", now_minute()))

    (execution,) = execution_rows(db)
    assert TOKEN not in execution["error"] and "***" in execution["error"]


def test_a_batch_telegram_keeps_refusing_ends_in_the_dlq_with_its_deliveries_failed(
    db, executor, notifier, queues, telegram
):
    add_users(db, 3)
    add_custom_job(db)
    telegram.configure(server_error_every=1)  # every send: 502

    executor.execute(firing("promo", now_minute()))
    deliver(queues, notifier)  # three receives (maxReceiveCount 3), each failing

    assert queues.depth(queues.notifications_dlq) == 1
    rows = db.execute("SELECT status, last_error FROM notification_deliveries").fetchall()
    assert {r["status"] for r in rows} == {"failed"}
    assert all("502" in r["last_error"] for r in rows)
    (execution,) = execution_rows(db)
    assert (execution["sent_count"], execution["failed_count"]) == (0, 3)
    assert telegram.messages() == []


def test_a_stored_template_that_could_blow_up_fails_its_run_visibly_not_the_process(db, executor):
    """A row written before templates were bounded: the run fails with the reason at once."""
    add_users(db, 30)
    doubling = '{% set a = "xx" %}' + "{% set a = a ~ a %}" * 40 + "{{ a }}"
    add_custom_job(db, text=doubling)

    with pytest.raises(InvalidMessage):
        executor.execute(firing("promo", now_minute()))

    (execution,) = execution_rows(db)
    assert execution["status"] == "failed" and "could grow to" in execution["error"]
