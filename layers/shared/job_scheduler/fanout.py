"""From a running execution to queued deliveries, a chunk at a time.

For each chunk of the job's messages: upsert the delivery rows (one statement; the UNIQUE
(execution, user) key makes a resumed run find the rows it made before), queue the ones
still ``pending``, then mark them ``queued``. A crash between queueing and marking queues
them again on resume; the notifier's claim on each delivery makes that harmless.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from itertools import islice
from typing import TYPE_CHECKING, Any

from .custom_message import custom_message_job_messages
from .db import database_errors
from .errors import JobSchedulerError
from .firing import Firing
from .outbox import Delivery, pack
from .registry import JobRun, OutgoingMessage, Recipient
from .targeting import Targeting, iter_recipients

if TYPE_CHECKING:
    from .execution import Executor

CHUNK = 1000


@dataclass
class FanoutResult:
    recipients: int = 0
    messages: int = 0
    queued: int = 0
    skipped: int = 0
    sqs_calls: int = 0

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
    while chunk := list(islice(messages, CHUNK)):
        result.messages += len(chunk)
        result.queued += _queue_chunk(executor, job["name"], execution_id, chunk)
    result.recipients = recipients.count
    result.skipped = recipients.count - result.messages
    result.sqs_calls = executor.outbox.calls - calls_before
    return result


def job_messages(
    executor: Executor, job: dict[str, Any], run: JobRun, recipients: Iterable[Recipient]
) -> Iterator[OutgoingMessage]:
    if job["kind"] == "custom_message":
        return custom_message_job_messages(job, run, recipients)
    coded = executor.registry.get(job["name"])
    if coded is None:
        raise JobSchedulerError(f"coded job '{job['name']}' is not in this deployment's code")
    return coded().messages(run, recipients)


def _queue_chunk(
    executor: Executor, job_name: str, execution_id: int, chunk: list[OutgoingMessage]
) -> int:
    by_user = {message.user_id: message for message in chunk}
    with database_errors("writing deliveries"):
        rows = executor.conn.execute(
            "INSERT INTO notification_deliveries (execution_id, user_id)"
            " SELECT %s, unnest(%s::bigint[])"
            " ON CONFLICT ON CONSTRAINT notification_deliveries_once_per_user"
            " DO UPDATE SET updated_at = now() RETURNING id, user_id, status",
            (execution_id, list(by_user)),
        ).fetchall()
    pending = [
        _delivery(row["id"], by_user[row["user_id"]]) for row in rows if row["status"] == "pending"
    ]
    if not pending:
        return 0
    per_message = executor.settings.recipients_per_message
    executor.outbox.send(pack(execution_id, job_name, pending, per_message))
    with database_errors("marking deliveries queued"):
        executor.conn.execute(
            "UPDATE notification_deliveries SET status = 'queued', updated_at = now()"
            " WHERE id = ANY(%s) AND status = 'pending'",
            ([delivery.delivery_id for delivery in pending],),
        )
    return len(pending)


def _delivery(delivery_id: int, message: OutgoingMessage) -> Delivery:
    return Delivery(
        delivery_id=delivery_id,
        user_id=message.user_id,
        chat_id=message.chat_id,
        text=message.text,
        parse_mode=message.parse_mode,
        silent=message.disable_notification,
    )
