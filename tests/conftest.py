"""Shared fixtures: the real Postgres, the real Redis and moto's server over HTTP.

A missing service fails the test with the command that starts it; nothing is skipped.
Each test session gets a database of its own, created from the server's ``postgres``
database and dropped at the end, so runs never see each other's rows.
"""

from __future__ import annotations

import io
import logging
import os
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import psycopg
import pytest
import redis
from moto.server import ThreadedMotoServer

from job_scheduler.adapters.db import close_all, connect, migrate
from job_scheduler.config import Settings
from job_scheduler.observability import JsonFormatter, logger

SERVER_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
START_POSTGRES = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
START_REDIS = "redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save ''"
TABLES = (
    "audit_log, notification_deliveries, job_executions, scheduled_jobs,"
    " user_character_packs, character_packs, rastar_pick_offers, rastar_link_states,"
    " rastar_accounts, users, system_config,"
    " admin_tokens, bot_updates"
)


logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server logs every request


def _database_url(name: str) -> str:
    return SERVER_URL.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[psycopg.Connection]:
    try:
        conn = psycopg.connect(SERVER_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {SERVER_URL} ({exc}); start it: {START_POSTGRES}"
        )
    yield conn
    conn.close()


@pytest.fixture(scope="session")
def make_database(postgres_server: psycopg.Connection) -> Iterator[Any]:
    """A factory of empty scratch databases, all dropped when the session ends."""
    created: list[str] = []

    def make() -> str:
        name = f"jobs_test_{uuid.uuid4().hex[:12]}"
        postgres_server.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return _database_url(name)

    yield make
    close_all()
    for name in created:
        postgres_server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def database_url(make_database: Any) -> str:
    url = make_database()
    migrate(url)
    return url


@pytest.fixture
def db(database_url: str) -> Iterator[psycopg.Connection]:
    """A connection to the migrated session database, emptied before each test."""
    conn = connect(database_url)
    conn.execute(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
    yield conn
    conn.close()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """moto's server on a free loopback port: the AWS emulator, reached over HTTP."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    yield url
    server.stop()


@pytest.fixture
def aws(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Fresh AWS state for the test (moto's reset API), with dummy credentials."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
    }.items():
        monkeypatch.setenv(name, value)
    import urllib.request

    urllib.request.urlopen(
        urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")
    ).close()
    yield moto_server


@pytest.fixture
def jobs_queue(aws: str) -> dict[str, str]:
    sqs = boto3.client("sqs", endpoint_url=aws, region_name="us-east-1")
    url = sqs.create_queue(QueueName=f"jobs-{uuid.uuid4().hex[:6]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return {"url": url, "arn": arn}


@pytest.fixture
def settings(database_url: str, aws: str, jobs_queue: dict[str, str]) -> Settings:
    return Settings(
        database_url=database_url,
        aws_endpoint_url=aws,
        jobs_queue_url=jobs_queue["url"],
        jobs_queue_arn=jobs_queue["arn"],
        rule_prefix="test-jobs",
    )


@pytest.fixture
def events(aws: str) -> Any:
    return boto3.client("events", endpoint_url=aws, region_name="us-east-1")


@pytest.fixture(scope="session")
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis is not reachable at {REDIS_URL} ({exc}); start it: {START_REDIS}")
    yield client
    client.close()


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """What the package logger writes during the test, as JSON lines."""
    handler = logger.registered_handler
    stream = io.StringIO()
    previous_stream, previous_format = handler.setStream(stream), handler.formatter
    handler.setFormatter(JsonFormatter())  # another test may have left the text format on
    yield stream
    handler.setStream(previous_stream)
    handler.setFormatter(previous_format)


@pytest.fixture(scope="session")
def rastar_server() -> Iterator[Any]:
    """The fake Rastar (a Supabase project: GoTrue and PostgREST), over HTTP on loopback."""
    from infra.fakes.supabase import FakeSupabase

    fake = FakeSupabase()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def rastar(rastar_server: Any) -> Iterator[Any]:
    """The fake Rastar, forgetting every account, pick, session and knob around each test."""
    rastar_server.reset()
    yield rastar_server
    rastar_server.reset()
