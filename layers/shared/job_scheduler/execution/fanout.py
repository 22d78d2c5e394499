"""From a running execution to queued deliveries, a chunk at a time.

For each chunk of the job's messages: upsert the delivery rows as ``queued`` (one statement;
the UNIQUE (execution, user) key makes a resumed run find the rows it made before), then put
on the queue the ones still ``queued``. The queue calls of one chunk run while the next
chunk is rendered and written (at most ``SENDS_IN_FLIGHT`` chunks ahead); a failed call
fails the run.

A row is ``queued`` before its message is on the queue, so a resumed run queues again every
row the job produces again that is still ``queued``, including some that already were: the
notifier claims each delivery before sending, so a second copy sends nothing. Rows of an
earlier attempt the job does not produce again are skipped at the end. That costs queue messages
only on a resume, and saves an UPDATE per chunk on every run (bench/fanout.py).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from itertools import islice
from typing import TYPE_CHECKING, Any

from job_scheduler.adapters.db import database_errors
from job_scheduler.delivery.outbox import Delivery, DeliveryBatch, pack
from job_scheduler.errors import JobSchedulerError
from job_scheduler.execution.firing import Firing
from job_scheduler.execution.targeting import Targeting, iter_recipients
from job_scheduler.jobs.registry import JobContext, JobRun, OutgoingMessage, Recipient
from job_scheduler.messages.rendering import custom_message_job_messages

if TYPE_CHECKING:
    from job_scheduler.execution.executor import Executor

CHUNK = 1000
SENDS_IN_FLIGHT = 2


@dataclass
class FanoutResult:
    recipients: int = 0
    messages: int = 0
    queued: int = 0
    skipped: int = 0
    sqs_calls: int = 0
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Counted:
    """Counts the recipients the job pulls from the targeting stream."""

    def __init__(self, recipients: Iterable[Recipient]) -> None:
        self._recipients = iter(recipients)
        self.count = 0

    def __iter__(self) -> Iterator[Recipient]:
        for recipient in self._recipients:
            self.count += 1
            yield recipient


def fan_out(
    executor: Executor, job: dict[str, Any], firing: Firing, execution_id: int
) -> FanoutResult:
    """Run the job's message generator over its recipients and queue what it yields."""
    conn = executor.conn
    recipients = _Counted(iter_recipients(conn, Targeting.of_job(job)))
    run = JobRun(
        job["name"], firing.scheduled_for, firing.trigger, execution_id, job["message_config"]
    )
    messages = job_messages(executor, job, run, recipients)
    result = FanoutResult()
    calls_before = executor.outbox.calls
    with database_errors("starting the fan-out"):
        started = conn.execute("SELECT now() AS at").fetchone()["at"]
    in_flight: deque[Future[int]] = deque()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fanout") as sender:
        try:
            while chunk := list(islice(messages, CHUNK)):
                result.messages += len(chunk)
                batches = _write_chunk(executor, job["name"], execution_id, chunk)
                in_flight.append(sender.submit(executor.outbox.send, batches))
                result.queued += sum(len(batch.deliveries) for batch in batches)
                if len(in_flight) >= SENDS_IN_FLIGHT:
                    in_flight.popleft().result()
            while in_flight:
                in_flight.popleft().result()
        finally:
            for future in in_flight:  # a failure: queue nothing more of this run
                future.cancel()
    _skip_rows_not_produced_again(conn, execution_id, started)
    result.recipients = recipients.count
    result.skipped = recipients.count - result.messages
    result.note = "; ".join(run.notes) or None
    result.sqs_calls = executor.outbox.calls - calls_before
    return result


def _skip_rows_not_produced_again(conn: Any, execution_id: int, started: Any) -> None:
    """On a resumed run: rows still ``queued`` from an earlier attempt that this attempt's
    job did not produce again (the person picked their food meanwhile, say) are skipped, so
    nothing stays queued for ever; if their earlier message is still on the queue, the
    notifier's claim now passes them by. On a first run nothing matches."""
    with database_errors("closing rows the resumed run did not produce"):
        conn.execute(
            "UPDATE notification_deliveries SET status = 'skipped', updated_at = now(),"
            " last_error = 'not produced again when the run resumed'"
            " WHERE execution_id = %s AND status = 'queued' AND updated_at < %s",
            (execution_id, started),
        )


def job_messages(
    executor: Executor, job: dict[str, Any], run: JobRun, recipients: Iterable[Recipient]
) -> Iterator[OutgoingMessage]:
    if job["kind"] == "custom_message":
        return custom_message_job_messages(job, run, recipients)
    coded = executor.registry.get(job["name"])
    if coded is None:
        raise JobSchedulerError(f"coded job '{job['name']}' is not in this deployment's code")
    return coded(JobContext(executor.settings, executor.conn)).messages(run, recipients)


def _write_chunk(
    executor: Executor, job_name: str, execution_id: int, chunk: list[OutgoingMessage]
) -> list[DeliveryBatch]:
    """Upsert the chunk's rows; the queue messages for those not yet sent or failed."""
    by_user = {message.user_id: message for message in chunk}
    with database_errors("writing deliveries"):
        rows = executor.conn.execute(
            "INSERT INTO notification_deliveries (execution_id, user_id, status)"
            " SELECT %s, unnest(%s::bigint[]), 'queued'"
            " ON CONFLICT ON CONSTRAINT notification_deliveries_once_per_user"
            " DO UPDATE SET updated_at = now() RETURNING id, user_id, status",
            (execution_id, list(by_user)),
        ).fetchall()
    to_queue = [
        _delivery(row["id"], by_user[row["user_id"]])
        for row in rows
        if row["status"] in ("pending", "queued")
    ]
    return list(pack(execution_id, job_name, to_queue, executor.settings.recipients_per_message))


def _delivery(delivery_id: int, message: OutgoingMessage) -> Delivery:
    return Delivery(
        delivery_id=delivery_id,
        user_id=message.user_id,
        chat_id=message.chat_id,
        text=message.text,
        parse_mode=message.parse_mode,
        silent=message.disable_notification,
    )
