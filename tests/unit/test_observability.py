"""Secrets never reach a log line, in JSON (Lambda) or text (local) form."""

from __future__ import annotations

import io
import json
import logging
import sys
import uuid

import pytest
from aws_lambda_powertools import Logger

from job_scheduler.config import Settings
from job_scheduler.observability import (
    JsonFormatter,
    TextFormatter,
    configure,
    register_secrets,
    scrub,
)

TOKEN = "987654321:AAF-another-fake-token-0123456789abcd"


@pytest.fixture
def capture():
    def run(formatter: logging.Formatter, emit) -> str:
        stream = io.StringIO()
        # A new service name per call: Powertools reuses the handler of a name it has seen.
        logger = Logger(service=f"t{uuid.uuid4().hex}", stream=stream, logger_formatter=formatter)
        emit(logger)
        return stream.getvalue()

    return run


@pytest.mark.parametrize("formatter", [JsonFormatter, TextFormatter])
@pytest.mark.parametrize(
    "emit",
    [
        lambda log: log.info(f"sending with token {TOKEN}"),
        lambda log: log.info("connecting", extra={"url": "postgresql://app:hunter22@db/jobs"}),
        lambda log: log.warning("auth header", extra={"h": "Bearer abc.def-ghi"}),
        lambda log: log.error("configured secret leaked: opaque-admin-secret-value"),
    ],
)
def test_secrets_are_scrubbed(capture, formatter, emit):
    register_secrets("opaque-admin-secret-value")
    output = capture(formatter(), emit)
    for secret in (TOKEN, "hunter22", "abc.def-ghi", "opaque-admin-secret-value"):
        assert secret not in output
    assert "***" in output


def test_exceptions_are_scrubbed_too(capture):
    def emit(log: Logger) -> None:
        try:
            raise RuntimeError(f"telegram said no for {TOKEN}")
        except RuntimeError:
            log.exception("send failed")

    output = capture(JsonFormatter(), emit)
    assert TOKEN not in output and json.loads(output)["exception_name"] == "RuntimeError"


def test_configure_registers_the_settings_secrets_and_format():
    stream = io.StringIO()
    settings = Settings(telegram_bot_token="short-but-secret-token", log_format="text")
    logger = configure(settings, stream=stream)
    try:
        assert isinstance(logger.registered_handler.formatter, TextFormatter)
        logger.info("token is short-but-secret-token")
    finally:
        configure(Settings(log_format="json"), stream=sys.stdout)
    assert "short-but-secret-token" not in stream.getvalue()


def test_a_token_inside_a_bot_api_url_is_scrubbed():
    token = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"  # the shape BotFather gives
    url = f"https://api.telegram.org/bot{token}/sendMessage?chat_id=1"
    assert (
        scrub(f"POST {url} failed")
        == "POST https://api.telegram.org/bot***/sendMessage?chat_id=1 failed"
    )
