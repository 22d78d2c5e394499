"""Custom-message jobs made by people (jobsctl now, the admin API later): checked, then stored.

Everything is validated before anything is written: the name, the schedule and timezone,
the message template, the targeting ids (they must exist), the misfire grace and overlap
policy. A bad field raises ``InvalidJob`` naming it; a taken name raises ``JobExists``.
The row and its audit entry are written in one transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from job_scheduler.adapters.db import database_errors
from job_scheduler.audit import record_change
from job_scheduler.errors import InvalidJob, JobExists, ScheduleError
from job_scheduler.jobs.registry import JOB_NAME_RE, OVERLAP_POLICIES
from job_scheduler.messages.rendering import MessageConfig
from job_scheduler.schedule import Schedule

MAX_GRACE_SECONDS = 86_400
MAX_TARGET_IDS = 10_000


@dataclass(frozen=True)
class CustomJobSpec:
    """A custom-message job as a person asked for it."""

    name: str
    cron_expression: str
    timezone: str
    message: MessageConfig
    description: str = ""
    enabled: bool = True
    include_user_ids: Sequence[int] = field(default_factory=tuple)
    exclude_user_ids: Sequence[int] = field(default_factory=tuple)
    pack_ids: Sequence[int] = field(default_factory=tuple)
    misfire_grace_seconds: int = 300
    overlap_policy: str = "skip"

    def check(self) -> None:
        """Everything that needs no database: raise InvalidJob naming the field."""
        if not JOB_NAME_RE.fullmatch(self.name or ""):
            raise InvalidJob(
                f"Job name {self.name!r} must be 1-48 lowercase letters, digits or '-', "
                "starting with a letter or digit.",
                field="name",
            )
        check_schedule(self.cron_expression, self.timezone)
        check_policies(self.misfire_grace_seconds, self.overlap_policy)
        check_target_sizes(self.row())

    def row(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": "custom_message",
            "description": self.description,
            "cron_expression": self.cron_expression,
            "timezone": self.timezone,
            "enabled": self.enabled,
            "message_config": self.message.to_json(),
            "include_user_ids": sorted(set(self.include_user_ids)),
            "exclude_user_ids": sorted(set(self.exclude_user_ids)),
            "pack_ids": sorted(set(self.pack_ids)),
            "misfire_grace_seconds": self.misfire_grace_seconds,
            "overlap_policy": self.overlap_policy,
        }


def check_schedule(expression: str, timezone: str) -> None:
    try:
        Schedule.parse(expression, timezone)
    except ScheduleError as exc:
        where = "timezone" if "timezone" in str(exc).lower() else "cron_expression"
        raise InvalidJob(str(exc), field=where) from exc


def check_policies(misfire_grace_seconds: int, overlap_policy: str) -> None:
    if overlap_policy not in OVERLAP_POLICIES:
        raise InvalidJob(f"overlap_policy must be one of {OVERLAP_POLICIES}", "overlap_policy")
    if not 0 <= misfire_grace_seconds <= MAX_GRACE_SECONDS:
        raise InvalidJob(
            f"misfire_grace_seconds must be between 0 and {MAX_GRACE_SECONDS}",
            "misfire_grace_seconds",
        )


TARGET_FIELDS = ("include_user_ids", "exclude_user_ids", "pack_ids")


def check_target_sizes(targets: Mapping[str, Sequence[int]]) -> None:
    for name in TARGET_FIELDS:
        if len(targets[name]) > MAX_TARGET_IDS:
            raise InvalidJob(f"{name} may hold at most {MAX_TARGET_IDS} ids", name)


def check_targets_exist(conn: psycopg.Connection, targets: Mapping[str, Sequence[int]]) -> None:
    """Refuse ids of users or packs that do not exist (a typo would silently reach nobody)."""
    for name, table in zip(TARGET_FIELDS, ("users", "users", "character_packs"), strict=True):
        wanted = list(targets[name])
        if not wanted:
            continue
        with database_errors(f"checking {name}"):
            row = conn.execute(
                f"SELECT array(SELECT unnest(%s::bigint[]) EXCEPT SELECT id FROM {table}"
                " ORDER BY 1) AS missing",
                (wanted,),
            ).fetchone()
        if row["missing"]:
            kind = "users" if table == "users" else "character packs"
            raise InvalidJob(f"{name}: there are no {kind} with ids {row['missing']}", name)


def create_custom_job(
    conn: psycopg.Connection, spec: CustomJobSpec, actor: str, now: datetime | None = None
) -> dict[str, Any]:
    """Validate and insert the job; return its row. Rules follow at the next sync."""
    spec.check()
    check_targets_exist(conn, spec.row())
    now = now or datetime.now(UTC)
    values = spec.row() | {
        "created_by": actor,
        "updated_by": actor,
        "created_at": now,
        "updated_at": now,
    }
    stored = values | {"message_config": Jsonb(values["message_config"])}
    columns = ", ".join(stored)
    placeholders = ", ".join(f"%({name})s" for name in stored)
    try:
        with database_errors("creating the job"), conn.transaction():
            row = conn.execute(
                f"INSERT INTO scheduled_jobs ({columns}) VALUES ({placeholders}) RETURNING *",
                stored,
            ).fetchone()
            record_change(conn, actor, "create", "job", spec.name, None, spec.row(), now)
    except Exception as exc:
        if isinstance(exc.__cause__, psycopg.errors.UniqueViolation):
            raise JobExists(f"A job named '{spec.name}' already exists.", "name") from exc
        raise
    return row
