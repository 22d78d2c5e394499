"""The model's enums against the schema: each enum's values are exactly what the column's
CHECK constraint allows, so neither can gain a state the other does not know."""

from __future__ import annotations

import re

import pytest

from job_scheduler.model import (
    DeliveryStatus,
    Execution,
    ExecutionStatus,
    Job,
    JobKind,
    LockMode,
    OverlapPolicy,
    Trigger,
)


def allowed_values(db, constraint: str) -> set[str]:
    row = db.execute(
        "SELECT pg_get_constraintdef(oid) AS definition FROM pg_constraint WHERE conname = %s",
        (constraint,),
    ).fetchone()
    assert row is not None, f"no constraint {constraint}"
    return set(re.findall(r"'([^']*)'", row["definition"]))


@pytest.mark.parametrize(
    "enum, constraint",
    [
        (ExecutionStatus, "job_executions_status_check"),
        (Trigger, "job_executions_trigger_check"),
        (LockMode, "job_executions_lock_mode_check"),
        (DeliveryStatus, "notification_deliveries_status_check"),
        (JobKind, "scheduled_jobs_kind_check"),
        (OverlapPolicy, "scheduled_jobs_overlap_policy_check"),
    ],
)
def test_each_enum_is_what_the_schema_allows(db, enum, constraint):
    assert {member.value for member in enum} == allowed_values(db, constraint)


def test_a_job_is_built_from_its_row_with_every_column(db):
    db.execute(
        "INSERT INTO scheduled_jobs (name, kind, cron_expression, timezone, created_by, updated_by,"
        " include_user_ids) VALUES ('j', 'custom_message', 'cron(0 9 * * ? *)', 'UTC', 'a', 'a',"
        " '{3,1}')"
    )
    row = db.execute("SELECT * FROM scheduled_jobs").fetchone()
    job = Job.from_row(row)

    assert set(row) == {name for name in Job.__dataclass_fields__}
    assert (job.kind, job.overlap_policy, job.include_user_ids) == (
        JobKind.CUSTOM_MESSAGE,
        OverlapPolicy.SKIP,
        (3, 1),
    )


def test_an_execution_has_every_column_of_its_table(db):
    columns = db.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'job_executions'"
    ).fetchall()
    assert {row["column_name"] for row in columns} == set(Execution.__dataclass_fields__)
