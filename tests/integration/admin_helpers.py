"""The admin app for tests, served as ``chalice local`` serves it, against the test
Postgres and moto's server."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from pipeline import Queues, make_queues

from infra.local.admin import load_app as load_admin_app
from job_scheduler.config import Settings


@contextlib.contextmanager
def serve_admin(database_url: str, aws_url: str, **more: Any) -> Iterator[tuple[str, Queues]]:
    """The admin API and site on a free loopback port; yields its URL and the queues.
    ``more``: further settings (the link page's Rastar, keys and Telegram)."""
    from chalice.config import Config
    from chalice.local import create_local_server

    patch = pytest.MonkeyPatch()
    patch.setenv("AWS_ACCESS_KEY_ID", "testing")
    patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    queues = make_queues(aws_url)
    settings = replace(admin_settings(database_url, aws_url, queues), **more)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = create_local_server(load_admin_app(settings), Config.create(), "127.0.0.1", port)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{port}", queues
    finally:
        server.shutdown()
        patch.undo()


def admin_settings(database_url: str, aws_url: str, queues: Queues) -> Settings:
    """What the admin app would read from its environment in Lambda."""
    return Settings(
        database_url=database_url,
        aws_endpoint_url=aws_url,
        jobs_queue_url=queues.jobs["url"],
        jobs_queue_arn=queues.jobs["arn"],
        notifications_queue_url=queues.notifications["url"],
        rule_prefix="admin-e2e",
    )


def served_settings() -> Settings:
    """The settings the admin app being served runs with."""
    from chalicelib.context import current

    return current.get().settings


def sign_in(page: Any, url: str, token: str) -> None:
    """Sign in to the admin site in a Playwright page, and wait for the jobs table."""
    page.goto(url)
    page.fill("#token", token)
    page.click("button:has-text('Sign in')")
    page.wait_for_selector("table.jobs")
