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

from job_scheduler import observability
from job_scheduler.adapters.aws import client
from job_scheduler.adapters.redis_client import redis_from_url
from job_scheduler.config import Settings, get_settings
from job_scheduler.delivery.outbox import Outbox
from job_scheduler.execution.executor import Executor, Outcome
from job_scheduler.execution.firing import parse_firing
from job_scheduler.execution.locks import FiringLock
from job_scheduler.jobs.catalog import register_all_jobs


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
