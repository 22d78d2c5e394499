"""Sample events, one per function, for ``sam local invoke -e events/<name>.json``: made
by the code the local runtime feeds the handlers with (the ticker's EventBridge event and
the rule's input transformer, the SQS poller's records, the function URL's request), so
they are the shapes the functions really get; the custom resource and the alarm topic's
event as CloudFormation and SNS send them.

    .venv/bin/python -m infra.local.events        # rewrites events/*.json

``tests/unit/test_sample_events.py`` checks the files are what this makes.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from job_scheduler.bot.webhook import SECRET_HEADER
from job_scheduler.delivery.outbox import DeliveryBatch
from job_scheduler.sync.rules import target_for

from .function_urls import url_event
from .lambdas import ROOT
from .pollers import sqs_event
from .ticker import scheduled_event, target_input

EVENTS = ROOT / "events"
ACCOUNT, REGION = "123456789012", "us-east-1"
MINUTE = datetime(2026, 12, 1, 18, 30, tzinfo=UTC)  # 22:00 in Tehran
JOBS_QUEUE = f"arn:aws:sqs:{REGION}:{ACCOUNT}:telegram-jobs-dev-JobsQueue"
NOTIFICATIONS_QUEUE = f"arn:aws:sqs:{REGION}:{ACCOUNT}:telegram-jobs-dev-NotificationsQueue"
RULE = "telegram-jobs-dev-unselected-food-reminder"
SAMPLE_ID = "5a3c1c7e-0000-4000-8000-000000000000"


def _message(body: str, number: int) -> dict[str, Any]:
    """An SQS message as ReceiveMessage returns it (what the poller turns into a record)."""
    return {
        "MessageId": f"00000000-0000-4000-8000-00000000000{number}",
        "ReceiptHandle": f"sample-receipt-handle-{number}",
        "Body": body,
        "Attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": str(int(MINUTE.timestamp() * 1000)),
            "SenderId": ACCOUNT,
            "ApproximateFirstReceiveTimestamp": str(int(MINUTE.timestamp() * 1000) + 40),
        },
        "MD5OfBody": "",
    }


def job_executor() -> dict[str, Any]:
    """The food reminder's rule firing at 22:00 Tehran, through the jobs queue."""
    rule = {"Name": RULE, "Arn": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{RULE}"}
    event = {**scheduled_event(rule, MINUTE, ACCOUNT, REGION), "id": SAMPLE_ID}  # not random
    body = target_input(target_for("unselected-food-reminder", JOBS_QUEUE), event)
    return sqs_event([_message(body, 1)], JOBS_QUEUE, REGION)


def notifier() -> dict[str, Any]:
    """One batch of deliveries (ids of rows an execution wrote) on the notifications queue."""
    body = DeliveryBatch(1, "demo-every-minute", (1, 2, 3)).to_json()
    return sqs_event([_message(body, 2)], NOTIFICATIONS_QUEUE, REGION)


def bot_webhook() -> dict[str, Any]:
    """Telegram posting a /start through the function URL. The secret header holds a
    placeholder: put the deployment's (BOT_WEBHOOK_SECRET, or the one derived from the
    token) to get past the 401."""
    update = {"update_id": 100000001, "message": {
        "message_id": 1, "date": int(MINUTE.timestamp()), "text": "/start",
        "from": {"id": 910001, "is_bot": False, "first_name": "Sara", "language_code": "fa"},
        "chat": {"id": 910001, "type": "private", "first_name": "Sara"},
        "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
    }}  # fmt: skip
    headers = {SECRET_HEADER: "put-the-webhook-secret-here", "Content-Type": "application/json"}
    event = url_event("POST", "/", headers, json.dumps(update).encode())
    context = event["requestContext"]  # fixed, so the file does not change at each write
    context.update(requestId=SAMPLE_ID, time="01/Dec/2026:18:30:00 +0000",
                   timeEpoch=int(MINUTE.timestamp() * 1000))  # fmt: skip
    return event


def bot_startup() -> dict[str, Any]:
    """CloudFormation creating the BotStartup custom resource (the response URL is where
    the answer goes: a local listener, or none to see it fail to answer)."""
    return {
        "RequestType": "Create",
        "ServiceToken": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:bot-startup",
        "ResponseURL": "http://127.0.0.1:9999/cloudformation-response",
        "StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/telegram-jobs/sample",
        "RequestId": "sample-request",
        "LogicalResourceId": "BotStartup",
        "ResourceType": "Custom::BotStartup",
        "ResourceProperties": {
            "ServiceToken": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:bot-startup",
            "RulePrefix": "telegram-jobs-dev",
            "JobsQueueArn": JOBS_QUEUE,
            "BotWebhookUrl": "https://sample.lambda-url.us-east-1.on.aws/",
        },
    }


def alarm_chat() -> dict[str, Any]:
    """The alarm topic delivering a CloudWatch alarm (SNS's event, CloudWatch's message)."""
    alarm = {
        "AlarmName": "telegram-jobs-NotificationsDeadLetterQueueAlarm",
        "AlarmDescription": "A notification batch failed every retry and is in the"
        " notifications DLQ.",
        "NewStateValue": "ALARM",
        "NewStateReason": "Threshold Crossed: 1 datapoint [1.0] was greater than the threshold"
        " (0.0).",
        "StateChangeTime": "2026-12-01T18:31:00.000+0000",
        "Region": "US East (N. Virginia)",
    }
    topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:telegram-jobs-AlarmTopic"
    return {"Records": [{
        "EventSource": "aws:sns", "EventVersion": "1.0",
        "EventSubscriptionArn": f"{topic}:{SAMPLE_ID}",
        "Sns": {"Type": "Notification", "MessageId": SAMPLE_ID, "TopicArn": topic,
                "Subject": "ALARM: \"telegram-jobs-NotificationsDeadLetterQueueAlarm\"",
                "Message": json.dumps(alarm), "Timestamp": "2026-12-01T18:31:00.000Z",
                "SignatureVersion": "1", "Signature": "", "SigningCertUrl": "",
                "UnsubscribeUrl": "", "MessageAttributes": {}},
    }]}  # fmt: skip


SAMPLES = {
    "job_executor": job_executor,
    "notifier": notifier,
    "bot_webhook": bot_webhook,
    "bot_startup": bot_startup,
    "alarm_chat": alarm_chat,
}


def rendered(name: str) -> str:
    return json.dumps(SAMPLES[name](), indent=2, ensure_ascii=False) + "\n"


def write(directory: Path = EVENTS) -> list[Path]:
    directory.mkdir(exist_ok=True)
    paths = []
    for name in SAMPLES:
        path = directory / f"{name}.json"
        path.write_text(rendered(name), encoding="utf-8")
        paths.append(path)
    return paths


if __name__ == "__main__":
    for written in write():
        print(written.relative_to(ROOT))
