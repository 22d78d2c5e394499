"""The bot_startup handler, invoked directly and as a CloudFormation custom resource."""

from __future__ import annotations

import importlib.util
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

APP = Path(__file__).parents[2] / "functions" / "bot_startup" / "app.py"


@dataclass
class LambdaContext:
    function_name: str = "bot-startup"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:bot-startup"
    aws_request_id: str = "req-1"
    log_stream_name: str = "2026/11/27/[$LATEST]abc"


def cold_start(monkeypatch, settings, name: str, **env: str):
    """functions/bot_startup/app.py loaded afresh (a cold start), its environment these
    settings' and ``env``; its handler."""
    base = {
        "DATABASE_URL": settings.database_url,
        "AWS_ENDPOINT_URL": settings.aws_endpoint_url,
        "JOBS_QUEUE_ARN": settings.jobs_queue_arn,
        "RULE_PREFIX": "test-jobs",
    }
    for variable, value in {**base, **env}.items():
        monkeypatch.setenv(variable, value)
    spec = importlib.util.spec_from_file_location(name, APP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.handler


@pytest.fixture
def handler(settings, monkeypatch):
    yield cold_start(
        monkeypatch, settings, "bot_startup_app", POWERTOOLS_METRICS_NAMESPACE="TelegramJobs"
    )


@pytest.fixture
def cloudformation():
    """A stand-in for CloudFormation's pre-signed response URL: records each PUT body."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/signed?X-Amz-Signature=secret", received
    server.shutdown()


def custom_resource_event(url: str, request_type: str) -> dict[str, Any]:
    return {
        "RequestType": request_type,
        "ResponseURL": url,
        "StackId": "arn:stack/s",
        "RequestId": "r-1",
        "LogicalResourceId": "BotStartup",
        "ResourceType": "Custom::BotStartup",
        "ResourceProperties": {},
    }


def add_custom_job(db) -> None:
    db.execute(
        "INSERT INTO scheduled_jobs (name, kind, cron_expression, timezone, created_by, updated_by)"
        " VALUES ('promo', 'custom_message', 'cron(0 9 * * ? *)', 'UTC', 'a', 'a')"
    )


def test_direct_invoke_returns_the_summary(db, handler, events):
    add_custom_job(db)
    summary = handler({}, LambdaContext())
    # The coded jobs of this deployment, and the custom one.
    assert summary["rules_created"] == [
        "test-jobs-promo",
        "test-jobs-prune-history",
        "test-jobs-sweep-stranded-work",
        "test-jobs-unselected-food-reminder",
        "test-jobs-weekly-food-check",
    ]
    assert handler({}, LambdaContext())["changed"] is False


def test_custom_resource_create_syncs_and_answers_success(db, handler, cloudformation, events):
    url, received = cloudformation
    add_custom_job(db)

    handler(custom_resource_event(url, "Create"), LambdaContext())

    (answer,) = received
    assert answer["Status"] == "SUCCESS"
    assert answer["PhysicalResourceId"] == "test-jobs-startup-sync"
    assert answer["Data"]["rules_created"] == 5  # the custom job and the four coded ones
    assert [r["Name"] for r in events.list_rules(NamePrefix="test-jobs-")["Rules"]] == [
        "test-jobs-promo",
        "test-jobs-prune-history",
        "test-jobs-sweep-stranded-work",
        "test-jobs-unselected-food-reminder",
        "test-jobs-weekly-food-check",
    ]


def test_custom_resource_failure_is_reported_not_left_hanging(db, handler, cloudformation):
    url, received = cloudformation
    db.execute(
        "INSERT INTO scheduled_jobs (name, kind, cron_expression, timezone, created_by, updated_by)"
        " VALUES ('x', 'custom_message', 'cron(0 9 * * ? *)', 'UTC', 'a', 'a')"
    )
    for index in range(300):
        db.execute(
            "INSERT INTO scheduled_jobs (name, kind, cron_expression, timezone, created_by,"
            " updated_by) VALUES (%s, 'custom_message', 'cron(0 9 * * ? *)', 'UTC', 'a', 'a')",
            (f"job-{index}",),
        )

    handler(custom_resource_event(url, "Update"), LambdaContext())

    (answer,) = received
    assert answer["Status"] == "FAILED"
    assert "RuleQuotaExceeded" in answer["Reason"] and "quota is 300" in answer["Reason"]


def test_custom_resource_delete_removes_our_rules(db, handler, cloudformation, events):
    url, received = cloudformation
    add_custom_job(db)
    handler({}, LambdaContext())

    handler(custom_resource_event(url, "Delete"), LambdaContext())

    assert received[-1]["Status"] == "SUCCESS"
    assert events.list_rules(NamePrefix="test-jobs-")["Rules"] == []
    jobs = db.execute("SELECT count(*) AS n FROM scheduled_jobs").fetchone()["n"]
    assert jobs == 5  # the custom job and the four coded ones: the rows stay


def test_a_deploy_points_telegram_at_the_stack_s_webhook(
    db, settings, cloudformation, events, monkeypatch, telegram
):
    """The custom resource's BotWebhookUrl (the function URL) is set with setWebhook, the
    secret and the updates the bot handles, with the command menus; again, the same."""
    from job_scheduler.bot.webhook import webhook_secret
    from job_scheduler.config import Settings

    token = "424242:bot-token-for-the-fake-telegram-0001"
    handler = cold_start(
        monkeypatch,
        settings,
        "bot_startup_app_webhook",
        TELEGRAM_BOT_TOKEN=token,
        TELEGRAM_API_URL=telegram.base_url,
    )
    url, received = cloudformation
    event = custom_resource_event(url, "Create")
    event["ResourceProperties"] = {"BotWebhookUrl": "https://abc.lambda-url.us-east-1.on.aws/"}

    handler(event, LambdaContext())
    handler({**event, "RequestType": "Update"}, LambdaContext())

    assert [answer["Status"] for answer in received] == ["SUCCESS", "SUCCESS"]
    assert received[0]["Data"]["bot_webhook"] == "https://abc.lambda-url.us-east-1.on.aws/"
    hook = telegram.chats.webhook
    assert hook["url"] == "https://abc.lambda-url.us-east-1.on.aws/"
    assert hook["secret_token"] == webhook_secret(Settings(telegram_bot_token=token))
    assert hook["allowed_updates"] == ["message", "callback_query", "my_chat_member"]
    assert len(telegram.chats.get_commands({"language_code": "en"})) == 9
    telegram.chats.delete_webhook({})


def test_a_deleted_secret_answers_failed_at_once_with_the_reason(
    settings, cloudformation, monkeypatch
):
    """The settings are read inside the answer: a secret that is gone (here, one moto's
    Secrets Manager never had) sends FAILED to the response URL within seconds, naming the
    variable, instead of leaving CloudFormation waiting."""
    import time

    missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:gone-AbCdEf"
    handler = cold_start(
        monkeypatch, settings, "bot_startup_app_gone", TELEGRAM_BOT_TOKEN_SECRET_ARN=missing
    )
    url, received = cloudformation
    event = custom_resource_event(url, "Create")
    event["ResourceProperties"] = {"RulePrefix": "test-jobs"}

    started = time.monotonic()
    handler(event, LambdaContext())

    assert time.monotonic() - started < 10
    (answer,) = received
    assert answer["Status"] == "FAILED"
    assert "TELEGRAM_BOT_TOKEN_SECRET_ARN" in answer["Reason"]
    assert answer["PhysicalResourceId"] == "test-jobs-startup-sync"
    handler({**event, "RequestType": "Delete"}, LambdaContext())
    assert received[1]["Status"] == "SUCCESS"  # a broken setting never wedges a delete
