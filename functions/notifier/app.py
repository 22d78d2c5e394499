"""Notifier Lambda handler (notifications queue -> Telegram Bot API). Not built yet.

Until it is, every batch fails loudly, so SQS retries it and then parks it in the
notifications dead-letter queue (which has an alarm) instead of the messages being dropped.
"""


def handler(event, context):
    raise NotImplementedError("notifier: not built yet; see docs")
