"""``make run``'s runtime end to end: template resources, sync, demo data, ticker, pollers.

The runtime is started as ``make run`` starts it (moto's server, queues read from
template.yaml, the real Lambda handlers polled in-process, the fake Telegram), against the
test Postgres and Redis. Rules are fired by calling the ticker for a chosen minute rather
than waiting for the clock.
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from infra.local.demo import FIRST_NAMES
from infra.local.runtime import LocalRuntime
from infra.local.ticker import RuleTicker, target_input
from job_scheduler.adapters.aws import client
from job_scheduler.adapters.db import get_connection
from job_scheduler.cli import main as cli
from job_scheduler.jobs.food_reminder.run import tomorrow
from job_scheduler.model import JobRun
from job_scheduler.rastar.crypto import SecretBox


@pytest.fixture
def runtime(make_database, redis_client):
    saved = dict(os.environ)
    environ = {
        **os.environ,
        "DATABASE_URL": make_database(),
        "REDIS_URL": "redis://127.0.0.1:6379/15",
        "RULE_PREFIX": f"e2e-{uuid.uuid4().hex[:6]}",
        "FAKE_TELEGRAM_PORT": "0",
        "FAKE_RASTAR_PORT": "0",
        "ADMIN_PORT": "0",
        "RASTAR_ENCRYPTION_KEYS": SecretBox.new_key(),
    }
    environ.pop("AWS_ENDPOINT_URL", None)
    started = LocalRuntime(environ=environ, tick=False).start()
    yield started
    started.stop()
    os.environ.clear()
    os.environ.update(saved)


def fake_messages(runtime: LocalRuntime, count: int, timeout: float = 30) -> list[dict]:
    """The fake Telegram's messages once ``count`` have arrived (or what came by the timeout)."""
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        messages = httpx.get(f"{runtime.services.telegram_api_url}/_fake/messages").json()
        if len(messages) >= count or time.monotonic() > deadline:
            return messages
        time.sleep(0.2)


def test_the_template_declares_what_the_runtime_creates(runtime):
    assert set(runtime.queues) == {
        "JobsQueue",
        "JobsDeadLetterQueue",
        "NotificationsQueue",
        "NotificationsDeadLetterQueue",
    }
    assert {p.source.function: p.source.batch_size for p in runtime.pollers} == {
        "JobExecutorFunction": 1,
        "NotifierFunction": 10,
    }
    pollers = [p.source.function for p in runtime.pollers]
    assert (pollers.count("JobExecutorFunction"), pollers.count("NotifierFunction")) == (4, 2)
    sqs = client(runtime.settings, "sqs")
    attributes = sqs.get_queue_attributes(
        QueueUrl=runtime.queues["JobsQueue"]["Ref"], AttributeNames=["All"]
    )["Attributes"]
    assert attributes["VisibilityTimeout"] == "360"
    assert '"maxReceiveCount":5' in attributes["RedrivePolicy"].replace(" ", "")


def test_demo_data_and_rules_exist_after_start(runtime):
    conn = get_connection(runtime.settings.database_url)
    assert conn.execute("SELECT count(*) AS n FROM users").fetchone()["n"] == len(FIRST_NAMES)
    jobs = conn.execute("SELECT name, rule_names FROM scheduled_jobs ORDER BY name").fetchall()
    prefix = runtime.settings.rule_prefix
    assert [(j["name"], j["rule_names"]) for j in jobs] == [
        ("demo-every-minute", [f"{prefix}-demo-every-minute"]),
        ("prune-history", [f"{prefix}-prune-history"]),
        ("sweep-stranded-work", [f"{prefix}-sweep-stranded-work"]),
        ("unselected-food-reminder", [f"{prefix}-unselected-food-reminder"]),
        ("weekly-food-check", [f"{prefix}-weekly-food-check"]),
    ]
    linked = conn.execute("SELECT count(*) AS n FROM rastar_accounts").fetchone()["n"]
    assert linked == len(FIRST_NAMES) * 2 // 3
    assert sum(account.linked for account in runtime.demo_accounts) == linked
    assert len(runtime.demo_accounts) == len(FIRST_NAMES)  # each has an account in the fake


def test_a_rule_firing_reaches_the_fake_telegram_through_the_real_handlers(runtime):
    settings = runtime.settings
    ticker = RuleTicker(
        client(settings, "events"),
        client(settings, "sqs"),
        settings.rule_prefix,
        settings.aws_region,
        runtime.stop_event,
    )
    minute = datetime.now(UTC).replace(second=0, microsecond=0)
    # Not 22:00 Tehran (the food reminder) nor a fifth minute (the sweeper): only the demo.
    while (minute.hour, minute.minute) == (18, 30) or minute.minute % 5 == 0:
        minute -= timedelta(minutes=1)

    assert ticker.fire(minute) == 1  # only the every-minute job is due

    messages = fake_messages(runtime, 17)
    sunrise_without_the_first = FIRST_NAMES[2::2]
    assert sorted(m["text"].split("!")[0].removeprefix("<b>Hi ") for m in messages) == sorted(
        sunrise_without_the_first
    )
    assert all(m["disable_notification"] and m["parse_mode"] == "HTML" for m in messages)


def chat_of(runtime: LocalRuntime, user_id: int) -> int:
    conn = get_connection(runtime.settings.database_url)
    row = conn.execute("SELECT telegram_chat_id FROM users WHERE id = %s", (user_id,)).fetchone()
    return row["telegram_chat_id"]


def test_jobsctl_fire_reminds_the_demo_people_without_a_pick(runtime):
    conn = get_connection(runtime.settings.database_url)
    day = tomorrow(JobRun("x", datetime.now(UTC), "manual"))
    dishes = [row["menu_item"]["name"] for row in runtime.services.fake_rastar.menu(day)]
    # Every third linked person has picked the week ahead (demo.py: index % 9 in (1, 5)).
    expected = [
        chat_of(runtime, account.user_id)
        for index, account in enumerate(runtime.demo_accounts)
        if account.linked and index % 9 not in (1, 5)
    ]

    os.environ.update(runtime.env_file_values)  # as `. .local/run.env` would
    assert cli.main(["fire", "unselected-food-reminder"]) == 0

    if dishes:
        messages = fake_messages(runtime, len(expected))
        assert sorted(int(m["chat_id"]) for m in messages) == sorted(expected)
        for message in messages:
            rows = message["reply_markup"]["inline_keyboard"]
            assert [button["text"] for row in rows for button in row][: len(dishes)] == dishes
    else:  # tomorrow is a Friday: nothing is sent, and the execution says why
        time.sleep(5)
        assert fake_messages(runtime, 1, timeout=1) == []
    detail = wait_for_detail(conn)
    assert detail.startswith(day.isoformat())


def messages_to(runtime: LocalRuntime, chat: int, wait: bool, timeout: float = 30) -> list[dict]:
    """The fake Telegram's messages to ``chat``: once one has come, if ``wait``."""
    import httpx

    deadline = time.monotonic() + (timeout if wait else 2)
    while True:
        messages = httpx.get(f"{runtime.services.telegram_api_url}/_fake/messages").json()
        mine = [m for m in messages if int(m["chat_id"]) == chat]
        if (mine and wait) or time.monotonic() > deadline:
            return mine
        time.sleep(0.2)


def wait_for_detail(conn, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = conn.execute(
            "SELECT e.detail FROM job_executions e JOIN scheduled_jobs j ON j.id = e.job_id"
            " WHERE j.name = 'unselected-food-reminder' AND e.status = 'succeeded'"
        ).fetchone()
        if row is not None:
            return row["detail"]
        time.sleep(0.2)
    raise AssertionError("the food reminder's execution did not finish")


def test_input_transformer_output_is_the_executor_firing_shape():
    target = {
        "InputTransformer": {
            "InputPathsMap": {"time": "$.time", "rule": "$.resources[0]"},
            "InputTemplate": '{"source": "schedule", "job": "j", "time": <time>, "rule": <rule>}',
        }
    }
    event = {"time": "2026-11-27T18:30:00Z", "resources": ["arn:aws:events:r:1:rule/x"]}
    assert target_input(target, event) == (
        '{"source": "schedule", "job": "j", "time": "2026-11-27T18:30:00Z",'
        ' "rule": "arn:aws:events:r:1:rule/x"}'
    )


def test_the_ticker_fires_every_minute_it_has_not_fired_yet():
    ticker = RuleTicker(None, None, "p", "us-east-1", None)
    at = datetime(2026, 11, 27, 21, 59, tzinfo=UTC)

    assert ticker.due_minutes(at) == [at]
    assert ticker.due_minutes(at) == []  # the same minute again: nothing
    later = at + timedelta(minutes=3)  # a slow tick, or a laptop that slept
    assert ticker.due_minutes(later) == [at + timedelta(minutes=n) for n in (1, 2, 3)]
    much_later = later + timedelta(hours=2)
    assert len(ticker.due_minutes(much_later)) == 11  # caught up at most ten minutes back


def test_the_admin_site_is_served_with_a_fresh_token(runtime):
    import httpx

    site = runtime.admin
    jobs = httpx.get(f"{site.url}/api/jobs", headers={"Authorization": f"Bearer {site.token}"})
    page = httpx.get(f"{site.url}/")

    assert jobs.status_code == 200
    assert {job["name"] for job in jobs.json()["jobs"]} >= {"unselected-food-reminder"}
    assert page.status_code == 200 and "<title>Scheduled jobs" in page.text


def test_one_long_run_does_not_hold_up_the_other_firings(runtime):
    """The jobs pollers run firings concurrently, as Lambda runs invocations."""
    import json

    from job_scheduler.execution.firing import Firing

    conn = get_connection(runtime.settings.database_url)
    runtime.services.fake_rastar.configure(latency_ms=2000)  # the reminder: seconds of checks
    sqs = client(runtime.settings, "sqs")
    minute = datetime.now(UTC).replace(second=0, microsecond=0)
    for job in ("unselected-food-reminder", "demo-every-minute"):
        body = Firing(job, minute, "manual", requested_by="test").to_message()
        sqs.send_message(QueueUrl=runtime.settings.jobs_queue_url, MessageBody=json.dumps(body))

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        rows = conn.execute(
            "SELECT j.name, e.status FROM job_executions e JOIN scheduled_jobs j ON j.id = e.job_id"
        ).fetchall()
        states = {row["name"]: row["status"] for row in rows}
        if states.get("demo-every-minute") == "succeeded":
            break
        time.sleep(0.2)
    assert states.get("demo-every-minute") == "succeeded"
    assert states.get("unselected-food-reminder") == "running"  # still checking Rastar


def jobsctl(runtime: LocalRuntime, *args: str) -> str:
    """jobsctl in its own process, as `. .local/run.env && jobsctl ...` runs it; its stdout."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "job_scheduler", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **runtime.env_file_values},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_person_links_through_the_page_and_is_reminded_after_their_token_expired(runtime, capfd):
    """The issue's walk-through: ``jobsctl user link-rastar`` prints a link; signing in there
    with a demo account links the person (Telegram says so); with access tokens living 5 s,
    and the session's long expired, the reminder still reaches them, a button per dish."""
    from urllib.parse import parse_qs, urlsplit

    import httpx

    account = next(account for account in runtime.demo_accounts if not account.linked)
    chat = chat_of(runtime, account.user_id)
    url = jobsctl(runtime, "user", "link-rastar", str(account.user_id)).strip()
    assert url.startswith(f"{runtime.admin.url}/link?state=")
    state = parse_qs(urlsplit(url).query)["state"][0]

    page = httpx.get(url)
    form = {"state": state, "email": account.email, "password": account.password}
    done = httpx.post(f"{runtime.admin.url}/link", data=form)

    assert page.status_code == 200 and 'type="password"' in page.text
    assert done.status_code == 200 and account.email in done.text
    printed = capfd.readouterr()
    assert "GET /link?state=<hidden>" in printed.err  # the request log keeps no state
    assert state not in printed.out + printed.err and account.password not in printed.err
    (linked,) = fake_messages(runtime, 1)
    assert int(linked["chat_id"]) == chat and account.email in linked["text"]

    fake = runtime.services.fake_rastar
    fake.configure(access_token_ttl_seconds=5, jwt_clock_skew_seconds=0)
    fake.expire_access_tokens()  # the session linked above is past its 5 seconds
    time.sleep(1)
    day = tomorrow(JobRun("x", datetime.now(UTC), "manual"))
    dishes = [row["menu_item"]["name"] for row in fake.menu(day)]
    httpx.delete(f"{runtime.services.telegram_api_url}/_fake/messages")
    jobsctl(runtime, "fire", "unselected-food-reminder")
    wait_for_detail(get_connection(runtime.settings.database_url))

    mine = messages_to(runtime, chat, wait=bool(dishes))
    if dishes:
        (reminder,) = mine
        labels = [b["text"] for row in reminder["reply_markup"]["inline_keyboard"] for b in row]
        assert labels[: len(dishes)] == dishes
    else:  # tomorrow is a Friday: no one is reminded
        assert mine == []
    assert fake.stats()["refresh_refused"] == 0


def test_a_new_person_joins_stops_resumes_links_and_picks_in_the_fake_s_chat(runtime):
    """The bot issue's walk-through, through the fake Telegram's person routes: /start, the
    pack's deep link, the every-minute message, /stop (the next firing and a "run now" skip
    them), /resume, blocked and back, /link and the page, a dish tapped on the reminder."""
    from urllib.parse import parse_qs, urlsplit

    import httpx

    base, person = runtime.services.telegram_api_url, 777_001
    chat = runtime.services.fake_telegram
    ticker = RuleTicker(
        client(runtime.settings, "events"),
        client(runtime.settings, "sqs"),
        runtime.settings.rule_prefix,
        runtime.settings.aws_region,
        runtime.stop_event,
    )
    first_minute = datetime.now(UTC).replace(second=0, microsecond=0)  # each fired once
    minutes = iter(range(0, 6))

    def write(text: str) -> dict:
        before = len(chat.messages(person))
        httpx.post(
            f"{base}/_fake/users/{person}/messages",
            json={"text": text, "first_name": "Nima", "language_code": "en"},
        )
        deadline = time.monotonic() + 20
        while len(mine := chat.messages(person)) <= before:
            assert time.monotonic() < deadline, f"no answer to {text!r}"
            time.sleep(0.1)
        return mine[-1]

    def demo_minute_reaches_them() -> bool:
        """Fire the every-minute demo for one of the last few minutes (within the misfire
        grace, each once, never 22:00 Tehran); did it reach them?"""
        minute = first_minute - timedelta(minutes=next(minutes))
        if (minute.hour, minute.minute) == (18, 30):
            minute -= timedelta(minutes=next(minutes))
        before = len(chat.messages(person))
        ticker.fire(minute)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if len(chat.messages(person)) > before:
                return True
            time.sleep(0.2)
        return False

    assert write("/start")["text"].startswith("Hi Nima!")
    assert "You joined “Sunrise Crew”" in write("/start pack_sunrise-crew")["text"]
    assert demo_minute_reaches_them()
    assert write("/stop")["text"].startswith("Scheduled messages are stopped")
    assert not demo_minute_reaches_them()
    jobsctl(runtime, "fire", "demo-every-minute")  # "run now"
    time.sleep(3)
    assert chat.messages(person)[-1]["text"].startswith("Scheduled messages are stopped")
    assert write("/resume")["text"] == "You will get scheduled messages again."
    httpx.post(f"{base}/_fake/users/{person}/block")
    time.sleep(1)
    assert not demo_minute_reaches_them()
    httpx.post(f"{base}/_fake/users/{person}/unblock")
    time.sleep(1)
    assert demo_minute_reaches_them()

    link = write("/link")
    url = link["reply_markup"]["inline_keyboard"][0][0]["url"]
    state = parse_qs(urlsplit(url).query)["state"][0]
    fake = runtime.services.fake_rastar
    fake.add_account("nima@rastar.local", "nima-demo", {})
    done = httpx.post(
        f"{runtime.admin.url}/link",
        data={"state": state, "email": "nima@rastar.local", "password": "nima-demo"},
    )
    assert done.status_code == 200
    day = tomorrow(JobRun("x", datetime.now(UTC), "manual"))
    dishes = [row["menu_item"]["name"] for row in fake.menu(day)]
    if not dishes:  # tomorrow is a Friday: no reminder to tap
        return
    jobsctl(runtime, "fire", "unselected-food-reminder")
    wait_for_detail(get_connection(runtime.settings.database_url))
    deadline = time.monotonic() + 30
    while not (
        reminders := [
            m for m in chat.messages(person) if m.get("reply_markup") and "menu" in m["text"]
        ]
    ):
        assert time.monotonic() < deadline, "no reminder came"
        time.sleep(0.2)
    reminder = reminders[-1]
    tapped = httpx.post(
        f"{base}/_fake/users/{person}/press",
        json={"message_id": reminder["message_id"], "button": dishes[0]},
    ).json()
    deadline = time.monotonic() + 20
    while not (tap := runtime.services.fake_telegram.chats.taps[tapped["callback_query_id"]])[
        "answered"
    ]:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert tap["toast"] == f"✅ Picked: {dishes[0]}"
    picked = [r["menu_schedule"]["menu_item"]["name"] for r in fake.selections("nima@rastar.local")]
    assert picked == [dishes[0]]
