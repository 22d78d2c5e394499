"""The job_executor Lambda: each jobs-queue record is one firing, or one shard of a split
execution, run by the ``Executor``.

Kept apart from ``delivery.handler`` so each function imports only its own path (the
executor never loads pyTelegramBotAPI; the notifier never loads Jinja). A record handler
that raises becomes a batch item failure: SQS retries that record alone and, after
maxReceiveCount, moves it to the dead-letter queue.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from job_scheduler import observability
from job_scheduler.adapters.aws import client
from job_scheduler.adapters.db import once_more_if_connection_lost
from job_scheduler.adapters.lambda_entry import record_failures_logged, sqs_batch_processor
from job_scheduler.adapters.redis_client import redis_from_url
from job_scheduler.config import Settings
from job_scheduler.delivery.outbox import Outbox
from job_scheduler.execution.executor import Executor, Outcome
from job_scheduler.execution.firing import parse_firing
from job_scheduler.execution.locks import FiringLock
from job_scheduler.execution.shards import ShardTask
from job_scheduler.jobs.catalog import register_all_jobs


def build_executor(settings: Settings) -> Executor:
    """Every object a firing needs, wired from the settings: the one place that does it."""
    observability.configure(settings)
    return Executor(
        settings=settings,
        registry=register_all_jobs(),
        lock=FiringLock(redis_from_url(settings.redis_url), settings.execution_lease_seconds),
        outbox=Outbox(client(settings, "sqs"), settings.notifications_queue_url),
    )


@dataclass
class FiringHandler:
    """The Lambda's handler object: one SQS event in, its partial batch response out (a
    processor per event: the local runtime runs several invocations at once)."""

    executor: Executor

    @classmethod
    def from_settings(cls, settings: Settings) -> FiringHandler:
        return cls(build_executor(settings))

    def __call__(self, event: dict[str, Any], context: object) -> dict[str, Any]:
        return process_partial_response(
            event=event,
            record_handler=self.handle,
            processor=sqs_batch_processor(),
            context=context,
        )

    def handle(self, record: SQSRecord) -> Outcome:
        url = self.executor.settings.database_url
        with record_failures_logged(record):
            return once_more_if_connection_lost(url, lambda: self._handle(record))

    def _handle(self, record: SQSRecord) -> Outcome:
        task = ShardTask.of(record.body)
        if task is not None:  # a shard of a split execution (execution/shards.py)
            return self.executor.run_shard(task)
        firing = parse_firing(record.body, self.executor.job_for_rule)
        first_receive = record.attributes.approximate_first_receive_timestamp
        if first_receive:
            arrived = datetime.fromtimestamp(int(first_receive) / 1000, UTC)
            firing = replace(firing, first_received_at=arrived)
        return self.executor.execute(firing)
