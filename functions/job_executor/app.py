"""job_executor: runs each firing from the jobs queue; failures are retried record by record."""

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)

from job_scheduler.execution.handler import handle_firing
from job_scheduler.observability import logger, metrics

processor = BatchProcessor(event_type=EventType.SQS)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context: object) -> dict:
    return process_partial_response(
        event=event, record_handler=handle_firing, processor=processor, context=context
    )
