"""A big audience in shards, against the real services: shard tasks on moto's jobs queue,
run by executors as parallel invocations would run them, rows in Postgres, messages in the
fake Telegram. Shards here are 7 people (``SHARD_SIZE``), so 50 people make 8 shards."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from execution_fixtures import *  # noqa: F403 - the fixtures
from execution_fixtures import Flaky, chats, deliver, make_executor, now_minute
from pipeline import add_custom_job, add_users, delete, execution_rows, firing, receive_all

from job_scheduler.execution.cancellation import cancel_execution
from job_scheduler.execution.handler import FiringHandler
from job_scheduler.execution.shards import ShardTask

SIZE = 7


@pytest.fixture
def sharded(settings, registry, redis_client, queues):
    """An executor whose audiences split every 7 people."""
    redis_client.flushdb()
    return make_executor(replace(settings, shard_size=SIZE), registry, queues,
                         "redis://127.0.0.1:6379/15")  # fmt: skip


def shard_tasks(queues) -> list[ShardTask]:
    """The shard tasks on the jobs queue (taken off it)."""
    messages = receive_all(queues, queues.jobs)
    delete(queues, queues.jobs, messages)
    return [task for task in (ShardTask.of(m["Body"]) for m in messages) if task is not None]


def shard_rows(db) -> list[dict]:
    return db.execute("SELECT * FROM execution_shards ORDER BY shard").fetchall()


def test_a_big_audience_is_split_and_finished_by_its_last_shard_with_exact_counts(
    db, sharded, notifier, queues, telegram
):
    users = add_users(db, 50)
    add_custom_job(db, exclude_user_ids=[users[3]])

    outcome = sharded.execute(firing("promo", now_minute()))
    tasks = shard_tasks(queues)

    assert outcome.status == "sharded"
    assert sorted(task.shard for task in tasks) == list(range(7))  # 49 people, 7 a shard
    (execution,) = execution_rows(db)
    assert (execution["status"], execution["shards"], execution["lease_until"]) == (
        "running", 7, None)  # fmt: skip
    ranges = [(row["first_user_id"], row["last_user_id"]) for row in shard_rows(db)]
    assert ranges[0][0] == users[0] and ranges[-1][1] == 2**63 - 1
    assert all(ranges[i][1] + 1 == ranges[i + 1][0] for i in range(len(ranges) - 1))

    outcomes = [sharded.run_shard(task) for task in reversed(tasks)]  # any order
    deliver(queues, notifier)

    assert [o.status for o in outcomes] == ["shard"] * 7
    (execution,) = execution_rows(db)
    assert (execution["status"], execution["recipients_count"], execution["queued_count"],
            execution["sent_count"], execution["skipped_count"]) == (
        "succeeded", 49, 49, 49, 0)  # fmt: skip
    assert len(telegram.messages()) == 49 and len(set(chats(telegram))) == 49
    assert {row["status"] for row in shard_rows(db)} == {"done"}
    assert sum(row["recipients"] for row in shard_rows(db)) == 49


def test_a_shard_run_twice_or_redelivered_sends_nothing_twice(
    db, sharded, notifier, queues, telegram
):
    add_users(db, 20)
    add_custom_job(db)
    sharded.execute(firing("promo", now_minute()))
    tasks = shard_tasks(queues)

    first = [sharded.run_shard(task) for task in tasks]
    again = sharded.run_shard(tasks[0])  # SQS delivered it twice
    db.execute("UPDATE execution_shards SET status = 'failed' WHERE shard = 1")  # as if lost
    rerun = sharded.run_shard(tasks[1])  # its result was lost: it runs again
    deliver(queues, notifier)

    assert [o.status for o in first] == ["shard"] * 3
    assert again.status == "duplicate" and "is done" in again.detail
    assert rerun.status == "shard" and rerun.result.messages == 7
    assert len(telegram.messages()) == 20 and len(set(chats(telegram))) == 20
    (execution,) = execution_rows(db)
    assert (execution["status"], execution["sent_count"], execution["queued_count"]) == (
        "succeeded", 20, 20)  # fmt: skip


def test_shards_run_in_parallel_and_the_execution_is_finished_once(
    db, sharded, notifier, queues, telegram, settings, registry
):
    add_users(db, 60)
    add_custom_job(db)
    sharded.execute(firing("promo", now_minute()))
    tasks = shard_tasks(queues)
    workers = [make_executor(replace(settings, shard_size=SIZE), registry, queues, None)
               for _ in range(4)]  # fmt: skip

    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(lambda pair: workers[pair[0] % 4].run_shard(pair[1]),
                                 enumerate(tasks)))  # fmt: skip
    deliver(queues, notifier)

    assert [o.status for o in outcomes] == ["shard"] * 9
    (execution,) = execution_rows(db)
    assert (execution["status"], execution["recipients_count"], execution["sent_count"]) == (
        "succeeded", 60, 60)  # fmt: skip
    assert len(telegram.messages()) == 60
    finished = db.execute(
        "SELECT count(*) AS n FROM job_executions WHERE finished_at IS NOT NULL"
    ).fetchone()["n"]
    assert finished == 1


def test_a_shard_that_keeps_failing_is_reported_and_a_redrive_finishes_the_execution(
    db, sharded, queues, settings
):
    users = add_users(db, 21)
    db.execute(
        "INSERT INTO scheduled_jobs (name, kind, cron_expression, timezone, created_by,"
        " updated_by) VALUES ('flaky', 'coded', 'cron(* * * * ? *)', 'UTC', 'test', 'test')"
    )

    def rastar_down() -> None:
        raise RuntimeError("Rastar is down for this part")

    sharded.execute(firing("flaky", now_minute()))
    tasks = {task.shard: task for task in shard_tasks(queues)}
    sharded.run_shard(tasks[0])
    sharded.run_shard(tasks[2])
    Flaky.fail_after, Flaky.on_fail = 1, staticmethod(rastar_down)  # shard 1's second person
    for _ in range(settings.max_receive_count):  # every receive, then the dead-letter queue
        with pytest.raises(RuntimeError, match="Rastar is down"):
            sharded.run_shard(tasks[1])

    (execution,) = execution_rows(db)
    assert execution["status"] == "failed"
    assert f"shard 1 (users {users[7]:,} to {users[13]:,}) failed 3 times" in execution["error"]
    assert "jobsctl dlq redrive jobs" in execution["error"]
    assert shard_rows(db)[1]["status"] == "failed"

    Flaky.fail_after = None
    redriven = sharded.run_shard(tasks[1])  # the dead letter, moved back

    (execution,) = execution_rows(db)
    assert redriven.status == "shard"
    assert (execution["status"], execution["queued_count"], execution["error"]) == (
        "succeeded", 21, None)  # fmt: skip


def test_a_cancel_stops_the_shards_that_have_not_run(db, sharded, queues):
    add_users(db, 35)
    add_custom_job(db)
    outcome = sharded.execute(firing("promo", now_minute()))
    tasks = shard_tasks(queues)
    sharded.run_shard(tasks[0])
    sharded.run_shard(tasks[1])

    done = cancel_execution(db, outcome.execution_id, "admin:sara", datetime.now(UTC))
    later = [sharded.run_shard(task) for task in tasks[2:]]

    assert done.was == "running" and done.cancelled == 14
    assert [o.status for o in later] == ["cancelled"] * 3
    (execution,) = execution_rows(db)
    assert (execution["status"], execution["queued_count"], execution["cancelled_count"]) == (
        "cancelled", 14, 14)  # fmt: skip
    assert execution["recipients_count"] == 35  # finished by its last shard all the same


def test_a_duplicate_firing_of_a_split_execution_is_dropped(db, sharded, queues):
    add_users(db, 15)
    add_custom_job(db)
    at = now_minute()
    sharded.execute(firing("promo", at))
    shard_tasks(queues)

    again = sharded.execute(firing("promo", at))

    assert again.status == "duplicate"
    assert shard_tasks(queues) == []


def test_the_handler_runs_a_shard_task_from_the_queue(db, sharded, queues, notifier, telegram):
    add_users(db, 10)
    add_custom_job(db)
    sharded.execute(firing("promo", now_minute()))
    messages = receive_all(queues, queues.jobs)
    handler = FiringHandler(sharded)
    event = {"Records": [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"],
                          "body": m["Body"], "attributes": {"ApproximateReceiveCount": "1"},
                          "eventSource": "aws:sqs"} for m in messages]}  # fmt: skip

    answers = [handler({"Records": [record]}, None) for record in event["Records"]]
    deliver(queues, notifier)

    assert answers == [{"batchItemFailures": []}] * 2
    assert len(telegram.messages()) == 10
    assert json.loads(messages[0]["Body"])["shard"]["execution_id"] == 1


def test_a_shard_task_that_is_not_one_is_refused():
    from job_scheduler.errors import InvalidFiring

    with pytest.raises(InvalidFiring, match="not a shard task"):
        ShardTask.of('{"shard": {"execution_id": "x"}}')
    assert ShardTask.of('{"job": "promo"}') is None


def test_the_sweeper_queues_again_the_shards_whose_tasks_were_lost(db, sharded, queues, settings):
    from job_scheduler.jobs.sweeper import Sweeper

    add_users(db, 20)
    add_custom_job(db)
    sharded.execute(firing("promo", now_minute()))
    lost = shard_tasks(queues)  # taken off the queue and never run: an emulator restarted
    sharded.run_shard(lost[0])

    report = Sweeper.from_settings(settings, db).sweep(after_restart=True)

    assert report.shards == 2 and report.resumed == []  # a split run is not re-fired
    assert sorted(task.shard for task in shard_tasks(queues)) == [1, 2]
    assert "2 stranded shards queued again" in report.summary()
    assert Sweeper.from_settings(settings, db).sweep().shards == 0  # not again at once
