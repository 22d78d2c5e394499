"""The notifications queue: its message format, and putting deliveries on it in batches.

One queue message carries several deliveries of one execution (up to
``recipients_per_message``), and ``SendMessageBatch`` sends up to ten messages per call,
several calls at a time. Sizes are measured on the encoded JSON: SQS limits a message *and*
a whole batch call to 256 KiB (newer queues allow 1 MiB; the smaller figure works on both).
An entry SQS refuses is retried; one that keeps failing raises, so the caller never marks
undelivered rows as queued.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from job_scheduler.adapters.aws import aws_call
from job_scheduler.errors import AwsError

MAX_CALL_BYTES = 250_000  # under SQS's 262,144 bytes per message and per batch call
ENTRIES_PER_CALL = 10
ENVELOPE_BYTES = 100  # {"execution_id":...,"job":"...","deliveries":[...]}
SEND_ATTEMPTS = 4
PARALLEL_CALLS = 8


@dataclass(frozen=True)
class Delivery:
    """One message for one user, as the notifier receives it."""

    delivery_id: int
    user_id: int
    chat_id: int
    text: str
    parse_mode: str | None
    silent: bool


@dataclass(frozen=True)
class DeliveryBatch:
    execution_id: int
    job_name: str
    deliveries: tuple[Delivery, ...]
    # The body as ``pack`` already encoded it, so no delivery is encoded twice.
    encoded: str | None = field(default=None, compare=False, repr=False)

    def to_json(self) -> str:
        if self.encoded is not None:
            return self.encoded
        return _envelope(self.execution_id, self.job_name, [_encode(d) for d in self.deliveries])

    @classmethod
    def from_json(cls, body: str) -> DeliveryBatch:
        data = json.loads(body)
        deliveries = tuple(Delivery(**item) for item in data["deliveries"])
        return cls(int(data["execution_id"]), str(data["job"]), deliveries)


def _encode(delivery: Delivery) -> str:
    """One delivery as JSON, safe for SQS (a dict literal: ``asdict`` is several times slower)."""
    return _sqs_safe(
        json.dumps(
            {
                "delivery_id": delivery.delivery_id,
                "user_id": delivery.user_id,
                "chat_id": delivery.chat_id,
                "text": delivery.text,
                "parse_mode": delivery.parse_mode,
                "silent": delivery.silent,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )
    )


def _envelope(execution_id: int, job_name: str, encoded: list[str]) -> str:
    head = _sqs_safe(
        json.dumps(
            {"execution_id": execution_id, "job": job_name},
            ensure_ascii=False,
            separators=(",", ":"),
        )
    )
    return f'{head[:-1]},"deliveries":[{",".join(encoded)}]}}'


def _sqs_safe(body: str) -> str:
    """SQS refuses U+FFFE and U+FFFF even inside JSON strings; escape them as JSON does."""
    return body.replace("\ufffe", "\\ufffe").replace("\uffff", "\\uffff")


def pack(
    execution_id: int, job_name: str, deliveries: Sequence[Delivery], per_message: int
) -> Iterator[DeliveryBatch]:
    """Group deliveries into queue messages by count and by encoded size."""
    envelope_size = ENVELOPE_BYTES + len(job_name.encode())
    current: list[Delivery] = []
    encoded: list[str] = []
    size = envelope_size
    for delivery in deliveries:
        item = _encode(delivery)
        item_size = len(item.encode()) + 1
        if current and (len(current) >= per_message or size + item_size > MAX_CALL_BYTES):
            yield _batch(execution_id, job_name, current, encoded)
            current, encoded, size = [], [], envelope_size
        current.append(delivery)
        encoded.append(item)
        size += item_size
    if current:
        yield _batch(execution_id, job_name, current, encoded)


def _batch(
    execution_id: int, job_name: str, deliveries: list[Delivery], encoded: list[str]
) -> DeliveryBatch:
    body = _envelope(execution_id, job_name, encoded)
    return DeliveryBatch(execution_id, job_name, tuple(deliveries), body)


def calls(bodies: list[str]) -> list[list[str]]:
    """Group message bodies into SendMessageBatch calls: ten at most, and within the size."""
    groups: list[list[str]] = []
    current: list[str] = []
    size = 0
    for body in bodies:
        body_size = len(body.encode())
        if current and (len(current) == ENTRIES_PER_CALL or size + body_size > MAX_CALL_BYTES):
            groups.append(current)
            current, size = [], 0
        current.append(body)
        size += body_size
    if current:
        groups.append(current)
    return groups


class Outbox:
    """Sends delivery batches to the notifications queue; counts the SQS calls it made."""

    def __init__(self, sqs: Any, queue_url: str | None) -> None:
        if not queue_url:
            raise AwsError("NOTIFICATIONS_QUEUE_URL is not set: nowhere to queue messages")
        self._sqs = sqs
        self._queue_url = queue_url
        self._lock = threading.Lock()
        self.calls = 0

    def send(self, batches: Iterable[DeliveryBatch], delay_seconds: int = 0) -> int:
        """Queue every batch; return how many messages were sent."""
        bodies = [batch.to_json() for batch in batches]
        groups = calls(bodies)
        if len(groups) <= 1:
            for group in groups:
                self._send_group(group, delay_seconds)
        else:
            with ThreadPoolExecutor(max_workers=min(PARALLEL_CALLS, len(groups))) as pool:
                list(pool.map(lambda group: self._send_group(group, delay_seconds), groups))
        return len(bodies)

    def _send_group(self, bodies: list[str], delay_seconds: int) -> None:
        pending = {f"m{index}": body for index, body in enumerate(bodies)}
        for attempt in range(SEND_ATTEMPTS):
            entries = [
                {"Id": key, "MessageBody": body, "DelaySeconds": delay_seconds}
                for key, body in pending.items()
            ]
            with aws_call("queueing notifications"):
                with self._lock:
                    self.calls += 1
                response = self._sqs.send_message_batch(QueueUrl=self._queue_url, Entries=entries)
            failed = {entry["Id"] for entry in response.get("Failed", [])}
            pending = {key: body for key, body in pending.items() if key in failed}
            if not pending:
                return
            time.sleep(0.1 * 2**attempt)
        raise AwsError(f"SQS refused {len(pending)} notification message(s) {SEND_ATTEMPTS} times")
