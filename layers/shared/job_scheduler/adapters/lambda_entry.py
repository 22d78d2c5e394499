"""A Lambda function's handler object, built from ``Settings`` once per cold start.

In Lambda the first invocation builds it from the environment (one read per cold start);
whoever runs the handler in-process (the local runtime, the tests) hands it the settings
with ``configure`` first, so nothing writes ``os.environ`` to steer it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType

from job_scheduler.config import Settings
from job_scheduler.errors import JobSchedulerError
from job_scheduler.observability import logger

H = TypeVar("H")


class ColdStart(Generic[H]):
    """Builds the handler object with ``build(settings)`` when first needed, then keeps it."""

    def __init__(self, build: Callable[[Settings], H]) -> None:
        self._build = build
        self._built: H | None = None
        self._lock = threading.Lock()

    def configure(self, settings: Settings) -> H:
        """Build (or rebuild) the handler object from these settings."""
        with self._lock:
            self._built = self._build(settings)
            return self._built

    def get(self) -> H:
        """The handler object, built from the environment if nobody configured it."""
        built = self._built
        if built is None:
            with self._lock:
                if self._built is None:
                    self._built = self._build(Settings.from_env())
                built = self._built
        return built


def sqs_batch_processor() -> BatchProcessor:
    """Powertools' SQS batch processor, reporting failed records as batch item failures even
    when all of them failed (by default it then raises, and Lambda logs every traceback)."""
    return BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@contextmanager
def record_failures_logged(record: Any) -> Iterator[None]:
    """One line per failed receive of a record (SQS retries it, then its DLQ takes it); a
    failure that is not the package's own is a bug, and keeps its traceback."""
    try:
        yield
    except JobSchedulerError as exc:
        logger.warning(
            "record failed; SQS will retry it until its dead-letter queue takes it",
            extra={"message_id": record.message_id, "error": f"{type(exc).__name__}: {exc}",
                   "receive_count": record.attributes.approximate_receive_count},
        )  # fmt: skip
        raise
    except Exception:
        logger.exception("record failed on an unexpected error",
                         extra={"message_id": record.message_id})  # fmt: skip
        raise
