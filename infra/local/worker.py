"""One function's SQS pollers in a process of their own, as a Lambda's invocations would run:

    python -m infra.local.worker JobExecutorFunction     # or NotifierFunction

Settings come from the environment (as the function's would); the queue is the one its
event source mapping names in template.yaml (JOBS_QUEUE_URL or NOTIFICATIONS_QUEUE_URL).
It prints ``ready`` once it polls and runs until it is stopped (SIGTERM, Ctrl-C) or killed:
the fault drills in tests/ kill it with -9 mid-work, as a Lambda host can die.
"""

from __future__ import annotations

import signal
import sys
import threading

from job_scheduler import observability
from job_scheduler.adapters.aws import aws_call, client
from job_scheduler.config import Settings

from .pollers import SqsPoller
from .template import load_template, sqs_sources

QUEUE_SETTINGS = {"JobsQueue": "jobs_queue_url", "NotificationsQueue": "notifications_queue_url"}


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    settings = Settings.from_env()
    observability.configure(settings, stream=sys.stderr)
    sources = [s for s in sqs_sources(load_template()) if s.function == argv[0]]
    if not sources:
        print(f"worker: template.yaml has no SQS-triggered function {argv[0]!r}", file=sys.stderr)
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    sqs = client(settings, "sqs")
    pollers = []
    for source in sources:
        url = getattr(settings, QUEUE_SETTINGS[source.queue])
        with aws_call("reading the queue's ARN"):
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        queue = {"Ref": url, "Arn": arn["Attributes"]["QueueArn"]}
        for _ in range(source.concurrency):
            pollers.append(SqsPoller(sqs, source, queue, settings, stop))
    for poller in pollers:
        poller.start()
    print("ready", flush=True)
    try:
        stop.wait()
    except KeyboardInterrupt:
        stop.set()
    for poller in pollers:
        poller.join(timeout=5)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
