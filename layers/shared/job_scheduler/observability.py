"""Logging and metrics: Powertools Logger (JSON in Lambda, readable text locally) and EMF.

Every log line passes through ``scrub`` before it is written: configured secret values, bot
tokens, URL passwords and bearer tokens are replaced by ``***``, so a secret that slips into
a message or an exception still never reaches a log.
"""

from __future__ import annotations

import logging
import os
import re
from typing import IO, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.metrics import MetricUnit

# Powertools' own variables, as Powertools reads them (at import); these are the defaults.
SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME") or "telegram-jobs"
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "TelegramJobs"
MASK = "***"
_PATTERNS = [
    # Telegram bot tokens, also inside an API URL (".../bot123456:AAH.../sendMessage": no
    # word boundary between "bot" and the token's digits)
    (re.compile(r"(?<![0-9])\d{5,15}:[A-Za-z0-9_-]{30,}"), MASK),
    (re.compile(r"(://[^:/@\s]+:)[^@\s]+@"), rf"\g<1>{MASK}@"),  # passwords in URLs
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), rf"\g<1>{MASK}"),
    (re.compile(r"\btja_[A-Za-z0-9_-]{20,}"), MASK),  # admin API tokens (admin/tokens.py)
]
_secret_values: set[str] = set()


def register_secrets(*values: str | None) -> None:
    """Remember secret strings (from Settings) so every later log line is scrubbed of them."""
    _secret_values.update(value for value in values if value and len(value) >= 4)


def scrub(text: str) -> str:
    for value in sorted(_secret_values, key=len, reverse=True):
        text = text.replace(value, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class JsonFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON lines, scrubbed."""

    def serialize(self, log: dict[str, Any]) -> str:
        return scrub(super().serialize(log))


class TextFormatter(LambdaPowertoolsFormatter):
    """One readable line per record for a terminal: time, level, message, extra keys."""

    # Lambda-context keys are left out: locally several handlers share one process, so they
    # would name whichever handler ran last.
    _SKIP = frozenset(
        {
            "timestamp",
            "level",
            "message",
            "service",
            "location",
            "sampling_rate",
            "cold_start",
            "function_name",
            "function_memory_size",
            "function_arn",
            "function_request_id",
            "xray_trace_id",
        }
    )

    def serialize(self, log: dict[str, Any]) -> str:
        extras = " ".join(f"{key}={value}" for key, value in log.items() if key not in self._SKIP)
        line = f"{log.get('timestamp', '')[11:19]} {log.get('level', ''):<7} {log.get('message')}"
        return scrub(f"{line} {extras}".rstrip())


logger = Logger(service=SERVICE, logger_formatter=JsonFormatter())
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


def configure(settings: Any, stream: IO[str] | None = None) -> Logger:
    """Apply the settings' log level, format and secrets; called once per cold start.

    ``stream`` moves log lines elsewhere (the CLI sends them to stderr, keeping stdout for
    its output).
    """
    register_secrets(*settings.secret_values())
    formatter = TextFormatter() if settings.log_format == "text" else JsonFormatter()
    logger.registered_handler.setFormatter(formatter)
    if stream is not None and isinstance(logger.registered_handler, logging.StreamHandler):
        logger.registered_handler.setStream(stream)
    logger.setLevel(settings.log_level)
    # httpx logs every request at INFO: ten thousand lines per food-reminder run.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    for source in getattr(settings, "sources", ()):  # where the URLs came from, once
        logger.info(f"settings: {source}")
    return logger


__all__ = ["MetricUnit", "configure", "logger", "metrics", "register_secrets", "scrub"]
