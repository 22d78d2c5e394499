"""bot_startup: migrate, register the coded jobs, sync them to Postgres and EventBridge.

Runs as a CloudFormation custom resource at every deploy, or by direct invoke
(``aws lambda invoke``), which returns the sync summary.
"""

from job_scheduler.adapters.lambda_entry import ColdStart
from job_scheduler.observability import logger, metrics
from job_scheduler.sync.startup import StartupHandler

entry = ColdStart(StartupHandler.from_settings)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context: object) -> dict:
    return entry.get()(event, context)
