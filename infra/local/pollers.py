"""SQS → Lambda, in-process: what an event source mapping does, on loopback.

Each poller long-polls its queue, hands the handler a real SQS event (the mapping's batch
size, the records' attributes), deletes the records the handler did not report as
failures (ReportBatchItemFailures), and leaves the failed ones to come back after the
queue's visibility timeout — where the queue's redrive policy moves them to the DLQ after
maxReceiveCount, as on AWS. A handler that raises fails the whole batch, as on AWS.
"""

from __future__ import annotations

import threading
from typing import Any

from job_scheduler.config import Settings
from job_scheduler.observability import logger

from .lambdas import LocalContext, load_function
from .template import SqsSource

WAIT_SECONDS = 1  # short long-poll, so Ctrl-C stops promptly


def sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda receives from an SQS event source mapping."""
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message.get("Attributes", {}),
                "messageAttributes": message.get("MessageAttributes", {}),
                "md5OfBody": message.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for message in messages
        ]
    }


class SqsPoller(threading.Thread):
    """One event source mapping: a queue, a handler, a batch size."""

    def __init__(
        self,
        sqs: Any,
        source: SqsSource,
        queue: dict[str, str],
        settings: Settings,
        stop: threading.Event,
    ) -> None:
        super().__init__(name=f"poller-{source.function}", daemon=True)
        self.sqs, self.source, self.queue, self.stop = sqs, source, queue, stop
        self.region = settings.aws_region
        self.handler = load_function(source.code_uri, source.handler, settings)
        self.invocations = 0

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.poll_once()
            except Exception:
                logger.exception("poller error", extra={"function": self.source.function})
                self.stop.wait(1)

    def poll_once(self) -> int:
        """Receive one batch and invoke the handler with it; return the batch size."""
        response = self.sqs.receive_message(
            QueueUrl=self.queue["Ref"],
            MaxNumberOfMessages=min(self.source.batch_size, 10),
            WaitTimeSeconds=WAIT_SECONDS,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = response.get("Messages", [])
        if messages:
            failed = self.invoke(messages)
            done = [m for m in messages if m["MessageId"] not in failed]
            if done:
                self.sqs.delete_message_batch(
                    QueueUrl=self.queue["Ref"],
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                        for i, m in enumerate(done)
                    ],
                )
        return len(messages)

    def invoke(self, messages: list[dict[str, Any]]) -> set[str]:
        """Run the handler; return the ids of the records that failed."""
        event = sqs_event(messages, self.queue["Arn"], self.region)
        context = LocalContext(self.source.function, self.source.timeout)
        self.invocations += 1
        try:
            response = self.handler(event, context) or {}
        except Exception:
            logger.exception(
                "handler raised; the whole batch will be retried",
                extra={"function": self.source.function},
            )
            return {m["MessageId"] for m in messages}
        if not self.source.report_batch_item_failures:
            return set()
        return {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
