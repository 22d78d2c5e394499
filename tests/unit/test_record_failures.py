"""A queue message the functions cannot read fails alone (a batch item failure, retried,
then dead-lettered), and each receive of it logs one line, not a traceback."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from job_scheduler.config import Settings
from job_scheduler.delivery.handler import DeliveryHandler
from job_scheduler.execution.handler import FiringHandler


def record(message_id: str, body: str) -> dict:
    return {
        "messageId": message_id,
        "receiptHandle": "handle",
        "body": body,
        "attributes": {"ApproximateReceiveCount": "2"},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:q",
        "awsRegion": "us-east-1",
    }


def parser_only() -> SimpleNamespace:
    """What the handlers touch before a message is read: settings, and a rule lookup."""
    return SimpleNamespace(settings=Settings(), job_for_rule=lambda rule: None)


@pytest.mark.parametrize(
    "handler, body, says",
    [
        (FiringHandler, "not json", "InvalidFiring: the message is not JSON"),
        (FiringHandler, json.dumps({"source": "cron"}), "unknown firing source 'cron'"),
        (DeliveryHandler, "not json", "InvalidBatch: not a delivery batch"),
        (DeliveryHandler, json.dumps({"deliveries": [1]}), "InvalidBatch"),
    ],
)
def test_an_unreadable_message_fails_alone_with_one_log_line(log_lines, handler, body, says):
    lambda_handler = handler(parser_only())

    answer = lambda_handler({"Records": [record("bad", body)]}, None)

    assert answer == {"batchItemFailures": [{"itemIdentifier": "bad"}]}
    lines = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    assert len(lines) == 1 and lines[0]["level"] == "WARNING"
    assert says in lines[0]["error"] and lines[0]["message_id"] == "bad"
    assert "Traceback" not in log_lines.getvalue()
