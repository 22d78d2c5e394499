"""The one way to change a job: create, edit, enable, disable, delete, with its rules in step.

The admin API and ``jobsctl`` both call these. Every change is validated whole before
anything is written, carries the ``version`` it was made against (a stale one is
``EditConflict``, HTTP 409), is audited with the values before and after, and changes the
row and the EventBridge rules together: the rules are changed inside the row's
transaction, so a failed AWS call undoes the row; the rules already changed by then are
put back as the old row wants them. If even that fails, the error says so loudly and the
next startup sync (convergent) puts the rules right.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from psycopg.types.json import Jsonb

from job_scheduler.adapters.db import Conn, database_errors
from job_scheduler.admin.specs import CustomJobSpec
from job_scheduler.admin.volume import CONFIRM_FIELD, VolumeGuard
from job_scheduler.audit import record_change
from job_scheduler.errors import (
    AwsError,
    ConstraintViolation,
    EditConflict,
    InvalidJob,
    JobExists,
    JobNotFound,
    RulesNotUpdated,
)
from job_scheduler.execution.targeting import Targeting, count_recipients, iter_recipients
from job_scheduler.jobs import fields
from job_scheduler.jobs.catalog import register_all_jobs
from job_scheduler.messages.rendering import message_for
from job_scheduler.model import Job, Recipient
from job_scheduler.observability import MetricUnit, logger, metrics
from job_scheduler.sync.converge import SYNC_LOCK_ID, sync_job_rules
from job_scheduler.sync.rules import RuleStore, rule_names

_VOLUME_COLUMNS = ("cron_expression", "timezone", "enabled", *fields.TARGET_FIELDS)
MAX_RULES_PER_JOB = 32  # far above what utc_rules makes for one schedule
_NAME_TAKEN = "scheduled_jobs_name_key"


def create_job(
    conn: Conn,
    rules: RuleStore,
    spec: CustomJobSpec,
    actor: str,
    guard: VolumeGuard | None = None,
    confirm_audience: bool = False,
) -> Job:
    """A new custom-message job and its rules, or neither. With a ``guard``, a job that
    would send too much is refused unless ``confirm_audience`` (``admin/volume.py``)."""
    spec.check()
    now = datetime.now(UTC)
    fields.check_timely(spec, now)
    columns = spec.columns()
    values = columns | {"created_by": actor, "updated_by": actor, "created_at": now,
                        "updated_at": now}  # fmt: skip
    stored = values | {"message_config": Jsonb(values["message_config"])}
    names = ", ".join(stored)
    placeholders = ", ".join(f"%({name})s" for name in stored)
    try:
        with database_errors("creating the job"), conn.transaction():
            _exclude_the_sync(conn)
            fields.check_targets_exist(conn, spec)
            if guard is not None and spec.enabled:
                schedule = fields.check_schedule(spec.cron_expression, spec.timezone)
                targeting = Targeting(spec.include_user_ids, spec.exclude_user_ids, spec.pack_ids)
                paid = spec.message.paid_broadcast
                if guard.check(conn, schedule, targeting, confirm_audience, now, paid):
                    columns = {**columns, CONFIRM_FIELD: True}  # the audit says who confirmed
            row = conn.execute(
                f"INSERT INTO scheduled_jobs ({names}) VALUES ({placeholders}) RETURNING *",
                stored,
            ).fetchone()
            assert row is not None  # INSERT ... RETURNING always returns the row
            job = Job.from_row(row)
            record_change(conn, actor, "create", "job", spec.name, None, columns, now)
            _rules_in_step(conn, rules, job, None, now)
    except ConstraintViolation as exc:
        if exc.constraint == _NAME_TAKEN:
            raise JobExists(f"A job named '{spec.name}' already exists.", "name") from exc
        raise
    return job


def edit_job(
    conn: Conn,
    rules: RuleStore,
    name: str,
    body: Mapping[str, Any],
    actor: str,
    now: datetime | None = None,
    guard: VolumeGuard | None = None,
    confirm_audience: bool = False,
) -> Job:
    """Apply ``body`` (API fields plus ``version``) to the job; return the new job. With a
    ``guard``, a change that makes it send too much is refused unless ``confirm_audience``."""
    now = now or datetime.now(UTC)
    version = _version(body)
    with database_errors("editing the job"), conn.transaction():
        job = _locked(conn, name, version, "FOR NO KEY UPDATE")
        changes = _validated_changes(conn, job, body)
        if not changes:
            return job
        fields.check_timely(replace(job, **changes), now, list(changes))
        audited = dict(changes)
        if guard is not None and _guarded(job, replace(job, **changes), changes):
            merged = replace(job, **changes)
            schedule = fields.check_schedule(merged.cron_expression, merged.timezone)
            targeting, paid = Targeting.of_job(merged), _paid(merged)
            if guard.check(conn, schedule, targeting, confirm_audience, now, paid):
                audited[CONFIRM_FIELD] = True
        stored = {column: _stored(column, value) for column, value in changes.items()}
        assignments = ", ".join(f"{column} = %({column})s" for column in stored)
        new = Job.from_row(
            conn.execute(
                f"UPDATE scheduled_jobs SET {assignments}, version = version + 1,"
                " updated_at = %(now)s, updated_by = %(actor)s WHERE id = %(id)s RETURNING *",
                {**stored, "now": now, "actor": actor, "id": job.id},
            ).fetchone()
        )
        before = {column: job.value_of(column) for column in changes}
        record_change(conn, actor, "update", "job", name, before, audited, now)
        _rules_in_step(conn, rules, new, job, now)
    return new


def set_enabled(
    conn: Conn,
    rules: RuleStore,
    name: str,
    enabled: bool,
    version: int,
    actor: str,
    guard: VolumeGuard | None = None,
    confirm_audience: bool = False,
) -> Job:
    """Enable or disable a job (its rules go ENABLED or DISABLED with it)."""
    body = {"enabled": enabled, "version": version}
    return edit_job(conn, rules, name, body, actor, guard=guard, confirm_audience=confirm_audience)


def delete_job(conn: Conn, rules: RuleStore, name: str, version: int, actor: str) -> None:
    """Delete a custom-message job (its history goes with it; the audit log keeps the job)."""
    now = datetime.now(UTC)
    with database_errors("deleting the job"), conn.transaction():
        job = _locked(conn, name, version, "FOR UPDATE")
        if not job.is_custom:
            raise InvalidJob(
                "Coded jobs cannot be deleted (they come back with the code); disable it.",
                "name",
            )
        conn.execute("DELETE FROM scheduled_jobs WHERE id = %s", (job.id,))
        record_change(conn, actor, "delete", "job", name, _audited(job), None, now)
        gone = replace(job, orphaned_at=now)  # a job that wants no rules
        _rules_in_step(conn, rules, gone, job, now)


def preview_job(conn: Conn, job: Job, body: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """How many people the job (with ``body``'s unsaved edits) reaches, and its message as
    the first of them would get it: what the editor shows before anything is saved."""
    edits = {field: value for field, value in body.items() if field != "version"}
    merged = replace(job, **_validated_changes(conn, job, edits))
    targeting = Targeting.of_job(merged)
    recipients = count_recipients(conn, targeting)
    if not merged.is_custom:
        return {"recipients": recipients, "sample": None}
    recipient = next(iter_recipients(conn, targeting), None) or Recipient(
        user_id=0, chat_id=0, first_name="Sample", username="sample"
    )
    message = message_for(merged, recipient, now)
    return {
        "recipients": recipients,
        "sample": {
            "user_id": recipient.user_id or None,
            "first_name": recipient.first_name,
            "text": message.text,
            "parse_mode": message.parse_mode,
            "silent": message.disable_notification,
            "photo": message.photo,  # the rest as Telegram gets it: the preview draws it
            "reply_markup": message.reply_markup,
            "link_preview": message.link_preview,
            "protect_content": message.protect_content,
            "paid_broadcast": message.paid_broadcast,
        },
    }


def rules_named_for(rules: RuleStore, job: Job) -> list[str]:
    """Our rules on the bus named for this job (``<prefix>-<job>``, ``...-<job>.2``)."""
    base = f"{rules.prefix}-{job.name}"
    possible = set(rule_names(rules.prefix, job.name, MAX_RULES_PER_JOB))
    return [name for name in rules.managed() if name in possible or name.startswith(f"{base}.")]


# -- inside the change's transaction ---------------------------------------------------------


def _exclude_the_sync(conn: Conn) -> None:
    """Hold off the startup sync until this transaction ends: it would not see an
    uncommitted job and would delete the rules made for it as nobody's."""
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (SYNC_LOCK_ID,))


def _locked(conn: Conn, name: str, version: int, mode: str) -> Job:
    """The job, its row locked for this transaction, if ``version`` is still its version.

    Edits lock ``FOR NO KEY UPDATE``: an execution starting meanwhile (its foreign key takes
    a key-share lock on the job) is not kept waiting on EventBridge calls; deleting needs
    ``FOR UPDATE``.
    """
    _exclude_the_sync(conn)
    row = conn.execute(f"SELECT * FROM scheduled_jobs WHERE name = %s {mode}", (name,)).fetchone()
    if row is None:
        raise JobNotFound(f"There is no job named '{name}'.", "name")
    job = Job.from_row(row)
    if job.version != version:
        raise EditConflict(
            f"The job was changed by someone else (version {job.version}, not {version});"
            " reload it and make the change again.",
            job.version,
        )
    return job


def _guarded(old: Job, job: Job, changes: Mapping[str, Any]) -> bool:
    """Whether a change may make a job send more, or slower: what it reaches, when, that it
    runs, or that it is a paid broadcast no more (sent at 30 a second, not 1000)."""
    if not job.enabled or job.is_orphaned or not _sends_messages(job):
        return False
    return any(column in changes for column in _VOLUME_COLUMNS) or _paid(old) != _paid(job)


def _paid(job: Job) -> bool:
    """Whether the job is a paid broadcast (``message_config.paid_broadcast``)."""
    return job.is_custom and job.message_config.get("paid_broadcast") is True


def _sends_messages(job: Job) -> bool:
    if job.is_custom:
        return True
    coded = register_all_jobs().get(job.name)
    return coded is None or coded.sends_messages


def _version(body: Mapping[str, Any]) -> int:
    version = body.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise InvalidJob("send the job's current 'version' with the change", "version")
    return version


def _validated_changes(conn: Conn, job: Job, body: Mapping[str, Any]) -> dict[str, Any]:
    """The columns to change (only those that differ), every one checked."""
    unknown = sorted(set(body) - set(fields.FIELDS) - {"version"})
    if unknown:
        raise InvalidJob(
            f"{unknown[0]!r} cannot be changed here; editable: {sorted(fields.FIELDS)}",
            unknown[0],
        )
    converted: dict[str, Any] = {}
    for field in fields.FIELDS:
        if field not in body:
            continue
        if field in fields.CUSTOM_ONLY and not job.is_custom:
            raise InvalidJob(f"{field!r} belongs to custom-message jobs only", field)
        column, value = fields.convert(field, body[field])
        converted[column] = value
    converted = fields.in_job_zone(converted, job.timezone)
    changes = {column: value for column, value in converted.items()
               if value != job.value_of(column)}  # fmt: skip
    if job.completed_at is not None and {"cron_expression", "timezone"} & set(changes):
        changes["completed_at"] = None  # a done one-off given a new time runs again
    merged = replace(job, **changes)
    fields.check_job_fields(merged)
    if any(column in changes for column in fields.TARGET_FIELDS):
        fields.check_targets_exist(conn, merged)
    return changes


def _rules_in_step(conn: Conn, rules: RuleStore, new: Job, old: Job | None, now: datetime) -> None:
    """Change the job's rules; on failure put back what the old row wants, then raise."""
    try:
        sync_job_rules(conn, rules, new, now)
    except AwsError as exc:
        restored = _put_back(rules, new, old, now)
        message = f"EventBridge refused the rule change, so nothing was changed: {exc}"
        if not restored:
            message += " (the rules could not be put back either; the next sync will)"
        raise RulesNotUpdated(message) from exc


def _put_back(rules: RuleStore, new: Job, old: Job | None, now: datetime) -> bool:
    """The rules as the old row wants them (none for a job that did not exist), also removing
    any the failed change had already made for the new row."""
    wanted_before = old if old is not None else replace(new, orphaned_at=now)
    try:
        made_for_new = rules_named_for(rules, new)
        sync_job_rules(None, rules, wanted_before, now, also_consider=made_for_new)
    except Exception as exc:  # best effort: the original failure is what the caller sees
        logger.error(
            "the job's rules could not be put back after a failed change; they may differ"
            " from the job until the next sync",
            extra={"job": new.name, "error": str(exc)},
        )
        metrics.add_metric(name="RulesDiverged", unit=MetricUnit.Count, value=1)
        return False
    return True


def _stored(column: str, value: Any) -> Any:
    """A changed column's value as psycopg should send it (JSON; arrays as lists)."""
    if column == "message_config":
        return Jsonb(value)
    return list(value) if isinstance(value, tuple) else value


def _audited(job: Job) -> dict[str, Any]:
    keep = ("cron_expression", "timezone", "enabled", "message_config", *fields.TARGET_FIELDS)
    return {column: job.value_of(column) for column in keep}
