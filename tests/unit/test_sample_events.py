"""events/*.json: one per function template.yaml deploys, each what infra/local/events.py
makes from the local runtime's own event code, and each read by the function's parser."""

from __future__ import annotations

import json

import pytest
from aws_lambda_powertools.utilities.data_classes import LambdaFunctionUrlEvent, SQSEvent

from infra.local.events import EVENTS, SAMPLES, rendered
from infra.local.template import load_template
from job_scheduler.delivery.outbox import DeliveryBatch
from job_scheduler.execution.firing import parse_firing


def test_there_is_a_sample_for_every_function_the_template_deploys():
    functions = {
        resource["Properties"]["CodeUri"].strip("/").split("/")[-1]
        for resource in load_template()["Resources"].values()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    assert functions == set(SAMPLES)
    assert {path.stem for path in EVENTS.glob("*.json")} == functions


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_each_file_is_what_the_generator_makes(name):
    assert (EVENTS / f"{name}.json").read_text(encoding="utf-8") == rendered(name), (
        "events/ is stale: run .venv/bin/python -m infra.local.events"
    )


def test_the_samples_read_as_their_functions_read_them():
    (record,) = SQSEvent(json.loads((EVENTS / "job_executor.json").read_text())).records
    firing = parse_firing(record.body, lambda rule: None)
    assert (firing.job_name, firing.scheduled_for.isoformat()) == (
        "unselected-food-reminder",
        "2026-12-01T18:30:00+00:00",
    )
    (record,) = SQSEvent(json.loads((EVENTS / "notifier.json").read_text())).records
    assert DeliveryBatch.from_json(record.body).delivery_ids == (1, 2, 3)
    request = LambdaFunctionUrlEvent(json.loads((EVENTS / "bot_webhook.json").read_text()))
    assert json.loads(request.decoded_body)["message"]["text"] == "/start"
    startup = json.loads((EVENTS / "bot_startup.json").read_text())
    assert startup["RequestType"] == "Create" and startup["ResourceProperties"]["BotWebhookUrl"]


def test_an_alarm_reads_as_the_admins_see_it():
    from job_scheduler.ops.alarm_chat import alarm_text

    (record,) = json.loads((EVENTS / "alarm_chat.json").read_text())["Records"]
    text = alarm_text(record["Sns"]["Message"], record["Sns"]["Subject"])
    assert text.startswith("🔴 <b>ALARM: telegram-jobs-NotificationsDeadLetterQueueAlarm</b>")
    assert "notifications DLQ" in text and "Threshold Crossed" in text
    assert alarm_text("<not json>", "Test").startswith("<b>Test</b>\n&lt;not json&gt;")
