"""What the job_executor Lambda does per jobs-queue record, built once per cold start.

Kept apart from ``delivery_handler`` so each function imports only its own path (the
executor never loads pyTelegramBotAPI; the notifier never loads Jinja). A record handler
that raises becomes a batch item failure: SQS retries that record alone and, after
maxReceiveCount, moves it to the dead-letter queue.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from functools import lru_cache

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from . import observability
from .aws import client
from .config import Settings, get_settings
from .execution import Executor, Outcome
from .firing import parse_firing
from .jobs import register_all_jobs
from .locks import FiringLock
from .outbox import Outbox
from .redis_client import redis_from_url


@lru_cache(maxsize=4)
def executor_for(settings: Settings) -> Executor:
    observability.configure(settings)
    return Executor(
        settings=settings,
        registry=register_all_jobs(),
        lock=FiringLock(redis_from_url(settings.redis_url), settings.execution_lease_seconds),
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
