"""alarm_chat: the stack's alarms, from its SNS topic, posted to the admins' Telegram chat."""

from job_scheduler.adapters.lambda_entry import ColdStart
from job_scheduler.observability import logger, metrics
from job_scheduler.ops.alarm_chat import AlarmChat

entry = ColdStart(AlarmChat.from_settings)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context: object) -> dict:
    return entry.get()(event, context)
