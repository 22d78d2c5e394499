"""bot_webhook: Telegram's updates, through a function URL; one person answered per update."""

from job_scheduler.bot.webhook import entry
from job_scheduler.observability import logger, metrics


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context: object) -> dict:
    return entry.get()(event, context)
