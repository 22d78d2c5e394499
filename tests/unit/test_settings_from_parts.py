"""The separate variables of the system this one replaces build the URLs when the URLs
are not set; a URL set as well wins; start-up says which; passwords are escaped and never
shown."""

from __future__ import annotations

import io
import logging

from job_scheduler import observability
from job_scheduler.config import Settings


def test_postgres_and_redis_parts_build_the_urls():
    settings = Settings.from_env(
        {
            "POSTGRES_USER": "bot",
            "POSTGRES_PASSWORD": "p@ss:w/rd",
            "POSTGRES_DB": "jobs",
            "POSTGRES_PORT": "6543",
            "REDIS_HOST": "cache",
            "REDIS_PASSWORD": "r#d",
        }
    )
    assert settings.database_url == "postgresql://bot:p%40ss%3Aw%2Frd@127.0.0.1:6543/jobs"
    assert settings.redis_url == "redis://:r%23d@cache:6379/0"
    assert settings.sources == (
        "database from POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB, POSTGRES_PORT"
        " (DATABASE_URL is not set)",
        "Redis from REDIS_HOST, REDIS_PASSWORD (REDIS_URL is not set)",
    )
    assert "p@ss" not in repr(settings) and "p@ss:w/rd" in settings.secret_values()


def test_a_url_set_as_well_wins_and_start_up_says_so():
    settings = Settings.from_env(
        {
            "DATABASE_URL": "postgresql://u@db/x",
            "POSTGRES_PASSWORD": "secret-pw",
            "REDIS_URL": "redis://r:6379/1",
            "REDIS_HOST": "other",
        }
    )
    assert settings.database_url == "postgresql://u@db/x"
    assert settings.redis_url == "redis://r:6379/1"
    stream = io.StringIO()
    observability.configure(settings, stream=stream)
    try:
        printed = stream.getvalue()
    finally:
        observability.configure(Settings(), stream=logging.StreamHandler().stream)
    assert "DATABASE_URL is set: POSTGRES_PASSWORD not used" in printed
    assert "REDIS_URL is set: REDIS_HOST not used" in printed
    assert "secret-pw" not in printed


def test_nothing_set_is_nothing_said():
    assert Settings.from_env({}).sources == ()
