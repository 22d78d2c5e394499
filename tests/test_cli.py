"""jobsctl, run as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def jobsctl(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "job_scheduler", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_next_prints_the_issue_example_exactly():
    result = jobsctl(
        "next",
        "cron(30 2 * * ? *)",
        "--tz",
        "Europe/Berlin",
        "--after",
        "2027-03-27T00:00:00Z",
        "-n",
        "3",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "2027-03-27T02:30:00+01:00",
        "2027-03-28T03:30:00+02:00",
        "2027-03-29T02:30:00+02:00",
    ]


def test_validate_describes_a_good_expression():
    result = jobsctl("validate", "cron(0 22 * * ? *)", "--tz", "Asia/Tehran")
    assert (result.returncode, result.stdout.strip()) == (0, "At 22:00 (Asia/Tehran)")


@pytest.mark.parametrize(
    "args, says",
    [
        (("validate", "cron(0 22 * * ?)"), "has 5 fields"),
        (("validate", "cron(0 22 * * * *)"), "One must be a question mark"),
        (("validate", "cron(61 22 * * ? *)"), "Invalid minute value '61'"),
        (("validate", "0 22 * * *"), "not an EventBridge schedule"),
        (("next", "cron(0 22 * * ? *)", "--tz", "Asia/Teheran"), "Unknown timezone 'Asia/Teheran'"),
        (("rules", "rate(1 minutes)", "--tz", "UTC"), "write rate(1 minute)"),
    ],
)
def test_bad_input_exits_2_and_says_what_is_wrong(args, says):
    result = jobsctl(*args)
    assert result.returncode == 2
    assert says in result.stderr and result.stdout == ""


@pytest.mark.parametrize("after", ["2027-03-27", "yesterday"])
def test_after_needs_an_instant_with_an_offset(after):
    result = jobsctl("next", "cron(0 1 * * ? *)", "--tz", "UTC", "--after", after)
    assert result.returncode == 2 and "--after" in result.stderr


def test_rules_prints_the_utc_expressions():
    assert jobsctl("rules", "cron(0 22 * * ? *)", "--tz", "Asia/Tehran").stdout == (
        "cron(30 18 * * ? *)\n"
    )
    assert jobsctl("rules", "cron(30 2 * * ? *)", "--tz", "Europe/Berlin").stdout == (
        "cron(30 0-1 * * ? *)\n"
    )


def test_sync_runs_against_the_configured_environment(db, settings, events):
    db.execute(
        "INSERT INTO scheduled_jobs (name, kind, cron_expression, timezone, created_by, updated_by)"
        " VALUES ('promo', 'custom_message', 'cron(0 9 ? * FRI *)', 'Asia/Tehran', 'a', 'a')"
    )
    env = {
        "DATABASE_URL": settings.database_url,
        "AWS_ENDPOINT_URL": settings.aws_endpoint_url,
        "JOBS_QUEUE_ARN": settings.jobs_queue_arn,
        "RULE_PREFIX": "cli-jobs",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    result = jobsctl("sync", env=env)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["rules_created"] == ["cli-jobs-promo"]
    (rule,) = events.list_rules(NamePrefix="cli-jobs-")["Rules"]
    assert rule["ScheduleExpression"] == "cron(30 5 ? * 6 *)"
