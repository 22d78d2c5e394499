"""notifier: sends each batch of deliveries to Telegram; failures are retried record by record."""

from job_scheduler.adapters.lambda_entry import ColdStart
from job_scheduler.delivery.handler import DeliveryHandler
from job_scheduler.observability import logger, metrics

entry = ColdStart(DeliveryHandler.from_settings)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context: object) -> dict:
    return entry.get()(event, context)
