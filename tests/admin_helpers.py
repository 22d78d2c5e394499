"""The admin app for tests, served as ``chalice local`` serves it, against the test
Postgres and moto's server."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import pytest
from pipeline import Queues, make_queues

from infra.local.admin import load_app as load_admin_app
from job_scheduler.config import get_settings


@contextlib.contextmanager
def serve_admin(database_url: str, aws_url: str) -> Iterator[tuple[str, Queues]]:
    """The admin API and site on a free loopback port; yields its URL and the queues."""
    from chalice.config import Config
    from chalice.local import create_local_server

    patch = pytest.MonkeyPatch()
    patch.setenv("AWS_ACCESS_KEY_ID", "testing")
    patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    queues = make_queues(aws_url)
    for name, value in {
        "DATABASE_URL": database_url,
        "AWS_ENDPOINT_URL": aws_url,
        "JOBS_QUEUE_URL": queues.jobs["url"],
        "JOBS_QUEUE_ARN": queues.jobs["arn"],
        "NOTIFICATIONS_QUEUE_URL": queues.notifications["url"],
        "RULE_PREFIX": "admin-e2e",
    }.items():
        patch.setenv(name, value)
    get_settings.cache_clear()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = create_local_server(load_admin_app(), Config.create(), "127.0.0.1", port)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{port}", queues
    finally:
        server.shutdown()
        patch.undo()
        get_settings.cache_clear()
