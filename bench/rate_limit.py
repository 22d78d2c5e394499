"""Does the notifier hold Telegram's limits at full speed: 30 msg/s overall, 1/s per chat?

    .venv/bin/python -m bench.rate_limit [--seconds 60] [--unshared] [--window 1.05]
        [--per-message 10] [--notify-window 4]

For each variant: ``30 * --seconds`` users (one chat each), a custom-message job targeting
them (made with ``admin.edits.create_job``, its rule on moto's EventBridge), one firing
through the real ``Executor``: every delivery written to Postgres as ``ready`` with its
payload and the execution's first window (``--notify-window`` id-only messages of
``--per-message`` deliveries) put on moto's SQS. Then notifier *processes* drain it as the
Lambda's event source mapping would (receive up to 10, ``Notifier.process`` each, delete
what succeeded); each ``process`` tops the window up with the next ``ready`` rows, so the
queue never holds more than the window (``delivery/window.py``). Default limits
(``Settings``: 30/s, 1/s per chat, 8 threads). The fake Telegram runs in its own process
with ``enforce_limits=True``: anything over 30 in a sliding second, or over 1 per chat,
gets a 429 with retry_after 1 (which the notifier honours: pause, re-queue).

Variants (same totals each):

- 1 notifier, ``LocalRateLimiter`` (a deployment without Redis);
- 1 notifier, ``RedisRateLimiter``;
- 2 notifier processes sharing the ``RedisRateLimiter`` (template.yaml allows the notifier
  2 concurrent pollers);
- with ``--unshared``: 2 notifier processes with a ``LocalRateLimiter`` each, the failure
  the shared limiter exists to prevent (expect 429s).

``--window 1.05`` is a what-if, not the package's behaviour: it patches
``job_scheduler.delivery.ratelimit.WINDOW_SECONDS`` inside the notifier processes, to show what a
safety margin on the limiter's window would do to the 429s and the rate.

Reported, from the fake's own receive times: rate = sent / (last - first + 1 s) (each send
occupies a one-second window, so a perfect 30/s limiter scores exactly 30.0), that rate / 30
(goal >= 0.97), the fake's 429 count (goal 0; the fake is the judge of the window, by its
own monotonic clock), how many deliveries each notifier sent, the deliveries re-queued
after a 429, and the wall time from the go signal to the last delivery recorded (sent,
failed, uncertain or skipped).
"""

from __future__ import annotations

import argparse
import multiprocessing
import time
import uuid
from datetime import datetime
from typing import Any

from bench.harness import (
    REDIS_URL,
    TOKEN,
    Deadline,
    add_custom_job,
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
    scratch_database,
    sqs_client,
    table,
)
from job_scheduler.adapters.db import connect
from job_scheduler.adapters.redis_client import new_redis_client
from job_scheduler.adapters.telegram import TelegramClient
from job_scheduler.config import Settings
from job_scheduler.delivery.notifier import Notifier, NotifyResult
from job_scheduler.delivery.outbox import DeliveryBatch, Outbox
from job_scheduler.delivery.ratelimit import LocalRateLimiter, RedisRateLimiter

LIMIT = 30  # Telegram's overall limit, and Settings' default
# A failed record comes back after the visibility timeout, and its deliveries can be claimed
# again once their lease expired: template.yaml has 360 s and 120 s; shorter here, in the
# same order, so a failure costs the run tens of seconds, not minutes. A receive holds at
# most the window, --notify-window x --per-message deliveries: seconds of work at 30/s.
LEASE_SECONDS = 20
VISIBILITY_SECONDS = 30
WINDOW = 1.0


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.rate_limit")
    parser.add_argument("--seconds", type=int, default=60, help="length of each variant")
    parser.add_argument(
        "--unshared", action="store_true", help="also run 2 notifiers with local limiters"
    )
    parser.add_argument(
        "--window",
        type=float,
        default=None,
        help="what-if: patch ratelimit.WINDOW_SECONDS in the notifier processes (e.g. 1.05)",
    )
    parser.add_argument(
        "--per-message",
        type=int,
        default=10,
        help="deliveries per queue message (Settings default 50; 10 keeps the window's"
        " messages short, so two notifiers both get some within a receive's worth)",
    )
    parser.add_argument(
        "--notify-window",
        type=int,
        default=Settings.notify_window_messages,
        help="messages of the execution on the queue at once (Settings.notify_window_messages)",
    )
    args = parser.parse_args()
    quiet("ERROR")  # each 429 is logged as a warning; the report counts them
    messages = LIMIT * args.seconds
    header(
        "rate limit",
        seconds=args.seconds,
        messages_per_variant=messages,
        deliveries_per_queue_message=args.per_message,
        notify_window_messages=args.notify_window,
        limiter_window=args.window or "as shipped",
    )
    variants = [("local", 1), ("redis", 1), ("redis", 2)]
    if args.unshared:
        variants.append(("local", 2))
    rows = []
    with (
        scratch_database() as database_url,
        moto_server() as aws_url,
        fake_telegram(enforce_limits=True) as fake,
    ):
        conn = connect(database_url)
        copy_users(conn, messages)
        sqs = sqs_client(aws_url)
        for number, (limiter, instances) in enumerate(variants):
            queue_url = make_queue(sqs, f"notifications-{number}", VISIBILITY_SECONDS)
            settings = notifier_settings(
                database_url, aws_url, queue_url, fake.url, args.per_message, args.notify_window
            )
            job = f"rate-{number}"
            add_custom_job(conn, settings, job)
            outcome = make_executor(settings, sqs).execute(manual_firing(job))
            clear_metrics()
            if outcome.status != "ran" or outcome.result.messages != messages:
                raise RuntimeError(f"the firing did not write {messages} deliveries: {outcome}")
            fake.reset()
            time.sleep(WINDOW)  # nothing of the last variant left in the fake's window
            spec = {
                "database_url": database_url,
                "aws_url": aws_url,
                "queue_url": queue_url,
                "telegram_url": fake.url,
                "limiter": limiter,
                "prefix": f"bench:ratelimit:{uuid.uuid4().hex[:8]}",
                "window": args.window,
                "per_message": args.per_message,
                "notify_window": args.notify_window,
            }
            wall, totals = drain(spec, instances, conn, outcome.execution_id, messages, args)
            rows.append(report_row(limiter, instances, fake, wall, totals, messages))
    print(f"   goal: rate / {LIMIT} >= 0.97 and no 429s")
    table(
        (
            "limiter",
            "notifiers",
            "sent",
            "sent by each",
            "rate msg/s",
            f"rate / {LIMIT}",
            "429s",
            "re-queued",
            "failed records",
            "wall s",
        ),
        rows,
    )
    footer()


def drain(
    spec: dict[str, Any],
    instances: int,
    conn: Any,
    execution_id: int,
    messages: int,
    args: argparse.Namespace,
) -> tuple[float, dict[str, Any]]:
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
    try:
        ready.wait(timeout=60)
        started = time.perf_counter()
        deadline = Deadline(3 * args.seconds + 4 * VISIBILITY_SECONDS + 60)
        while final_count(conn, execution_id) < messages:
            deadline.check(f"waiting for {messages} deliveries to be sent")
            time.sleep(0.1)
        wall = time.perf_counter() - started
    finally:
        stop.set()
        totals: dict[str, Any] = {"each": []}
        for _ in workers:
            for key, value in results.get(timeout=120).items():
                totals[key] = totals.get(key, 0) + value
                if key == "sent":
                    totals["each"].append(value)
        for process in workers:
            process.join(timeout=30)
            if process.is_alive():
                process.terminate()
    return wall, totals


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
    if spec["window"]:
        import job_scheduler.delivery.ratelimit

        job_scheduler.delivery.ratelimit.WINDOW_SECONDS = spec[
            "window"
        ]  # the what-if, this process only
    settings = notifier_settings(
        spec["database_url"],
        spec["aws_url"],
        spec["queue_url"],
        spec["telegram_url"],
        spec["per_message"],
        spec["notify_window"],
    )
    if spec["limiter"] == "redis":
        limiter: Any = RedisRateLimiter(
            new_redis_client(REDIS_URL),
            settings.telegram_rate_per_second,
            settings.telegram_rate_per_chat_per_second,
            prefix=spec["prefix"],
        )
    else:
        limiter = LocalRateLimiter(
            settings.telegram_rate_per_second, settings.telegram_rate_per_chat_per_second
        )
    send = TelegramClient(TOKEN, settings.telegram_api_url).deliver
    sqs = sqs_client(spec["aws_url"])
    notifier = Notifier(
        settings=settings,
        send=send,
        limiter=limiter,
        outbox=Outbox(sqs, settings.notifications_queue_url),
    )
    totals = {"records": 0, "failed_records": 0, "sent": 0, "requeued": 0}
    ready.wait(timeout=60)
    try:
        while not stop.is_set():
            messages = sqs.receive_message(
                QueueUrl=settings.notifications_queue_url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=1,
                MessageSystemAttributeNames=["ApproximateReceiveCount"],
            ).get("Messages", [])
            for message in messages:
                result = handle(notifier, message)
                totals["records"] += 1
                if result is None:
                    totals["failed_records"] += 1
                    continue  # left for redelivery, as a batch item failure would be
                totals["sent"] += result.sent
                totals["requeued"] += result.requeued
                sqs.delete_message(
                    QueueUrl=settings.notifications_queue_url,
                    ReceiptHandle=message["ReceiptHandle"],
                )
    finally:
        results.put(totals)


def notifier_settings(
    database_url: str,
    aws_url: str,
    queue_url: str,
    telegram_url: str,
    per_message: int,
    notify_window: int,
) -> Settings:
    """The executor's and every notifier's settings: the window must be the same for all."""
    return bench_settings(
        database_url,
        aws_url,
        queue_url,
        telegram_url,
        recipients_per_message=per_message,
        notify_window_messages=notify_window,
        execution_lease_seconds=LEASE_SECONDS,
    )


def handle(notifier: Notifier, message: dict[str, Any]) -> NotifyResult | None:
    count = int(message.get("Attributes", {}).get("ApproximateReceiveCount", 1))
    try:
        return notifier.process(DeliveryBatch.from_json(message["Body"]), count)
    except Exception as exc:  # a batch item failure: SQS delivers it again
        print(f"   [{multiprocessing.current_process().name}] record failed: {exc!r}", flush=True)
        return None
    finally:
        clear_metrics()


def report_row(
    limiter: str, instances: int, fake: Any, wall: float, totals: dict[str, Any], messages: int
) -> tuple:
    accepted = sorted(_seconds(message["time"]) for message in fake.messages())
    stats = fake.stats()
    span = accepted[-1] - accepted[0] if accepted else 0.0
    rate = len(accepted) / (span + WINDOW) if accepted else 0.0
    return (
        limiter,
        instances,
        f"{len(accepted):,}/{messages:,}",
        " + ".join(str(sent) for sent in sorted(totals["each"], reverse=True)),
        rate,
        f"{rate / LIMIT:.3f}",
        stats["429"],
        totals.get("requeued", 0),
        totals.get("failed_records", 0),
        wall,
    )


def _seconds(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


if __name__ == "__main__":
    main()
