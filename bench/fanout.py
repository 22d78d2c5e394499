"""One firing of a custom message to 100,000 users: from ``execute()`` to every row written.

    .venv/bin/python -m bench.fanout [--users 100000] [--workers 1] [--profile]
        [--skip-moto] [--moto-as-released]

Set-up: ``--users`` active users loaded with COPY, a custom-message job targeting everyone
(an HTML template with the user's first name; made with ``admin.edits.create_job``, its
rule on moto's EventBridge), moto's SQS on loopback. No Telegram is involved.

What the fan-out is now: every delivery is written to Postgres as a ``ready`` row with its
payload (``{"text", "parse_mode", "silent"}``), a chunk of 1,000 per statement, and only the
execution's first *window* (``notify_window_messages`` x ``recipients_per_message`` rows,
default 4 x 50 = 200) goes on the notifications queue, as id-only messages; the notifier
tops the window up as it sends (``delivery/window.py``). Fan-out no longer sends every
delivery to SQS: one ``SendMessageBatch`` call per firing, whatever the audience, so the
cost is Postgres's and the baselines are Postgres writes, not SQS calls.

Measured:

- targeting alone: ``iter_recipients`` over every user (keyset pages of 2,000);
- rendering alone: ``custom_message_job_messages`` over the recipients, already in memory;
- baseline: a bare loop of ``INSERT ... SELECT FROM unnest(...)`` of the same rows (same
  payloads, chunks of 1,000, one thread; no ON CONFLICT, no window) into
  ``notification_deliveries`` under an execution of its own, so the ratio shows our
  overhead over the writes themselves; also ``COPY`` of the same rows, the fastest way
  Postgres takes them. Both are deleted again before the real thing;
- the real thing: ``Executor.execute`` of one manual firing with the Redis firing lock and
  a real ``Outbox``: wall time, rows/s, the SQS calls the outbox counted. Checked
  afterwards: every row ``ready`` but the first window's, which are ``queued``, and the
  queue holds exactly the window's messages, naming those rows' ids;
- the same firing again (a new execution) with SendMessageBatch answered in-process by a
  botocore ``before-send`` hook (requests still built, signed and parsed): our code's own
  cost, without moto's.

Goal: the whole fan-out within 10 s. moto's server runs in a process of its own with its
per-message queue scan patched out (``harness.serve_fast_moto``); ``--moto-as-released``
runs moto unpatched in this process instead (a thread sharing this process's GIL). With
one window per firing on the queue this hardly matters any more; both are kept to compare
with earlier runs.

``--workers 1,2,4``: instead, the sharded fan-out with that many worker processes against
a bare SendMessageBatch loop at the same parallelism (``bench/sharded_fanout.py``); its
last line is the ratios. ``--shard-size`` sets SHARD_SIZE.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from bench import sharded_fanout
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
    receive_batches,
    scratch_database,
    sqs_client,
    stubbed_sqs,
    table,
    timed,
)
from job_scheduler.adapters.db import connect
from job_scheduler.config import Settings
from job_scheduler.execution.fanout import CHUNK, FanoutResult, payload_of
from job_scheduler.execution.targeting import Targeting, iter_recipients
from job_scheduler.messages.rendering import custom_message_job_messages
from job_scheduler.model import Job, JobRun, OutgoingMessage, Trigger

JOB = "everyone"
_BASELINE_MINUTE = datetime(2000, 1, 1, tzinfo=UTC)  # far from any firing of the executor


@dataclass
class Bench:
    conn: psycopg.Connection
    settings: Settings
    sqs: Any
    aws_url: str
    job: Job
    users: int
    result: FanoutResult | None = None  # the last firing's

    @property
    def window_rows(self) -> int:
        """The rows the first top-up queues: the window, or every row if fewer."""
        per_message = self.settings.recipients_per_message
        return min(self.users, per_message * self.settings.notify_window_messages)

    @property
    def window_messages(self) -> int:
        return math.ceil(self.window_rows / self.settings.recipients_per_message)


def main() -> None:
    args = _arguments()
    quiet()
    header(
        "fan-out",
        users=args.users,
        workers=args.workers or "one executor, unsharded",
        moto="as released" if args.moto_as_released else "patched",
    )
    with (
        scratch_database() as database_url,
        moto_server(separate=not args.moto_as_released) as aws_url,
    ):
        bench = prepare(database_url, aws_url, args.users)
        if args.workers:
            ratios = sharded_fanout.run(bench, args.workers, args.shard_size)
            footer()
            print("sharded fan-out vs bare SendMessageBatch: " + ", ".join(ratios))
            return
        rows, messages = alone(bench)
        baselines = postgres_baselines(bench, messages)
        rows += baselines
        baseline = baselines[0][1]
        if not args.skip_moto:
            label = "Executor.execute (whole fan-out)"
            rows.append(firing(bench, label, bench.sqs, baseline, on_moto=True))
        sampler = StackSampler() if args.profile else None
        sql = SqlTimer() if args.profile else None
        label = "Executor.execute, SQS answered in-process"
        profilers = [sampler, sql] if sampler and sql else []
        stubbed = firing(bench, label, stubbed_sqs(aws_url), baseline, False, profilers)
        rows.append(stubbed)
    report(bench, rows)
    if sampler is not None and sql is not None:
        print("\n== profile: Executor.execute with SQS answered in-process, every thread")
        sampler.report(top=20, match=in_package)
        print("   Postgres statements (time includes waiting for this process's GIL):")
        sql.report(stubbed[1])


def firing(
    bench: Bench,
    label: str,
    sqs: Any,
    baseline: float,
    on_moto: bool,
    profilers: list[Any] | None = None,
) -> tuple:
    """One manual firing through the real executor (built beforehand, as at a cold start),
    timed inside ``profilers``; checked (the queue too, ``on_moto``); its row of the report."""
    executor = make_executor(bench.settings, sqs)
    fire = manual_firing(JOB)
    with contextlib.ExitStack() as stack, timed() as took:
        for profiler in profilers or []:
            stack.enter_context(profiler)
        outcome = executor.execute(fire)
    clear_metrics()
    check(bench, outcome, bench.settings.notifications_queue_url if on_moto else None)
    bench.result = outcome.result
    seconds = took[0]
    return (label, seconds, _rate(bench, seconds), outcome.result.sqs_calls,
            ratio(seconds, baseline))  # fmt: skip


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.fanout")
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument(
        "--workers",
        type=_counts,
        default=None,
        help="the sharded fan-out with this many worker processes (e.g. 1,2,4) against a"
        " bare SendMessageBatch loop at the same parallelism (bench/sharded_fanout.py)",
    )
    parser.add_argument("--shard-size", type=int, default=50_000, help="people per shard")
    parser.add_argument(
        "--profile", action="store_true", help="sample the stubbed run's threads and SQL"
    )
    parser.add_argument(
        "--moto-as-released",
        action="store_true",
        help="moto unpatched, in this process (only the first window reaches it now)",
    )
    parser.add_argument(
        "--skip-moto",
        action="store_true",
        help="only targeting, rendering, the Postgres baselines and the stubbed run",
    )
    return parser.parse_args()


def _counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: worker counts like 1,2,4") from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: each count at least 1")
    return counts


def prepare(database_url: str, aws_url: str, users: int) -> Bench:
    conn = connect(database_url)
    loaded = copy_users(conn, users)
    sqs = sqs_client(aws_url)
    settings = bench_settings(  # one run, unsharded, unless --workers asks for shards
        database_url,
        aws_url,
        make_queue(sqs, "notifications"),
        "http://127.0.0.1:9",
        shard_size=10_000_000,
    )
    job = add_custom_job(conn, settings, JOB)
    print(f"   set-up: {users:,} users loaded with COPY in {loaded:.2f} s\n")
    return Bench(conn, settings, sqs, aws_url, job, users)


def alone(bench: Bench) -> tuple[list[tuple], list[OutgoingMessage]]:
    """Targeting and rendering on their own; the rendered messages, for the baselines."""
    rows: list[tuple] = []
    with timed() as took:
        recipients = list(iter_recipients(bench.conn, Targeting.of_job(bench.job)))
    rows.append(("targeting alone (iter_recipients)", took[0], _rate(bench, took[0]), "-", "-"))
    job = bench.job
    run = JobRun(JOB, datetime.now(UTC), Trigger.MANUAL, 0, job.message_config)
    with timed() as took:
        messages = list(custom_message_job_messages(job, run, recipients))
    rows.append(("rendering alone (custom message)", took[0], _rate(bench, took[0]), "-", "-"))
    return rows, messages


# --- the Postgres baselines -----------------------------------------------------------------

_INSERT = (
    "INSERT INTO notification_deliveries (execution_id, user_id, status, payload)"
    " SELECT %s, user_id, 'ready', payload"
    " FROM unnest(%s::bigint[], %s::jsonb[]) AS m(user_id, payload)"
)
_COPY = "COPY notification_deliveries (execution_id, user_id, status, payload) FROM STDIN"


def postgres_baselines(bench: Bench, messages: list[OutgoingMessage]) -> list[tuple]:
    """The same rows written bare: INSERT chunks (the baseline), then COPY; each into an
    execution of its own, deleted (and vacuumed away) afterwards."""
    insert = _scratch_write(
        bench, 1, lambda execution: bare_insert(bench.conn, execution, messages)
    )
    copied = _scratch_write(bench, 2, lambda execution: bare_copy(bench.conn, execution, messages))
    return [
        (f"Postgres bare INSERT, {CHUNK:,} a statement (baseline)", insert,
         _rate(bench, insert), "-", "1.00x"),
        ("Postgres COPY of the same rows", copied, _rate(bench, copied), "-",
         ratio(copied, insert)),
    ]  # fmt: skip


def _scratch_write(bench: Bench, number: int, write: Callable[[int], None]) -> float:
    execution = bench.conn.execute(
        "INSERT INTO job_executions (job_id, scheduled_for, trigger, status, lock_mode)"
        " VALUES (%s, %s, 'manual', 'succeeded', 'none') RETURNING id",
        (bench.job.id, _BASELINE_MINUTE + timedelta(minutes=number)),
    ).fetchone()["id"]
    with timed() as took:
        write(execution)
    written = delivery_statuses(bench.conn, execution)
    if written != {"ready": bench.users}:
        raise RuntimeError(f"the baseline wrote {written}, not {bench.users} ready rows")
    bench.conn.execute("DELETE FROM job_executions WHERE id = %s", (execution,))  # cascades
    bench.conn.execute("VACUUM ANALYZE notification_deliveries")
    return took[0]


def bare_insert(conn: psycopg.Connection, execution: int, messages: list[OutgoingMessage]) -> None:
    for start in range(0, len(messages), CHUNK):
        chunk = messages[start : start + CHUNK]
        users = [message.user_id for message in chunk]
        conn.execute(_INSERT, (execution, users, [Jsonb(payload_of(m)) for m in chunk]))


def bare_copy(conn: psycopg.Connection, execution: int, messages: list[OutgoingMessage]) -> None:
    with conn.cursor() as cursor, cursor.copy(_COPY) as copy:
        for message in messages:
            copy.write_row((execution, message.user_id, "ready", json.dumps(payload_of(message))))


# --- checks and the report ------------------------------------------------------------------


def check(bench: Bench, outcome: Any, queue_url: str | None) -> None:
    """Every row written ``ready`` but the first window's, ``queued``; unless SQS was stubbed,
    the queue holds exactly the window's messages, naming those rows (and nothing else)."""
    window = bench.window_rows
    expected = {"queued": window, "ready": bench.users - window}
    expected = {status: count for status, count in expected.items() if count}
    statuses = delivery_statuses(bench.conn, outcome.execution_id) if outcome.execution_id else {}
    queued = outcome.result.queued if outcome.result else None
    if outcome.status != "ran" or statuses != expected or queued != window:
        raise RuntimeError(
            f"the fan-out is incomplete: {outcome.status}, {statuses}, {queued} rows queued"
        )
    if queue_url is None:
        return
    depth = queue_depth(bench.sqs, queue_url)
    if depth != bench.window_messages:
        raise RuntimeError(f"{depth} queue messages, not the window's {bench.window_messages}")
    batches = receive_batches(bench.sqs, queue_url, depth)
    named = sorted(i for batch in batches for i in batch.delivery_ids)
    rows = bench.conn.execute(
        "SELECT id FROM notification_deliveries WHERE execution_id = %s AND status = 'queued'"
        " ORDER BY id",
        (outcome.execution_id,),
    ).fetchall()
    if named != [row["id"] for row in rows] or any(b.inline for b in batches):
        raise RuntimeError("the queued messages do not name exactly the window's rows by id")


def _rate(bench: Bench, seconds: float) -> int:
    return round(bench.users / seconds)


def report(bench: Bench, rows: list[tuple]) -> None:
    settings, result = bench.settings, bench.result
    if result is None:
        raise RuntimeError("no firing ran")
    print(
        f"   {result.messages:,} delivery rows written ready; the first window,"
        f" {bench.window_rows:,} rows ({bench.window_messages} id-only queue messages of"
        f" {settings.recipients_per_message}),\n   queued in {result.sqs_calls}"
        " SendMessageBatch call(s); goal: the whole fan-out <= 10 s"
    )
    table(("phase", "seconds", "rows/s", "SQS calls", "time vs baseline"), rows)
    footer()


if __name__ == "__main__":
    main()
