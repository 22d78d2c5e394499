"""How fast the notifier sends when the rate limiter is not what holds it back.

    .venv/bin/python -m bench.notifier_throughput [--messages 3000] [--repeat 3]
        [--concurrency 1,4,8,16] [--profile]

Set-up: ``--messages`` users, a custom-message job targeting all of them, one firing run by
the real ``Executor`` (so the delivery rows and the queue messages are the executor's own),
the queue messages read back as ``DeliveryBatch``es. The fake Telegram runs in a separate
process.

Measured, each the median of ``--repeat`` runs over the same N messages:

- baseline: a bare ``httpx`` keep-alive loop of sendMessage on one thread;
- a plain ``TelegramClient.send`` loop on one thread (pyTelegramBotAPI over requests), to
  separate the client library's cost from the notifier's;
- the real ``Notifier.process`` over every batch, one after another as one Lambda would,
  with its Postgres claim / mark / count work, rate limits at 1,000,000/s (overall and per
  chat) so the limiter is not what is measured: with the ``LocalRateLimiter`` and with the
  ``RedisRateLimiter``, at each ``--concurrency`` (Settings.notifier_concurrency).

Before each notifier run the deliveries are put back to ``queued`` and the fake is reset.
Goal: the notifier at its default concurrency reaches >= 0.7x the baseline.
``--profile`` adds one sampled run (every thread's stack) and a breakdown of the main
thread's Postgres time and of the TCP connections opened.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from bench.harness import (
    REDIS_URL,
    TOKEN,
    CpuClock,
    StackSampler,
    add_custom_job,
    bench_settings,
    clear_metrics,
    copy_users,
    cpu_used,
    delivery_statuses,
    fake_telegram,
    footer,
    header,
    in_package,
    make_executor,
    make_queue,
    manual_firing,
    moto_server,
    quiet,
    ratio,
    receive_batches,
    reset_deliveries,
    scratch_database,
    sqs_client,
    table,
)
from job_scheduler.adapters.db import connect
from job_scheduler.adapters.redis_client import new_redis_client
from job_scheduler.adapters.telegram import TelegramClient
from job_scheduler.config import Settings
from job_scheduler.delivery.notifier import Notifier
from job_scheduler.delivery.outbox import Delivery, DeliveryBatch, Outbox
from job_scheduler.delivery.ratelimit import LocalRateLimiter, RedisRateLimiter

UNLIMITED = 1_000_000
JOB = "throughput"


@dataclasses.dataclass
class Setup:
    settings: Settings
    sqs: Any
    queue_url: str
    execution_id: int
    batches: list[DeliveryBatch]
    fake: Any
    conn: Any
    clock: CpuClock

    @property
    def deliveries(self) -> list[Delivery]:
        return [delivery for batch in self.batches for delivery in batch.deliveries]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.notifier_throughput")
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--concurrency", default="1,4,8,16")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    concurrencies = [int(value) for value in args.concurrency.split(",")]
    quiet()
    header("notifier throughput", messages=args.messages, repeat=args.repeat)
    with scratch_database() as database_url, moto_server() as aws_url, fake_telegram() as fake:
        setup = prepare(database_url, aws_url, fake, args.messages)
        run_all(setup, args.repeat, concurrencies)
        if args.profile:
            profile(setup)
    footer()


def prepare(database_url: str, aws_url: str, fake: Any, count: int) -> Setup:
    conn = connect(database_url)
    copy_users(conn, count)
    add_custom_job(conn, JOB)
    sqs = sqs_client(aws_url)
    queue_url = make_queue(sqs, "notifications")
    # The limiters are built here with UNLIMITED (Settings caps its rate fields lower).
    settings = bench_settings(database_url, aws_url, queue_url, fake.url)
    outcome = make_executor(settings, sqs).execute(manual_firing(JOB))
    if outcome.status != "ran" or outcome.result.queued != count:
        raise RuntimeError(f"the firing did not queue {count} deliveries: {outcome}")
    expected = math.ceil(count / settings.recipients_per_message)
    batches = receive_batches(sqs, queue_url, expected)
    print(
        f"   set-up: {count:,} deliveries of execution {outcome.execution_id} in"
        f" {len(batches)} queue messages of {settings.recipients_per_message}\n"
    )
    clock = CpuClock(fake.process.pid)
    return Setup(settings, sqs, queue_url, outcome.execution_id, batches, fake, conn, clock)


# --- the three kinds of sender ---------------------------------------------------------------


def httpx_loop(setup: Setup) -> Run:
    """The baseline: one thread, one keep-alive connection, the request pyTelegramBotAPI makes."""
    url = f"{setup.fake.url}/bot{TOKEN}/sendMessage"
    with httpx.Client(timeout=10) as client, cpu_used(setup.clock) as used:
        for delivery in setup.deliveries:
            answer = client.post(
                url,
                params={
                    "chat_id": str(delivery.chat_id),
                    "text": delivery.text,
                    "parse_mode": delivery.parse_mode,
                    "disable_notification": str(delivery.silent),
                },
            )
            if answer.status_code != 200:
                raise RuntimeError(f"the fake answered {answer.status_code}: {answer.text}")
    return Run.of(used)


def telebot_loop(setup: Setup) -> Run:
    send = TelegramClient(TOKEN, setup.fake.url).send
    with cpu_used(setup.clock) as used:
        for delivery in setup.deliveries:
            send(delivery.chat_id, delivery.text, delivery.parse_mode, delivery.silent)
    return Run.of(used)


def new_limiter(kind: str) -> Any:
    if kind == "local":
        return LocalRateLimiter(per_second=UNLIMITED, per_chat_per_second=UNLIMITED)
    client = new_redis_client(REDIS_URL)
    client.ping()
    prefix = f"bench:throughput:{uuid.uuid4().hex[:8]}"
    return RedisRateLimiter(client, UNLIMITED, UNLIMITED, prefix=prefix)


def new_notifier(setup: Setup, limiter: str, concurrency: int) -> Notifier:
    settings = dataclasses.replace(setup.settings, notifier_concurrency=concurrency)
    return Notifier(
        settings=settings,
        send=TelegramClient(TOKEN, settings.telegram_api_url).send,
        limiter=new_limiter(limiter),
        outbox=Outbox(setup.sqs, setup.queue_url),
    )


def notifier_run(setup: Setup, notifier: Notifier) -> Run:
    """Every batch through ``Notifier.process``, one after another, as one Lambda would."""
    reset_deliveries(setup.conn, setup.execution_id)
    setup.fake.reset()
    with cpu_used(setup.clock) as used:
        for batch in setup.batches:
            notifier.process(batch)
            clear_metrics()
    check_all_sent(setup)
    return Run.of(used)


def check_all_sent(setup: Setup) -> None:
    count = len(setup.deliveries)
    statuses = delivery_statuses(setup.conn, setup.execution_id)
    accepted = setup.fake.stats()["sent"]
    if statuses != {"sent": count} or accepted != count:
        raise RuntimeError(f"not every delivery was sent: {statuses}, the fake accepted {accepted}")


# --- the report ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Run:
    seconds: float
    cpu_self: float  # cores this process kept busy on average
    cpu_fake: float  # cores the fake Telegram's process kept busy

    @classmethod
    def of(cls, used: dict[str, float]) -> Run:
        return cls(used["wall"], used["self"], used["child"])


def measure(repeat: int, run: Callable[[], Run]) -> Run:
    runs = sorted((run() for _ in range(repeat)), key=lambda item: item.seconds)
    return runs[len(runs) // 2]


def run_all(setup: Setup, repeat: int, concurrencies: list[int]) -> None:
    count = len(setup.deliveries)
    # Warm-up: connections, the fake's HTML parser caches, psycopg's prepared statements.
    httpx_loop(setup)
    notifier_run(setup, new_notifier(setup, "local", setup.settings.notifier_concurrency))

    base = measure(repeat, lambda: httpx_loop(setup))
    baseline = count / base.seconds
    rows = [row("httpx keep-alive loop (baseline)", "-", 1, base, count, baseline)]
    telebot = measure(repeat, lambda: telebot_loop(setup))
    rows.append(row("TelegramClient.send loop", "-", 1, telebot, count, baseline))
    default = setup.settings.notifier_concurrency
    for limiter in ("local", "redis"):
        for concurrency in sorted({*concurrencies, default}):
            notifier = new_notifier(setup, limiter, concurrency)
            run = measure(repeat, lambda n=notifier: notifier_run(setup, n))
            label = "Notifier.process" + (" (default)" if concurrency == default else "")
            rows.append(row(label, limiter, concurrency, run, count, baseline))
    print(f"   {count:,} sendMessage calls; median of {repeat} runs; goal: default >= 0.70x")
    print("   CPU columns: cores kept busy on average by this process / by the fake's process")
    table(("sender", "limiter", "threads", "msg/s", "vs baseline", "CPU", "fake CPU"), rows)


def row(label: str, limiter: str, threads: int, run: Run, count: int, baseline: float) -> tuple:
    rate = count / run.seconds
    return (
        label,
        limiter,
        threads,
        rate,
        ratio(rate, baseline),
        f"{run.cpu_self:.2f}",
        f"{run.cpu_fake:.2f}",
    )


# --- --profile -------------------------------------------------------------------------------


class _Timer:
    """Wraps a bound method: calls and seconds spent, per thread kind."""

    def __init__(self, method: Callable[..., Any]) -> None:
        self.method = method
        self.calls = 0
        self.seconds = 0.0
        self._lock = threading.Lock()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return self.method(*args, **kwargs)
        finally:
            with self._lock:
                self.calls += 1
                self.seconds += time.perf_counter() - started


def profile(setup: Setup) -> None:
    import urllib3.util.connection as urllib3_connection

    default = setup.settings.notifier_concurrency
    notifier = new_notifier(setup, "local", default)
    timers = {name: _Timer(getattr(notifier, name)) for name in ("_claim", "_mark_sent", "_count")}
    for name, timer in timers.items():
        setattr(notifier, name, timer)  # instance attributes shadow the methods
    sends = _Timer(notifier.send)
    notifier.send = sends
    connects = _Timer(urllib3_connection.create_connection)
    original = urllib3_connection.create_connection
    urllib3_connection.create_connection = connects
    try:
        with StackSampler() as sampler:
            wall = notifier_run(setup, notifier).seconds
    finally:
        urllib3_connection.create_connection = original
    count = len(setup.deliveries)
    print(f"== profile: Notifier.process, local limiter, {default} threads")
    print(f"   {count:,} messages in {wall:.2f} s ({count / wall:,.0f} msg/s)")
    rows = [
        (name, timer.calls, timer.seconds, 1e3 * timer.seconds / max(timer.calls, 1))
        for name, timer in [*timers.items(), ("send (pool threads)", sends)]
    ]
    rows.append(
        (
            "TCP connects (urllib3)",
            connects.calls,
            connects.seconds,
            1e3 * connects.seconds / max(connects.calls, 1),
        )
    )
    postgres = sum(timer.seconds for timer in timers.values())
    print(f"   main thread in Postgres calls: {postgres:.2f} s, {postgres / wall:.0%} of wall")
    table(("where", "calls", "seconds", "ms/call"), rows)
    sampler.report(top=15, match=in_package)


if __name__ == "__main__":
    main()
