"""notifier: sends each batch of deliveries to Telegram; failures are retried record by record."""

from functools import partial

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)

from job_scheduler.delivery.handler import deadline_of, handle_deliveries
from job_scheduler.observability import logger, metrics

processor = BatchProcessor(event_type=EventType.SQS)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context: object) -> dict:
    record_handler = partial(handle_deliveries, deadline=deadline_of(context))
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
