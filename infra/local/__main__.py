"""``make run``: the system on this machine, with nothing configured and no Docker.

Starts moto's server as the AWS emulator (unless AWS_ENDPOINT_URL points at LocalStack or
AWS), creates the queues template.yaml declares, runs the startup sync against Postgres
(DATABASE_URL, default the local server), prints the jobs and their next runs, and keeps
the emulator up until Ctrl-C.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
from datetime import UTC, datetime

from job_scheduler import observability
from job_scheduler.aws import client
from job_scheduler.config import Settings
from job_scheduler.db import get_connection
from job_scheduler.errors import JobSchedulerError
from job_scheduler.schedule import Schedule, describe
from job_scheduler.startup import run_startup

from .resources import create_queues
from .template import function_environment, load_template

STACK = "telegram-jobs-local"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_emulator() -> tuple[str, object | None]:
    """moto's server on loopback, unless an endpoint is configured."""
    configured = os.environ.get("AWS_ENDPOINT_URL")
    if configured:
        return configured, None
    from moto.server import ThreadedMotoServer

    port = int(os.environ.get("MOTO_PORT") or _free_port())
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return f"http://127.0.0.1:{port}", server


def main() -> int:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's per-request lines
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "local")
    endpoint, server = start_emulator()
    try:
        base = Settings.from_env({**os.environ, "AWS_ENDPOINT_URL": endpoint})
        observability.configure(base)
        created = create_queues(client(base, "sqs"), load_template(), STACK)
        environment = function_environment(load_template(), created)
        settings = Settings.from_env({**os.environ, **environment, "AWS_ENDPOINT_URL": endpoint})
        summary = run_startup(settings)
    except JobSchedulerError as exc:
        print(f"make run: {exc}", file=sys.stderr)
        _stop(server)
        return 1
    _print_overview(settings, endpoint, created, summary.as_dict())
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    print("\nstopping")
    _stop(server)
    return 0


def _stop(server: object | None) -> None:
    if server is not None:
        server.stop()


def _print_overview(settings: Settings, endpoint: str, created: dict, summary: dict) -> None:
    print(f"\nAWS endpoint:  {endpoint}")
    for logical_id, queue in created.items():
        print(f"queue {logical_id:<30} {queue['Ref']}")
    print(f"sync summary:  {summary}")
    jobs = (
        get_connection(settings.database_url)
        .execute(
            "SELECT name, cron_expression, timezone, enabled, rule_expressions FROM scheduled_jobs"
            " ORDER BY name"
        )
        .fetchall()
    )
    now = datetime.now(UTC)
    print(f"\n{len(jobs)} job(s):")
    for job in jobs:
        schedule = Schedule.parse(job["cron_expression"], job["timezone"])
        upcoming = ", ".join(
            t.astimezone(schedule.zone).isoformat() for t in schedule.next_runs(now, 2)
        )
        state = "enabled" if job["enabled"] else "disabled"
        print(f"  {job['name']}: {describe(schedule)} [{state}] rules {job['rule_expressions']}")
        print(f"    next: {upcoming}")
    print("\nCtrl-C stops everything.")


if __name__ == "__main__":
    sys.exit(main())
