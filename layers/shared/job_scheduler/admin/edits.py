"""Admins' changes to jobs: edit, create and delete, with the job's rules in step.

Every change is validated whole before anything is written, carries the ``version`` it was
made against (a stale one is ``EditConflict``, HTTP 409), is audited with the values before
and after, and changes the row and the EventBridge rules together: the rules are changed
inside the row's transaction, so a failed AWS call undoes the row; the rules already
changed by then are put back as the old row wants them. If even that fails, the error says
so loudly and the next startup sync (convergent) puts the rules right.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from job_scheduler.adapters.db import database_errors
from job_scheduler.admin.specs import (
    TARGET_FIELDS,
    CustomJobSpec,
    check_policies,
    check_schedule,
    check_target_sizes,
    check_targets_exist,
    create_custom_job,
)
from job_scheduler.audit import record_change
from job_scheduler.errors import (
    AwsError,
    InvalidJob,
    InvalidMessage,
    JobNotFound,
    JobSchedulerError,
)
from job_scheduler.execution.targeting import Targeting, count_recipients, iter_recipients
from job_scheduler.jobs.registry import JobRun, Recipient
from job_scheduler.messages.rendering import MessageConfig, custom_message_job_messages
from job_scheduler.observability import MetricUnit, logger, metrics
from job_scheduler.sync.converge import SYNC_LOCK_ID, sync_job_rules
from job_scheduler.sync.rules import RuleStore, rule_names

# API field -> column. Message fields exist for custom-message jobs only.
EDITABLE = {
    "expression": "cron_expression",
    "timezone": "timezone",
    "enabled": "enabled",
    "include_user_ids": "include_user_ids",
    "exclude_user_ids": "exclude_user_ids",
    "pack_ids": "pack_ids",
    "misfire_grace_seconds": "misfire_grace_seconds",
    "overlap_policy": "overlap_policy",
    "description": "description",
    "message": "message_config",
}
CUSTOM_ONLY = ("description", "message")
MAX_RULES_PER_JOB = 32  # far above what utc_rules makes for one schedule


class EditConflict(JobSchedulerError):
    """The job changed since the version the edit was made against."""

    def __init__(self, message: str, current_version: int) -> None:
        super().__init__(message)
        self.field = "version"
        self.current_version = current_version


class RulesNotUpdated(JobSchedulerError):
    """EventBridge refused the rule change; the database change was undone."""


def edit_job(
    conn: psycopg.Connection,
    rules: RuleStore,
    name: str,
    body: Mapping[str, Any],
    actor: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Apply ``body`` (API fields plus ``version``) to the job; return the new row."""
    now = now or datetime.now(UTC)
    version = _version(body)
    with database_errors("editing the job"), conn.transaction():
        row = _locked(conn, name, version, "FOR NO KEY UPDATE")
        changes = _validated_changes(conn, row, body)
        if not changes:
            return row
        stored = {
            column: Jsonb(value) if column == "message_config" else value
            for column, value in changes.items()
        }
        assignments = ", ".join(f"{column} = %({column})s" for column in stored)
        new = conn.execute(
            f"UPDATE scheduled_jobs SET {assignments}, version = version + 1,"
            " updated_at = %(now)s, updated_by = %(actor)s WHERE id = %(id)s RETURNING *",
            {**stored, "now": now, "actor": actor, "id": row["id"]},
        ).fetchone()
        before = {column: row[column] for column in changes}
        record_change(conn, actor, "update", "job", name, before, changes, now)
        _rules_in_step(conn, rules, new, row, now)
    return new


def create_job(
    conn: psycopg.Connection, rules: RuleStore, spec: CustomJobSpec, actor: str
) -> dict[str, Any]:
    """A new custom-message job and its rules, or neither."""
    now = datetime.now(UTC)
    with database_errors("creating the job"), conn.transaction():
        _exclude_the_sync(conn)
        row = create_custom_job(conn, spec, actor, now)
        _rules_in_step(conn, rules, row, None, now)
    return row


def delete_job(
    conn: psycopg.Connection, rules: RuleStore, name: str, version: int, actor: str
) -> None:
    """Delete a custom-message job (its history goes with it; the audit log keeps the job)."""
    now = datetime.now(UTC)
    with database_errors("deleting the job"), conn.transaction():
        row = _locked(conn, name, version, "FOR UPDATE")
        if row["kind"] != "custom_message":
            raise InvalidJob(
                "Coded jobs cannot be deleted (they come back with the code); disable it.",
                "name",
            )
        conn.execute("DELETE FROM scheduled_jobs WHERE id = %s", (row["id"],))
        record_change(conn, actor, "delete", "job", name, _audited(row), None, now)
        gone = {**row, "orphaned_at": now}  # a job that wants no rules
        _rules_in_step(conn, rules, gone, row, now)


def _exclude_the_sync(conn: psycopg.Connection) -> None:
    """Hold off the startup sync until this transaction ends: it would not see an
    uncommitted job and would delete the rules made for it as nobody's."""
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (SYNC_LOCK_ID,))


def _locked(conn: psycopg.Connection, name: str, version: int, mode: str) -> dict[str, Any]:
    """The job's row, locked for this transaction, if ``version`` is still its version.

    Edits lock ``FOR NO KEY UPDATE``: an execution starting meanwhile (its foreign key takes
    a key-share lock on the job) is not kept waiting on EventBridge calls; deleting needs
    ``FOR UPDATE``.
    """
    _exclude_the_sync(conn)
    row = conn.execute(f"SELECT * FROM scheduled_jobs WHERE name = %s {mode}", (name,)).fetchone()
    if row is None:
        raise JobNotFound(f"There is no job named '{name}'.", "name")
    if row["version"] != version:
        raise EditConflict(
            f"The job was changed by someone else (version {row['version']}, not {version});"
            " reload it and make the change again.",
            row["version"],
        )
    return row


def new_job_spec(body: Mapping[str, Any], default_timezone: str) -> CustomJobSpec:
    """A custom-message job from an admin's request, each field converted and checked as an
    edit's would be (``CustomJobSpec.check`` does the rest when the job is created)."""
    unknown = sorted(set(body) - set(EDITABLE) - {"name"})
    if unknown:
        raise InvalidJob(f"{unknown[0]!r} is not a field of a job; fields: {sorted(EDITABLE)}",
                         unknown[0])  # fmt: skip
    for required in ("name", "expression", "message"):
        if required not in body:
            raise InvalidJob(f"{required} is required", required)
    fields = {field: _CONVERTERS[field](value, field) for field, value in body.items()
              if field != "name"}  # fmt: skip
    if not isinstance(body["name"], str):
        raise InvalidJob("name must be text", "name")
    return CustomJobSpec(
        name=body["name"],
        cron_expression=fields["expression"],
        timezone=fields.get("timezone") or default_timezone,
        message=MessageConfig.from_json(fields["message"]),
        description=fields.get("description", ""),
        enabled=fields.get("enabled", True),
        include_user_ids=tuple(fields.get("include_user_ids", ())),
        exclude_user_ids=tuple(fields.get("exclude_user_ids", ())),
        pack_ids=tuple(fields.get("pack_ids", ())),
        misfire_grace_seconds=fields.get("misfire_grace_seconds", 300),
        overlap_policy=fields.get("overlap_policy", "skip"),
    )


def _version(body: Mapping[str, Any]) -> int:
    version = body.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise InvalidJob("send the job's current 'version' with the change", "version")
    return version


def _validated_changes(
    conn: psycopg.Connection, row: dict[str, Any], body: Mapping[str, Any]
) -> dict[str, Any]:
    """The columns to change (only those that differ), every one checked."""
    unknown = sorted(set(body) - set(EDITABLE) - {"version"})
    if unknown:
        raise InvalidJob(
            f"{unknown[0]!r} cannot be changed here; editable: {sorted(EDITABLE)}", unknown[0]
        )
    changes: dict[str, Any] = {}
    for field, column in EDITABLE.items():
        if field not in body:
            continue
        if field in CUSTOM_ONLY and row["kind"] != "custom_message":
            raise InvalidJob(f"{field!r} belongs to custom-message jobs only", field)
        value = _CONVERTERS[field](body[field], field)
        if value != row[column]:
            changes[column] = value
    merged = {**row, **changes}
    check_schedule(merged["cron_expression"], merged["timezone"])
    check_policies(merged["misfire_grace_seconds"], merged["overlap_policy"])
    check_target_sizes(merged)
    if any(column in changes for column in TARGET_FIELDS):
        check_targets_exist(conn, merged)
    return changes


def _text(value: Any, field: str, limit: int = 1000) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise InvalidJob(f"{field} must be text of at most {limit} characters", field)
    return value.strip()


def _flag(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidJob(f"{field} must be true or false", field)
    return value


def _count(value: Any, field: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidJob(f"{field} must be a whole number", field)
    return value


def _ids(value: Any, field: str) -> list[int]:
    if not isinstance(value, list) or not all(
        isinstance(item, int) and not isinstance(item, bool) and 0 < item < 2**63 for item in value
    ):
        raise InvalidJob(f"{field} must be a list of positive whole numbers (ids)", field)
    return sorted(set(value))


def _message(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidJob("message must be an object: {text, parse_mode, silent}", field)
    return MessageConfig.from_json(value).to_json()


_CONVERTERS: dict[str, Callable[[Any, str], Any]] = {
    "expression": lambda value, field: _text(value, field, 256),
    "timezone": lambda value, field: _text(value, field, 64),
    "enabled": _flag,
    "include_user_ids": _ids,
    "exclude_user_ids": _ids,
    "pack_ids": _ids,
    "misfire_grace_seconds": _count,
    "overlap_policy": lambda value, field: _text(value, field, 16),
    "description": _text,
    "message": _message,
}


def _rules_in_step(
    conn: psycopg.Connection,
    rules: RuleStore,
    new: dict[str, Any],
    old: dict[str, Any] | None,
    now: datetime,
) -> None:
    """Change the job's rules; on failure put back what the old row wants, then raise."""
    try:
        sync_job_rules(conn, rules, new, now)
    except AwsError as exc:
        restored = _put_back(rules, new, old, now)
        message = f"EventBridge refused the rule change, so nothing was changed: {exc}"
        if not restored:
            message += " (the rules could not be put back either; the next sync will)"
        raise RulesNotUpdated(message) from exc


def _put_back(
    rules: RuleStore, new: dict[str, Any], old: dict[str, Any] | None, now: datetime
) -> bool:
    """The rules as the old row wants them (none for a job that did not exist), also removing
    any the failed change had already made for the new row."""
    wanted_before = old if old is not None else {**new, "orphaned_at": now}
    try:
        made_for_new = rules_named_for(rules, new)
        sync_job_rules(None, rules, wanted_before, now, also_consider=made_for_new)
    except Exception as exc:  # best effort: the original failure is what the caller sees
        logger.error(
            "the job's rules could not be put back after a failed change; they may differ"
            " from the job until the next sync",
            extra={"job": new["name"], "error": str(exc)},
        )
        metrics.add_metric(name="RulesDiverged", unit=MetricUnit.Count, value=1)
        return False
    return True


def rules_named_for(rules: RuleStore, job: dict[str, Any]) -> list[str]:
    """Our rules on the bus named for this job (``<prefix>-<job>``, ``...-<job>.2``)."""
    base = f"{rules.prefix}-{job['name']}"
    possible = set(rule_names(rules.prefix, job["name"], MAX_RULES_PER_JOB))
    return [name for name in rules.managed() if name in possible or name.startswith(f"{base}.")]


def _audited(row: dict[str, Any]) -> dict[str, Any]:
    keep = ("cron_expression", "timezone", "enabled", "message_config", *TARGET_FIELDS)
    return {column: row[column] for column in keep}


def preview_job(
    conn: psycopg.Connection, row: dict[str, Any], body: Mapping[str, Any], now: datetime
) -> dict[str, Any]:
    """How many people the job (with ``body``'s unsaved edits) reaches, and its message as
    the first of them would get it: what the editor shows before anything is saved."""
    edits = {field: value for field, value in body.items() if field != "version"}
    merged = {**row, **_validated_changes(conn, row, edits)}
    targeting = Targeting.of_job(merged)
    recipients = count_recipients(conn, targeting)
    if merged["kind"] != "custom_message":
        return {"recipients": recipients, "sample": None}
    recipient = next(iter_recipients(conn, targeting), None) or Recipient(
        user_id=0, chat_id=0, first_name="Sample", username="sample"
    )
    skipped: list[str] = []
    run = JobRun(merged["name"], now, "manual")
    messages = list(
        custom_message_job_messages(merged, run, [recipient], lambda s: skipped.append(s.reason))
    )
    if not messages:
        raise InvalidMessage(f"the message cannot be rendered: {skipped[0]}", "message")
    message = messages[0]
    return {
        "recipients": recipients,
        "sample": {
            "user_id": recipient.user_id or None,
            "first_name": recipient.first_name,
            "text": message.text,
            "parse_mode": message.parse_mode,
            "silent": message.disable_notification,
        },
    }
