"""Test helpers for the execution path: queues with short visibility, and draining them."""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
import psycopg
from psycopg.types.json import Jsonb

from job_scheduler.delivery.outbox import DeliveryBatch
from job_scheduler.execution.firing import Firing

VISIBILITY_SECONDS = 1
MAX_RECEIVE_COUNT = 3


@dataclass
class Queues:
    sqs: Any
    jobs: dict[str, str]
    jobs_dlq: dict[str, str]
    notifications: dict[str, str]
    notifications_dlq: dict[str, str]

    def depth(self, queue: dict[str, str]) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=queue["url"],
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )


def make_queues(
    endpoint: str, visibility: int = VISIBILITY_SECONDS, max_receive: int = MAX_RECEIVE_COUNT
) -> Queues:
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1")
    suffix = uuid.uuid4().hex[:6]

    def queue(name: str, dlq: dict[str, str] | None = None) -> dict[str, str]:
        attributes = {"VisibilityTimeout": str(visibility)}
        if dlq:
            attributes["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": dlq["arn"], "maxReceiveCount": max_receive}
            )
        url = sqs.create_queue(QueueName=f"{name}-{suffix}", Attributes=attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return {"url": url, "arn": arn["Attributes"]["QueueArn"]}

    jobs_dlq, notifications_dlq = queue("jobs-dlq"), queue("notifications-dlq")
    return Queues(
        sqs,
        queue("jobs", jobs_dlq),
        jobs_dlq,
        queue("notifications", notifications_dlq),
        notifications_dlq,
    )


def receive_all(queues: Queues, queue: dict[str, str], wait: float = 0) -> list[dict[str, Any]]:
    """Every message currently visible (and, with ``wait``, arriving within that time)."""
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + wait
    while True:
        batch = queues.sqs.receive_message(
            QueueUrl=queue["url"],
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
            MessageSystemAttributeNames=["All"],
        ).get("Messages", [])
        found += batch
        if not batch and time.monotonic() >= deadline:
            return found
        if not batch:
            time.sleep(0.2)


def delete(queues: Queues, queue: dict[str, str], messages: list[dict[str, Any]]) -> None:
    """Delete; a handle that expired meanwhile just means SQS will deliver it again."""
    for message in messages:
        with contextlib.suppress(queues.sqs.exceptions.ReceiptHandleIsInvalid):
            queues.sqs.delete_message(QueueUrl=queue["url"], ReceiptHandle=message["ReceiptHandle"])


def drain_notifications(
    queues: Queues, process: Callable[[DeliveryBatch, int], Any], quiet_seconds: float = 2.0
) -> int:
    """Feed notification messages to ``process`` until none arrive for ``quiet_seconds``.

    Ten at a time, as an event source mapping would; a message whose processing raises is
    left for redelivery after its visibility timeout.
    """
    handled = 0
    quiet_since = time.monotonic()
    while time.monotonic() - quiet_since < quiet_seconds:
        messages = queues.sqs.receive_message(
            QueueUrl=queues.notifications["url"],
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
            MessageSystemAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            time.sleep(0.1)
            continue
        quiet_since = time.monotonic()
        for message in messages:
            count = int(message["Attributes"].get("ApproximateReceiveCount", 1))
            try:
                process(DeliveryBatch.from_json(message["Body"]), count)
            except Exception:
                continue
            delete(queues, queues.notifications, [message])
            handled += 1
        quiet_since = time.monotonic()
    return handled


def add_users(db: psycopg.Connection, count: int, first_chat_id: int = 5000) -> list[int]:
    ids = []
    for index in range(count):
        row = db.execute(
            "INSERT INTO users (telegram_chat_id, first_name, username) VALUES (%s, %s, %s)"
            " RETURNING id",
            (first_chat_id + index, f"User{index}", f"user{index}"),
        ).fetchone()
        ids.append(row["id"])
    return ids


def add_custom_job(
    db: psycopg.Connection,
    name: str = "promo",
    cron: str = "cron(* * * * ? *)",
    timezone: str = "Asia/Tehran",
    text: str = "<b>Hi {{ user.first_name }}</b>",
    **columns: Any,
) -> dict[str, Any]:
    values = {
        "name": name,
        "kind": "custom_message",
        "cron_expression": cron,
        "timezone": timezone,
        "message_config": Jsonb({"text": text, "parse_mode": "HTML", "silent": False}),
        "created_by": "test",
        "updated_by": "test",
        **columns,
    }
    names = ", ".join(values)
    placeholders = ", ".join(f"%({key})s" for key in values)
    return db.execute(
        f"INSERT INTO scheduled_jobs ({names}) VALUES ({placeholders}) RETURNING *", values
    ).fetchone()


def execution_rows(db: psycopg.Connection) -> list[dict[str, Any]]:
    return db.execute("SELECT * FROM job_executions ORDER BY id").fetchall()


def firing(job: str, at: Any, trigger: str = "schedule") -> Firing:
    return Firing(job_name=job, scheduled_for=at, trigger=trigger)
