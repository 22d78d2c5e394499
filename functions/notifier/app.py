"""notifier: sends each batch of deliveries to Telegram; failures are retried record by record."""

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)

from job_scheduler.handlers import handle_deliveries
from job_scheduler.observability import logger, metrics

processor = BatchProcessor(event_type=EventType.SQS)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context: object) -> dict:
    return process_partial_response(
        event=event, record_handler=handle_deliveries, processor=processor, context=context
    )
