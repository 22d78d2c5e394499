"""Fault drills: the executor and the notifier run as worker processes against Postgres,
moto's server and the fake Telegram, and are killed with -9 mid-work, cut off from Postgres
mid-send, or left waiting for answers that never come. After each, per person: received
once, or recorded as "may have arrived"; never twice; never silently lost; and the
execution's counts equal its rows.

The figures each drill prints (with -s) are the ones docs/execution.md quotes.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
from faults import TcpProxy, Worker, running
from pipeline import add_custom_job, add_users, make_queues

from job_scheduler.config import Settings
from job_scheduler.execution.firing import Firing
from job_scheduler.jobs.sweeper import Sweeper
from job_scheduler.model import Trigger

TOKEN = "123456789:FAULT-drill-token-for-the-fake-telegram"
WAVE_BOUND = 2 * 8 * 2  # two waves of eight sending threads, in each of two pollers
# Killed: those in flight, and up to a wave of sent outcomes waiting for the next wave's
# commit (docs/execution.md), in each of two pollers.
KILL_BOUND = 3 * 8 * 2
UNFINISHED = ("ready", "queued", "sending")


@pytest.fixture
def drill(database_url, aws, telegram_server, tmp_path):
    """Queues (3 s visibility, 10 receives), and the environment the workers run with."""
    queues = make_queues(aws, visibility=3, max_receive=10)
    env = {
        "DATABASE_URL": database_url,
        "AWS_ENDPOINT_URL": aws,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "JOBS_QUEUE_URL": queues.jobs["url"],
        "JOBS_QUEUE_ARN": queues.jobs["arn"],
        "NOTIFICATIONS_QUEUE_URL": queues.notifications["url"],
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": telegram_server[1],
        "TELEGRAM_RATE_PER_SECOND": "5000",
        "MAX_RECEIVE_COUNT": "10",
        "EXECUTION_LEASE_SECONDS": "10",
        "RECIPIENTS_PER_MESSAGE": "10",
        "RULE_PREFIX": "drill",
        "LOG_LEVEL": "WARNING",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "REDIS_URL": "",
    }
    return queues, env, tmp_path / "workers.log"


def settings_of(env: dict[str, str]) -> Settings:
    return Settings.from_env(env)


def fire(queues, job: str) -> None:
    minute = datetime.now(UTC).replace(second=0, microsecond=0)
    body = Firing(job, minute, Trigger.MANUAL, requested_by="drill").to_message()
    queues.sqs.send_message(QueueUrl=queues.jobs["url"], MessageBody=json.dumps(body))


def wait_until(check, timeout: float = 120, every: float = 0.05, state=None):
    """``check()``'s first true value; on timeout, says what ``state()`` shows then."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (value := check()) is not None and value is not False:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting{f': {state()}' if state else ''}")


def wait_finished(db, log, queues=None, timeout: float = 120) -> None:
    """Every execution succeeded and no delivery left unfinished; on timeout, the rows'
    states, the unfinished ones, the queues' depths and the workers' last log lines, so a
    failure says where it stopped."""

    def state() -> str:
        executions = db.execute("SELECT status, attempts FROM job_executions").fetchall()
        deliveries = db.execute(
            "SELECT status, count(*) AS n FROM notification_deliveries GROUP BY status"
        ).fetchall()
        stuck = db.execute(
            "SELECT id, status, attempts, claimed_by IS NOT NULL AS claimed, claimed_until,"
            " last_error FROM notification_deliveries WHERE status = ANY(%s) ORDER BY id",
            (list(UNFINISHED),),
        ).fetchall()
        depths = {}
        for name in ("notifications", "notifications_dlq") if queues else ():
            depths[name] = queues.sqs.get_queue_attributes(
                QueueUrl=getattr(queues, name)["url"], AttributeNames=["All"]
            )["Attributes"]
        tail = log.read_text()[-3000:] if log.exists() else ""
        return f"executions {executions}, deliveries {deliveries}, unfinished {stuck}," \
            f" queues {depths}\n{tail}"  # fmt: skip

    wait_until(lambda: finished(db), timeout=timeout, state=state)


def fan_out(db, queues, env: dict[str, str], log) -> None:
    """Fire the job and stop the executor once it has finished the execution: stopping it
    at the first row written would cut its fan-out short, leaving the execution running
    with no executor to resume it (the drill below that kills it mid fan-out does so on
    purpose, and sweeps)."""
    with running("JobExecutorFunction", env, log):
        fire(queues, "promo")
        wait_until(lambda: db.execute(
            "SELECT 1 FROM job_executions WHERE status = 'succeeded'"
        ).fetchone())  # fmt: skip


def backends(db) -> set[int]:
    """The Postgres backends serving the test database now, but ours."""
    rows = db.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        " AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
    ).fetchall()
    return {row["pid"] for row in rows}


def killed(worker: Worker, db, before: set[int]) -> None:
    """kill -9, then wait for Postgres to notice: a statement the worker had already sent
    still runs and commits after its death, and what a drill counts must come after it.
    The worker's backends are those that were not there ``before`` it started (this test
    process may hold connections of its own from earlier tests)."""
    worker.kill()
    wait_until(lambda: not (backends(db) - before), timeout=30)


def drained(db, queues) -> bool:
    """Nothing on the notifications queue, visible, in flight or delayed, and no claim
    alive: what is left unfinished now waits for the sweeper."""
    attributes = queues.sqs.get_queue_attributes(
        QueueUrl=queues.notifications["url"], AttributeNames=["All"]
    )["Attributes"]
    depth = sum(int(attributes[name]) for name in (
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed"))  # fmt: skip
    claims = db.execute(
        "SELECT count(*) AS n FROM notification_deliveries WHERE claimed_until >= now()"
    ).fetchone()["n"]
    return depth == 0 and claims == 0


def unfinished(db) -> int:
    row = db.execute(
        "SELECT count(*) AS n FROM notification_deliveries WHERE status = ANY(%s)",
        (list(UNFINISHED),),
    ).fetchone()
    return row["n"]


def finished(db) -> bool:
    executions = db.execute("SELECT count(*) AS n FROM job_executions WHERE status <> 'succeeded'")
    return executions.fetchone()["n"] == 0 and unfinished(db) == 0


def per_person(db, telegram) -> dict[str, int]:
    """Everyone once, or "may have arrived"; nobody twice; counts equal rows."""
    received = Counter(int(message["chat_id"]) for message in telegram.messages())
    rows = db.execute(
        "SELECT d.status, u.telegram_chat_id AS chat FROM notification_deliveries d"
        " JOIN users u ON u.id = d.user_id"
    ).fetchall()
    assert [chat for chat, times in received.items() if times > 1] == []  # never twice
    for row in rows:
        if row["status"] == "sent":
            assert received[row["chat"]] == 1
        else:  # never silently lost: the only other end is "may have arrived"
            assert row["status"] == "uncertain", row
    counts = Counter(row["status"] for row in rows)
    (execution,) = db.execute("SELECT * FROM job_executions").fetchall()
    assert (execution["sent_count"], execution["uncertain_count"]) == (
        counts["sent"],
        counts["uncertain"],
    )
    uncertain_received = sum(1 for r in rows if r["status"] == "uncertain" and received[r["chat"]])
    return {
        "people": len(rows),
        "sent": counts["sent"],
        "uncertain": counts["uncertain"],
        "uncertain_but_received": uncertain_received,
        "received_twice": 0,
    }


def report(name: str, figures: dict[str, int]) -> None:
    print(f"\nfault drill {name}: {figures}")


def test_a_notifier_killed_mid_send_leaves_no_one_twice_and_no_one_lost(db, drill, telegram):
    queues, env, log = drill
    add_users(db, 300)
    add_custom_job(db)
    telegram.configure(latency_ms=150)
    fan_out(db, queues, env, log)

    before = backends(db)
    notifier = Worker("NotifierFunction", env, log).start()
    wait_until(lambda: len(telegram.messages()) >= 60)
    killed(notifier, db, before)  # mid-send: requests in flight, outcomes not recorded
    in_flight = db.execute(
        "SELECT count(*) AS n FROM notification_deliveries WHERE status = 'sending'"
    ).fetchone()["n"]
    telegram.configure(latency_ms=0)

    swept = Sweeper.from_settings(settings_of(env), db).sweep(after_restart=True)
    with running("NotifierFunction", env, log):
        wait_finished(db, log, queues)

    figures = per_person(db, telegram)
    report("notifier kill -9", {**figures, "sending_at_kill": in_flight})
    assert swept.uncertain == in_flight <= KILL_BOUND
    assert figures["uncertain"] == in_flight and figures["sent"] == 300 - in_flight


def test_an_executor_killed_mid_fan_out_is_resumed_and_reaches_everyone_once(db, drill, telegram):
    queues, env, log = drill
    add_users(db, 6000)
    add_custom_job(db)
    before = backends(db)
    executor = Worker("JobExecutorFunction", env, log).start()
    fire(queues, "promo")
    wait_until(lambda: db.execute("SELECT 1 FROM notification_deliveries LIMIT 1").fetchone())
    executor.freeze()  # where it is, mid fan-out ...
    written = db.execute("SELECT count(*) AS n FROM notification_deliveries").fetchone()["n"]
    killed(executor, db, before)  # ... and gone, its firing's message left in flight
    status = db.execute("SELECT status FROM job_executions").fetchone()["status"]

    swept = Sweeper.from_settings(settings_of(env), db).sweep(after_restart=True)
    with running("JobExecutorFunction", env, log), running("NotifierFunction", env, log):
        wait_finished(db, log, queues, timeout=240)

    figures = per_person(db, telegram)
    report("executor kill -9", {**figures, "rows_written_at_kill": written})
    assert status == "running" and 0 < written < 6000
    assert swept.resumed and figures == {**figures, "people": 6000, "sent": 6000, "uncertain": 0}
    (execution,) = db.execute("SELECT attempts, recipients_count FROM job_executions").fetchall()
    assert (execution["attempts"], execution["recipients_count"]) == (2, 6000)


def test_postgres_refused_mid_send_doubles_no_one(db, drill, telegram, database_url):
    queues, env, log = drill
    add_users(db, 400)
    add_custom_job(db)
    fan_out(db, queues, env, log)
    target = urlsplit(database_url)
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 5432)
    port = proxy.start()
    through_proxy = database_url.replace(f"{target.hostname}:{target.port}", f"127.0.0.1:{port}")
    telegram.configure(latency_ms=100)

    with running("NotifierFunction", {**env, "DATABASE_URL": through_proxy}, log):
        wait_until(lambda: len(telegram.messages()) >= 80)
        proxy.refuse()  # Postgres gone: connections cut, new ones refused
        at_cut = len(telegram.messages())
        time.sleep(4)
        during = len(telegram.messages()) - at_cut  # what was in flight, and nothing more
        proxy.accept()
        wait_until(lambda: finished(db) or drained(db, queues), timeout=180)
    proxy.stop()
    # A commit Postgres made as the connection went, its answer lost, can leave rows
    # "queued" with no message (a window top-up) or "sending" that never went (fixed:
    # given back); the sweeper (every five minutes) is what finds those. Swept here as
    # after a restart, then sent.
    swept = Sweeper.from_settings(settings_of(env), db).sweep(after_restart=True)
    with running("NotifierFunction", env, log):
        wait_finished(db, log, queues, timeout=120)

    figures = per_person(db, telegram)
    report(
        "postgres refused 4 s mid-send",
        {**figures, "sent_while_refused": during, "swept": swept.requeued + swept.uncertain},
    )
    assert during <= WAVE_BOUND
    assert figures["uncertain"] <= WAVE_BOUND and figures["sent"] + figures["uncertain"] == 400


def test_answers_that_never_come_are_uncertain_and_never_sent_again(db, drill, telegram):
    queues, env, log = drill
    add_users(db, 24)
    add_custom_job(db)
    telegram.configure(latency_ms=1500)  # Telegram delivers, but answers after our timeout
    slow = {**env, "TELEGRAM_TIMEOUT_SECONDS": "1"}
    with running("JobExecutorFunction", env, log), running("NotifierFunction", slow, log):
        fire(queues, "promo")
        wait_until(lambda: finished(db) and db.execute("SELECT 1 FROM job_executions").fetchone())
    time.sleep(2)  # the fake records each message once its latency is over

    figures = per_person(db, telegram)
    report("no answer after sending", figures)
    assert figures["uncertain"] == figures["uncertain_but_received"] == 24


def test_connections_dropped_mid_request_are_uncertain_and_never_sent_again(db, drill, telegram):
    queues, env, log = drill
    add_users(db, 36)
    add_custom_job(db)
    telegram.configure(drop_connection_every=4)
    with running("JobExecutorFunction", env, log), running("NotifierFunction", env, log):
        fire(queues, "promo")
        wait_until(lambda: finished(db) and db.execute("SELECT 1 FROM job_executions").fetchone())

    figures = per_person(db, telegram)
    report("every 4th connection dropped", figures)
    assert figures["uncertain"] == 9 and figures["sent"] == 27
