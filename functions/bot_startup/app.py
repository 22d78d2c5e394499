"""bot_startup: migrate, register the coded jobs, sync them to Postgres and EventBridge.

Runs as a CloudFormation custom resource at every deploy, or by direct invoke
(``aws lambda invoke``), which returns the sync summary.
"""

from job_scheduler import observability
from job_scheduler.config import get_settings
from job_scheduler.sync import custom_resource
from job_scheduler.sync.startup import remove_all_rules, run_startup

logger = observability.logger


@logger.inject_lambda_context
@observability.metrics.log_metrics
def handler(event: dict, context: object) -> dict:
    settings = get_settings()
    observability.configure(settings)
    sync = lambda: run_startup(settings).as_dict()  # noqa: E731
    if custom_resource.is_custom_resource_event(event):
        remove = lambda: {"rules_deleted": remove_all_rules(settings)}  # noqa: E731
        return custom_resource.handle(event, context, sync, remove, settings.rule_prefix)
    return sync()
