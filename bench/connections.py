"""Postgres connections under concurrency, sampled, against the budget of docs/connections.md.

    .venv/bin/python -m bench.connections [--users 20000] [--shard-size 2000] [--linked 4000]
        [--jobs 4] [--notifiers 2] [--rastar-concurrency 8] [--rastar-latency-ms 20]
        [--updates 100] [--thread-connections]

The system runs as the local runtime runs it (infra/local): the SQS pollers, one thread per
concurrent invocation of the real handlers of ``functions/*/app.py`` (``--jobs`` for the jobs
queue, ``--notifiers`` for the notifications queue; by default template.yaml's
MaximumConcurrency), and the bot's function URL with its ReservedConcurrentExecutions
(``function_urls.py``). moto's SQS, the fake Telegram and the fake Rastar run in processes of
their own; Redis holds the firing lock and the rate limit (lifted to 100,000/s here).

The work, all at once:

- a custom-message job to all ``--users`` people, split into shards of ``--shard-size``;
- the food reminder (its own shards of 2,000) over the same people, ``--linked`` of them (spread
  over every shard) with Rastar accounts: half with a stored session past its expiry (made
  live on the first stage's threads), half whose access token Rastar has expired early (found
  by the second stage, and refreshed there): every linked person is refreshed under the
  account's row lock, on both stages' ``RASTAR_CONCURRENCY`` threads of every shard at once;
- every message sent by the notifier pollers to the fake Telegram;
- every two seconds, a burst of ``--updates`` ``/help`` updates posted to the webhook from
  four times its reserved concurrency of client threads.

Sampled every 50 ms from a connection of the benchmark's own: ``count(*)`` of
``pg_stat_activity`` in the scratch database with ``application_name = 'telegram-jobs'``
(every connection ``adapters.db.connect`` and the recipients' reader open; the benchmark's
own are named otherwise). Printed: the peak, what was running then, the connections still
held once the work is done (warm environments keep one each), and the budget evaluated for
this run's concurrency::

    jobs x (2 + RASTAR_CONCURRENCY) + notifiers x (1 + NOTIFIER_CONCURRENCY) + webhook x 1

The last line is the ratio peak / budget (aim: at most 1.00). ``--thread-connections`` runs
the food reminder's refreshes on each thread's own connection, as before its pool, for
comparison. About 2.5 minutes with the defaults (set-up included).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
from psycopg.rows import dict_row

from bench.harness import (
    REDIS_URL,
    Deadline,
    add_custom_job,
    bench_settings,
    clear_metrics,
    copy_users,
    fake_process,
    fake_telegram,
    footer,
    header,
    make_queue,
    moto_server,
    quiet,
    scratch_database,
    sqs_client,
    table,
    timed,
)

os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")  # as the local runtime does
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")

from infra.fakes.supabase import DEFAULT_ANON_KEY, FakeSupabase
from infra.local.function_urls import FunctionUrl
from infra.local.pollers import SqsPoller
from infra.local.template import load_template, sqs_sources, url_functions
from job_scheduler.adapters.db import drop_connection, get_connection
from job_scheduler.bot.webhook import SECRET_HEADER, webhook_secret
from job_scheduler.config import Settings
from job_scheduler.execution.firing import Firing
from job_scheduler.jobs.food_reminder import run as food_run
from job_scheduler.jobs.food_reminder.job import UnselectedFoodReminder
from job_scheduler.model import JobRun, Trigger
from job_scheduler.rastar import accounts
from job_scheduler.rastar.client import RastarClient
from job_scheduler.rastar.crypto import SecretBox
from job_scheduler.sync.startup import run_startup

APPLICATION = "telegram-jobs"  # adapters/db.connect's application_name
SAMPLE_SECONDS = 0.05
PASSWORD = "bench-password"
FOOD = UnselectedFoodReminder.name
FIRST_PERSON = 7_000_000  # the webhook's people: chat ids no user of the jobs has


@dataclass(frozen=True)
class Budget:
    """docs/connections.md's formula, for the functions this benchmark runs."""

    jobs: int
    rastar: int
    notifiers: int
    senders: int
    webhook: int

    def rows(self) -> list[tuple[str, str, int]]:
        return [
            ("job_executor", f"{self.jobs} x (2 + {self.rastar})", self.jobs * (2 + self.rastar)),
            ("notifier", f"{self.notifiers} x (1 + {self.senders})",
             self.notifiers * (1 + self.senders)),
            ("bot_webhook", f"{self.webhook} x 1", self.webhook),
        ]  # fmt: skip

    @property
    def total(self) -> int:
        return sum(row[2] for row in self.rows())


@dataclass(frozen=True)
class Sample:
    at: float
    connections: int
    executors: int
    notifiers: int
    updates: int


class InFlight:
    """Invocations of one function running now: a counter around its handler."""

    def __init__(self) -> None:
        self.now = 0
        self._lock = threading.Lock()

    def wrap(self, handler: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        def invoke(event: Any, context: Any) -> Any:
            with self._lock:
                self.now += 1
            try:
                return handler(event, context)
            finally:
                with self._lock:
                    self.now -= 1

        return invoke


class Sampler:
    """Counts the system's connections every 50 ms, with what was running at that moment."""

    def __init__(self, database_url: str, running: Callable[[], tuple[int, int, int]]) -> None:
        self.conn = psycopg.connect(database_url, autocommit=True, application_name="bench-sampler")
        self.running = running
        self.samples: list[Sample] = []
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self.conn.close()

    def count(self) -> int:
        return self.conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = %s",
            (APPLICATION,),
        ).fetchone()[0]

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            clear_metrics()  # what log_metrics does after each invocation, without printing
            count = self.count()
            sample = Sample(time.monotonic() - self.started, count, *self.running())
            self.samples.append(sample)

    def peak(self) -> Sample:
        return max(self.samples, key=lambda sample: sample.connections)


def main() -> None:
    template = load_template()
    jobs_source, notifier_source = _sources(template)
    webhook = next(f for f in url_functions(template) if f.function == "BotWebhookFunction")
    parser = argparse.ArgumentParser(prog="python -m bench.connections")
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--shard-size", type=int, default=2_000)
    parser.add_argument("--linked", type=int, default=4_000)
    parser.add_argument("--jobs", type=int, default=jobs_source.concurrency)
    parser.add_argument("--notifiers", type=int, default=notifier_source.concurrency)
    parser.add_argument("--rastar-concurrency", type=int, default=_rastar_concurrency(template))
    parser.add_argument("--rastar-latency-ms", type=int, default=20)
    parser.add_argument("--updates", type=int, default=100)
    parser.add_argument("--thread-connections", action="store_true")
    args = parser.parse_args()
    quiet("ERROR")  # a shard that waits for another's lease logs a warning: expected here
    warnings.filterwarnings("ignore", "No application metrics")  # Powertools, per invocation
    header("Postgres connections", users=args.users, shard_size=args.shard_size,
           linked=args.linked, jobs=args.jobs, notifiers=args.notifiers,
           rastar_concurrency=args.rastar_concurrency, webhook=webhook.concurrency,
           thread_connections=args.thread_connections)  # fmt: skip
    if args.thread_connections:
        food_run.ConnectionPool = _ThreadConnections  # type: ignore[misc, assignment]
    with (
        scratch_database() as database_url,
        moto_server(separate=True) as aws_url,
        fake_telegram() as telegram,
        fake_process("infra.fakes.supabase", "--latency-ms", "0") as (_, rastar_url),
    ):
        settings = _settings(args, database_url, aws_url, telegram.url, rastar_url)
        conn = psycopg.connect(database_url, autocommit=True, row_factory=dict_row,
                               application_name="bench")  # fmt: skip
        evening = _set_up(conn, settings, args, rastar_url)
        budget = Budget(args.jobs, settings.rastar_concurrency, args.notifiers,
                        settings.notifier_concurrency, webhook.concurrency)  # fmt: skip
        peak, after, took = _run(args, settings, conn, evening, webhook, rastar_url)
    _report(budget, peak, after, took)
    footer()
    ratio = peak.connections / budget.total
    print(f"peak {peak.connections} / budget {budget.total} = {ratio:.2f}")


def _sources(template: dict[str, Any]) -> tuple[Any, Any]:
    sources = {source.function: source for source in sqs_sources(template)}
    return sources["JobExecutorFunction"], sources["NotifierFunction"]


def _rastar_concurrency(template: dict[str, Any]) -> int:
    env = template["Resources"]["JobExecutorFunction"]["Properties"]["Environment"]["Variables"]
    return int(env["RASTAR_CONCURRENCY"])


def _settings(args: Any, database_url: str, aws_url: str, telegram_url: str,
              rastar_url: str) -> Settings:  # fmt: skip
    sqs = sqs_client(aws_url)
    jobs_url = make_queue(sqs, "jobs")
    jobs_arn = sqs.get_queue_attributes(QueueUrl=jobs_url, AttributeNames=["QueueArn"])
    return replace(
        bench_settings(database_url, aws_url, make_queue(sqs, "notifications"), telegram_url),
        jobs_queue_url=jobs_url,
        jobs_queue_arn=jobs_arn["Attributes"]["QueueArn"],
        shard_size=args.shard_size,
        telegram_rate_per_second=100_000,  # connections are measured here, not the pace
        rastar_supabase_url=rastar_url,
        rastar_supabase_anon_key=DEFAULT_ANON_KEY,
        rastar_encryption_keys=SecretBox.new_key(),
        rastar_concurrency=args.rastar_concurrency,
        redis_url=REDIS_URL,
    )


# --- set-up -------------------------------------------------------------------------------


def _set_up(conn: Any, settings: Settings, args: Any, rastar_url: str) -> datetime:
    """People, the two jobs, Rastar accounts; the evening the food reminder fires for."""
    with timed() as took:
        copy_users(conn, args.users)
        run_startup(settings)  # the coded jobs (the food reminder) and their rules
        drop_connection(settings.database_url)  # this thread's: not the system's
        add_custom_job(conn, settings, "everyone")
        evening = _evening_with_food()
        _link(conn, settings, rastar_url, args.users, args.linked)
    print(f"   set-up: {args.users:,} people, {args.linked:,} linked, in {took[0]:.1f} s",
          flush=True)  # fmt: skip
    return evening


def _evening_with_food() -> datetime:
    """22:00 Tehran (18:30 UTC) of the next day whose tomorrow has a menu in the fake."""
    fake = FakeSupabase()  # not served: its menu is computed from the date
    evening = datetime.now(UTC).replace(hour=18, minute=30, second=0, microsecond=0)
    while not fake.menu(food_run.tomorrow(JobRun(FOOD, evening, "manual"))):
        evening += timedelta(days=1)
    return evening


def _link(conn: Any, settings: Settings, url: str, users: int, linked: int) -> None:
    """Every (users // linked)-th person linked; the even ones' stored sessions expire, the odd
    ones' access tokens are expired by Rastar while their stored expiry is an hour away."""
    ids = [row["id"] for row in conn.execute("SELECT id FROM users ORDER BY id").fetchall()]
    chosen = ids[:: max(1, users // max(linked, 1))][:linked]
    made = [{"email": f"user{user_id}@bench.test", "password": PASSWORD} for user_id in chosen]
    for start in range(0, len(made), 1000):
        _fake(url, "accounts", made[start : start + 1000])
    client = RastarClient(url, DEFAULT_ANON_KEY)
    box = SecretBox.from_settings(settings)
    try:
        _fake(url, "config", {"access_token_ttl_seconds": 2, "jwt_clock_skew_seconds": 0})
        soon = _sign_in(client, box, chosen[0::2])
        _fake(url, "config", {"access_token_ttl_seconds": 3600})
        later = _sign_in(client, box, chosen[1::2])
    finally:
        client.close()
    rows = soon + later
    conn.execute(
        "INSERT INTO rastar_accounts (user_id, sealed_session, access_expires_at)"
        " SELECT unnest(%s::bigint[]), unnest(%s::text[]), unnest(%s::timestamptz[])",
        ([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]),
    )
    conn.execute("ANALYZE rastar_accounts")
    time.sleep(3)  # the first half's tokens run out
    _fake(url, "expire_access_tokens", None)  # and Rastar no longer takes the second half's


def _sign_in(client: RastarClient, box: SecretBox, ids: list[int]) -> list[tuple[Any, ...]]:
    def one(user_id: int) -> tuple[Any, ...]:
        session = client.sign_in(f"user{user_id}@bench.test", PASSWORD)
        return user_id, accounts.seal(box, session), session.expires_at

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(one, ids))


def _fake(url: str, route: str, body: Any) -> None:
    httpx.post(f"{url}/_fake/{route}", json=body, timeout=120).raise_for_status()


# --- the run ------------------------------------------------------------------------------


def _run(args: Any, settings: Settings, conn: Any, evening: datetime, webhook: Any,
         rastar_url: str) -> tuple[Sample, int, float]:  # fmt: skip
    """Everything at once, sampled; the peak, what is held afterwards, and the seconds."""
    stop = threading.Event()
    executors, notifiers = InFlight(), InFlight()
    sqs = sqs_client(settings.aws_endpoint_url)
    pollers = _pollers(args, settings, sqs, stop, executors, notifiers)
    served = FunctionUrl(webhook, settings).start()
    updates = _Updates(served.url, webhook_secret(settings), 4 * webhook.concurrency)
    running = lambda: (executors.now, notifiers.now, updates.outstanding)  # noqa: E731
    with Sampler(settings.database_url, running) as sampler, timed() as took:
        for poller in pollers:
            poller.start()
        for job, at in ((FOOD, evening), ("everyone", evening)):
            _queue_firing(sqs, settings, job, at)
        with updates.bursts(args.updates):
            _wait_done(conn)
        after = sampler.count()  # the warm environments' own, once all is done
        stop.set()
        for poller in pollers:
            poller.join(timeout=10)
        served.stop()
    _check(conn, rastar_url, updates)
    return sampler.peak(), after, took[0]


def _pollers(args: Any, settings: Settings, sqs: Any, stop: threading.Event,
             executors: InFlight, notifiers: InFlight) -> list[SqsPoller]:  # fmt: skip
    jobs, notes = _sources(load_template())
    queues = {"JobsQueue": settings.jobs_queue_url,
              "NotificationsQueue": settings.notifications_queue_url}  # fmt: skip
    made = []
    for source, count, in_flight in ((jobs, args.jobs, executors),
                                     (notes, args.notifiers, notifiers)):  # fmt: skip
        url = queues[source.queue]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        queue = {"Ref": url, "Arn": arn["Attributes"]["QueueArn"]}
        for _ in range(count):
            poller = SqsPoller(sqs, replace(source, concurrency=count), queue, settings, stop)
            poller.handler = in_flight.wrap(poller.handler)
            made.append(poller)
    return made


def _queue_firing(sqs: Any, settings: Settings, job: str, at: datetime) -> None:
    firing = Firing(job_name=job, scheduled_for=at, trigger=Trigger.MANUAL, requested_by="bench")
    sqs.send_message(QueueUrl=settings.jobs_queue_url, MessageBody=json.dumps(firing.to_message()))


class _Updates:
    """Bursts of /help updates to the webhook, from many client threads at once."""

    def __init__(self, url: str, secret: str, threads: int) -> None:
        self.url, self.threads = url, threads
        self.headers = {SECRET_HEADER: secret, "Content-Type": "application/json"}
        self.outstanding = 0
        self.sent = 0
        self.failed = 0
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def bursts(self, size: int) -> Iterator[None]:
        stop = threading.Event()
        thread = threading.Thread(target=self._loop, args=(size, stop), daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def _loop(self, size: int, stop: threading.Event) -> None:
        limits = httpx.Limits(max_connections=self.threads)
        with httpx.Client(timeout=60, limits=limits) as http, \
                ThreadPoolExecutor(max_workers=self.threads) as pool:  # fmt: skip
            while not stop.is_set():
                first = self.sent
                list(pool.map(self._post, [http] * size, range(first, first + size)))
                stop.wait(2)

    def _post(self, http: httpx.Client, n: int) -> None:
        person = FIRST_PERSON + n
        who = {"id": person, "is_bot": False, "first_name": "Burst", "language_code": "en"}
        update = {"update_id": n + 1, "message": {
            "message_id": 1, "from": who, "chat": {"id": person, "type": "private"},
            "date": int(time.time()), "text": "/help",
            "entities": [{"type": "bot_command", "offset": 0, "length": 5}]}}  # fmt: skip
        with self._lock:
            self.outstanding += 1
        try:
            http.post(self.url, content=json.dumps(update), headers=self.headers)
        except httpx.TransportError:  # Telegram would send it again: not this benchmark's point
            with self._lock:
                self.failed += 1
        finally:
            with self._lock:
                self.outstanding -= 1
                self.sent += 1


def _wait_done(conn: Any) -> None:
    """Until both executions are over and none of their messages is left to send."""
    deadline = Deadline(600)
    while True:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM job_executions) AS executions,"
            " (SELECT count(*) FROM job_executions WHERE status = 'running') AS running,"
            " (SELECT count(*) FROM notification_deliveries"
            "   WHERE status IN ('ready', 'queued', 'sending')) AS unsent"
        ).fetchone()
        if row["executions"] == 2 and not row["running"] and not row["unsent"]:
            return
        deadline.check(f"waiting for the work to finish ({dict(row)})")
        time.sleep(0.2)


def _check(conn: Any, rastar_url: str, updates: _Updates) -> None:
    rows = conn.execute(
        "SELECT j.name, e.status, e.shards, e.recipients_count, e.sent_count, e.detail"
        " FROM job_executions AS e JOIN scheduled_jobs AS j ON j.id = e.job_id ORDER BY j.name"
    ).fetchall()
    stats = httpx.get(f"{rastar_url}/_fake/stats", timeout=10).json()
    table(("job", "status", "shards", "recipients", "sent"),
          [(r["name"], r["status"], r["shards"], r["recipients_count"], r["sent_count"])
           for r in rows])  # fmt: skip
    print(f"   Rastar calls: {stats['calls']}")
    print(f"   webhook updates posted: {updates.sent:,} ({updates.failed} not answered)",
          flush=True)  # fmt: skip
    if any(r["status"] != "succeeded" for r in rows):
        raise RuntimeError(f"an execution did not succeed: {[dict(r) for r in rows]}")


def _report(budget: Budget, peak: Sample, after: int, took: float) -> None:
    table(("function", "concurrency x connections each", "budget"),
          [*budget.rows(), ("total", "", budget.total)])  # fmt: skip
    print(f"   work done in {took:.1f} s")
    print(f"   peak: {peak.connections} connections at {peak.at:.1f} s, with {peak.executors}"
          f" executor and {peak.notifiers} notifier invocations running and {peak.updates}"
          " webhook updates in flight")  # fmt: skip
    print(
        f"   held once the work was done: {after} (one per warm environment at most:"
        f" {budget.jobs + budget.notifiers + budget.webhook})",
        flush=True,
    )


class _ThreadConnections:
    """``--thread-connections``: what the food reminder did before its pool, each thread's
    refreshes on its own connection (``get_connection``), kept after the run."""

    def __init__(self, database_url: str, size: int) -> None:
        self.database_url = database_url

    def connection(self) -> Any:
        return contextlib.nullcontext(get_connection(self.database_url))

    def close(self) -> None:
        pass


if __name__ == "__main__":
    main()
