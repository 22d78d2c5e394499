"""The three shapes a firing arrives in, and what is refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from job_scheduler.errors import InvalidFiring
from job_scheduler.execution.firing import Firing, parse_firing
from job_scheduler.model import Trigger

AT = datetime(2026, 11, 27, 18, 30, tzinfo=UTC)
SCHEDULED_EVENT = (
    '{"source": "aws.events", "detail-type": "Scheduled Event", "time": "2026-11-27T18:30:00Z",'
)
RULE_ARN = "arn:aws:events:us-east-1:123456789012:rule/telegram-jobs-dev-food"


def owner(rule_name: str) -> str | None:
    return {"telegram-jobs-dev-food": "food"}.get(rule_name)


@pytest.mark.parametrize(
    "body, expected",
    [
        (  # what the rules' input transformer sends
            {
                "source": "schedule",
                "job": "food",
                "time": "2026-11-27T18:30:00Z",
                "rule": RULE_ARN,
                "event_id": "e-1",
            },
            Firing("food", AT, Trigger.SCHEDULE, event_id="e-1"),
        ),
        (  # EventBridge's scheduled event itself: the job is found from the rule
            {
                "version": "0",
                "id": "e-2",
                "detail-type": "Scheduled Event",
                "source": "aws.events",
                "time": "2026-11-27T18:30:00Z",
                "resources": [RULE_ARN],
                "detail": {},
            },
            Firing("food", AT, Trigger.SCHEDULE, event_id="e-2"),
        ),
        (  # run now
            {
                "source": "manual",
                "job": "food",
                "time": "2026-11-27T18:30:41Z",
                "requested_by": "admin:sara",
            },
            Firing("food", AT, Trigger.MANUAL, requested_by="admin:sara"),
        ),
        (  # a late copy with seconds is the same firing: floored to the minute
            {"source": "schedule", "job": "food", "time": "2026-11-27T22:00:59+03:30"},
            Firing("food", AT, Trigger.SCHEDULE),
        ),
    ],
)
def test_shapes(body, expected):
    assert parse_firing(json.dumps(body), owner) == expected


@pytest.mark.parametrize(
    "body, says",
    [
        ("not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"source": "schedule", "time": "2026-11-27T18:30:00Z"}', "needs a 'job'"),
        ('{"source": "manual", "job": "food", "time": "yesterday"}', "ISO 8601"),
        ('{"source": "manual", "job": "food", "time": "2026-11-27T18:30:00"}', "timezone"),
        ('{"source": "sqs", "job": "food"}', "unknown firing source"),
        (
            SCHEDULED_EVENT + ' "resources": []}',
            "without the rule",
        ),
        (
            SCHEDULED_EVENT + ' "resources": ["arn:aws:events:r:1:rule/stranger"]}',
            "no job owns rule 'stranger'",
        ),
    ],
)
def test_refused(body, says):
    with pytest.raises(InvalidFiring, match=says):
        parse_firing(body, owner)


def test_a_manual_firing_round_trips_through_its_message():
    fired = Firing("food", AT, Trigger.MANUAL, requested_by="jobsctl:root")
    assert parse_firing(json.dumps(fired.to_message()), owner) == fired
