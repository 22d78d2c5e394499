"""A big audience, fanned out in parallel: shards of user ids as work items on the jobs queue.

When a firing's audience is larger than its job's shard size (``CodedJob.shard_size``;
otherwise the ``SHARD_SIZE`` setting, 50,000: about 5 s of writes, far inside the
executor's 60 s), the executor does not fan out itself. It splits the
targeted people into ranges of user ids holding ``size`` people each (one scan of their
ids, ``targeting.shard_starts``), writes a row per shard (``execution_shards``), puts one
``ShardTask`` per shard on the jobs queue, and returns. Each task is then run by its own
executor invocation, in parallel up to the jobs queue's MaximumConcurrency:

- a shard is claimed in Postgres (pending, failed, or running with an expired lease), so
  a copy of its message, or a retry while it runs, does nothing twice; a shard that is
  done is a duplicate;
- its people are the job's targeting restricted to its id range; its rows are written by
  the same fan-out as an unsharded run (the UNIQUE (execution, user) key makes a shard run
  twice write nothing twice, and its messages are queued by the same window);
- when it is done, the execution is finished if no shard is left (one UPDATE guarded by
  "no shard is not done", so of two shards finishing together exactly one finishes it),
  its counts the sums of its shards';
- a shard that fails is ``failed`` with its error; the queue retries it; on its last try
  the execution turns ``failed`` and says which users' range is missing and how to finish
  it (the message is in the jobs dead-letter queue: ``jobsctl dlq redrive jobs``).

The last shard's range ends at the largest id, so people who join while a send runs are
in it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from job_scheduler.adapters.aws import aws_call, client
from job_scheduler.adapters.db import Conn, database_errors
from job_scheduler.config import Settings
from job_scheduler.errors import AwsError, ConfigError, InvalidFiring
from job_scheduler.execution.targeting import LAST_ID


@dataclass(frozen=True)
class ShardTask:
    """One shard's message on the jobs queue."""

    execution_id: int
    shard: int

    def to_message(self) -> dict[str, Any]:
        return {"shard": {"execution_id": self.execution_id, "shard": self.shard}}

    @classmethod
    def of(cls, body: str | dict[str, Any]) -> ShardTask | None:
        """The task a jobs-queue body holds, or None if it is a firing."""
        try:
            data = json.loads(body) if isinstance(body, str) else body
        except ValueError:
            return None
        if not isinstance(data, dict) or "shard" not in data:
            return None
        try:
            shard = data["shard"]
            return cls(int(shard["execution_id"]), int(shard["shard"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidFiring(f"not a shard task: {type(exc).__name__}: {exc}") from exc


@dataclass(frozen=True)
class Shard:
    """A row of ``execution_shards``: a range of user ids of one execution."""

    execution_id: int
    shard: int
    first_user_id: int
    last_user_id: int
    status: str
    attempts: int

    @property
    def ids(self) -> tuple[int, int]:
        return (self.first_user_id, self.last_user_id)

    def describe(self) -> str:
        last = "the newest" if self.last_user_id == LAST_ID else f"{self.last_user_id:,}"
        return f"shard {self.shard} (users {self.first_user_id:,} to {last})"


def ranges(starts: list[int]) -> list[tuple[int, int]]:
    """Shard ranges from their first ids: each ends where the next begins; the last at the
    largest id."""
    return [(start, (starts[i + 1] - 1) if i + 1 < len(starts) else LAST_ID)
            for i, start in enumerate(starts)]  # fmt: skip


def queue_tasks(settings: Settings, tasks: list[ShardTask]) -> None:
    """Put shard tasks on the jobs queue, ten per SendMessageBatch."""
    if not settings.jobs_queue_url:
        raise ConfigError("JOBS_QUEUE_URL is not set: a sharded run queues its shards there")
    sqs = client(settings, "sqs")
    for start in range(0, len(tasks), 10):
        entries = [{"Id": str(n), "MessageBody": json.dumps(task.to_message())}
                   for n, task in enumerate(tasks[start : start + 10])]  # fmt: skip
        with aws_call("queueing shards"):
            answer = sqs.send_message_batch(QueueUrl=settings.jobs_queue_url, Entries=entries)
        if answer.get("Failed"):  # a partial failure: the plan is queued again on retry
            first = answer["Failed"][0]
            raise AwsError(f"queueing shards failed: {first.get('Code')}: {first.get('Message')}")


class ShardRows:
    """The ``execution_shards`` rows of the executor's connection."""

    def __init__(self, conn: Conn, lease_seconds: int) -> None:
        self.conn = conn
        self.lease_seconds = lease_seconds

    def plan(self, execution_id: int, spans: Iterable[tuple[int, int]]) -> list[int]:
        """Write the shards (again: a resumed plan keeps what exists) and mark the
        execution sharded; the shards not done yet, to queue."""
        spans = list(spans)
        with database_errors("planning shards"), self.conn.transaction():
            self.conn.execute(
                "INSERT INTO execution_shards (execution_id, shard, first_user_id, last_user_id)"
                " SELECT %s, n - 1, f, l FROM unnest(%s::bigint[], %s::bigint[])"
                "   WITH ORDINALITY AS s(f, l, n)"
                " ON CONFLICT (execution_id, shard) DO NOTHING",
                (execution_id, [first for first, _ in spans], [last for _, last in spans]),
            )
            self.conn.execute(
                "UPDATE job_executions SET shards = (SELECT count(*) FROM execution_shards"
                " WHERE execution_id = %(id)s) WHERE id = %(id)s",
                {"id": execution_id},
            )
            rows = self.conn.execute(
                "SELECT shard FROM execution_shards WHERE execution_id = %s AND status <> 'done'"
                " ORDER BY shard",
                (execution_id,),
            ).fetchall()
        return [row["shard"] for row in rows]

    def unfinished(self, execution_id: int) -> list[int] | None:
        """The execution's shards not done yet; None if it was never split."""
        with database_errors("reading shards"):
            rows = self.conn.execute(
                "SELECT shard, status FROM execution_shards WHERE execution_id = %s ORDER BY shard",
                (execution_id,),
            ).fetchall()
        if not rows:
            return None
        return [row["shard"] for row in rows if row["status"] != "done"]

    def release_execution_lease(self, execution_id: int) -> None:
        """A split execution is held by its shards' leases, not its own."""
        with database_errors("handing the execution to its shards"):
            self.conn.execute(
                "UPDATE job_executions SET lease_until = NULL WHERE id = %s AND status = 'running'",
                (execution_id,),
            )

    def claim(self, task: ShardTask) -> Shard | str:
        """The shard, now ``running`` under a lease; or why it cannot run: "done",
        "running" (another invocation holds it) or "missing"."""
        with database_errors("claiming a shard"):
            row = self.conn.execute(
                "UPDATE execution_shards SET status = 'running', attempts = attempts + 1,"
                " lease_until = now() + make_interval(secs => %s), updated_at = now()"
                " WHERE execution_id = %s AND shard = %s AND (status IN ('pending', 'failed')"
                "   OR (status = 'running' AND lease_until < now()))"
                " RETURNING *",
                (self.lease_seconds, task.execution_id, task.shard),
            ).fetchone()
            if row is None:
                found = self.conn.execute(
                    "SELECT status FROM execution_shards WHERE execution_id = %s AND shard = %s",
                    (task.execution_id, task.shard),
                ).fetchone()
                return "missing" if found is None else found["status"]
        return _shard(row)

    def done(self, shard: Shard, recipients: int, messages: int, skipped: int,
             note: str | None) -> None:  # fmt: skip
        with database_errors("recording a shard done"):
            self.conn.execute(
                "UPDATE execution_shards SET status = 'done', lease_until = NULL, error = NULL,"
                " recipients = %s, messages = %s, skipped = %s, note = %s, updated_at = now()"
                " WHERE execution_id = %s AND shard = %s",
                (recipients, messages, skipped, note, shard.execution_id, shard.shard),
            )

    def failed(self, shard: Shard, error: str) -> None:
        with database_errors("recording a shard failed"):
            self.conn.execute(
                "UPDATE execution_shards SET status = 'failed', lease_until = NULL, error = %s,"
                " updated_at = now() WHERE execution_id = %s AND shard = %s",
                (error, shard.execution_id, shard.shard),
            )

    def finish_if_last(self, execution_id: int) -> bool:
        """Finish the execution from its shards' sums, if none is left; whether this call
        did. A cancelled execution keeps its status (its counts are written)."""
        with database_errors("finishing a sharded execution"):
            row = self.conn.execute(
                "UPDATE job_executions AS e SET"
                " status = CASE e.status WHEN 'cancelled' THEN e.status ELSE 'succeeded' END,"
                " finished_at = now(), lease_until = NULL, error = NULL,"
                " duration_ms = (EXTRACT(EPOCH FROM now() - e.started_at) * 1000)::int,"
                " recipients_count = s.recipients, skipped_count = s.skipped, detail = s.notes,"
                " queued_count = (SELECT count(*) FROM notification_deliveries"
                "   WHERE execution_id = e.id)"
                " FROM (SELECT sum(recipients) AS recipients, sum(skipped) AS skipped,"
                "   left(string_agg(note, '; ' ORDER BY shard), 2000) AS notes,"
                "   bool_and(status = 'done') AS all_done"
                "   FROM execution_shards WHERE execution_id = %(id)s) AS s"
                " WHERE e.id = %(id)s AND s.all_done AND (e.status IN ('running', 'failed')"
                "   OR (e.status = 'cancelled' AND e.duration_ms IS NULL))"
                " RETURNING e.id",
                {"id": execution_id},
            ).fetchone()
        return row is not None

    def progress(self, execution_id: int) -> list[dict[str, Any]]:
        """Every shard of the execution, for its page: range, state, counts, error."""
        with database_errors("reading shards"):
            return self.conn.execute(
                "SELECT shard, first_user_id, last_user_id, status, attempts, recipients,"
                " messages, error FROM execution_shards WHERE execution_id = %s ORDER BY shard",
                (execution_id,),
            ).fetchall()


def _shard(row: dict[str, Any]) -> Shard:
    return Shard(row["execution_id"], row["shard"], row["first_user_id"], row["last_user_id"],
                 row["status"], row["attempts"])  # fmt: skip
