"""The notifications queue: its message format, and putting messages on it in batches.

A queue message names deliveries of one execution by id (up to ``recipients_per_message``):
what to send is in their rows (``notification_deliveries.payload``), so a message is small,
and a copy of it, or a message for rows already sent, sends nothing (the notifier claims
each row first). ``SendMessageBatch`` sends up to ten messages per call, several calls at a
time. An entry SQS refuses is retried; one that keeps failing raises, so the caller never
treats unsent rows as queued.
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
from job_scheduler.errors import AwsError, InvalidBatch

MAX_CALL_BYTES = 250_000  # under SQS's 262,144 bytes per message and per batch call
ENTRIES_PER_CALL = 10
SEND_ATTEMPTS = 4
PARALLEL_CALLS = 8


@dataclass(frozen=True)
class DeliveryBatch:
    """One queue message: deliveries of one execution, by id."""

    execution_id: int
    job_name: str
    delivery_ids: tuple[int, ...]
    # A message written before payloads moved to the rows carried each delivery's text:
    # {delivery id: {"text", "parse_mode", "silent"}} for those (see ``from_json``).
    inline: dict[int, dict[str, Any]] = field(default_factory=dict, compare=False, repr=False)

    def to_json(self) -> str:
        return json.dumps(
            {"execution_id": self.execution_id, "job": self.job_name,
             "deliveries": list(self.delivery_ids)},
            ensure_ascii=False,
            separators=(",", ":"),
        )  # fmt: skip

    @classmethod
    def from_json(cls, body: str) -> DeliveryBatch:
        try:
            data = json.loads(body)
            ids: list[int] = []
            inline: dict[int, dict[str, Any]] = {}
            for item in data["deliveries"]:
                if isinstance(item, dict):  # the earlier format: the whole delivery inline
                    ids.append(int(item["delivery_id"]))
                    inline[ids[-1]] = {
                        key: item.get(key) for key in ("text", "parse_mode", "silent")
                    }
                else:
                    ids.append(int(item))
            return cls(int(data["execution_id"]), str(data["job"]), tuple(ids), inline)
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidBatch(f"not a delivery batch: {type(exc).__name__}: {exc}") from exc


def pack(
    execution_id: int, job_name: str, delivery_ids: Sequence[int], per_message: int
) -> Iterator[DeliveryBatch]:
    """Group delivery ids into queue messages of at most ``per_message``."""
    for start in range(0, len(delivery_ids), per_message):
        chunk = tuple(delivery_ids[start : start + per_message])
        yield DeliveryBatch(execution_id, job_name, chunk)


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
