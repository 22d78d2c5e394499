"""Does a paid broadcast go at Telegram's paid limit: 1,000 msg/s, and no 429s?

    .venv/bin/python -m bench.paid_broadcast [--seconds 30] [--notifiers 1,2]
        [--concurrency 8] [--per-message 50] [--notify-window 4] [--baseline-threads 2]

Set-up: ``1000 * --seconds`` users (one chat each). The fake Telegram runs in its own process
with ``enforce_limits=True``: a free message over 30 in a sliding second, a paid one
(``allow_paid_broadcast=true``) over 1,000, or a second one to a chat within a second, gets
a 429 with retry_after 1; it counts the paid messages past the free 30 a second (billed 0.1
Stars each by Telegram).

- **baseline**: a bare keep-alive ``httpx`` loop of paid ``sendMessage`` calls to every chat
  on ``--baseline-threads`` threads, held to 1,000 a second by a sliding window counted from
  each answer (in flight counts as inside it): what this machine and the fake do at the
  limit with nothing of ours in the way;
- for each count in ``--notifiers``: a custom-message job with ``paid_broadcast: true``
  targeting everyone (made with ``admin.edits.create_job``, its rule on moto's EventBridge),
  one firing through the real ``Executor`` (every delivery written ``ready`` with its payload,
  the first window queued on moto's SQS), then that many notifier *processes* draining it as
  the Lambda's event source mapping would (receive up to 10, ``Notifier.process`` each,
  delete what succeeded), sharing one ``RedisRateLimiter`` (30/s free, 1/s per chat, 1,000/s
  paid: the shipped defaults) as the two Lambda pollers of template.yaml would.

Reported, from the fake's own receive times: rate = sent / (last - first + 1 s) (a perfect
1,000/s limiter scores 1,000), rate / 1,000 (goal >= 0.97), rate / baseline, the fake's 429
count (goal 0), the messages billed and their Stars, what each notifier sent, re-queued
deliveries, failed records, the wall time from the go signal to the last delivery recorded,
the cores kept busy by the notifiers (together) and by the fake, and the shares of the
notifiers' time spent inside ``Notifier.process`` (the rest: receiving and deleting) and,
of that, in Postgres statements (claims, waves marked sending, outcomes recorded). The
last line is rate / 1,000 for the last ``--notifiers`` count (default 2, the template's
MaximumConcurrency).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import threading
import time
import uuid
from collections import deque
from datetime import datetime
from typing import Any

import httpx

from bench.harness import (
    FIRST_CHAT_ID,
    REDIS_URL,
    TOKEN,
    CpuClock,
    Deadline,
    SqlTimer,
    bench_settings,
    clear_metrics,
    copy_users,
    fake_telegram,
    footer,
    header,
    make_executor,
    make_queue,
    manual_firing,
    moto_server,
    quiet,
    ratio,
    scratch_database,
    sqs_client,
    table,
)
from job_scheduler.adapters.db import connect
from job_scheduler.adapters.redis_client import new_redis_client
from job_scheduler.adapters.telegram import TelegramClient
from job_scheduler.admin.edits import create_job
from job_scheduler.admin.specs import CustomJobSpec
from job_scheduler.config import Settings
from job_scheduler.delivery.notifier import Notifier, NotifyResult
from job_scheduler.delivery.outbox import DeliveryBatch, Outbox
from job_scheduler.delivery.ratelimit import RedisRateLimiter
from job_scheduler.messages.message_config import MessageConfig
from job_scheduler.sync.rules import RuleStore

LIMIT = Settings.telegram_paid_rate_per_second  # 1,000: Telegram's paid broadcast limit
WINDOW = 1.0
TEXT = "<b>{{ user.first_name }}</b>, the flash sale is on: 30% off until midnight."
# As in bench.rate_limit: a failed record comes back after the visibility timeout, and its
# deliveries can be claimed again once their lease expired; short here, in the same order.
LEASE_SECONDS = 20
VISIBILITY_SECONDS = 30


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.paid_broadcast")
    parser.add_argument("--seconds", type=int, default=30, help="messages: 1,000 x this")
    parser.add_argument("--notifiers", default="1,2", help="notifier processes, per variant")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=Settings.notifier_concurrency,
        help="sending threads per notifier (Settings.notifier_concurrency)",
    )
    parser.add_argument(
        "--per-message",
        type=int,
        default=Settings.recipients_per_message,
        help="deliveries per queue message (Settings.recipients_per_message)",
    )
    parser.add_argument(
        "--notify-window",
        type=int,
        default=Settings.notify_window_messages,
        help="messages of the execution on the queue at once (Settings.notify_window_messages)",
    )
    parser.add_argument("--baseline-threads", type=int, default=2)
    args = parser.parse_args()
    counts = [int(value) for value in args.notifiers.split(",")]
    quiet("ERROR")
    messages = LIMIT * args.seconds
    header(
        "paid broadcast",
        seconds=args.seconds,
        messages_per_variant=messages,
        notifiers=args.notifiers,
        notifier_concurrency=args.concurrency,
        deliveries_per_queue_message=args.per_message,
        notify_window_messages=args.notify_window,
    )
    with (
        scratch_database() as database_url,
        moto_server() as aws_url,
        fake_telegram(enforce_limits=True) as fake,
    ):
        conn = connect(database_url)
        copy_users(conn, messages)
        clock = CpuClock(fake.process.pid)
        fake.reset()
        time.sleep(WINDOW)
        base = baseline(fake, messages, args.baseline_threads, clock)
        rows = [base.row("httpx loop at the limit (baseline)", base.rate)]
        outcomes = []
        for number, instances in enumerate(counts):
            label = f"{instances} notifier{'s' if instances > 1 else ''}, Redis limiter"
            outcome = variant(number, instances, conn, database_url, aws_url, fake, clock, args)
            rows.append(outcome.row(label, base.rate))
            outcomes.append((label, outcome))
    print(f"   goal: rate / {LIMIT:,} >= 0.97 and no 429s")
    table(
        ("sender", "sent", "sent by each", "rate msg/s", f"rate / {LIMIT:,}", "vs baseline",
         "429s", "billed (Stars)", "re-queued", "failed records", "wall s", "CPU", "in process",
         "in Postgres", "fake CPU"),
        rows,
    )  # fmt: skip
    for label, outcome in outcomes:
        statements_report(label, outcome, messages)
    footer()
    if outcomes:
        label, last = outcomes[-1]
        print(f"   ratio (rate / {LIMIT:,}) of the last variant, {label}:")
        print(f"{last.rate / LIMIT:.3f}", flush=True)


def variant(number: int, instances: int, conn: Any, database_url: str, aws_url: str,
            fake: Any, clock: CpuClock, args: argparse.Namespace) -> Outcome:  # fmt: skip
    """A paid job fired to everyone, drained by ``instances`` notifier processes."""
    messages = LIMIT * args.seconds
    sqs = sqs_client(aws_url)
    queue_url = make_queue(sqs, f"notifications-{number}", VISIBILITY_SECONDS)
    settings = notifier_settings(database_url, aws_url, queue_url, fake.url, args)
    execution_id = fire_paid_job(conn, settings, sqs, f"paid-{number}", messages)
    fake.reset()
    time.sleep(WINDOW)  # nothing of the last variant left in the fake's window
    spec = {
        "database_url": database_url,
        "aws_url": aws_url,
        "queue_url": queue_url,
        "telegram_url": fake.url,
        "prefix": f"bench:paid:{uuid.uuid4().hex[:8]}",
        "concurrency": args.concurrency,
        "per_message": args.per_message,
        "notify_window": args.notify_window,
    }
    return drain(spec, instances, conn, execution_id, messages, args.seconds, fake, clock)


# --- the result of a variant ----------------------------------------------------------------


class Outcome:
    """What the fake saw of one variant, and what the senders said of it."""

    def __init__(self, fake: Any, wall: float, cpu: float, fake_cpu: float,
                 totals: dict[str, Any]) -> None:  # fmt: skip
        accepted = sorted(_seconds(message["time"]) for message in fake.messages())
        self.stats = fake.stats()
        self.sent = len(accepted)
        span = accepted[-1] - accepted[0] if accepted else 0.0
        self.rate = self.sent / (span + WINDOW) if accepted else 0.0
        self.wall, self.cpu, self.fake_cpu, self.totals = wall, cpu, fake_cpu, totals

    def row(self, label: str, baseline: float) -> tuple:
        each = self.totals.get("each") or []
        billed = self.stats["billed"]
        return (
            label,
            f"{self.sent:,}",
            " + ".join(f"{sent:,}" for sent in sorted(each, reverse=True)) or "-",
            self.rate,
            f"{self.rate / LIMIT:.3f}",
            ratio(self.rate, baseline),
            self.stats["429"],
            f"{billed:,} ({billed / 10:,.1f})",
            self.totals.get("requeued", "-"),
            self.totals.get("failed_records", "-"),
            self.wall,
            f"{self.cpu:.2f}",
            self._share("process_seconds", len(each)),
            self._share("postgres_seconds", len(each)),
            f"{self.fake_cpu:.2f}",
        )

    def _share(self, key: str, notifiers: int) -> str:
        """A share of the notifiers' wall time: inside ``Notifier.process``, or waiting on
        Postgres (its processing thread: the sending threads never write)."""
        seconds = self.totals.get(key)
        return f"{seconds / (self.wall * notifiers):.0%}" if seconds and notifiers else "-"


def _seconds(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


# --- the baseline: a bare loop held to the limit ----------------------------------------------


class Pacer:
    """A sliding one-second window of sends counted from their answers, in flight inside it:
    the least a client can do to stay within the fake's window."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._answered: deque[float] = deque()
        self._in_flight = 0

    def wait(self) -> None:
        while True:
            with self._lock:
                now = time.monotonic()
                while self._answered and self._answered[0] <= now - WINDOW:
                    self._answered.popleft()
                if len(self._answered) + self._in_flight < self.limit:
                    self._in_flight += 1
                    return
                wait = self._answered[0] + WINDOW - now if self._answered else 0.001
            time.sleep(max(wait, 0.0005))

    def answered(self) -> None:
        with self._lock:
            self._in_flight -= 1
            self._answered.append(time.monotonic())


def baseline(fake: Any, messages: int, threads: int, clock: CpuClock) -> Outcome:
    pacer = Pacer(LIMIT)
    url = f"{fake.url}/bot{TOKEN}/sendMessage"
    chats = [FIRST_CHAT_ID + index for index in range(messages)]

    def loop(mine: list[int]) -> None:
        with httpx.Client(timeout=10) as client:
            for chat in mine:
                pacer.wait()
                try:
                    client.post(url, params={"chat_id": str(chat), "text": f"Sale for {chat}",
                                             "allow_paid_broadcast": "True"})  # fmt: skip
                finally:
                    pacer.answered()

    workers = [threading.Thread(target=loop, args=(chats[n::threads],)) for n in range(threads)]
    cpu_before, wall = clock.read(), time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    wall = time.perf_counter() - wall
    cpu_after = clock.read()
    cpu = (cpu_after[0] - cpu_before[0]) / wall
    return Outcome(fake, wall, cpu, (cpu_after[1] - cpu_before[1]) / wall, {})


# --- a paid job, fired and drained by notifier processes ----------------------------------------


def notifier_settings(database_url: str, aws_url: str, queue_url: str, telegram_url: str,
                      args: argparse.Namespace) -> Settings:  # fmt: skip
    """The executor's and every notifier's settings (the window must be the same for all)."""
    return bench_settings(
        database_url,
        aws_url,
        queue_url,
        telegram_url,
        recipients_per_message=args.per_message,
        notify_window_messages=args.notify_window,
        notifier_concurrency=args.concurrency,
        execution_lease_seconds=LEASE_SECONDS,
    )


def fire_paid_job(conn: Any, settings: Settings, sqs: Any, name: str, messages: int) -> int:
    """A paid broadcast to everyone, made as admins make one, fired once: its execution id."""
    spec = CustomJobSpec(
        name=name,
        cron_expression="cron(0 22 * * ? *)",
        timezone="Asia/Tehran",
        message=MessageConfig.from_json({"text": TEXT, "paid_broadcast": True}),
    )
    create_job(conn, RuleStore(settings), spec, actor="bench")
    outcome = make_executor(settings, sqs).execute(manual_firing(name))
    clear_metrics()
    if outcome.status != "ran" or outcome.result.messages != messages:
        raise RuntimeError(f"the firing did not write {messages} deliveries: {outcome}")
    return outcome.execution_id


def drain(spec: dict[str, Any], instances: int, conn: Any, execution_id: int, messages: int,
          seconds: int, fake: Any, clock: CpuClock) -> Outcome:  # fmt: skip
    """Start the notifier processes, let them go at once, wait until every delivery is final."""
    context = multiprocessing.get_context("spawn")
    ready = context.Barrier(instances + 1)
    stop = context.Event()
    results = context.Queue()
    workers = [
        context.Process(target=worker, args=(spec, ready, stop, results), name=f"notifier-{i}")
        for i in range(instances)
    ]
    for process in workers:
        process.start()
    totals: dict[str, Any] = {"each": []}
    try:
        ready.wait(timeout=60)
        fake_before, started = clock.read()[1], time.perf_counter()
        deadline = Deadline(6 * seconds + 4 * VISIBILITY_SECONDS + 60)
        while final_count(conn, execution_id) < messages:
            deadline.check(f"waiting for {messages:,} deliveries to be sent")
            time.sleep(0.1)
        wall = time.perf_counter() - started
        fake_cpu = (clock.read()[1] - fake_before) / wall
    finally:
        stop.set()
        for _ in workers:
            for key, value in results.get(timeout=120).items():
                if key == "statements":
                    _add_statements(totals.setdefault(key, {}), value)
                    continue
                totals[key] = totals.get(key, 0) + value
                if key == "sent":
                    totals["each"].append(value)
        for process in workers:
            process.join(timeout=30)
            if process.is_alive():
                process.terminate()
    return Outcome(fake, wall, totals.get("cpu_seconds", 0.0) / wall, fake_cpu, totals)


def _add_statements(into: dict[str, list[float]], more: dict[str, tuple[float, float]]) -> None:
    for query, (calls, seconds) in more.items():
        entry = into.setdefault(query, [0, 0.0])
        entry[0] += calls
        entry[1] += seconds


def statements_report(label: str, outcome: Outcome, messages: int) -> None:
    """The notifiers' Postgres statements of a variant, the costliest first."""
    statements = outcome.totals.get("statements") or {}
    rows = sorted(statements.items(), key=lambda item: -item[1][1])[:6]
    print(f"   Postgres statements of the notifiers, {label}:")
    table(
        ("statement", "calls", "per 1,000 messages", "seconds", "ms/call"),
        [(query, int(calls), 1000 * calls / messages, seconds, 1e3 * seconds / calls)
         for query, (calls, seconds) in rows],
    )  # fmt: skip


def final_count(conn: Any, execution_id: int) -> int:
    row = conn.execute(
        "SELECT count(*) AS n FROM notification_deliveries"
        " WHERE execution_id = %s AND status IN ('sent', 'failed', 'uncertain', 'skipped')",
        (execution_id,),
    ).fetchone()
    return row["n"]


def worker(spec: dict[str, Any], ready: Any, stop: Any, results: Any) -> None:
    """One notifier Lambda's poller: receive up to 10, process each, delete what succeeded."""
    quiet("ERROR")
    sqs = sqs_client(spec["aws_url"])
    notifier = paid_notifier(spec, sqs)
    queue_url = notifier.settings.notifications_queue_url
    totals = {"records": 0, "failed_records": 0, "sent": 0, "requeued": 0, "cpu_seconds": 0.0,
              "process_seconds": 0.0, "postgres_seconds": 0.0}  # fmt: skip
    ready.wait(timeout=60)
    cpu, sql = os.times(), SqlTimer()  # only the processing thread writes to Postgres
    try:
        with sql:
            while not stop.is_set():
                received = sqs.receive_message(
                    QueueUrl=queue_url,
                    MaxNumberOfMessages=10,
                    WaitTimeSeconds=1,
                    MessageSystemAttributeNames=["ApproximateReceiveCount"],
                ).get("Messages", [])
                for message in received:
                    if process_one(notifier, message, totals):
                        sqs.delete_message(
                            QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"]
                        )
    finally:
        now = os.times()
        totals["cpu_seconds"] = now.user + now.system - cpu.user - cpu.system
        totals["postgres_seconds"] = sum(seconds for _, seconds in sql.by_statement.values())
        totals["statements"] = {query: tuple(entry) for query, entry in sql.by_statement.items()}
        results.put(totals)


def paid_notifier(spec: dict[str, Any], sqs: Any) -> Notifier:
    """A notifier as ``build_notifier`` wires it, on this variant's Redis limiter prefix."""
    settings = bench_settings(
        spec["database_url"],
        spec["aws_url"],
        spec["queue_url"],
        spec["telegram_url"],
        recipients_per_message=spec["per_message"],
        notify_window_messages=spec["notify_window"],
        notifier_concurrency=spec["concurrency"],
        execution_lease_seconds=LEASE_SECONDS,
    )
    limiter = RedisRateLimiter(
        new_redis_client(REDIS_URL),
        settings.telegram_rate_per_second,
        settings.telegram_rate_per_chat_per_second,
        prefix=spec["prefix"],
        paid_per_second=settings.telegram_paid_rate_per_second,
    )
    return Notifier(
        settings=settings,
        send=TelegramClient(TOKEN, settings.telegram_api_url).deliver,
        limiter=limiter,
        outbox=Outbox(sqs, settings.notifications_queue_url),
    )


def process_one(notifier: Notifier, message: dict[str, Any], totals: dict[str, Any]) -> bool:
    """Process one record, counted; whether it succeeded (else SQS delivers it again, as a
    batch item failure would have it)."""
    began = time.perf_counter()
    result = handle(notifier, message)
    totals["process_seconds"] += time.perf_counter() - began
    totals["records"] += 1
    if result is None:
        totals["failed_records"] += 1
        return False
    totals["sent"] += result.sent
    totals["requeued"] += result.requeued
    return True


def handle(notifier: Notifier, message: dict[str, Any]) -> NotifyResult | None:
    count = int(message.get("Attributes", {}).get("ApproximateReceiveCount", 1))
    try:
        return notifier.process(DeliveryBatch.from_json(message["Body"]), count)
    except Exception as exc:  # a batch item failure: SQS delivers it again
        print(f"   [{multiprocessing.current_process().name}] record failed: {exc!r}", flush=True)
        return None
    finally:
        clear_metrics()


if __name__ == "__main__":
    main()
