"""job_executor: runs each firing from the jobs queue; failures are retried record by record."""

from job_scheduler.adapters.lambda_entry import ColdStart
from job_scheduler.execution.handler import FiringHandler
from job_scheduler.observability import logger, metrics

entry = ColdStart(FiringHandler.from_settings)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context: object) -> dict:
    return entry.get()(event, context)
