"""bot_startup: migrate, register the coded jobs, sync them to Postgres and EventBridge,
point Telegram at the bot's webhook.

Runs as a CloudFormation custom resource at every deploy (answered on every path, a
setting that cannot be read included), or by direct invoke (``aws lambda invoke``), which
returns the sync summary.
"""

from job_scheduler.adapters.lambda_entry import ColdStart
from job_scheduler.observability import logger, metrics
from job_scheduler.sync.startup import StartupHandler, startup

entry = ColdStart(StartupHandler.from_settings)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context: object) -> dict:
    return startup(entry, event, context)
