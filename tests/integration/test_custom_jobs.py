"""Creating custom-message jobs: everything checked before anything is written."""

from __future__ import annotations

from dataclasses import replace

import pytest
from pipeline import add_users

from job_scheduler.admin.edits import create_job
from job_scheduler.admin.specs import CustomJobSpec
from job_scheduler.errors import InvalidJob, JobExists
from job_scheduler.messages.message_config import MessageConfig
from job_scheduler.sync.rules import RuleStore

MESSAGE = MessageConfig.from_json({"text": "Hi {{ user.first_name }}", "parse_mode": None})
SPEC = CustomJobSpec("weekly-hello", "cron(0 9 ? * MON *)", "Asia/Tehran", MESSAGE)


@pytest.fixture
def create_custom_job(settings):
    """Creating a job as the admin API and the CLI do (its rules on moto's EventBridge)."""
    rules = RuleStore(settings)
    return lambda db, spec, actor: create_job(db, rules, spec, actor)


def test_create_stores_the_job_and_audits_it(db, create_custom_job):
    users = add_users(db, 2)
    row = create_custom_job(
        db, replace(SPEC, include_user_ids=(users[1], users[0], users[0])), actor="admin:sara"
    )

    assert (row.kind, row.cron_expression, list(row.include_user_ids), row.created_by) == (
        "custom_message",
        "cron(0 9 ? * MON *)",
        sorted(users),
        "admin:sara",
    )
    assert row.message_config == {
        "text": "Hi {{ user.first_name }}",
        "parse_mode": None,
        "silent": False,
    }
    audit = db.execute("SELECT actor, action, entity_name, after FROM audit_log").fetchone()
    assert (audit["actor"], audit["action"], audit["entity_name"]) == (
        "admin:sara",
        "create",
        "weekly-hello",
    )
    assert audit["after"]["cron_expression"] == "cron(0 9 ? * MON *)"


@pytest.mark.parametrize(
    "changes, field, says",
    [
        ({"name": "Weekly Hello"}, "name", "lowercase"),
        ({"cron_expression": "cron(0 9 * * *)"}, "cron_expression", "has 5 fields"),
        ({"timezone": "Tehran"}, "timezone", "Unknown timezone"),
        ({"overlap_policy": "queue"}, "overlap_policy", "one of"),
        ({"misfire_grace_seconds": -5}, "misfire_grace_seconds", "between 0 and"),
        ({"include_user_ids": (424242,)}, "include_user_ids", r"no users with ids \[424242\]"),
        ({"pack_ids": (7,)}, "pack_ids", r"no character packs with ids \[7\]"),
    ],
)
def test_bad_fields_are_named_and_nothing_is_written(db, create_custom_job, changes, field, says):
    with pytest.raises(InvalidJob, match=says) as raised:
        create_custom_job(db, replace(SPEC, **changes), actor="t")
    assert raised.value.field == field
    assert db.execute("SELECT count(*) AS n FROM scheduled_jobs").fetchone()["n"] == 0
    assert db.execute("SELECT count(*) AS n FROM audit_log").fetchone()["n"] == 0


def test_a_taken_name_is_refused(db, create_custom_job):
    create_custom_job(db, SPEC, actor="t")
    with pytest.raises(JobExists, match="already exists"):
        create_custom_job(db, SPEC, actor="t")
    assert db.execute("SELECT count(*) AS n FROM audit_log").fetchone()["n"] == 1
