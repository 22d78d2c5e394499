"""The notifier Lambda: each notifications-queue record is a batch of deliveries to send.

Kept apart from ``execution.handler`` so each function imports only its own path. A record
handler that raises becomes a batch item failure, retried alone by SQS.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from job_scheduler import observability
from job_scheduler.adapters.aws import client
from job_scheduler.adapters.db import once_more_if_connection_lost
from job_scheduler.adapters.lambda_entry import record_failures_logged, sqs_batch_processor
from job_scheduler.adapters.redis_client import redis_from_url
from job_scheduler.adapters.telegram import TelegramClient
from job_scheduler.config import Settings
from job_scheduler.delivery.notifier import Notifier, NotifyResult, receive_count
from job_scheduler.delivery.outbox import DeliveryBatch, Outbox
from job_scheduler.delivery.ratelimit import rate_limiter
from job_scheduler.errors import ConfigError


def build_notifier(settings: Settings) -> Notifier:
    """Every object a send needs, wired from the settings: the one place that does it."""
    observability.configure(settings)
    if not settings.telegram_bot_token:
        raise ConfigError("TELEGRAM_BOT_TOKEN (or TELEGRAM_BOT_TOKEN_SECRET_ARN) is not set")
    telegram = TelegramClient(
        settings.telegram_bot_token, settings.telegram_api_url, settings.telegram_timeout_seconds
    )
    return Notifier(
        settings=settings,
        send=telegram.deliver,
        limiter=rate_limiter(
            redis_from_url(settings.redis_url),
            per_second=settings.telegram_rate_per_second,
            per_chat_per_second=settings.telegram_rate_per_chat_per_second,
            paid_per_second=settings.telegram_paid_rate_per_second,
        ),
        outbox=Outbox(client(settings, "sqs"), settings.notifications_queue_url),
    )


@dataclass
class DeliveryHandler:
    """The Lambda's handler object: one SQS event in, its partial batch response out (a
    processor per event: the local runtime runs several invocations at once)."""

    notifier: Notifier

    @classmethod
    def from_settings(cls, settings: Settings) -> DeliveryHandler:
        return cls(build_notifier(settings))

    def __call__(self, event: dict[str, Any], context: object) -> dict[str, Any]:
        deadline = deadline_of(context)
        return process_partial_response(
            event=event,
            record_handler=lambda record: self.handle(record, deadline),
            processor=sqs_batch_processor(),
            context=context,
        )

    def handle(self, record: SQSRecord, deadline: float | None = None) -> NotifyResult:
        """``deadline``: a ``time.monotonic()`` value by which the invocation must be done."""
        url = self.notifier.settings.database_url
        with record_failures_logged(record):
            batch = DeliveryBatch.from_json(record.body)
            return once_more_if_connection_lost(
                url, lambda: self.notifier.process(batch, receive_count(record), deadline)
            )


def deadline_of(context: object) -> float | None:
    """When this invocation times out, as a ``time.monotonic()`` value (None if unknown)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return time.monotonic() + remaining() / 1000 if callable(remaining) else None
