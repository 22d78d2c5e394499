"""Firings: what arrives on the jobs queue, read into one shape.

Three shapes are accepted:

- what this deployment's rules send (their input transformer):
  ``{"source": "schedule", "job": "...", "time": "...Z", "rule": "arn:...", "event_id": "..."}``;
- an EventBridge scheduled event itself (a rule with no transformer, e.g. made by hand):
  ``{"detail-type": "Scheduled Event", "source": "aws.events", "time": ..., "resources": [arn]}``;
  the job is found from the rule's name;
- a manual firing (admin "run now", ``jobsctl fire``):
  ``{"source": "manual", "job": "...", "time": "...Z", "requested_by": "..."}``.

``scheduled_for`` is the firing's time floored to the minute: EventBridge's ``time`` is the
scheduled minute, and flooring makes a late or re-sent copy of one firing the same firing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from job_scheduler.errors import InvalidFiring
from job_scheduler.model import Trigger


@dataclass(frozen=True)
class Firing:
    job_name: str
    scheduled_for: datetime
    trigger: Trigger
    event_id: str | None = None
    requested_by: str | None = None
    # When the executor first received it (SQS ApproximateFirstReceiveTimestamp): lateness is
    # judged by arrival, so a retry of a firing that arrived on time is not "missed".
    first_received_at: datetime | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "trigger", Trigger(self.trigger))

    def to_message(self) -> dict[str, Any]:
        """The queue message for this firing (the shape manual firings are sent in)."""
        message = {
            "source": str(self.trigger),
            "job": self.job_name,
            "time": iso_minute(self.scheduled_for),
        }
        if self.requested_by:
            message["requested_by"] = self.requested_by
        if self.event_id:
            message["event_id"] = self.event_id
        return message


def iso_minute(moment: datetime) -> str:
    return floor_minute(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def floor_minute(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise InvalidFiring("a firing time needs a timezone")
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


def parse_firing(body: str | dict[str, Any], job_for_rule: Callable[[str], str | None]) -> Firing:
    """Read a queue message; ``job_for_rule`` maps a rule name to its job (raw events only)."""
    message = _load(body)
    source = message.get("source")
    if source in tuple(Trigger):
        job = message.get("job")
        if not isinstance(job, str) or not job:
            raise InvalidFiring(f"a {source} firing needs a 'job' name")
        return Firing(
            job_name=job,
            scheduled_for=_time(message),
            trigger=Trigger(source),
            event_id=message.get("event_id"),
            requested_by=message.get("requested_by"),
        )
    if source == "aws.events" and message.get("detail-type") == "Scheduled Event":
        return _from_scheduled_event(message, job_for_rule)
    raise InvalidFiring(
        f"unknown firing source {source!r}; expected schedule, manual or aws.events"
    )


def _from_scheduled_event(
    message: dict[str, Any], job_for_rule: Callable[[str], str | None]
) -> Firing:
    resources = message.get("resources") or []
    if not resources:
        raise InvalidFiring("a scheduled event without the rule in 'resources'")
    rule_name = str(resources[0]).rsplit("/", 1)[-1]
    job = job_for_rule(rule_name)
    if job is None:
        raise InvalidFiring(f"no job owns rule {rule_name!r}")
    return Firing(job, _time(message), Trigger.SCHEDULE, event_id=message.get("id"))


def _load(body: str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(body, dict):
        return body
    try:
        message = json.loads(body)
    except (TypeError, ValueError) as exc:
        raise InvalidFiring(f"the message is not JSON: {exc}") from exc
    if not isinstance(message, dict):
        raise InvalidFiring("the message is not a JSON object")
    return message


def _time(message: dict[str, Any]) -> datetime:
    raw = message.get("time")
    try:
        return floor_minute(datetime.fromisoformat(str(raw).replace("Z", "+00:00")))
    except ValueError as exc:
        raise InvalidFiring(f"'time' must be an ISO 8601 instant, not {raw!r}") from exc
