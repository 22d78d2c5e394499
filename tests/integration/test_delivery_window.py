"""Each execution's window on the notifications queue, and the sweeper that finds work no
longer anywhere: against Postgres, moto's SQS and the fake Telegram."""

from __future__ import annotations

import contextlib
import json
import time

import pytest
from execution_fixtures import *  # noqa: F403 - the fixtures
from execution_fixtures import Flaky, chats, deliver, now_minute
from pipeline import add_custom_job, add_users, execution_rows, firing, receive_all

from job_scheduler.delivery.outbox import DeliveryBatch
from job_scheduler.jobs.sweeper import Sweeper

PER_MESSAGE, WINDOW = 7, 4  # the fixtures' recipients_per_message, and the default window


def statuses(db) -> dict[str, int]:
    rows = db.execute(
        "SELECT status, count(*) AS n FROM notification_deliveries GROUP BY status"
    ).fetchall()
    return {row["status"]: row["n"] for row in rows}


def test_a_big_send_puts_only_its_window_on_the_queue(db, executor, queues):
    add_users(db, 500)
    add_custom_job(db)

    outcome = executor.execute(firing("promo", now_minute()))

    assert outcome.result.messages == 500
    assert statuses(db) == {"queued": PER_MESSAGE * WINDOW, "ready": 500 - PER_MESSAGE * WINDOW}
    assert queues.depth(queues.notifications) == WINDOW
    (execution,) = execution_rows(db)
    assert execution["queued_count"] == 500  # every delivery it made, whatever its state


def test_each_finished_message_tops_the_window_up_until_everyone_has_theirs(
    db, executor, notifier, queues, telegram
):
    add_users(db, 100)
    add_custom_job(db)
    executor.execute(firing("promo", now_minute()))
    message = receive_all(queues, queues.notifications)[0]

    notifier.process(DeliveryBatch.from_json(message["Body"]))

    assert statuses(db)["queued"] == PER_MESSAGE * WINDOW  # 7 sent, 7 more queued
    deliver(queues, notifier)
    assert chats(telegram) == list(range(5000, 5100))
    assert statuses(db) == {"sent": 100}


def test_a_small_job_fired_during_a_big_send_is_not_starved(
    db, executor, notifier, queues, telegram
):
    add_users(db, 600)
    add_custom_job(db, name="big")
    add_custom_job(db, name="small", include_user_ids=[5, 6, 7], text="small {{ user.username }}")
    executor.execute(firing("big", now_minute()))
    executor.execute(firing("small", now_minute()))

    deliver(queues, notifier)

    texts = [message["text"] for message in telegram.messages()]
    small = [index for index, text in enumerate(texts) if text.startswith("small")]
    assert len(texts) == 603 and len(small) == 3
    # The small job's messages went out with the big one's first windows, not after 600.
    assert max(small) < 2 * PER_MESSAGE * WINDOW + 3


def test_a_lost_queue_message_is_sent_again_by_the_sweeper_once_it_is_stale(
    db, settings, executor, notifier, queues, telegram
):
    add_users(db, 20)
    add_custom_job(db)
    executor.execute(firing("promo", now_minute()))
    queues.sqs.purge_queue(QueueUrl=queues.notifications["url"])  # the messages are gone

    assert Sweeper.from_settings(settings, db).sweep().requeued == 0  # not stale yet
    db.execute("UPDATE notification_deliveries SET updated_at = now() - interval '30 minutes'")
    report = Sweeper.from_settings(settings, db).sweep()
    deliver(queues, notifier)

    assert report.requeued == 20  # all of them: the window (28) holds them all
    assert chats(telegram) == list(range(5000, 5020))  # every one once


def test_after_a_restart_every_stranded_delivery_and_run_is_recovered_at_once(
    db, settings, executor, notifier, queues, telegram
):
    add_users(db, 30)
    add_custom_job(db)
    add_custom_job(db, name="flaky", kind="coded")
    executor.execute(firing("promo", now_minute()))
    db.execute(
        "UPDATE notification_deliveries SET status = 'sending', claimed_by = 'dead',"
        " claimed_until = now() + interval '1 minute' WHERE user_id <= 3"
    )  # in flight when the process died
    queues.sqs.purge_queue(QueueUrl=queues.notifications["url"])

    def die() -> None:
        raise KeyboardInterrupt  # the executor process is killed mid fan-out

    Flaky.fail_after, Flaky.on_fail = 10, staticmethod(die)
    with contextlib.suppress(KeyboardInterrupt):
        executor.execute(firing("flaky", now_minute()))
    db.execute("UPDATE job_executions SET status = 'running', finished_at = NULL, error = NULL"
               " WHERE job_id = (SELECT id FROM scheduled_jobs WHERE name = 'flaky')")  # fmt: skip
    Flaky.fail_after = None

    report = Sweeper.from_settings(settings, db).sweep(after_restart=True)
    (resumed,) = receive_all(queues, queues.jobs)
    executor.execute(firing(**_firing_fields(resumed["Body"])))
    deliver(queues, notifier)

    assert report.uncertain == 3 and len(report.resumed) == 1
    promo = {int(m["chat_id"]) for m in telegram.messages() if m["text"].startswith("<b>")}
    flaky = sorted(int(m["chat_id"]) for m in telegram.messages() if m["text"].startswith("flaky"))
    assert promo == set(range(5003, 5030))  # the three in flight are shown, not sent again
    assert flaky == list(range(5000, 5030))  # the resumed run reached everyone, once
    counts = {row["status"]: row["n"] for row in db.execute(
        "SELECT e.status, count(*) AS n FROM job_executions e GROUP BY 1").fetchall()}  # fmt: skip
    assert counts == {"succeeded": 2}
    rows = execution_rows(db)
    assert [(r["sent_count"], r["uncertain_count"]) for r in rows] == [(27, 3), (30, 0)]


def test_a_window_that_went_empty_is_topped_up(db, settings, executor, notifier, queues, telegram):
    add_users(db, 60)
    add_custom_job(db)
    executor.execute(firing("promo", now_minute()))
    queues.sqs.purge_queue(QueueUrl=queues.notifications["url"])
    db.execute("UPDATE notification_deliveries SET status = 'skipped' WHERE status = 'queued'")

    report = Sweeper.from_settings(settings, db).sweep()
    deliver(queues, notifier)

    assert report.topped_up == PER_MESSAGE * WINDOW
    assert len(chats(telegram)) == 60 - PER_MESSAGE * WINDOW


def _firing_fields(body: str) -> dict:
    from datetime import datetime

    message = json.loads(body)
    at = datetime.fromisoformat(message["time"].replace("Z", "+00:00"))
    return {"job": message["job"], "at": at, "trigger": message["source"]}


def test_a_message_whose_deliveries_a_dead_claim_holds_comes_back_instead_of_being_lost(
    db, settings, executor, notifier, queues, telegram
):
    """Postgres went away after a claim and before its release: the redelivered message
    finds the rows still held. It is not deleted (its rows would wait for the sweeper); it
    comes back after the visibility timeout, and then the claim has expired."""
    from job_scheduler.errors import RetryLater

    add_users(db, 5)
    add_custom_job(db)
    executor.execute(firing("promo", now_minute()))
    (message,) = receive_all(queues, queues.notifications)
    batch = DeliveryBatch.from_json(message["Body"])
    db.execute(
        "UPDATE notification_deliveries SET claimed_by = 'dead', claimed_until ="
        " now() + interval '2 seconds', attempts = 1 WHERE user_id <= 2"
    )

    with pytest.raises(RetryLater, match="2 deliveries are held by another claim"):
        notifier.process(batch)
    assert chats(telegram) == [5002, 5003, 5004]
    time.sleep(2.1)
    notifier.process(batch)  # the queue's redelivery, after the claim expired

    assert chats(telegram) == [5000, 5001, 5002, 5003, 5004]  # everyone, once
    statuses = db.execute("SELECT DISTINCT status FROM notification_deliveries").fetchall()
    assert statuses == [{"status": "sent"}]
