"""How fast the notifier sends when the rate limiter is not what holds it back.

    .venv/bin/python -m bench.notifier_throughput [--messages 3000] [--repeat 3]
        [--concurrency 1,4,8,16] [--profile]

Set-up: ``--messages`` users, a custom-message job targeting all of them, one firing run by
the real ``Executor`` (so the delivery rows, ``ready`` with their payloads, are the
executor's own); its first window is read back from moto's SQS and checked to be id-only
``DeliveryBatch``es naming the first rows. The fake Telegram runs in a separate process.

Measured, each the median of ``--repeat`` runs over the same N deliveries:

- baseline: a bare ``httpx`` keep-alive loop of sendMessage on one thread, its chat ids and
  texts read from the rows beforehand (``users.telegram_chat_id``, ``payload``);
- a plain ``TelegramClient.send`` loop on one thread (pyTelegramBotAPI over requests), to
  separate the client library's cost from the notifier's;
- the real ``Notifier.process``, one id-only batch after another as one Lambda would, with
  its Postgres claim / mark sending / mark sent / recount work and its window top-up after
  each batch, rate limits at 1,000,000/s (overall and per chat) so the limiter is not what
  is measured: with the ``LocalRateLimiter`` and with the ``RedisRateLimiter``, at each
  ``--concurrency`` (Settings.notifier_concurrency).

How a notifier run is fed: every row of the execution goes back to ``ready``, the first
window (``notify_window_messages`` x ``recipients_per_message`` rows) is topped up (rows
``queued``, their id-only messages "sent"), and then each message body the outbox sent is
parsed with ``DeliveryBatch.from_json`` and processed, in order, until none is left: each
``process`` tops the window up again, so a batch's rows are ``queued`` with payloads in
Postgres before the notifier sees its ids, and the in-flight rows stay within the window,
as in production. The outbox's SQS client is botocore's (calls built, signed and parsed)
with SendMessageBatch answered in-process (``harness.stubbed_sqs``), so no queue latency
is in the figures; the fake is reset before each run.
Goal: the notifier at its default concurrency reaches >= 0.7x the baseline.
``--profile`` adds one sampled run (every thread's stack) and a breakdown of the main
thread's Postgres time and of the TCP connections opened.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import httpx

import job_scheduler.delivery.notifier as notifier_module
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
    stubbed_sqs,
    table,
)
from job_scheduler.adapters.db import connect
from job_scheduler.adapters.redis_client import new_redis_client
from job_scheduler.adapters.telegram import TelegramClient
from job_scheduler.config import Settings
from job_scheduler.delivery.notifier import Notifier
from job_scheduler.delivery.outbox import DeliveryBatch, Outbox
from job_scheduler.delivery.ratelimit import LocalRateLimiter, RedisRateLimiter
from job_scheduler.delivery.records import Delivery, DeliveryRecords
from job_scheduler.delivery.window import Window

UNLIMITED = 1_000_000
JOB = "throughput"


@dataclasses.dataclass
class Setup:
    settings: Settings
    execution_id: int
    deliveries: list[Delivery]  # every row's, in id order: what the baseline loops send
    fake: Any
    conn: Any
    clock: CpuClock
    outbox: Outbox  # SQS answered in-process; what it sends lands in ``bodies``
    bodies: deque[str]

    @property
    def window(self) -> Window:
        settings = self.settings
        return Window(self.outbox, settings.recipients_per_message, settings.notify_window_messages)


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
    sqs = sqs_client(aws_url)
    queue_url = make_queue(sqs, "notifications")
    # The limiters are built here with UNLIMITED (Settings caps its rate fields lower).
    settings = bench_settings(database_url, aws_url, queue_url, fake.url)
    add_custom_job(conn, settings, JOB)
    outcome = make_executor(settings, sqs).execute(manual_firing(JOB))
    clear_metrics()
    if outcome.status != "ran" or outcome.result.messages != count:
        raise RuntimeError(f"the firing did not write {count} deliveries: {outcome}")
    execution_id = outcome.execution_id
    check_first_window(conn, sqs, queue_url, settings, execution_id, outcome.result.queued)
    deliveries = read_deliveries(conn, execution_id)
    bodies: deque[str] = deque()
    outbox = Outbox(stubbed_sqs(aws_url, bodies), queue_url)
    print(
        f"   set-up: {count:,} deliveries of execution {execution_id} written ready; a window"
        f" of {settings.notify_window_messages}\n   id-only messages of"
        f" {settings.recipients_per_message} on the queue at a time\n"
    )
    clock = CpuClock(fake.process.pid)
    return Setup(settings, execution_id, deliveries, fake, conn, clock, outbox, bodies)


def check_first_window(
    conn: Any, sqs: Any, queue_url: str, settings: Settings, execution_id: int, queued: int
) -> None:
    """The executor's first window, off moto's queue: id-only batches naming the first rows."""
    batches = receive_batches(sqs, queue_url, math.ceil(queued / settings.recipients_per_message))
    named = [delivery_id for batch in batches for delivery_id in batch.delivery_ids]
    rows = conn.execute(
        "SELECT id FROM notification_deliveries WHERE execution_id = %s ORDER BY id LIMIT %s",
        (execution_id, queued),
    ).fetchall()
    if sorted(named) != [row["id"] for row in rows] or any(batch.inline for batch in batches):
        raise RuntimeError(f"the first window's messages do not name the first {queued} rows")


def read_deliveries(conn: Any, execution_id: int) -> list[Delivery]:
    """What each row sends, as the notifier's claim reads it: payload and the user's chat."""
    rows = conn.execute(
        "SELECT d.id, d.user_id, u.telegram_chat_id AS chat_id, d.payload"
        " FROM notification_deliveries AS d JOIN users AS u ON u.id = d.user_id"
        " WHERE d.execution_id = %s ORDER BY d.id",
        (execution_id,),
    ).fetchall()
    return [
        Delivery(
            row["id"],
            row["user_id"],
            row["chat_id"],
            row["payload"]["text"],
            row["payload"].get("parse_mode"),
            bool(row["payload"].get("silent")),
        )
        for row in rows
    ]


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
        send=TelegramClient(TOKEN, settings.telegram_api_url).deliver,
        limiter=new_limiter(limiter),
        outbox=setup.outbox,
    )


def notifier_run(setup: Setup, notifier: Notifier) -> Run:
    """Every message the window puts out through ``Notifier.process``, one after another,
    as one Lambda would; each ``process`` tops the window up with the next message."""
    start_window(setup)
    setup.fake.reset()
    with cpu_used(setup.clock) as used:
        while setup.bodies:
            notifier.process(DeliveryBatch.from_json(setup.bodies.popleft()))
            clear_metrics()
    check_all_sent(setup)
    return Run.of(used)


def start_window(setup: Setup) -> None:
    """The rows as the fan-out leaves them: all ``ready``, then the first window queued."""
    setup.bodies.clear()
    reset_deliveries(setup.conn, setup.execution_id)
    setup.window.top_up(setup.conn, setup.execution_id, JOB)


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


_POSTGRES_CALLS = (
    (DeliveryRecords, "claim"),
    (DeliveryRecords, "mark_sending"),
    (DeliveryRecords, "mark_sent"),
    (notifier_module, "recount"),
    (Window, "top_up"),  # its Postgres statements and the SQS call answered in-process
)


@contextlib.contextmanager
def _timing(owner: Any, name: str) -> Iterator[_Timer]:
    """``owner.name`` (a method of a class, or a module's function) timed for the block."""
    original = getattr(owner, name)
    timer = _Timer(original)

    def timed_call(*args: Any, **kwargs: Any) -> Any:  # a function: binds as a method would
        return timer(*args, **kwargs)

    setattr(owner, name, timed_call)
    try:
        yield timer
    finally:
        setattr(owner, name, original)


def profile(setup: Setup) -> None:
    import urllib3.util.connection as urllib3_connection

    default = setup.settings.notifier_concurrency
    notifier = new_notifier(setup, "local", default)
    sends = _Timer(notifier.send)
    notifier.send = sends
    with contextlib.ExitStack() as stack:
        timers = {
            f"{getattr(owner, '__name__', '?').rsplit('.', 1)[-1]}.{name}": stack.enter_context(
                _timing(owner, name)
            )
            for owner, name in _POSTGRES_CALLS
        }
        connects = stack.enter_context(_timing(urllib3_connection, "create_connection"))
        sampler = stack.enter_context(StackSampler())
        wall = notifier_run(setup, notifier).seconds
    count = len(setup.deliveries)
    print(f"== profile: Notifier.process, local limiter, {default} threads")
    print(f"   {count:,} messages in {wall:.2f} s ({count / wall:,.0f} msg/s)")
    timed = [*timers.items(), ("send (pool threads)", sends), ("TCP connects (urllib3)", connects)]
    rows = [
        (name, timer.calls, timer.seconds, 1e3 * timer.seconds / max(timer.calls, 1))
        for name, timer in timed
    ]
    postgres = sum(timer.seconds for timer in timers.values())
    print(
        f"   main thread in Postgres calls (top_up with its stubbed SQS call): {postgres:.2f} s,"
        f" {postgres / wall:.0%} of wall"
    )
    table(("where", "calls", "seconds", "ms/call"), rows)
    sampler.report(top=15, match=in_package)


if __name__ == "__main__":
    main()
