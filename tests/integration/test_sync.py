"""The startup sync against the real Postgres and moto's EventBridge over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import Any

import psycopg
import pytest

from job_scheduler.config import Settings
from job_scheduler.errors import RuleQuotaExceeded, SyncError
from job_scheduler.jobs.registry import CodedJob, JobRegistry
from job_scheduler.model import JobRun, OutgoingMessage, Recipient
from job_scheduler.sync.converge import sync_jobs_and_rules
from job_scheduler.sync.rules import RuleStore
from job_scheduler.sync.startup import remove_all_rules, run_startup


def make_job(
    name: str,
    schedule: str = "cron(0 22 * * ? *)",
    timezone: str = "Asia/Tehran",
    **attributes: Any,
) -> type[CodedJob]:
    """A coded job class; each call builds a new class, as a code change would."""

    def messages(
        self: CodedJob, run: JobRun, recipients: Iterable[Recipient]
    ) -> Iterator[OutgoingMessage]:
        for user in recipients:
            yield OutgoingMessage(user.user_id, user.chat_id, f"hello from {run.job_name}")

    body = {
        "name": name,
        "description": f"The {name} job",
        "schedule": schedule,
        "timezone": timezone,
        "messages": messages,
        **attributes,
    }
    return type(f"Job_{name.replace('-', '_')}", (CodedJob,), body)


def registry_of(*jobs: type[CodedJob]) -> JobRegistry:
    registry = JobRegistry()
    for job in jobs:
        registry.register(job)
    return registry


def sync(db: psycopg.Connection, settings: Settings, *jobs: type[CodedJob]) -> dict[str, Any]:
    return sync_jobs_and_rules(db, registry_of(*jobs), RuleStore(settings)).as_dict()


def job_row(db: psycopg.Connection, name: str) -> dict[str, Any]:
    return db.execute("SELECT * FROM scheduled_jobs WHERE name = %s", (name,)).fetchone()


def bus_rules(events: Any) -> dict[str, dict[str, Any]]:
    return {rule["Name"]: rule for rule in events.list_rules(NamePrefix="test-jobs-")["Rules"]}


def test_first_sync_creates_jobs_with_code_defaults_and_one_rule_each(db, settings, events):
    summary = sync(
        db, settings, make_job("food-reminder"), make_job("weekly", "cron(0 9 ? * MON *)")
    )

    assert summary["jobs_created"] == ["food-reminder", "weekly"]
    row = job_row(db, "food-reminder")
    assert (row["kind"], row["cron_expression"], row["timezone"], row["enabled"]) == (
        "coded",
        "cron(0 22 * * ? *)",
        "Asia/Tehran",
        True,
    )
    assert row["rule_names"] == ["test-jobs-food-reminder"]
    rules = bus_rules(events)
    assert rules["test-jobs-food-reminder"]["ScheduleExpression"] == "cron(30 18 * * ? *)"
    assert rules["test-jobs-weekly"]["ScheduleExpression"] == "cron(30 5 ? * 2 *)"
    assert {rule["State"] for rule in rules.values()} == {"ENABLED"}


def test_rule_target_is_the_jobs_queue_carrying_job_and_scheduled_time(db, settings, events):
    sync(db, settings, make_job("food-reminder"))

    (target,) = events.list_targets_by_rule(Rule="test-jobs-food-reminder")["Targets"]
    assert target["Arn"] == settings.jobs_queue_arn
    transformer = target["InputTransformer"]
    assert transformer["InputPathsMap"]["time"] == "$.time"
    rendered = (
        transformer["InputTemplate"]
        .replace("<time>", '"2026-11-27T18:30:00Z"')
        .replace("<rule>", '"arn:rule"')
        .replace("<id>", '"e-1"')
    )
    assert json.loads(rendered) == {
        "source": "schedule",
        "job": "food-reminder",
        "time": "2026-11-27T18:30:00Z",
        "rule": "arn:rule",
        "event_id": "e-1",
    }


def test_second_sync_changes_nothing(db, settings, events):
    jobs = (make_job("a"), make_job("b", "cron(30 2 * * ? *)", "Europe/Berlin"))
    sync(db, settings, *jobs)
    rows_before = db.execute("SELECT * FROM scheduled_jobs ORDER BY id").fetchall()
    audit_before = db.execute("SELECT count(*) AS n FROM audit_log").fetchone()["n"]

    summary = sync(db, settings, *jobs)

    assert summary["changed"] is False
    assert summary["rules_unchanged"] == 2
    assert db.execute("SELECT * FROM scheduled_jobs ORDER BY id").fetchall() == rows_before
    assert db.execute("SELECT count(*) AS n FROM audit_log").fetchone()["n"] == audit_before


def test_admin_edits_survive_a_sync(db, settings, events):
    sync(db, settings, make_job("reminder"))
    db.execute(
        "UPDATE scheduled_jobs SET cron_expression = 'cron(0 21 * * ? *)', timezone = 'UTC',"
        " enabled = false, include_user_ids = '{7}', misfire_grace_seconds = 60"
        " WHERE name = 'reminder'"
    )

    summary = sync(db, settings, make_job("reminder", description="Reworded"))

    row = job_row(db, "reminder")
    assert (
        row["cron_expression"],
        row["timezone"],
        row["enabled"],
        row["include_user_ids"],
        row["misfire_grace_seconds"],
    ) == ("cron(0 21 * * ? *)", "UTC", False, [7], 60)
    assert row["description"] == "Reworded"
    rule = bus_rules(events)["test-jobs-reminder"]
    assert (rule["ScheduleExpression"], rule["State"]) == ("cron(0 21 * * ? *)", "DISABLED")
    assert summary["rules_updated"] == ["test-jobs-reminder"]


def test_a_changed_code_default_reaches_only_fields_no_admin_changed(db, settings, events):
    sync(db, settings, make_job("reminder", misfire_grace_seconds=300))
    db.execute("UPDATE scheduled_jobs SET misfire_grace_seconds = 30 WHERE name = 'reminder'")

    sync(db, settings, make_job("reminder", "cron(0 23 * * ? *)", misfire_grace_seconds=900))

    row = job_row(db, "reminder")
    assert row["cron_expression"] == "cron(0 23 * * ? *)"  # nobody had changed it: follows code
    assert row["misfire_grace_seconds"] == 30  # an admin chose 30: kept
    assert bus_rules(events)["test-jobs-reminder"]["ScheduleExpression"] == "cron(30 19 * * ? *)"


def test_job_removed_from_code_is_orphaned_not_deleted_and_comes_back(db, settings, events):
    sync(db, settings, make_job("keep"), make_job("gone"))
    db.execute("INSERT INTO users (telegram_chat_id) VALUES (1)")
    job_id = job_row(db, "gone")["id"]
    db.execute(
        "INSERT INTO job_executions (job_id, scheduled_for, trigger, status)"
        " VALUES (%s, now(), 'schedule', 'succeeded')",
        (job_id,),
    )

    summary = sync(db, settings, make_job("keep"))

    row = job_row(db, "gone")
    assert summary["jobs_orphaned"] == ["gone"]
    assert row["orphaned_at"] is not None and row["enabled"] is False
    assert row["rule_names"] == []
    assert "test-jobs-gone" not in bus_rules(events)
    assert (
        db.execute(
            "SELECT count(*) AS n FROM job_executions WHERE job_id = %s", (job_id,)
        ).fetchone()["n"]
        == 1
    )

    summary = sync(db, settings, make_job("keep"), make_job("gone"))

    assert summary["jobs_restored"] == ["gone"]
    row = job_row(db, "gone")
    assert row["orphaned_at"] is None and row["enabled"] is True
    assert bus_rules(events)["test-jobs-gone"]["State"] == "ENABLED"


@pytest.mark.parametrize("enabled, state", [(True, "ENABLED"), (False, "DISABLED")])
def test_rule_state_mirrors_enabled(db, settings, events, enabled, state):
    sync(db, settings, make_job("toggle"))
    db.execute("UPDATE scheduled_jobs SET enabled = %s WHERE name = 'toggle'", (enabled,))

    sync(db, settings, make_job("toggle"))

    assert bus_rules(events)["test-jobs-toggle"]["State"] == state


def test_rules_of_deleted_custom_jobs_go_and_strangers_stay(db, settings, events):
    db.execute(
        "INSERT INTO scheduled_jobs (name, kind, cron_expression, timezone, created_by, updated_by)"
        " VALUES ('promo', 'custom_message', 'cron(0/15 * * * ? *)', 'UTC', 'admin', 'admin')"
    )
    events.put_rule(
        Name="test-jobs-someone-else", ScheduleExpression="rate(1 hour)", Description="not ours"
    )
    sync(db, settings)
    assert "test-jobs-promo" in bus_rules(events)

    db.execute("DELETE FROM scheduled_jobs WHERE name = 'promo'")
    summary = sync(db, settings)

    assert summary["rules_deleted"] == ["test-jobs-promo"]
    assert set(bus_rules(events)) == {"test-jobs-someone-else"}


def test_a_rule_changed_behind_our_back_is_put_right(db, settings, events):
    sync(db, settings, make_job("reminder"))
    events.put_rule(
        Name="test-jobs-reminder",
        ScheduleExpression="cron(0 0 * * ? *)",
        State="DISABLED",
        Description=bus_rules(events)["test-jobs-reminder"]["Description"],
    )
    events.remove_targets(Rule="test-jobs-reminder", Ids=["jobs-queue"])

    summary = sync(db, settings, make_job("reminder"))

    assert summary["rules_updated"] == ["test-jobs-reminder"]
    rule = bus_rules(events)["test-jobs-reminder"]
    assert (rule["ScheduleExpression"], rule["State"]) == ("cron(30 18 * * ? *)", "ENABLED")
    assert len(events.list_targets_by_rule(Rule="test-jobs-reminder")["Targets"]) == 1


def test_dst_zone_with_two_offsets_gets_a_superset_rule(db, settings, events):
    sync(db, settings, make_job("berlin", "cron(30 2 * * ? *)", "Europe/Berlin"))

    assert bus_rules(events)["test-jobs-berlin"]["ScheduleExpression"] == "cron(30 0-1 * * ? *)"


def test_quota_refusal_changes_nothing(db, settings, events):
    for index in range(3):
        events.put_rule(Name=f"other-{index}", ScheduleExpression="rate(1 day)")
    tight = replace(settings, rules_per_bus_quota=4)

    with pytest.raises(RuleQuotaExceeded, match=r"needs 5 rules .* quota is 4"):
        sync(db, tight, make_job("one"), make_job("two"))

    assert db.execute("SELECT count(*) AS n FROM scheduled_jobs").fetchone()["n"] == 0
    assert bus_rules(events) == {}
    assert sync(db, tight, make_job("one"))["rules_created"] == ["test-jobs-one"]


def test_coded_job_named_like_a_custom_job_is_refused(db, settings, events):
    db.execute(
        "INSERT INTO scheduled_jobs (name, kind, cron_expression, timezone, created_by, updated_by)"
        " VALUES ('clash', 'custom_message', 'cron(0 9 * * ? *)', 'UTC', 'admin', 'admin')"
    )
    with pytest.raises(SyncError, match="custom-message job is already named 'clash'"):
        sync(db, settings, make_job("clash"))
    assert bus_rules(events) == {}


def test_sync_records_every_change_in_the_audit_log(db, settings, events):
    sync(db, settings, make_job("audited"))
    sync(db, settings)

    rows = db.execute(
        "SELECT actor, action, entity_name, before, after FROM audit_log ORDER BY id"
    ).fetchall()
    assert [(r["actor"], r["action"], r["entity_name"]) for r in rows] == [
        ("bot_startup", "create", "audited"),
        ("bot_startup", "orphan", "audited"),
    ]
    assert rows[1]["before"]["enabled"] is True and rows[1]["after"]["enabled"] is False


def test_run_startup_migrates_an_empty_database_and_syncs(make_database, settings, events):
    fresh = replace(settings, database_url=make_database())

    summary = run_startup(fresh, registry_of(make_job("fresh")))

    assert summary.jobs_created == ["fresh"] and summary.rules_created == ["test-jobs-fresh"]
    assert remove_all_rules(fresh) == ["test-jobs-fresh"]
    assert bus_rules(events) == {}
