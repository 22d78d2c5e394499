"""Settings from the environment: defaults, checks that name the bad setting, no secret in repr."""

from __future__ import annotations

import pytest

from job_scheduler.config import Settings
from job_scheduler.errors import ConfigError

TOKEN = "123456789:AAH-fake-token-value-0123456789abcdefXYZ"


def test_defaults_run_locally_with_nothing_set():
    settings = Settings.from_env({})
    assert (settings.stage, settings.default_timezone, settings.rule_prefix) == (
        "dev",
        "Asia/Tehran",
        "telegram-jobs-dev",
    )
    assert settings.log_format == "text" and settings.redis_url is None


def test_inside_lambda_logs_are_json_and_the_prefix_follows_the_stage():
    settings = Settings.from_env({"AWS_LAMBDA_FUNCTION_NAME": "f", "STAGE": "prod"})
    assert (settings.log_format, settings.rule_prefix) == ("json", "telegram-jobs-prod")


@pytest.mark.parametrize(
    "environ, named",
    [
        ({"STAGE": "Prod"}, "STAGE"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"REDIS_URL": "http://x"}, "REDIS_URL"),
        ({"AWS_ENDPOINT_URL": "localhost:4566"}, "AWS_ENDPOINT_URL"),
        ({"TELEGRAM_API_URL": "ftp://x"}, "TELEGRAM_API_URL"),
        ({"DEFAULT_TIMEZONE": "Asia/Teheran"}, "DEFAULT_TIMEZONE"),
        ({"RULES_PER_BUS_QUOTA": "many"}, "RULES_PER_BUS_QUOTA"),
        ({"RULES_PER_BUS_QUOTA": "0"}, "RULES_PER_BUS_QUOTA"),
        ({"RULE_PREFIX": "has space"}, "RULE_PREFIX"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({"TELEGRAM_PAID_RATE_PER_SECOND": "fast"}, "TELEGRAM_PAID_RATE_PER_SECOND"),
        ({"TELEGRAM_PAID_RATE_PER_SECOND": "0"}, "TELEGRAM_PAID_RATE_PER_SECOND"),
    ],
)
def test_a_bad_setting_is_named(environ, named):
    with pytest.raises(ConfigError, match=named):
        Settings.from_env(environ)


def test_a_paid_broadcasts_rate_is_telegrams_thousand_unless_set():
    assert Settings.from_env({}).telegram_paid_rate_per_second == 1000
    assert (
        Settings.from_env({"TELEGRAM_PAID_RATE_PER_SECOND": "500"}).telegram_paid_rate_per_second
        == 500
    )


def test_secrets_stay_out_of_repr_but_are_known_for_scrubbing():
    settings = Settings.from_env(
        {
            "DATABASE_URL": "postgresql://app:s3cretpw@db/jobs",
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "REDIS_URL": "redis://:r3dispw@cache:6379/0",
        }
    )
    text = repr(settings)
    assert "s3cretpw" not in text and TOKEN not in text and "r3dispw" not in text
    assert set(settings.secret_values()) == {TOKEN, "s3cretpw", "r3dispw"}
