"""Settings: read from the environment once per cold start, checked, then frozen.

Nothing else in the package reads ``os.environ``, and nothing caches it: each entry point
builds its Settings once (a Lambda per cold start, ``adapters.lambda_entry``; the CLI per
command; the admin app per cold start) and hands them down. Explicit arguments win: tests
and the local runtime build ``Settings(...)`` or ``Settings.from_env({...})`` themselves.
Secrets (database URL with its password, bot token, Rastar encryption keys, LLM key) are
kept out of ``repr`` so that logging a Settings object can never leak them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from job_scheduler.errors import ConfigError, UnknownTimezone
from job_scheduler.schedule.zoned import load_zone

LOCAL_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
_STAGE_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,19}$")
_TABLE_RE = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_SECRET_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")  # what setWebhook accepts
_PREFIX_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")


@dataclass(frozen=True)
class Settings:
    """Every setting the handlers, the CLI and the admin app use."""

    stage: str = "dev"
    database_url: str = field(default=LOCAL_DATABASE_URL, repr=False)
    redis_url: str | None = field(default=None, repr=False)
    aws_endpoint_url: str | None = None
    aws_region: str = "us-east-1"
    event_bus_name: str = "default"
    rule_prefix: str = "telegram-jobs-dev"
    rules_per_bus_quota: int = 300
    jobs_queue_url: str | None = None
    jobs_queue_arn: str | None = None
    notifications_queue_url: str | None = None
    telegram_bot_token: str | None = field(default=None, repr=False)
    telegram_api_url: str = "https://api.telegram.org"
    telegram_timeout_seconds: int = 10  # waiting for Telegram's answer; then: may have arrived
    default_timezone: str = "Asia/Tehran"
    log_level: str = "INFO"
    max_receive_count: int = 5  # the queues' redrive maxReceiveCount (template.yaml)
    execution_lease_seconds: int = 120  # > the executor's timeout, < the queue's visibility
    recipients_per_message: int = 50  # deliveries per notifications-queue message
    # Messages of one execution on the notifications queue at once (delivery/window.py).
    notify_window_messages: int = 4
    telegram_rate_per_second: int = 30
    telegram_rate_per_chat_per_second: int = 1
    # A paid broadcast's overall rate (Telegram: up to 1000/s, 0.1 Stars a message over 30/s).
    telegram_paid_rate_per_second: int = 1000
    notifier_concurrency: int = 8
    job_send_budget_hours: int = 4  # of the bot's sending a day one job may take unconfirmed
    log_format: str = "text"  # "json" inside Lambda, chosen by from_env
    # The Rastar food service, a Supabase project (rastar/protocol.py): its URL and public
    # anon key, its two tables, and the keys people's sessions are sealed with.
    rastar_supabase_url: str | None = None
    rastar_supabase_anon_key: str | None = field(default=None, repr=False)
    rastar_menu_table: str = "menu_schedule"
    rastar_selections_table: str = "user_menu_selections"
    rastar_pick_url: str | None = None  # Rastar's site, for a reminder's "open Rastar" button
    rastar_encryption_keys: str | None = field(default=None, repr=False)  # Fernet, newest first
    # The one-time page where a person links their Rastar account (served by the admin app).
    link_page_url: str | None = None
    admin_chat_id: int | None = None  # where alarm_chat posts the stack's alarms
    bot_webhook_url: str | None = None  # where Telegram sends updates; set by bot_startup
    bot_webhook_secret: str | None = field(default=None, repr=False)  # unset: from the token
    link_ttl_seconds: int = 600
    rastar_concurrency: int = 32  # users checked at once by the food reminder
    rastar_timeout_seconds: int = 10
    # An OpenAI-compatible chat completions endpoint for dish suggestions (optional).
    history_days: int = 90  # executions, deliveries and audit rows kept (prune-history)
    # A pause longer than this drops the deliveries it held as missed on resume, rather than
    # sending yesterday's reminder tomorrow (delivery/pause.py).
    pause_max_delay_seconds: int = 3600
    # People per shard of a big audience (execution/shards.py); a coded job may set its own.
    shard_size: int = 50_000
    llm_api_url: str | None = None
    llm_api_key: str | None = field(default=None, repr=False)
    llm_model: str = "gpt-4o-mini"
    llm_timeout_seconds: int = 5

    # Where the database and Redis URLs came from, when not from their own variables: said
    # once at start-up (observability.configure), never with a password.
    sources: tuple[str, ...] = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        _check(self)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build from environment variables (names are the upper-cased field names)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for spec in fields(cls):
            if spec.name == "sources":
                continue
            raw = env.get(spec.name.upper())
            if raw is None or raw == "":
                continue
            values[spec.name] = _convert(spec.name, raw)
        if "rule_prefix" not in values:
            values["rule_prefix"] = f"telegram-jobs-{values.get('stage', cls.stage)}"
        if "log_format" not in values:
            values["log_format"] = "json" if env.get("AWS_LAMBDA_FUNCTION_NAME") else "text"
        if "aws_region" not in values and env.get("AWS_DEFAULT_REGION"):
            values["aws_region"] = env["AWS_DEFAULT_REGION"]
        values["sources"] = _from_parts(env, values)
        settings = cls(**values)
        return _resolve_secrets(settings, env)

    def secret_values(self) -> list[str]:
        """The secret strings, so log output can be scrubbed of them."""
        found = [
            self.telegram_bot_token,
            _password(self.database_url),
            _password(self.redis_url),
            self.llm_api_key,
            *(self.rastar_encryption_keys or "").split(","),
            self.rastar_supabase_anon_key,
            self.bot_webhook_secret,
        ]
        found += [unquote(value) for value in found if value and "%" in value]  # as typed too
        return [value.strip() for value in found if value and len(value.strip()) >= 4]


_NUMBERS = {
    "rules_per_bus_quota": (1, 100_000),
    "max_receive_count": (1, 1000),
    "execution_lease_seconds": (10, 43_200),
    "recipients_per_message": (1, 500),
    "notify_window_messages": (1, 1000),
    "telegram_rate_per_second": (1, 100_000),
    "telegram_rate_per_chat_per_second": (1, 1000),
    "telegram_paid_rate_per_second": (1, 100_000),
    "notifier_concurrency": (1, 64),
    "telegram_timeout_seconds": (1, 60),
    "job_send_budget_hours": (1, 24),
    "rastar_concurrency": (1, 256),
    "rastar_timeout_seconds": (1, 60),
    "link_ttl_seconds": (60, 86_400),
    "llm_timeout_seconds": (1, 60),
    "history_days": (1, 3650),
    "pause_max_delay_seconds": (0, 7 * 86_400),
    "shard_size": (1, 10_000_000),
}


def _from_parts(env: Mapping[str, str], values: dict[str, Any]) -> tuple[str, ...]:
    """The URLs from the separate variables the system this one replaces used
    (POSTGRES_USER/PASSWORD/DB/PORT/HOST, REDIS_HOST/PORT/PASSWORD), when the URL itself
    is not set; a URL set as well wins. What was used, in words."""
    said = []
    postgres = [name for name in ("POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB",
                                  "POSTGRES_PORT", "POSTGRES_HOST") if env.get(name)]  # fmt: skip
    if postgres and "database_url" in values:
        said.append(f"DATABASE_URL is set: {', '.join(postgres)} not used")
    elif postgres:  # (DATABASE_URL_SECRET_ARN, in Lambda, still replaces it)
        user = quote(env.get("POSTGRES_USER", "postgres"), safe="")
        password = env.get("POSTGRES_PASSWORD")
        login = f"{user}:{quote(password, safe='')}" if password else user
        host, port = env.get("POSTGRES_HOST", "127.0.0.1"), env.get("POSTGRES_PORT", "5432")
        database = quote(env.get("POSTGRES_DB", "postgres"), safe="")
        values["database_url"] = f"postgresql://{login}@{host}:{port}/{database}"
        said.append(f"database from {', '.join(postgres)} (DATABASE_URL is not set)")
    redis = [name for name in ("REDIS_HOST", "REDIS_PORT", "REDIS_PASSWORD") if env.get(name)]
    if redis and "redis_url" in values:
        said.append(f"REDIS_URL is set: {', '.join(redis)} not used")
    elif redis:
        password = env.get("REDIS_PASSWORD")
        login = f":{quote(password, safe='')}@" if password else ""
        host, port = env.get("REDIS_HOST", "127.0.0.1"), env.get("REDIS_PORT", "6379")
        values["redis_url"] = f"redis://{login}{host}:{port}/0"
        said.append(f"Redis from {', '.join(redis)} (REDIS_URL is not set)")
    return tuple(said)


def _convert(name: str, raw: str) -> object:
    if name == "admin_chat_id":
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(
                f"ADMIN_CHAT_ID must be a Telegram chat id (a whole number), not {raw!r}"
            ) from None
    if name in _NUMBERS:
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{name.upper()} must be a whole number, not {raw!r}") from None
    return raw.strip()


def _check(settings: Settings) -> None:
    if not _STAGE_RE.fullmatch(settings.stage):
        raise ConfigError(
            f"STAGE must be lowercase letters, digits and '-', not {settings.stage!r}"
        )
    if not _PREFIX_RE.fullmatch(settings.rule_prefix):
        raise ConfigError(
            "RULE_PREFIX must be 1-40 letters, digits, '.', '_' or '-' (it starts every "
            f"EventBridge rule name), not {settings.rule_prefix!r}"
        )
    _check_urls(settings)
    _check_names(settings)
    if settings.log_format not in ("json", "text"):
        raise ConfigError(f"LOG_FORMAT must be json or text, not {settings.log_format!r}")
    if settings.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ConfigError(
            f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, not {settings.log_level!r}"
        )
    for name, (low, high) in _NUMBERS.items():
        if not low <= getattr(settings, name) <= high:
            raise ConfigError(f"{name.upper()} must be between {low} and {high}")
    try:
        load_zone(settings.default_timezone)
    except UnknownTimezone as exc:
        raise ConfigError(f"DEFAULT_TIMEZONE: {exc}") from exc


def _check_names(settings: Settings) -> None:
    for name in ("rastar_menu_table", "rastar_selections_table"):
        if not _TABLE_RE.fullmatch(getattr(settings, name)):
            raise ConfigError(
                f"{name.upper()} must be a table name (lowercase letters, digits and '_'),"
                f" not {getattr(settings, name)!r}"
            )
    if settings.bot_webhook_secret and not _SECRET_TOKEN_RE.fullmatch(settings.bot_webhook_secret):
        raise ConfigError("BOT_WEBHOOK_SECRET must be 1-256 letters, digits, '_' or '-'")


def _check_urls(settings: Settings) -> None:
    if not urlsplit(settings.database_url).scheme.startswith("postgres"):
        raise ConfigError("DATABASE_URL must be a postgresql:// URL")
    if settings.redis_url and urlsplit(settings.redis_url).scheme not in ("redis", "rediss"):
        raise ConfigError("REDIS_URL must be a redis:// or rediss:// URL")
    for name in ("aws_endpoint_url", "telegram_api_url", "rastar_supabase_url",
                 "rastar_pick_url", "link_page_url", "bot_webhook_url"):  # fmt: skip
        value = getattr(settings, name)
        if value and urlsplit(value).scheme not in ("http", "https"):
            raise ConfigError(f"{name.upper()} must be an http(s):// URL, not {value!r}")
    if settings.llm_api_url and urlsplit(settings.llm_api_url).scheme not in ("http", "https"):
        raise ConfigError(
            "LLM_API_URL must be an http(s):// URL (it is not shown: it may hold a key)"
        )


def _password(url: str | None) -> str | None:
    return urlsplit(url).password if url else None


def _resolve_secrets(settings: Settings, env: Mapping[str, str]) -> Settings:
    """In Lambda the database URL and bot token come from Secrets Manager by ARN."""
    updates: dict[str, str] = {}
    for name, variable in (
        ("database_url", "DATABASE_URL_SECRET_ARN"),
        ("telegram_bot_token", "TELEGRAM_BOT_TOKEN_SECRET_ARN"),
        ("bot_webhook_secret", "BOT_WEBHOOK_SECRET_ARN"),
        ("rastar_encryption_keys", "RASTAR_ENCRYPTION_KEYS_SECRET_ARN"),
        ("rastar_supabase_anon_key", "RASTAR_SUPABASE_ANON_KEY_SECRET_ARN"),
        ("llm_api_key", "LLM_API_KEY_SECRET_ARN"),
    ):
        arn = env.get(variable)
        if arn:
            from job_scheduler.adapters.aws import (
                read_secret,  # boto3 only when a secret is configured
            )

            updates[name] = read_secret(settings, arn, variable)
    return replace(settings, **updates) if updates else settings
