"""The sharded fan-out of one firing, over parallel worker processes, against a bare
SendMessageBatch loop at the same parallelism (``python -m bench.fanout --workers 1,2,4``).

Set-up (``bench.fanout``'s): ``--users`` active users loaded with COPY, a custom-message job
reaching everyone, moto's SQS in a process of its own, a jobs queue and a notifications
queue on it.

Measured, for each number of workers W:

- the real thing: ``Executor.execute`` of one manual firing plans the shards (SHARD_SIZE
  people each) and puts their tasks on the jobs queue; W worker processes, each an
  executor as one job_executor invocation builds it, take shard tasks off the queue and
  ``run_shard`` them (claim, targeting of the range, rendering, rows upserted, the window
  topped up) until the execution is finished by its last shard. Timed from the firing to
  the execution ``succeeded``; checked afterwards: every person's row written once, the
  counts the sums of the shards'. Each worker reports its peak RSS (``peak_rss_mb``).
- baseline: W processes putting the same audience on a queue as the unwindowed design
  would, id-only messages of RECIPIENTS_PER_MESSAGE ids, ten per SendMessageBatch call,
  each process its share: the cost of SQS alone for the same fan-out.

Aims: the sharded fan-out within 2x the baseline at each W, and one worker's peak memory
within 256 MB. The last line printed is the ratios.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any, NamedTuple

from bench.harness import (
    Deadline,
    make_executor,
    make_queue,
    manual_firing,
    ratio,
    sqs_client,
    table,
    timed,
)

PER_MESSAGE = 50


def run(bench: Any, workers: list[int], shard_size: int) -> list[str]:
    """Every W of ``workers``: the baseline, then the sharded fan-out; the report's rows."""
    settings = replace(bench.settings, jobs_queue_url=make_queue(bench.sqs, "jobs", 360),
                       shard_size=shard_size)  # fmt: skip
    rows, ratios = [], []
    for count in workers:
        baseline = bare_batches(bench, count)
        seconds, peaks, shards = sharded(bench, settings, count)
        rows.append((f"bare SendMessageBatch, {count} process(es) (baseline)", baseline,
                     round(bench.users / baseline), "-", "1.00x"))  # fmt: skip
        rows.append((f"sharded fan-out, {count} worker(s), {shards} shards", seconds,
                     round(bench.users / seconds), f"{max(p.rss_mb for p in peaks):.0f}",
                     ratio(seconds, baseline)))  # fmt: skip
        ratios.append(f"{count} worker(s) {seconds / baseline:.2f}x")
    table(("phase", "seconds", "people/s", "peak RSS MB (worst worker)", "vs baseline"), rows)
    return ratios


# --- the sharded fan-out --------------------------------------------------------------------


class Worked(NamedTuple):
    """What a worker process reports when it is done: peak RSS, longest shard."""

    rss_mb: float
    longest_shard_seconds: float


def sharded(
    bench: Any,
    settings: Any,
    count: int,
    check: Callable[[Any, int], None] | None = None,
    firing: Any = None,
) -> tuple[float, list[Worked], int]:
    """One firing of ``bench.job`` (a manual one, unless ``firing``) split into shards and
    run by ``count`` worker processes, then ``check``ed (by default: everyone's row written
    once); the seconds, what each worker reports, and the number of shards."""
    spawn = multiprocessing.get_context("spawn")
    results = spawn.Queue()
    ready = spawn.Event()
    processes = [spawn.Process(target=worker, args=(settings, results, ready))
                 for _ in range(count)]  # fmt: skip
    for process in processes:
        process.start()
    executor = make_executor(settings, bench.sqs)
    with timed() as took:
        outcome = executor.execute(firing or manual_firing(bench.job.name))
        ready.set()
        _wait_finished(bench, outcome.execution_id)
    peaks = [results.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(timeout=30)
    (check or _check)(bench, outcome.execution_id)
    shards = bench.conn.execute(
        "SELECT shards FROM job_executions WHERE id = %s", (outcome.execution_id,)
    ).fetchone()["shards"]
    bench.conn.execute("DELETE FROM job_executions WHERE id = %s", (outcome.execution_id,))
    bench.conn.execute("VACUUM ANALYZE notification_deliveries")
    return took[0], peaks, shards


def worker(settings: Any, results: Any, ready: Any) -> None:
    """One job_executor invocation after another: shard tasks off the jobs queue until it
    stays empty; then its peak RSS and its longest invocation on ``results``."""
    from bench.harness import quiet
    from job_scheduler.execution.shards import ShardTask

    quiet()
    sqs = sqs_client(settings.aws_endpoint_url)
    executor = make_executor(settings, sqs)
    ready.wait(120)
    empty_since, longest = time.monotonic(), 0.0
    while time.monotonic() - empty_since < 3:
        messages = sqs.receive_message(QueueUrl=settings.jobs_queue_url, MaxNumberOfMessages=1,
                                       WaitTimeSeconds=1).get("Messages", [])  # fmt: skip
        for message in messages:
            task = ShardTask.of(message["Body"])
            if task is not None:
                with timed() as took:
                    executor.run_shard(task)
                longest = max(longest, took[0])
            sqs.delete_message(QueueUrl=settings.jobs_queue_url,
                               ReceiptHandle=message["ReceiptHandle"])  # fmt: skip
            empty_since = time.monotonic()
    results.put(Worked(peak_rss_mb(), longest))


def peak_rss_mb() -> float:
    """This process's own peak resident memory (``VmHWM``). Not ``ru_maxrss``: Linux keeps
    that across fork and exec, so a spawned worker reported at least its parent's size
    (the benchmark's, holding every session of the set-up), not its own."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _wait_finished(bench: Any, execution_id: int) -> None:
    deadline = Deadline(900)
    while True:
        status = bench.conn.execute(
            "SELECT status FROM job_executions WHERE id = %s", (execution_id,)
        ).fetchone()["status"]
        if status != "running":
            if status != "succeeded":
                raise RuntimeError(f"the sharded execution ended {status}")
            return
        deadline.check("waiting for the last shard")
        time.sleep(0.05)


def _check(bench: Any, execution_id: int) -> None:
    row = bench.conn.execute(
        "SELECT e.recipients_count, e.queued_count, (SELECT count(DISTINCT user_id)"
        " FROM notification_deliveries WHERE execution_id = e.id) AS people,"
        " (SELECT sum(recipients) FROM execution_shards WHERE execution_id = e.id) AS summed"
        " FROM job_executions AS e WHERE e.id = %s",
        (execution_id,),
    ).fetchone()
    expected = {"recipients_count": bench.users, "queued_count": bench.users,
                "people": bench.users, "summed": bench.users}  # fmt: skip
    if dict(row) != expected:
        raise RuntimeError(f"the sharded fan-out is wrong: {dict(row)}, not {expected}")


# --- the baseline ---------------------------------------------------------------------------


def bare_batches(bench: Any, count: int) -> float:
    """The audience as id-only messages on a scratch queue, ``count`` processes sending
    their shares in SendMessageBatch calls of ten; the seconds from the first to the last."""
    url = make_queue(bench.sqs, f"bare-{count}", 360)
    messages = math.ceil(bench.users / PER_MESSAGE)
    shares = [(start, min(messages, start + math.ceil(messages / count)))
              for start in range(0, messages, math.ceil(messages / count))]  # fmt: skip
    spawn = multiprocessing.get_context("spawn")
    start = spawn.Event()
    processes = [spawn.Process(target=_send_share, args=(bench.aws_url, url, share, start))
                 for share in shares]  # fmt: skip
    for process in processes:
        process.start()
    time.sleep(2)  # every process started and its client built
    with timed() as took:
        start.set()
        for process in processes:
            process.join()
    if any(process.exitcode for process in processes):
        raise RuntimeError("a baseline process failed")
    bench.sqs.delete_queue(QueueUrl=url)
    return took[0]


def _send_share(aws_url: str, url: str, share: tuple[int, int], start: Any) -> None:
    sqs = sqs_client(aws_url)
    start.wait(60)
    for first in range(share[0], share[1], 10):
        entries = [{"Id": str(n), "MessageBody": json.dumps(
            {"execution_id": 1, "job": "everyone",
             "deliveries": list(range(m * PER_MESSAGE, (m + 1) * PER_MESSAGE))})}
            for n, m in enumerate(range(first, min(share[1], first + 10)))]  # fmt: skip
        sqs.send_message_batch(QueueUrl=url, Entries=entries)
