"""The Postgres connection budget (docs/connections.md): the bounds it is made of, as the
template and the admin app's config set them, and what one invocation holds, counted in
``pg_stat_activity`` of the test database while it runs."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest
from chalice.config import Config
from execution_fixtures import *  # noqa: F403 - the fixtures
from execution_fixtures import TOKEN, make_executor, now_minute
from pipeline import add_custom_job, add_users, delete, firing, receive_all
from rastar_helpers import link_account

from infra.local.function_urls import FunctionUrl
from infra.local.template import load_template, sqs_sources, url_functions
from job_scheduler.adapters.db import ConnectionPool, close_all
from job_scheduler.bot.webhook import SECRET_HEADER, webhook_secret
from job_scheduler.config import Settings
from job_scheduler.execution.firing import Firing
from job_scheduler.execution.shards import ShardTask
from job_scheduler.jobs.catalog import register_all_jobs
from job_scheduler.jobs.food_reminder.job import UnselectedFoodReminder
from job_scheduler.rastar import accounts
from job_scheduler.sync.startup import run_startup

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_template()
FUNCTIONS = TEMPLATE["Resources"]
EVENING = datetime(2026, 11, 28, 18, 30, tzinfo=UTC)  # 22:00 Tehran; the 29th has food


# --- the bounds, as the doc states them ---------------------------------------------------


def doc_rows() -> dict[str, tuple[int | None, int, int]]:
    """docs/connections.md's per-function table: (at once, each, budget) by function."""
    text = (ROOT / "docs" / "connections.md").read_text()
    section = text.split("## Per function", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip().strip("*") for cell in line.strip().strip("|").split("|")]
        if len(cells) == 6 and re.fullmatch(r"\d+", cells[5]):
            at_once = int(cells[2]) if cells[2] else None
            rows[cells[0]] = (at_once, int(cells[4] or 0), int(cells[5]))
    return rows


def mapping_concurrency(function: str) -> int:
    (event,) = FUNCTIONS[function]["Properties"]["Events"].values()
    assert event["Type"] == "SQS", f"{function}'s bound is its queue mapping's: SQS only"
    return int(event["Properties"]["ScalingConfig"]["MaximumConcurrency"])


def executor_setting(name: str, default: int) -> int:
    env = FUNCTIONS["JobExecutorFunction"]["Properties"].get("Environment", {})
    return int(env.get("Variables", {}).get(name, default))


def admin_reserved_concurrency(stage: str) -> int:
    on_disk = json.loads((ROOT / "admin_site" / ".chalice" / "config.json").read_text())
    config = Config(chalice_stage=stage, function_name="api_handler", config_from_disk=on_disk)
    return config.reserved_concurrency  # as `chalice deploy` and `chalice package` read it


def expected_rows() -> dict[str, tuple[int | None, int, int]]:
    """The table's figures worked out from template.yaml and the admin app's config."""
    defaults = Settings()
    jobs = mapping_concurrency("JobExecutorFunction")
    rastar = executor_setting("RASTAR_CONCURRENCY", defaults.rastar_concurrency)
    notifiers = mapping_concurrency("NotifierFunction")
    notifier_env = FUNCTIONS["NotifierFunction"]["Properties"].get("Environment", {})
    senders = int(notifier_env.get("Variables", {}).get("NOTIFIER_CONCURRENCY",
                                                        defaults.notifier_concurrency))  # fmt: skip
    webhook = int(FUNCTIONS["BotWebhookFunction"]["Properties"]["ReservedConcurrentExecutions"])
    admin = admin_reserved_concurrency("prod")
    rows = {
        "job_executor": (jobs, 2 + rastar, jobs * (2 + rastar)),
        "notifier": (notifiers, 1 + senders, notifiers * (1 + senders)),
        "bot_webhook": (webhook, 1, webhook),
        "admin API": (admin, 2, 2 * admin),
        "bot_startup": (1, 3, 3),
        "alarm_chat": (None, 0, 0),
        "people and tools": (5, 1, 5),
    }
    rows["total"] = (None, 0, sum(budget for _, _, budget in rows.values()))
    return rows


def test_the_docs_budget_is_the_template_and_the_admin_apps_bounds():
    assert doc_rows() == expected_rows()


def test_every_function_that_reaches_postgres_has_a_bound():
    with_postgres = {"JobExecutorFunction", "NotifierFunction", "BotWebhookFunction",
                     "BotStartupFunction"}  # fmt: skip
    functions = {name for name, res in FUNCTIONS.items()
                 if res["Type"] == "AWS::Serverless::Function"}  # fmt: skip
    assert with_postgres <= functions
    assert functions - with_postgres == {"AlarmChatFunction"}  # Telegram only, no database
    assert "ReservedConcurrentExecutions" in FUNCTIONS["BotWebhookFunction"]["Properties"]
    assert [admin_reserved_concurrency(stage) for stage in ("dev", "prod")] == [5, 5]
    for function in ("JobExecutorFunction", "NotifierFunction"):
        assert mapping_concurrency(function) >= 2  # SQS's minimum; the bound is set


def test_the_local_runtime_runs_the_bounds_the_template_sets():
    local = {source.function: source.concurrency for source in sqs_sources(TEMPLATE)}
    (webhook,) = [f for f in url_functions(TEMPLATE) if f.function == "BotWebhookFunction"]
    assert local == {"JobExecutorFunction": mapping_concurrency("JobExecutorFunction"),
                     "NotifierFunction": mapping_concurrency("NotifierFunction")}  # fmt: skip
    assert webhook.concurrency == FUNCTIONS["BotWebhookFunction"]["Properties"][
        "ReservedConcurrentExecutions"]  # fmt: skip


# --- what one invocation holds ------------------------------------------------------------


@dataclass
class Counted:
    """The test database's 'telegram-jobs' connections, counted every ~2 ms: the most seen
    above ``baseline`` (those open before), and how many samples that took."""

    database_url: str
    baseline: int = 0
    most: int = 0
    samples: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def count(self, conn: psycopg.Connection) -> int:
        return conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = 'telegram-jobs'"
        ).fetchone()[0]

    def now(self) -> int:
        with psycopg.connect(self.database_url, autocommit=True, application_name="test") as c:
            return self.count(c) - self.baseline

    def sample(self) -> None:
        with psycopg.connect(self.database_url, autocommit=True, application_name="test") as c:
            while not self._stop.wait(0.002):
                self.most = max(self.most, self.count(c) - self.baseline)
                self.samples += 1


@contextmanager
def counted(database_url: str) -> Iterator[Counted]:
    """Sampling while the block runs. The package's cached connections are closed first (a
    new one closes those of ended threads: the baseline would move under the count)."""
    close_all()
    counts = Counted(database_url)
    counts.baseline = counts.now()
    sampler = threading.Thread(target=counts.sample, daemon=True)
    sampler.start()
    try:
        yield counts
    finally:
        counts._stop.set()
        sampler.join()


@pytest.fixture
def environment() -> Iterator[ThreadPoolExecutor]:
    """One warm Lambda environment: a thread kept between invocations (with its connection)."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="environment")
    yield pool
    pool.shutdown()


def shard_tasks(queues) -> list[ShardTask]:
    messages = receive_all(queues, queues.jobs)
    delete(queues, queues.jobs, messages)
    return [task for task in (ShardTask.of(m["Body"]) for m in messages) if task is not None]


def test_a_pool_lends_at_most_its_size_reuses_them_and_closes_them_all(database_url):
    pool = ConnectionPool(database_url, 2)
    lent, most, used = 0, 0, set()
    lock = threading.Lock()

    def borrow(_: int) -> None:
        nonlocal lent, most
        with pool.connection() as conn:
            with lock:
                lent += 1
                most = max(most, lent)
                used.add(id(conn))
            conn.execute("SELECT pg_sleep(0.005)")
            with lock:
                lent -= 1

    with counted(database_url) as counts, ThreadPoolExecutor(max_workers=8) as threads:
        list(threads.map(borrow, range(40)))
        kept = counts.now()
        with pool.connection() as conn:
            conn.close()  # one that went bad is not lent again
        with pool.connection() as conn:
            fresh = not conn.closed
        pool.close()
        closed = counts.now()

    assert (most, len(used), kept) == (2, 2, 2)
    assert counts.most <= 2 and fresh and closed == 0


def test_an_executor_invocation_of_a_custom_jobs_shard_holds_at_most_two(
    db, database_url, settings, registry, queues, environment
):
    add_users(db, 1000)
    add_custom_job(db)
    executor = make_executor(replace(settings, shard_size=500), registry, queues, None)
    executor.execute(firing("promo", now_minute()))
    task, _ = sorted(shard_tasks(queues), key=lambda t: t.shard)

    with counted(database_url) as counts:
        outcome = environment.submit(executor.run_shard, task).result()
        held = counts.now()

    assert outcome.status == "shard" and outcome.result.messages == 500
    assert counts.samples > 10
    assert 1 <= counts.most <= 2  # its own, and the recipients' reader while it streams
    assert held == 1  # once done: the environment's own, kept warm


def test_a_food_reminder_shard_holds_at_most_two_plus_rastar_concurrency_and_keeps_none(
    db, database_url, settings, queues, rastar, rastar_client, box, sealing_key,
    environment, monkeypatch,
):  # fmt: skip
    """Every person refreshed: half by the first stage (their stored session is past its
    expiry), half by the second (Rastar expired their tokens early): both stages' threads
    want Postgres at once, and share RASTAR_CONCURRENCY connections."""
    monkeypatch.setattr(UnselectedFoodReminder, "shard_size", 12)
    full = replace(settings, rastar_supabase_url=rastar.base_url, rastar_concurrency=3,
                   rastar_supabase_anon_key=rastar.anon_key,
                   rastar_encryption_keys=sealing_key)  # fmt: skip
    ids = add_users(db, 24)
    for user_id in ids:
        link_account(db, box, rastar_client, rastar, user_id)
    rastar.expire_access_tokens()
    for user_id in ids[0::2]:
        stale(db, box, user_id)
    run_startup(full)
    executor = make_executor(full, register_all_jobs(), queues, None)
    executor.execute(Firing(job_name=UnselectedFoodReminder.name, scheduled_for=EVENING,
                            trigger="manual"))  # fmt: skip
    task, _ = sorted(shard_tasks(queues), key=lambda t: t.shard)
    rastar.configure(latency_ms=30)

    with counted(database_url) as counts:
        outcome = environment.submit(executor.run_shard, task).result()
        held = counts.now()

    assert outcome.status == "shard" and outcome.result.messages == 12
    assert rastar.stats()["calls"]["token_refresh"] == 12
    assert 1 <= counts.most <= 2 + full.rastar_concurrency
    assert held == 1  # the pool's are closed with the run


def stale(db, box, user_id: int) -> None:
    """The stored session of the person, past its expiry (a refresh due before any call)."""
    row = db.execute(
        "SELECT sealed_session FROM rastar_accounts WHERE user_id = %s", (user_id,)
    ).fetchone()
    session = accounts.unseal(box, row["sealed_session"])
    past = replace(session, expires_at=datetime.now(UTC) - timedelta(minutes=1))
    db.execute("UPDATE rastar_accounts SET sealed_session = %s WHERE user_id = %s",
               (accounts.seal(box, past), user_id))  # fmt: skip


def test_the_local_function_url_holds_no_more_than_its_reserved_concurrency(
    db, database_url, telegram_server, monkeypatch
):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")  # no EMF lines on stdout
    settings = Settings(database_url=database_url, telegram_bot_token=TOKEN,
                        telegram_api_url=telegram_server[1])  # fmt: skip
    (function,) = [f for f in url_functions(TEMPLATE) if f.function == "BotWebhookFunction"]
    served = FunctionUrl(replace(function, concurrency=3), settings).start()
    headers = {SECRET_HEADER: webhook_secret(settings), "Content-Type": "application/json"}
    try:
        with counted(database_url) as counts, httpx.Client(timeout=30) as http, \
                ThreadPoolExecutor(max_workers=12) as burst:  # fmt: skip
            answers = list(
                burst.map(
                    lambda n: http.post(served.url, headers=headers, content=help_update(n)),
                    range(36),
                )
            )
            held = counts.now()
    finally:
        served.stop()

    assert [answer.status_code for answer in answers] == [200] * 36
    assert 1 <= counts.most <= 3
    assert held <= 3  # the three environments' own


def help_update(n: int) -> str:
    person = 9_000 + n
    who = {"id": person, "is_bot": False, "first_name": "Burst", "language_code": "en"}
    return json.dumps({"update_id": 1 + n, "message": {
        "message_id": 1, "from": who, "chat": {"id": person, "type": "private"},
        "date": int(time.time()), "text": "/help",
        "entities": [{"type": "bot_command", "offset": 0, "length": 5}]}})  # fmt: skip
