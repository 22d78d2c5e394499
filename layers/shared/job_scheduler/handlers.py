"""What the job_executor and notifier Lambdas do per SQS record, built once per cold start.

The functions' ``app.py`` files only hand the event to Powertools' batch processor with
these record handlers; a record handler that raises becomes a batch item failure, so SQS
retries that record alone and, after maxReceiveCount, moves it to the dead-letter queue.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime
from functools import lru_cache

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from . import observability
from .aws import client
from .config import Settings, get_settings
from .errors import ConfigError
from .execution import Executor, Outcome
from .firing import parse_firing
from .jobs import register_all_jobs
from .locks import FiringLock
from .notifier import Notifier, NotifyResult, receive_count
from .outbox import DeliveryBatch, Outbox
from .ratelimit import rate_limiter
from .redis_client import redis_from_url
from .telegram import TelegramClient


@lru_cache(maxsize=4)
def executor_for(settings: Settings) -> Executor:
    observability.configure(settings)
    return Executor(
        settings=settings,
        registry=register_all_jobs(),
        lock=FiringLock(redis_from_url(settings.redis_url), settings.execution_lease_seconds),
        outbox=Outbox(client(settings, "sqs"), settings.notifications_queue_url),
    )


@lru_cache(maxsize=4)
def notifier_for(settings: Settings) -> Notifier:
    observability.configure(settings)
    if not settings.telegram_bot_token:
        raise ConfigError("TELEGRAM_BOT_TOKEN (or TELEGRAM_BOT_TOKEN_SECRET_ARN) is not set")
    telegram = TelegramClient(settings.telegram_bot_token, settings.telegram_api_url)
    return Notifier(
        settings=settings,
        send=telegram.send,
        limiter=rate_limiter(
            redis_from_url(settings.redis_url),
            per_second=settings.telegram_rate_per_second,
            per_chat_per_second=settings.telegram_rate_per_chat_per_second,
        ),
        outbox=Outbox(client(settings, "sqs"), settings.notifications_queue_url),
    )


def handle_firing(record: SQSRecord) -> Outcome:
    executor = executor_for(get_settings())
    firing = parse_firing(record.body, executor.job_for_rule)
    first_receive = record.attributes.approximate_first_receive_timestamp
    if first_receive:
        arrived = datetime.fromtimestamp(int(first_receive) / 1000, UTC)
        firing = replace(firing, first_received_at=arrived)
    return executor.execute(firing)


def handle_deliveries(record: SQSRecord, deadline: float | None = None) -> NotifyResult:
    """``deadline``: a ``time.monotonic()`` value by which the invocation must be done."""
    notifier = notifier_for(get_settings())
    batch = DeliveryBatch.from_json(record.body)
    return notifier.process(batch, receive_count(record), deadline)


def deadline_of(context: object) -> float | None:
    """When this invocation times out, as a ``time.monotonic()`` value (None if unknown)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return time.monotonic() + remaining() / 1000 if callable(remaining) else None
