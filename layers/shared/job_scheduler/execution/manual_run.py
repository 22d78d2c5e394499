"""'Run now': a manual firing on the jobs queue, exactly as a rule's would arrive."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from job_scheduler.adapters.aws import aws_call, client
from job_scheduler.config import Settings
from job_scheduler.errors import ConfigError
from job_scheduler.execution.firing import Firing, floor_minute
from job_scheduler.model import Trigger


def queue_manual_firing(
    settings: Settings, job_name: str, requested_by: str, at: datetime | None = None
) -> Firing:
    """Queue a manual firing of ``job_name`` for ``at`` (default: this minute)."""
    if not settings.jobs_queue_url:
        raise ConfigError("JOBS_QUEUE_URL is not set: the firing has nowhere to go")
    firing = Firing(
        job_name=job_name,
        scheduled_for=floor_minute(at or datetime.now(UTC)),
        trigger=Trigger.MANUAL,
        requested_by=requested_by,
    )
    with aws_call("queueing the firing"):
        client(settings, "sqs").send_message(
            QueueUrl=settings.jobs_queue_url, MessageBody=json.dumps(firing.to_message())
        )
    return firing
