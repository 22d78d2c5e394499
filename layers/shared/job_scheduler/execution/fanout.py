"""From a running execution to queued deliveries, a chunk at a time.

For each chunk of a job's messages: upsert the delivery rows as ``queued`` (one statement;
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
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from itertools import islice
from typing import Any

import psycopg

from job_scheduler.adapters.db import database_errors
from job_scheduler.delivery.outbox import Delivery, DeliveryBatch, Outbox, pack
from job_scheduler.model import DeliveryStatus, OutgoingMessage

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


@dataclass(frozen=True)
class Fanout:
    """Where one execution's messages go: its rows, and the notifications queue."""

    conn: psycopg.Connection
    outbox: Outbox
    execution_id: int
    job_name: str
    recipients_per_message: int

    def run(self, messages: Iterator[OutgoingMessage]) -> FanoutResult:
        """Write and queue every message ``messages`` yields; counts the messages, the
        deliveries queued and the SQS calls (recipients and skips are the caller's)."""
        result = FanoutResult()
        calls_before = self.outbox.calls
        with database_errors("starting the fan-out"):
            started = self.conn.execute("SELECT now() AS at").fetchone()["at"]
        in_flight: deque[Future[int]] = deque()
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fanout") as sender:
            try:
                while chunk := list(islice(messages, CHUNK)):
                    result.messages += len(chunk)
                    batches = self._write_chunk(chunk)
                    in_flight.append(sender.submit(self.outbox.send, batches))
                    result.queued += sum(len(batch.deliveries) for batch in batches)
                    if len(in_flight) >= SENDS_IN_FLIGHT:
                        in_flight.popleft().result()
                while in_flight:
                    in_flight.popleft().result()
            finally:
                for future in in_flight:  # a failure: queue nothing more of this run
                    future.cancel()
        self._skip_rows_not_produced_again(started)
        result.sqs_calls = self.outbox.calls - calls_before
        return result

    def _skip_rows_not_produced_again(self, started: Any) -> None:
        """On a resumed run: rows still ``queued`` from an earlier attempt that this attempt's
        job did not produce again (the person picked their food meanwhile, say) are skipped,
        so nothing stays queued for ever; if their earlier message is still on the queue, the
        notifier's claim now passes them by. On a first run nothing matches."""
        with database_errors("closing rows the resumed run did not produce"):
            self.conn.execute(
                "UPDATE notification_deliveries SET status = %s, updated_at = now(),"
                " last_error = 'not produced again when the run resumed'"
                " WHERE execution_id = %s AND status = %s AND updated_at < %s",
                (DeliveryStatus.SKIPPED, self.execution_id, DeliveryStatus.QUEUED, started),
            )

    def _write_chunk(self, chunk: list[OutgoingMessage]) -> list[DeliveryBatch]:
        """Upsert the chunk's rows; the queue messages for those not yet sent or failed."""
        by_user = {message.user_id: message for message in chunk}
        with database_errors("writing deliveries"):
            rows = self.conn.execute(
                "INSERT INTO notification_deliveries (execution_id, user_id, status)"
                " SELECT %s, unnest(%s::bigint[]), %s"
                " ON CONFLICT ON CONSTRAINT notification_deliveries_once_per_user"
                " DO UPDATE SET updated_at = now() RETURNING id, user_id, status",
                (self.execution_id, list(by_user), DeliveryStatus.QUEUED),
            ).fetchall()
        to_queue = [
            _delivery(row["id"], by_user[row["user_id"]])
            for row in rows
            if row["status"] == DeliveryStatus.QUEUED
        ]
        per_message = self.recipients_per_message
        return list(pack(self.execution_id, self.job_name, to_queue, per_message))


def _delivery(delivery_id: int, message: OutgoingMessage) -> Delivery:
    return Delivery(
        delivery_id=delivery_id,
        user_id=message.user_id,
        chat_id=message.chat_id,
        text=message.text,
        parse_mode=message.parse_mode,
        silent=message.disable_notification,
    )
