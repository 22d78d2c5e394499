"""The execution path's fixtures: the fake Telegram, queues with short visibility, an
executor and a notifier wired as the Lambdas wire them, and a coded job that fails on cue."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

import pytest
from pipeline import drain_notifications, make_queues

from job_scheduler.adapters.redis_client import new_redis_client
from job_scheduler.adapters.telegram import TelegramClient
from job_scheduler.config import Settings
from job_scheduler.delivery.notifier import Notifier
from job_scheduler.delivery.outbox import Outbox
from job_scheduler.delivery.ratelimit import LocalRateLimiter
from job_scheduler.execution.executor import Executor
from job_scheduler.execution.locks import FiringLock
from job_scheduler.jobs.registry import CodedJob, JobRegistry
from job_scheduler.model import JobRun, OutgoingMessage, Recipient

TOKEN = "123456789:TEST-token-for-the-fake-telegram-server"


def now_minute() -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0)


@pytest.fixture
def queues(aws):
    return make_queues(aws)


@pytest.fixture
def settings(database_url, aws, queues, telegram_server) -> Settings:
    return Settings(
        database_url=database_url,
        aws_endpoint_url=aws,
        jobs_queue_url=queues.jobs["url"],
        jobs_queue_arn=queues.jobs["arn"],
        notifications_queue_url=queues.notifications["url"],
        telegram_bot_token=TOKEN,
        telegram_api_url=telegram_server[1],
        rule_prefix="test-jobs",
        max_receive_count=3,
        recipients_per_message=7,
    )


class Flaky(CodedJob):
    """A coded job whose behaviour a test sets: fail after N messages, or never."""

    name = "flaky"
    description = "Fails on purpose"
    schedule = "cron(* * * * ? *)"
    fail_after: int | None = None
    on_fail: staticmethod = staticmethod(lambda: None)
    only_first: int | None = None  # yield for the first N recipients only

    def messages(self, run: JobRun, recipients: Iterable[Recipient]) -> Iterator[OutgoingMessage]:
        for index, user in enumerate(recipients):
            if self.only_first is not None and index >= self.only_first:
                return
            if self.fail_after is not None and index == self.fail_after:
                type(self).on_fail()
            yield OutgoingMessage(user.user_id, user.chat_id, f"flaky {run.scheduled_for:%H:%M}")


@pytest.fixture
def registry() -> JobRegistry:
    registry = JobRegistry()
    registry.register(Flaky)
    Flaky.fail_after, Flaky.on_fail = None, staticmethod(lambda: None)
    Flaky.only_first = None
    return registry


def make_executor(settings, registry, queues, redis_url: str | None) -> Executor:
    """An executor whose firing lock uses ``redis_url`` (None: no Redis configured)."""
    client = new_redis_client(redis_url) if redis_url else None
    return Executor(
        settings=settings,
        registry=registry,
        lock=FiringLock(client, 120),
        outbox=Outbox(queues.sqs, settings.notifications_queue_url),
    )


@pytest.fixture
def executor(settings, registry, redis_client, queues) -> Executor:
    redis_client.flushdb()
    return make_executor(settings, registry, queues, "redis://127.0.0.1:6379/15")


@pytest.fixture
def notifier(settings, queues) -> Notifier:
    return Notifier(
        settings=settings,
        send=TelegramClient(TOKEN, settings.telegram_api_url).deliver,
        limiter=LocalRateLimiter(per_second=10_000, per_chat_per_second=1_000),
        outbox=Outbox(queues.sqs, settings.notifications_queue_url),
    )


def deliver(queues, notifier) -> int:
    return drain_notifications(queues, notifier.process)


def chats(telegram) -> list[int]:
    return sorted(int(message["chat_id"]) for message in telegram.messages())
