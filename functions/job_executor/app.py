"""Job executor Lambda handler (jobs queue -> run the job). Not built yet.

Until it is, every firing fails loudly, so SQS retries it and then parks it in the jobs
dead-letter queue (which has an alarm) instead of the firing being dropped.
"""


def handler(event, context):
    raise NotImplementedError("job executor: not built yet; see docs")
