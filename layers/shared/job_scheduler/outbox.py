"""The notifications queue: its message format, and putting deliveries on it in batches.

One queue message carries several deliveries of one execution (up to
``recipients_per_message`` and well under SQS's size limit), and ``SendMessageBatch`` sends
ten messages per call, several calls at a time. An entry SQS refuses is retried; one that
keeps failing raises, so the caller never marks undelivered rows as queued.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

from .aws import aws_call
from .errors import AwsError

MAX_MESSAGE_BYTES = 200_000  # SQS allows 256 KiB per message and per batch call
ENTRIES_PER_CALL = 10
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

    def to_json(self) -> str:
        return json.dumps(
            {
                "execution_id": self.execution_id,
                "job": self.job_name,
                "deliveries": [asdict(delivery) for delivery in self.deliveries],
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, body: str) -> DeliveryBatch:
        data = json.loads(body)
        deliveries = tuple(Delivery(**item) for item in data["deliveries"])
        return cls(int(data["execution_id"]), str(data["job"]), deliveries)


def pack(
    execution_id: int, job_name: str, deliveries: Sequence[Delivery], per_message: int
) -> Iterator[DeliveryBatch]:
    """Group deliveries into queue messages by count and by encoded size."""
    current: list[Delivery] = []
    size = 0
    for delivery in deliveries:
        item_size = len(delivery.text.encode()) + 160
        if current and (len(current) >= per_message or size + item_size > MAX_MESSAGE_BYTES):
            yield DeliveryBatch(execution_id, job_name, tuple(current))
            current, size = [], 0
        current.append(delivery)
        size += item_size
    if current:
        yield DeliveryBatch(execution_id, job_name, tuple(current))


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
        groups = [bodies[i : i + ENTRIES_PER_CALL] for i in range(0, len(bodies), ENTRIES_PER_CALL)]
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
