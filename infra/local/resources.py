"""Create the template's queues (with their redrive policies) on the emulator or LocalStack."""

from __future__ import annotations

import json
from typing import Any

from job_scheduler.adapters.aws import aws_call

from .template import queue_specs


def create_queues(sqs: Any, template: dict[str, Any], stack: str) -> dict[str, dict[str, str]]:
    """Create (or find) every queue; return {logical id: {Ref: url, Arn, QueueName}}."""
    created: dict[str, dict[str, str]] = {}
    for spec in queue_specs(template):
        attributes = dict(spec.attributes)
        if spec.dead_letter_queue:
            attributes["RedrivePolicy"] = json.dumps(
                {
                    "deadLetterTargetArn": created[spec.dead_letter_queue]["Arn"],
                    "maxReceiveCount": spec.max_receive_count,
                }
            )
        name = f"{stack}-{spec.logical_id}"
        with aws_call(f"creating queue {name}"):
            url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        created[spec.logical_id] = {
            "Ref": url,
            "Arn": arn["Attributes"]["QueueArn"],
            "QueueName": name,
        }
    return created
