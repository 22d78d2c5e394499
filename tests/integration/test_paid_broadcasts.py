"""Paid broadcasts (``message_config.paid_broadcast``: Telegram's ``allow_paid_broadcast``)
against the real services: saved and checked through the admin API (Chalice's test client,
Postgres, moto), run by the executor, sent by the notifier and read back in the fake
Telegram over HTTP, which enforces 30 a second for free messages and 1000 for paid ones and
bills paid ones past the free 30 from a Stars balance."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from admin_helpers import admin_settings, load_admin_app
from chalice.test import Client
from execution_fixtures import *  # noqa: F403 - the fixtures
from execution_fixtures import TOKEN, deliver, now_minute
from pipeline import add_custom_job, add_users, execution_rows, firing, make_queues
from psycopg.types.json import Jsonb

from job_scheduler.adapters.telegram import TelegramClient
from job_scheduler.admin import tokens as admin_tokens
from job_scheduler.delivery.handler import build_notifier
from job_scheduler.delivery.notifier import Notifier
from job_scheduler.delivery.outbox import Outbox
from job_scheduler.delivery.ratelimit import LocalRateLimiter
from job_scheduler.delivery.retry import retry_failed
from job_scheduler.delivery.window import Window


def add_paid_job(db, name: str = "promo", paid: bool = True, **columns):
    config = {"text": "<b>{{ user.first_name }}</b>, the sale is on", "parse_mode": "HTML",
              "silent": False, **({"paid_broadcast": True} if paid else {})}  # fmt: skip
    return add_custom_job(db, name, message_config=Jsonb(config), **columns)


def statuses(db) -> dict[str, int]:
    rows = db.execute(
        "SELECT status, count(*) AS n FROM notification_deliveries GROUP BY status"
    ).fetchall()
    return {row["status"]: row["n"] for row in rows}


# --- through the executor and the notifier ----------------------------------------------------


def test_a_paid_jobs_deliveries_reach_telegram_with_allow_paid_broadcast(
    db, executor, notifier, queues, telegram
):
    add_users(db, 3)
    add_paid_job(db)
    add_paid_job(db, "plain", paid=False)

    executor.execute(firing("promo", now_minute()))
    executor.execute(firing("plain", now_minute()))
    deliver(queues, notifier)

    sent = telegram.messages()
    assert sorted((m["chat_id"], m["paid_broadcast"]) for m in sent) == [
        (5000, False), (5000, True), (5001, False), (5001, True), (5002, False), (5002, True),
    ]  # fmt: skip
    payloads = db.execute(
        "SELECT j.name, d.payload FROM notification_deliveries AS d"
        " JOIN job_executions AS e ON e.id = d.execution_id JOIN scheduled_jobs AS j"
        " ON j.id = e.job_id ORDER BY d.id"
    ).fetchall()
    assert {row["payload"].get("paid_broadcast") for row in payloads if row["name"] == "promo"} == {
        True
    }
    assert all("paid_broadcast" not in row["payload"] for row in payloads if row["name"] == "plain")
    assert telegram.stats()["paid"] == 3


def test_a_paid_broadcast_goes_past_30_a_second_without_a_429(
    db, executor, settings, queues, telegram
):
    """The limits as shipped (30/s free, 1/s per chat, 1000/s paid) against the fake enforcing
    the same: 150 paid messages go well inside the 4 s they would span free (five windows)."""
    add_users(db, 150)
    add_paid_job(db)
    telegram.configure(enforce_limits=True)
    notifier = Notifier(
        settings=settings,
        send=TelegramClient(TOKEN, settings.telegram_api_url).deliver,
        limiter=LocalRateLimiter(30, 1, settings.telegram_paid_rate_per_second),
        outbox=Outbox(queues.sqs, settings.notifications_queue_url),
    )

    executor.execute(firing("promo", now_minute()))
    deliver(queues, notifier)

    stats = telegram.stats()
    assert (stats["sent"], stats["paid"], stats["429"]) == (150, 150, 0)
    assert stats["billed"] >= 150 - 3 * 30  # past the free 30 of each second it took
    sent = sorted(datetime.fromisoformat(m["time"]) for m in telegram.messages())
    assert (sent[-1] - sent[0]).total_seconds() < 3.0
    assert statuses(db) == {"sent": 150}


def test_what_the_stars_cannot_pay_for_fails_retryable_and_is_sent_once_topped_up(
    db, executor, notifier, queues, telegram, settings
):
    """BALANCE_TOO_LOW is the bot's to fix, not the person's or the message's: the delivery
    fails at once (retrying by itself would only spend requests until someone tops the
    balance up), nobody is deactivated, and "retry failed" sends it after the top-up."""
    add_users(db, 4)
    add_paid_job(db)
    telegram.configure(global_per_second=1, stars_balance=0)  # only the free one goes

    outcome = executor.execute(firing("promo", now_minute()))
    deliver(queues, notifier)

    assert statuses(db) == {"sent": 1, "failed": 3}
    failed = db.execute(
        "SELECT last_error, retryable FROM notification_deliveries WHERE status = 'failed'"
    ).fetchall()
    assert {row["retryable"] for row in failed} == {True}
    assert "BALANCE_TOO_LOW" in failed[0]["last_error"]
    assert "top the balance up, then retry failed" in failed[0]["last_error"]
    assert db.execute("SELECT bool_and(is_active) AS ok FROM users").fetchone()["ok"] is True
    assert execution_rows(db)[0]["failed_count"] == 3

    telegram.configure(stars_balance=100)
    window = Window(Outbox(queues.sqs, settings.notifications_queue_url),
                    settings.recipients_per_message, settings.notify_window_messages)  # fmt: skip
    done = retry_failed(db, window, outcome.execution_id, "admin:sara", datetime.now(UTC))
    deliver(queues, notifier)

    assert done.retried == 3 and statuses(db) == {"sent": 4}
    # Of the three sent again, in a new second, the first is within the free rate of 1.
    assert len(telegram.messages()) == 4 and telegram.stats()["billed"] == 2


def test_the_notifier_is_wired_with_the_paid_rate(settings, redis_client):
    kwargs = redis_client.connection_pool.connection_kwargs
    shared = replace(
        settings,
        telegram_paid_rate_per_second=700,
        redis_url=f"redis://{kwargs['host']}:{kwargs['port']}/{kwargs['db']}",
    )
    for each in (shared, replace(shared, redis_url=None)):
        assert build_notifier(each).limiter._paid_per_second == 700  # Redis, and local


# --- through the admin API --------------------------------------------------------------------


@pytest.fixture
def api(db, database_url, aws, telegram):
    queues = make_queues(aws)
    settings = replace(
        admin_settings(database_url, aws, queues),
        telegram_bot_token="424242:bot-token-for-the-fake-telegram-0001",
        telegram_api_url=telegram.base_url,
        jobs_queue_arn=queues.jobs["arn"],
        rule_prefix="paid-test",
    )
    with Client(load_admin_app(settings)) as client:
        yield client


def call(client, method: str, path: str, token: str, body=None):
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    answer = client.http.request(method, path, headers=headers,
                                 body=json.dumps(body if body is not None else {}))  # fmt: skip
    return answer.status_code, json.loads(answer.body or b"null")


PAID = {"text": "<b>{{ user.first_name }}</b>, the sale is on", "paid_broadcast": True}


def test_the_option_is_saved_shown_and_turned_off_through_the_api(db, api):
    token = admin_tokens.create(db, "sara", "test")
    body = {"name": "sale", "expression": "cron(0 9 ? * MON *)", "message": PAID}

    status, created = call(api, "POST", "/api/jobs", token, body)
    assert status == 201, created
    assert created["message"] == {**PAID, "parse_mode": "HTML", "silent": False}
    assert created["paid_broadcast"] is True
    stored = db.execute("SELECT message_config FROM scheduled_jobs WHERE name = 'sale'").fetchone()
    assert stored["message_config"]["paid_broadcast"] is True
    _, listed = call(api, "GET", "/api/jobs", token)
    assert [job["paid_broadcast"] for job in listed["jobs"] if job["name"] == "sale"] == [True]
    _, preview = call(api, "POST", "/api/jobs/sale/preview", token)
    assert preview["sample"]["paid_broadcast"] is True

    free = {**PAID, "paid_broadcast": False}
    status, edited = call(api, "PATCH", "/api/jobs/sale", token, {"version": 1, "message": free})
    assert status == 200, edited
    assert "paid_broadcast" not in edited["message"] and edited["paid_broadcast"] is False
    (entry,) = db.execute(
        "SELECT before, after FROM audit_log WHERE entity_name = 'sale' AND action = 'update'"
    ).fetchall()
    assert entry["before"]["message_config"]["paid_broadcast"] is True
    assert "paid_broadcast" not in entry["after"]["message_config"]


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_a_paid_broadcast_that_is_not_true_or_false_is_refused(db, api, value):
    token = admin_tokens.create(db, "sara", "test")
    body = {"name": "sale", "expression": "cron(0 9 ? * MON *)",
            "message": {**PAID, "paid_broadcast": value}}  # fmt: skip

    status, answer = call(api, "POST", "/api/jobs", token, body)

    assert (status, answer["error"]["field"]) == (422, "message.paid_broadcast")
    assert "must be true or false" in answer["error"]["message"]


def test_the_audience_guard_measures_a_paid_broadcast_at_the_paid_rate(db, api):
    """2,000 people every minute: 67 s of sending at 30 a second, more than the minute to
    the next firing; 2 s at 1000 a second. Turning paid off again is guarded too."""
    token = admin_tokens.create(db, "sara", "test")
    users = add_users(db, 2000)

    def every_minute(name, message):
        return {"name": name, "expression": "cron(* * * * ? *)", "timezone": "UTC",
                "include_user_ids": users, "message": message}  # fmt: skip

    free = call(api, "POST", "/api/jobs", token, every_minute("free", {"text": "hi"}))
    paid = call(api, "POST", "/api/jobs", token, every_minute("paid", PAID))
    off = call(api, "PATCH", "/api/jobs/paid", token,
               {"version": 1, "message": {**PAID, "paid_broadcast": False}})  # fmt: skip

    assert (free[0], free[1]["error"]["field"]) == (422, "confirm_audience")
    assert "67 s to send" in free[1]["error"]["message"]
    assert paid[0] == 201, paid
    assert (off[0], off[1]["error"]["field"]) == (422, "confirm_audience")
    assert "at 30 a second" in off[1]["error"]["message"]


def test_the_audience_guard_names_the_paid_rate_when_a_paid_broadcast_is_too_much(db, api):
    token = admin_tokens.create(db, "sara", "test")
    users = add_users(db, 80)  # 80 × 1440 = 115,200 a day: past an hour at 31 a second
    body = {"name": "paid", "expression": "cron(* * * * ? *)", "timezone": "UTC",
            "include_user_ids": users, "message": PAID}  # fmt: skip
    from chalicelib.context import current

    current.configure(replace(current.get().settings, telegram_paid_rate_per_second=31,
                              job_send_budget_hours=1))  # fmt: skip
    status, answer = call(api, "POST", "/api/jobs", token, body)

    assert (status, answer["error"]["field"]) == (422, "confirm_audience")
    assert "at 31 a second (a paid broadcast)" in answer["error"]["message"]
    assert "Unconfirmed, a job may send 111,600 a day" in answer["error"]["message"]


def test_a_paid_broadcasts_test_send_goes_as_a_plain_message(db, api, telegram):
    token = admin_tokens.create(db, "sara", "test", telegram_user_id=5001)
    add_users(db, 2)
    call(api, "POST", "/api/jobs", token,
         {"name": "sale", "expression": "cron(0 9 ? * MON *)", "message": PAID})  # fmt: skip

    status, answer = call(api, "POST", "/api/jobs/sale/test", token)

    assert status == 200, answer
    [sent] = telegram.messages()
    assert (sent["chat_id"], sent["paid_broadcast"]) == (5001, False)
