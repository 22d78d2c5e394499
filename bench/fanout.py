"""One firing of a custom message to 100,000 users: from ``execute()`` to every delivery queued.

    .venv/bin/python -m bench.fanout [--users 100000] [--profile] [--moto-as-released]

Set-up: ``--users`` active users loaded with COPY, a custom-message job targeting everyone
(an HTML template with the user's first name), moto's SQS on loopback. No Telegram is
involved: the fan-out ends at the notifications queue.

Measured:

- targeting alone: ``iter_recipients`` over every user (keyset pages of 2,000);
- rendering alone: ``custom_message_job_messages`` over the recipients, already in memory;
- baseline: a bare loop of ``send_message_batch`` calls (10 entries each, one thread) for
  the same number of queue messages, with the same bodies the outbox would send, so the
  ratio shows our overhead over SQS (here: moto) itself; also the same calls on 8 threads,
  the outbox's ``PARALLEL_CALLS``;
- the real thing: ``Executor.execute`` of one manual firing with the Redis firing lock and
  a real ``Outbox``: wall time, deliveries/s, the SQS calls the outbox counted, and queue
  messages and deliveries per call. Checked afterwards: every delivery row is ``queued``
  and the queue holds the expected number of messages;
- the same firing again (a new execution) with SendMessageBatch answered in-process by a
  botocore ``before-send`` hook (requests still built, signed and parsed): our code's own
  cost, without moto's.

Goal: the whole fan-out within 10 s. moto's server runs in a process of its own with its
per-message queue scan patched out (``harness.serve_fast_moto``: as released, SendMessage
costs grow with the queue's depth, O(n^2) over a fan-out). ``--moto-as-released`` runs
moto unpatched in this process instead (a thread: SQS and the code under test then share
one GIL); the bare loop prints the first and last calls' times either way.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from botocore.awsrequest import AWSResponse

from bench.harness import (
    SqlTimer,
    StackSampler,
    add_custom_job,
    bench_settings,
    clear_metrics,
    copy_users,
    delivery_statuses,
    footer,
    header,
    in_package,
    make_executor,
    make_queue,
    manual_firing,
    moto_server,
    queue_depth,
    quiet,
    ratio,
    scratch_database,
    sqs_client,
    table,
    timed,
)
from job_scheduler.adapters.db import connect
from job_scheduler.delivery.outbox import ENTRIES_PER_CALL, PARALLEL_CALLS, Delivery, pack
from job_scheduler.execution.targeting import Targeting, iter_recipients
from job_scheduler.messages.rendering import custom_message_job_messages
from job_scheduler.model import JobRun

JOB = "everyone"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fanout")
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument(
        "--profile", action="store_true", help="sample the stubbed run's threads and SQL"
    )
    parser.add_argument(
        "--moto-as-released",
        action="store_true",
        help="moto unpatched, in this process (its SendMessage slows as the queue fills)",
    )
    parser.add_argument(
        "--skip-moto",
        action="store_true",
        help="only targeting, rendering and the stubbed run (minutes shorter at 100k)",
    )
    args = parser.parse_args()
    quiet()
    header("fan-out", users=args.users, moto="as released" if args.moto_as_released else "patched")
    rows: list[tuple] = []
    with (
        scratch_database() as database_url,
        moto_server(separate=not args.moto_as_released) as aws_url,
    ):
        conn = connect(database_url)
        loaded = copy_users(conn, args.users)
        job = add_custom_job(conn, JOB)
        sqs = sqs_client(aws_url)
        settings = bench_settings(
            database_url, aws_url, make_queue(sqs, "notifications"), "http://127.0.0.1:9"
        )
        print(f"   set-up: {args.users:,} users loaded with COPY in {loaded:.2f} s\n")

        with timed() as took:
            recipients = list(iter_recipients(conn, Targeting.of_job(job)))
        rows.append(("targeting alone (iter_recipients)", took[0], args.users / took[0], "-", "-"))
        run = JobRun(JOB, datetime.now(UTC), "manual", 0, job["message_config"])
        with timed() as took:
            messages = list(custom_message_job_messages(job, run, recipients))
        rows.append(("rendering alone (custom message)", took[0], args.users / took[0], "-", "-"))
        bodies = outbox_bodies(messages, settings.recipients_per_message)
        calls = math.ceil(len(bodies) / ENTRIES_PER_CALL)

        per_call: list[float] = []
        if not args.skip_moto:
            serial, per_call = sqs_loop(sqs, make_queue(sqs, "baseline"), bodies, threads=1)
            parallel, _ = sqs_loop(sqs, make_queue(sqs, "baseline-8"), bodies, PARALLEL_CALLS)
            with timed() as took:
                outcome = make_executor(settings, sqs).execute(manual_firing(JOB))
            clear_metrics()
            check(conn, sqs, settings.notifications_queue_url, outcome, args.users, len(bodies))
            result = outcome.result
            rows += [
                ("SQS bare loop, 1 thread (baseline)", serial, args.users / serial, calls,
                 "1.00x"),
                (f"SQS bare loop, {PARALLEL_CALLS} threads", parallel, args.users / parallel,
                 calls, ratio(parallel, serial)),
                ("Executor.execute (whole fan-out)", took[0], result.queued / took[0],
                 result.sqs_calls, ratio(took[0], serial)),
            ]  # fmt: skip

        sampler = StackSampler() if args.profile else None
        sql = SqlTimer() if args.profile else None
        with timed() as took, sampler or contextlib.nullcontext(), sql or contextlib.nullcontext():
            outcome = make_executor(settings, stubbed_sqs(aws_url)).execute(manual_firing(JOB))
        stubbed = took[0]
        clear_metrics()
        check(conn, None, None, outcome, args.users, None)
        result = outcome.result
        rows.append(("Executor.execute, SQS answered in-process", stubbed,
                     result.queued / stubbed, result.sqs_calls, "-"))  # fmt: skip

    print(
        f"   {result.queued:,} deliveries in {len(bodies):,} queue messages of"
        f" {settings.recipients_per_message}; goal: the whole fan-out <= 10 s"
    )
    table(("phase", "seconds", "deliveries/s", "SQS calls", "time vs baseline"), rows)
    print(
        f"   outbox: {result.sqs_calls} SendMessageBatch calls,"
        f" {len(bodies) / max(result.sqs_calls, 1):.1f} queue messages and"
        f" {result.queued / max(result.sqs_calls, 1):.0f} deliveries per call"
    )
    if per_call:
        tenth = max(len(per_call) // 10, 1)
        print(
            f"   moto, bare loop: {1e3 * sum(per_call[:tenth]) / tenth:.0f} ms per call over the"
            f" first {tenth} calls, {1e3 * sum(per_call[-tenth:]) / tenth:.0f} ms over the last"
            f" {tenth}"
        )
    footer()
    if sampler is not None and sql is not None:
        print("\n== profile: Executor.execute with SQS answered in-process, every thread")
        sampler.report(top=20, match=in_package)
        print("   Postgres statements (time includes waiting for this process's GIL):")
        sql.report(stubbed)


def outbox_bodies(messages: list[Any], per_message: int) -> list[str]:
    """The queue message bodies the outbox would send for these messages."""
    deliveries = [
        Delivery(index + 1, m.user_id, m.chat_id, m.text, m.parse_mode, m.disable_notification)
        for index, m in enumerate(messages)
    ]
    return [batch.to_json() for batch in pack(0, JOB, deliveries, per_message)]


def sqs_loop(sqs: Any, queue_url: str, bodies: list[str], threads: int) -> tuple[float, list]:
    """SendMessageBatch, 10 entries a call, nothing else: (seconds, each call's seconds)."""
    groups = [bodies[i : i + ENTRIES_PER_CALL] for i in range(0, len(bodies), ENTRIES_PER_CALL)]

    def send(group: list[str]) -> float:
        entries = [{"Id": str(i), "MessageBody": body} for i, body in enumerate(group)]
        started = time.perf_counter()
        answer = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
        if answer.get("Failed"):
            raise RuntimeError(f"SQS refused {answer['Failed']}")
        return time.perf_counter() - started

    with timed() as took:
        if threads == 1:
            calls = [send(group) for group in groups]
        else:
            with ThreadPoolExecutor(max_workers=threads) as pool:
                calls = list(pool.map(send, groups))
    return took[0], calls


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def stubbed_sqs(aws_url: str) -> Any:
    """An SQS client whose SendMessageBatch is built, signed and parsed by botocore, but
    answered in-process ("all succeeded") instead of by moto: our side of the cost only."""
    sqs = sqs_client(aws_url)

    def answer(request: Any, **_: Any) -> AWSResponse:
        headers = {"Content-Type": "application/x-amz-json-1.0"}
        return AWSResponse(request.url, 200, headers, _Raw(b'{"Successful":[],"Failed":[]}'))

    sqs.meta.events.register("before-send.sqs.SendMessageBatch", answer)
    return sqs


def check(
    conn: Any, sqs: Any, queue_url: str | None, outcome: Any, users: int, bodies: int | None
) -> None:
    """Every delivery row queued, and (unless stubbed) the queue holding every message."""
    statuses = delivery_statuses(conn, outcome.execution_id)
    depth = queue_depth(sqs, queue_url) if queue_url else None
    if outcome.status != "ran" or statuses != {"queued": users} or depth != bodies:
        raise RuntimeError(
            f"the fan-out is incomplete: {outcome.status}, {statuses}, {depth} queue messages"
        )


if __name__ == "__main__":
    main()
