"""The dead-letter queues: what is in them, and sending it back so that it really runs.

A message lands in a dead-letter queue after ``maxReceiveCount`` failed receives. Moving it
back alone would do nothing for the notifications queue: on the last receive the notifier
already marked its deliveries ``failed``, and a claim only takes ``queued`` rows. So a
redrive of the notifications queue first makes the message's deliveries that failed for a
retryable reason ``queued`` again (attempts counted afresh; never a person who blocked the
bot, never one that may have arrived), then sends the message to its queue, then deletes
it from the dead-letter queue. A firing moved back to the jobs queue resumes its failed
execution (a scheduled firing that never got an execution is recorded ``missed`` once past
its misfire grace, as any late firing is).

Each queue's dead-letter queue is read from its RedrivePolicy: template.yaml is the one
place that pairs them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from job_scheduler.adapters.aws import aws_call, client
from job_scheduler.adapters.db import Conn, database_errors
from job_scheduler.config import Settings
from job_scheduler.delivery.outbox import DeliveryBatch
from job_scheduler.errors import ConfigError, InvalidBatch, InvalidField
from job_scheduler.model import DeliveryStatus

QUEUES = ("jobs", "notifications")
VISIBILITY_SECONDS = 60  # how long a message read for a redrive stays hidden from others


@dataclass(frozen=True)
class DeadLetter:
    """One message of a dead-letter queue, as ``show`` lists it."""

    message_id: str
    sent_at: datetime
    receives: int
    summary: str

    def as_dict(self) -> dict[str, Any]:
        return {"message_id": self.message_id, "sent_at": self.sent_at.isoformat(),
                "receives": self.receives, "summary": self.summary}  # fmt: skip


@dataclass(frozen=True)
class Redriven:
    messages: int
    deliveries_reset: int


class DeadLetters:
    """One source queue ("jobs" or "notifications") and its dead-letter queue."""

    def __init__(self, settings: Settings, which: str) -> None:
        if which not in QUEUES:
            raise InvalidField(f"the queue must be one of {', '.join(QUEUES)}, not {which!r}",
                               "queue")  # fmt: skip
        url = settings.jobs_queue_url if which == "jobs" else settings.notifications_queue_url
        if not url:
            raise ConfigError(f"{which.upper()}_QUEUE_URL is not set: which queue is this?")
        self.which, self.source_url = which, url
        self.sqs = client(settings, "sqs")
        self.url = self._dead_letter_url()

    def _dead_letter_url(self) -> str:
        with aws_call("reading the queue's redrive policy"):
            attributes = self.sqs.get_queue_attributes(
                QueueUrl=self.source_url, AttributeNames=["RedrivePolicy"]
            ).get("Attributes", {})
        if "RedrivePolicy" not in attributes:
            raise ConfigError(f"the {self.which} queue has no dead-letter queue (RedrivePolicy)")
        arn = json.loads(attributes["RedrivePolicy"])["deadLetterTargetArn"]
        with aws_call("finding the dead-letter queue"):
            return self.sqs.get_queue_url(QueueName=arn.rsplit(":", 1)[-1])["QueueUrl"]

    def count(self) -> int:
        with aws_call("counting dead letters"):
            attributes = self.sqs.get_queue_attributes(
                QueueUrl=self.url, AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"])

    def show(self, limit: int = 50) -> list[DeadLetter]:
        """Up to ``limit`` messages, made visible again at once (nothing is moved)."""
        found: dict[str, DeadLetter] = {}
        handles = []
        for message in self._receive(limit, visibility=30):
            handles.append(message["ReceiptHandle"])
            found.setdefault(message["MessageId"], self._describe(message))
        self._make_visible(handles)
        return list(found.values())

    def redrive(self, conn: Conn | None = None) -> Redriven:
        """Every message back to its queue; a notifications message's deliveries reset
        first (``conn``: the database they are in)."""
        if self.which == "notifications" and conn is None:
            raise ConfigError("a notifications redrive resets deliveries: it needs the database")
        moved = reset = 0
        for message in self._receive(None, visibility=VISIBILITY_SECONDS):
            if conn is not None and self.which == "notifications":
                reset += _reset_deliveries(conn, message["Body"])
            with aws_call("moving a dead letter back"):
                self.sqs.send_message(QueueUrl=self.source_url, MessageBody=message["Body"])
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
            moved += 1
        return Redriven(moved, reset)

    def _receive(self, limit: int | None, visibility: int) -> Iterator[dict[str, Any]]:
        """Messages until the queue answers empty (or ``limit``); each is hidden for
        ``visibility`` seconds, so a message is seen once per call."""
        seen = 0
        while limit is None or seen < limit:
            with aws_call("reading dead letters"):
                batch = self.sqs.receive_message(
                    QueueUrl=self.url, MaxNumberOfMessages=10, VisibilityTimeout=visibility,
                    WaitTimeSeconds=0, AttributeNames=["All"],
                ).get("Messages", [])  # fmt: skip
            if not batch:
                return
            for message in batch[: None if limit is None else limit - seen]:
                seen += 1
                yield message

    def _make_visible(self, handles: list[str]) -> None:
        for start in range(0, len(handles), 10):
            entries = [{"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                       for i, handle in enumerate(handles[start : start + 10])]  # fmt: skip
            with aws_call("making dead letters visible again"):
                self.sqs.change_message_visibility_batch(QueueUrl=self.url, Entries=entries)

    def _describe(self, message: dict[str, Any]) -> DeadLetter:
        attributes = message.get("Attributes", {})
        sent = datetime.fromtimestamp(int(attributes.get("SentTimestamp", 0)) / 1000, UTC)
        receives = int(attributes.get("ApproximateReceiveCount", 0))
        return DeadLetter(message["MessageId"], sent, receives, _summary(self.which, message))


def _summary(which: str, message: dict[str, Any]) -> str:
    body = message["Body"]
    if which == "notifications":
        try:
            batch = DeliveryBatch.from_json(body)
        except InvalidBatch:
            return f"unreadable: {body[:80]}"
        return (f"execution {batch.execution_id} of {batch.job_name}:"
                f" {len(batch.delivery_ids)} deliveries")  # fmt: skip
    try:
        data = json.loads(body)
    except ValueError:
        return f"unreadable: {body[:80]}"
    if isinstance(data, dict) and "job" in data:
        return f"{data.get('source', 'manual')} firing of {data['job']} for {data.get('time')}"
    if isinstance(data, dict) and data.get("resources"):
        return f"scheduled firing of rule {data['resources'][0].rsplit('/', 1)[-1]}" \
               f" at {data.get('time')}"  # fmt: skip
    return body[:80]


def _reset_deliveries(conn: Conn, body: str) -> int:
    """The message's deliveries that failed for a retryable reason (or wait unclaimed) are
    ``queued`` again, so the message's redelivery claims and sends them."""
    try:
        batch = DeliveryBatch.from_json(body)
    except InvalidBatch:
        return 0
    with database_errors("resetting dead-lettered deliveries"):
        return conn.execute(
            "UPDATE notification_deliveries AS d SET status = %(queued)s, attempts = 0,"
            " retryable = false, claimed_by = NULL, claimed_until = NULL, updated_at = now()"
            " FROM users AS u WHERE d.id = ANY(%(ids)s) AND u.id = d.user_id"
            " AND ((d.status = %(failed)s AND d.retryable AND u.is_active"
            "       AND u.opted_out_at IS NULL)"
            "   OR (d.status = %(queued)s"
            "       AND (d.claimed_until IS NULL OR d.claimed_until < now())))",
            {"queued": DeliveryStatus.QUEUED, "failed": DeliveryStatus.FAILED,
             "ids": list(batch.delivery_ids)},
        ).rowcount  # fmt: skip
