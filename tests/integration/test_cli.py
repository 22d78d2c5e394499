"""jobsctl, run as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from job_scheduler.jobs.catalog import register_all_jobs


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
    assert summary["rules_created"] == [
        "cli-jobs-promo",
        "cli-jobs-prune-history",
        "cli-jobs-sweep-stranded-work",
        "cli-jobs-unselected-food-reminder",
        "cli-jobs-weekly-food-check",
    ]
    rule = events.describe_rule(Name="cli-jobs-promo")
    assert rule["ScheduleExpression"] == "cron(30 5 ? * 6 *)"


def service_env(settings) -> dict[str, str]:
    return {
        "DATABASE_URL": settings.database_url,
        "AWS_ENDPOINT_URL": settings.aws_endpoint_url,
        "JOBS_QUEUE_ARN": settings.jobs_queue_arn,
        "JOBS_QUEUE_URL": settings.jobs_queue_url,
        "RULE_PREFIX": "cli-jobs",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }


def test_job_create_then_jobs_and_fire(db, settings, events):
    db.execute("INSERT INTO users (telegram_chat_id) VALUES (11), (12)")
    env = service_env(settings)
    assert jobsctl("sync", env=env).returncode == 0  # the coded jobs, as at deploy

    created = jobsctl(
        "job",
        "create",
        "weekly-hello",
        "--cron",
        "cron(0 9 ? * MON *)",
        "--tz",
        "Europe/Berlin",
        "--text",
        "<b>Hi {{ user.first_name }}</b>",
        "--html",
        "--silent",
        "--include",
        "1,2",
        env=env,
    )
    assert created.returncode == 0, created.stderr
    assert "created weekly-hello" in created.stdout
    row = db.execute("SELECT * FROM scheduled_jobs WHERE name = 'weekly-hello'").fetchone()
    assert row["message_config"] == {
        "text": "<b>Hi {{ user.first_name }}</b>",
        "parse_mode": "HTML",
        "silent": True,
    }
    assert row["include_user_ids"] == [1, 2]
    assert [r["Name"] for r in events.list_rules(NamePrefix="cli-jobs-")["Rules"]] == [
        "cli-jobs-prune-history",
        "cli-jobs-sweep-stranded-work",
        "cli-jobs-unselected-food-reminder",
        "cli-jobs-weekly-food-check",
        "cli-jobs-weekly-hello",
    ]

    listing = jobsctl("jobs", env=env)
    assert "weekly-hello  [custom_message, enabled]  At 09:00, only on Monday (Europe/Berlin)" in (
        listing.stdout
    )
    assert "never run" in listing.stdout

    fired = jobsctl("fire", "weekly-hello", "--at", "2026-11-30T08:00:30Z", env=env)
    assert fired.returncode == 0, fired.stderr
    import boto3

    sqs = boto3.client("sqs", endpoint_url=settings.aws_endpoint_url, region_name="us-east-1")
    (message,) = sqs.receive_message(QueueUrl=settings.jobs_queue_url)["Messages"]
    assert json.loads(message["Body"])["time"] == "2026-11-30T08:00:00Z"
    assert json.loads(message["Body"])["source"] == "manual"


@pytest.mark.parametrize(
    "args, says",
    [
        (
            ("job", "create", "x", "--cron", "cron(0 9 * * ? *)", "--text", "{{ user.password }}"),
            "password",
        ),
        (
            ("job", "create", "x", "--cron", "cron(0 9 * * ? *)", "--text", "hi", "--include", "9"),
            "no users with ids [9]",
        ),
        (
            ("job", "create", "x", "--cron", "cron(0 9 * * ? *)", "--text", "<b>hi", "--html"),
            "never closed",
        ),
        (("fire", "nope"), "There is no job named 'nope'"),
        (("executions", "nope"), "There is no job named 'nope'"),
    ],
)
def test_job_commands_refuse_bad_input_with_exit_2(db, settings, args, says):
    result = jobsctl(*args, env=service_env(settings))
    assert result.returncode == 2, result.stdout + result.stderr
    assert says in result.stderr


def test_executions_lists_history_newest_first(db, settings):
    db.execute(
        "INSERT INTO scheduled_jobs (name, kind, cron_expression, timezone, created_by, updated_by)"
        " VALUES ('daily', 'custom_message', 'cron(0 9 * * ? *)', 'UTC', 'a', 'a')"
    )
    db.execute(
        "INSERT INTO job_executions (job_id, scheduled_for, trigger, status, error) VALUES"
        " (1, '2026-11-26T09:00Z', 'schedule', 'succeeded', NULL),"
        " (1, '2026-11-27T09:00Z', 'schedule', 'failed', 'DatabaseError: boom')"
    )
    result = jobsctl("executions", "daily", env=service_env(settings))
    lines = result.stdout.splitlines()[1:]
    assert [line.split()[0] for line in lines] == ["2", "1"]
    assert "failed" in lines[0] and "DatabaseError: boom" in lines[0]


def rastar_user(action: str, user_id: int, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "job_scheduler", "user", action, str(user_id)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )


def test_link_rastar_prints_a_one_time_link_and_the_link_signs_in(db, database_url, rastar):
    from pipeline import add_users

    from job_scheduler.rastar import accounts, linking
    from job_scheduler.rastar.client import RastarClient
    from job_scheduler.rastar.crypto import SecretBox

    (user,) = add_users(db, 1)
    key = SecretBox.new_key()
    env = {"DATABASE_URL": database_url, "RASTAR_ENCRYPTION_KEYS": key,
           "LINK_PAGE_URL": "http://127.0.0.1:8000/link"}  # fmt: skip

    first = rastar_user("link-rastar", user, **env)
    second = rastar_user("link-rastar", user, **env)

    assert first.returncode == 0, first.stderr
    url = second.stdout.strip()
    assert url.startswith("http://127.0.0.1:8000/link?state=")
    assert "one-time link" in second.stderr and "10 minutes" in second.stderr
    with pytest.raises(Exception, match="already used"):  # the newer link replaced it
        linking.peek(db, first.stdout.strip().split("state=")[1])
    rastar.add_account("a@rastar.test", "pw")
    client = RastarClient(rastar.base_url, rastar.anon_key)
    state = url.split("state=")[1]
    linking.sign_in(db, SecretBox([key]), client, state, "a@rastar.test", "pw")
    client.close()
    assert accounts.linked_as(db, SecretBox([key]), user) == "a@rastar.test"

    keys = f"{SecretBox.new_key()},{key}"
    rotated = jobsctl(
        "rastar", "rotate-keys", env={"DATABASE_URL": database_url, "RASTAR_ENCRYPTION_KEYS": keys}
    )
    assert rotated.returncode == 0, rotated.stderr
    assert rotated.stdout.strip() == "re-encrypted 1 Rastar session(s) with the first key"

    unlinked = rastar_user("unlink-rastar", user, DATABASE_URL=database_url)
    again = rastar_user("unlink-rastar", user, DATABASE_URL=database_url)
    assert unlinked.returncode == 0 and "unlinked user" in unlinked.stdout
    assert again.returncode == 1 and "has no linked Rastar account" in again.stderr
    assert accounts.linked_as(db, SecretBox([key]), user) is None


def test_link_rastar_says_what_is_missing(db, database_url):
    from pipeline import add_users

    from job_scheduler.rastar.crypto import SecretBox

    (user,) = add_users(db, 1)
    key = SecretBox.new_key()
    page = "http://127.0.0.1:8000/link"
    no_key = rastar_user("link-rastar", user, DATABASE_URL=database_url,
                         RASTAR_ENCRYPTION_KEYS="", LINK_PAGE_URL=page)  # fmt: skip
    no_page = rastar_user("link-rastar", user, DATABASE_URL=database_url,
                          RASTAR_ENCRYPTION_KEYS=key, LINK_PAGE_URL="")  # fmt: skip
    no_user = rastar_user("link-rastar", 987654, DATABASE_URL=database_url,
                          RASTAR_ENCRYPTION_KEYS=key, LINK_PAGE_URL=page)  # fmt: skip

    assert no_key.returncode == 1 and "jobsctl rastar new-key" in no_key.stderr
    assert no_page.returncode == 1 and "LINK_PAGE_URL" in no_page.stderr
    assert no_user.returncode == 2 and "no user with id 987654" in no_user.stderr
    assert db.execute("SELECT count(*) AS n FROM rastar_link_states").fetchone()["n"] == 0


def test_new_key_prints_a_usable_key():
    from job_scheduler.rastar.crypto import SecretBox

    result = jobsctl("rastar", "new-key")

    assert result.returncode == 0
    SecretBox([result.stdout.strip()]).encrypt("works")


def test_admin_tokens_are_printed_once_and_revoked_by_name(db, database_url):
    from job_scheduler.admin import tokens as admin_tokens

    env = {"DATABASE_URL": database_url}
    created = jobsctl("admin-token", "create", "sara", env=env)
    again = jobsctl("admin-token", "create", "sara", env=env)
    bad = jobsctl("admin-token", "create", "has space", env=env)

    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert admin_tokens.authenticate(db, token).name == "sara"
    assert "not shown again" in created.stderr and token not in created.stderr
    assert again.returncode == 2 and "revoke it first" in again.stderr
    assert bad.returncode == 2 and "token name" in bad.stderr

    revoked = jobsctl("admin-token", "revoke", "sara", env=env)
    assert revoked.returncode == 0 and admin_tokens.authenticate(db, token) is None
    assert jobsctl("admin-token", "revoke", "sara", env=env).returncode == 2


def test_a_paid_broadcast_is_made_and_unmade_from_the_command_line(db, settings, events):
    env = service_env(settings)
    created = jobsctl("job", "create", "sale", "--cron", "cron(0 9 * * ? *)", "--tz", "UTC",
                      "--text", "hi", "--paid-broadcast", env=env)  # fmt: skip
    assert created.returncode == 0, created.stderr
    config = "SELECT message_config FROM scheduled_jobs WHERE name = 'sale'"
    assert db.execute(config).fetchone()["message_config"]["paid_broadcast"] is True

    freed = jobsctl("job", "edit", "sale", "--free-broadcast", env=env)
    assert freed.returncode == 0, freed.stderr
    assert "paid_broadcast" not in db.execute(config).fetchone()["message_config"]


def test_job_edit_disable_enable_and_delete_go_the_admin_way(db, settings, events):
    env = service_env(settings)
    assert jobsctl("job", "create", "promo", "--cron", "cron(0 9 * * ? *)", "--tz", "UTC",
                   "--text", "hi", env=env).returncode == 0  # fmt: skip

    edited = jobsctl("job", "edit", "promo", "--cron", "cron(30 9 * * ? *)", "--silent", env=env)
    disabled = jobsctl("job", "disable", "promo", env=env)

    assert edited.returncode == 0, edited.stderr
    assert disabled.returncode == 0 and "promo is disabled" in disabled.stdout
    row = db.execute("SELECT * FROM scheduled_jobs WHERE name = 'promo'").fetchone()
    assert (row["cron_expression"], row["enabled"], row["version"]) == (
        "cron(30 9 * * ? *)",
        False,
        3,
    )
    assert row["message_config"] == {"text": "hi", "parse_mode": None, "silent": True}
    rule = events.describe_rule(Name="cli-jobs-promo")
    assert (rule["ScheduleExpression"], rule["State"]) == ("cron(30 9 * * ? *)", "DISABLED")

    assert jobsctl("job", "enable", "promo", env=env).returncode == 0
    assert events.describe_rule(Name="cli-jobs-promo")["State"] == "ENABLED"
    deleted = jobsctl("job", "delete", "promo", env=env)
    assert deleted.returncode == 0, deleted.stderr
    assert events.list_rules(NamePrefix="cli-jobs-promo")["Rules"] == []
    audit = db.execute(
        "SELECT actor, action FROM audit_log WHERE entity_name = 'promo' ORDER BY id"
    )
    actors = [(entry["actor"].split(":")[0], entry["action"]) for entry in audit]
    assert actors == [("cli", "create"), ("cli", "update"), ("cli", "update"), ("cli", "update"),
                      ("cli", "delete")]  # fmt: skip


@pytest.mark.parametrize(
    "args, says",
    [
        (("job", "edit", "nope", "--cron", "cron(0 9 * * ? *)"), "There is no job named 'nope'"),
        (
            (
                "job",
                "create",
                "x",
                "--cron",
                "cron(0 9 * * ? *)",
                "--text",
                "hi",
                "--description",
                "d" * 1001,
            ),
            "at most 1000 characters",
        ),
        (("job", "create", "x", "--cron", "cron(0 9 * * *)", "--text", "hi"), "has 5 fields"),
        (("job", "create", "x", "--cron", "at(2020-01-01T09:00)", "--text", "hi"), "has passed"),
        (
            (
                "job",
                "create",
                "x",
                "--cron",
                "cron(0 9 * * ? *)",
                "--text",
                "hi",
                "--starts",
                "2031-01-02T09:00",
                "--ends",
                "2031-01-01T09:00",
            ),
            "must be after starts_at",
        ),
        (("job", "delete", "unselected-food-reminder"), "Coded jobs cannot be deleted"),
    ],
)
def test_job_changes_refuse_what_the_admin_api_refuses(db, settings, args, says):
    env = service_env(settings)
    assert jobsctl("sync", env=env).returncode == 0
    result = jobsctl(*args, env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert says in result.stderr
    coded = len(register_all_jobs())  # the sync's rows, and nothing more
    assert db.execute("SELECT count(*) AS n FROM scheduled_jobs").fetchone()["n"] == coded


def test_a_job_that_would_send_too_much_needs_confirm_audience(db, settings):
    for chat in range(40):
        db.execute("INSERT INTO users (telegram_chat_id) VALUES (%s)", (100 + chat,))
    env = {**service_env(settings), "TELEGRAM_RATE_PER_SECOND": "1", "JOB_SEND_BUDGET_HOURS": "1"}
    args = ("job", "create", "flood", "--cron", "cron(* * * * ? *)", "--text", "hi")

    refused = jobsctl(*args, env=env)
    confirmed = jobsctl(*args, "--confirm-audience", env=env)

    assert refused.returncode == 2 and "about 57,600 messages a day" in refused.stderr
    assert "jobsctl --confirm-audience" in refused.stderr
    assert confirmed.returncode == 0, confirmed.stderr


def in_directory(directory, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """jobsctl run from ``directory``, DATABASE_URL unset unless given."""
    clean = {
        k: v for k, v in os.environ.items() if k != "DATABASE_URL" and not k.startswith("AWS_")
    }
    return subprocess.run(
        [sys.executable, "-m", "job_scheduler", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=directory,
        env={**clean, **env},
    )


def test_a_second_terminal_finds_the_running_make_run_by_itself(db, database_url, aws, tmp_path):
    """Nothing sourced: jobsctl reads .local/run.env (what make run writes), and says so."""
    import boto3

    sqs = boto3.client("sqs", endpoint_url=aws, region_name="us-east-1")
    db.execute(
        "INSERT INTO scheduled_jobs (name, kind, cron_expression, timezone, created_by,"
        " updated_by) VALUES ('promo', 'custom_message', 'cron(0 9 * * ? *)', 'UTC',"
        " 'a', 'a')"
    )
    (tmp_path / ".local").mkdir()
    queue = sqs.create_queue(QueueName="cli-run-env-jobs")["QueueUrl"]
    (tmp_path / ".local" / "run.env").write_text(
        f"export DATABASE_URL='{database_url}'\nexport AWS_ENDPOINT_URL='{aws}'\n"
        "export AWS_ACCESS_KEY_ID='local'\nexport AWS_SECRET_ACCESS_KEY='local'\n"
        f"export AWS_DEFAULT_REGION='us-east-1'\nexport JOBS_QUEUE_URL='{queue}'\n"
    )

    done = in_directory(tmp_path, "jobs")
    fired = in_directory(tmp_path, "fire", "promo")  # boto3 too finds what it needs

    assert done.returncode == 0, done.stderr
    assert "promo" in done.stdout
    assert f"jobsctl: using {tmp_path / '.local' / 'run.env'}" in done.stderr
    assert fired.returncode == 0, fired.stderr
    assert "queued promo" in fired.stdout
    assert sqs.receive_message(QueueUrl=queue).get("Messages")


def test_a_database_without_the_schema_says_what_to_do(make_database, tmp_path):
    done = in_directory(tmp_path, "jobs", DATABASE_URL=make_database())
    assert done.returncode == 1
    assert "not migrated. Run `jobsctl sync` against it" in done.stderr
    assert "Traceback" not in done.stderr
