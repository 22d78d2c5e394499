"""The startup sync: coded jobs into ``scheduled_jobs``, every job into EventBridge rules.

Convergent and idempotent: it compares what is with what should be and changes only the
difference, so a second run changes nothing, and a run cut short is finished by the next.

Jobs: a new coded job gets the code's defaults. An existing one keeps what admins set
(schedule, timezone, enabled, targeting, grace, overlap policy) — except that a field still
equal to the previous code default follows a changed default, since no admin chose it. A
coded job gone from the code is disabled and marked orphaned (history kept); if it returns,
its previous enabled flag comes back.

Rules: one per UTC expression of each job that is not orphaned and whose schedule is not
over (a one-off that ran or whose time passed, a job past its end: ``schedule/lifetime``),
ENABLED or DISABLED as the job is; managed rules no job wants are deleted, so the quota,
checked against the bus's total before any change, never counts a finished job's rules.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from psycopg.types.json import Jsonb

from job_scheduler.adapters.db import Conn, database_errors
from job_scheduler.audit import record_change
from job_scheduler.errors import RuleQuotaExceeded, ScheduleError, SyncError
from job_scheduler.jobs.registry import CodedJob, JobRegistry
from job_scheduler.model import Job, JobKind
from job_scheduler.observability import logger
from job_scheduler.schedule.lifetime import Lifetime
from job_scheduler.schedule.utc_rules import utc_rule_expressions
from job_scheduler.schedule.zoned import Schedule
from job_scheduler.sync.rules import RuleSpec, RuleStore, desired_rules

ACTOR = "bot_startup"
FOLLOWS_CODE = ("cron_expression", "timezone", "enabled", "misfire_grace_seconds", "overlap_policy")
SYNC_LOCK_ID = 0x73796E63  # "sync": one sync at a time per database


@dataclass
class SyncSummary:
    """What a sync did; empty lists everywhere mean nothing changed."""

    jobs_created: list[str] = field(default_factory=list)
    jobs_updated: list[str] = field(default_factory=list)
    jobs_orphaned: list[str] = field(default_factory=list)
    jobs_restored: list[str] = field(default_factory=list)
    rules_created: list[str] = field(default_factory=list)
    rules_updated: list[str] = field(default_factory=list)
    rules_deleted: list[str] = field(default_factory=list)
    rules_unchanged: int = 0
    rules_total_on_bus: int = 0
    jobs_with_invalid_schedule: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(
            getattr(self, name)
            for name in (
                "jobs_created",
                "jobs_updated",
                "jobs_orphaned",
                "jobs_restored",
                "rules_created",
                "rules_updated",
                "rules_deleted",
            )
        )

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "changed": self.changed}


def sync_jobs_and_rules(
    conn: Conn,
    registry: JobRegistry,
    rules: RuleStore,
    now: datetime | None = None,
) -> SyncSummary:
    """Run the whole sync in one transaction (AWS calls last, so a refusal changes nothing)."""
    now = now or datetime.now(UTC)
    summary = SyncSummary()
    with database_errors("syncing scheduled jobs"), conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (SYNC_LOCK_ID,))
        _sync_coded_jobs(conn, registry, summary, now)
        rows = conn.execute("SELECT * FROM scheduled_jobs ORDER BY name FOR UPDATE").fetchall()
        jobs = [Job.from_row(row) for row in rows]
        _sync_rules(conn, jobs, rules, summary, now)
    logger.info("startup sync finished", extra={"summary": summary.as_dict()})
    return summary


def _sync_coded_jobs(
    conn: Conn, registry: JobRegistry, summary: SyncSummary, now: datetime
) -> None:
    rows = {
        row.name: row
        for row in map(Job.from_row, conn.execute("SELECT * FROM scheduled_jobs FOR UPDATE"))
    }
    for job in registry:
        row = rows.get(job.name)
        if row is None:
            _insert_coded_job(conn, job, now)
            summary.jobs_created.append(job.name)
        elif row.kind != JobKind.CODED:
            raise SyncError(
                f"A custom-message job is already named '{job.name}'; rename the coded job or "
                "delete the custom one before deploying."
            )
        else:
            _update_coded_job(conn, job, row, summary, now)
    for row in rows.values():
        if row.kind == JobKind.CODED and not row.is_orphaned and registry.get(row.name) is None:
            changes = {"enabled": False, "enabled_before_orphaned": row.enabled, "orphaned_at": now}
            _apply(conn, row, changes, now, action="orphan")
            summary.jobs_orphaned.append(row.name)


def _insert_coded_job(conn: Conn, job: type[CodedJob], now: datetime) -> None:
    defaults = job.defaults()
    values = {**defaults, "name": job.name, "kind": JobKind.CODED, "code_defaults": Jsonb(defaults)}
    values |= {"created_by": ACTOR, "updated_by": ACTOR, "created_at": now, "updated_at": now}
    columns = ", ".join(values)
    placeholders = ", ".join(f"%({name})s" for name in values)
    conn.execute(f"INSERT INTO scheduled_jobs ({columns}) VALUES ({placeholders})", values)
    record_change(conn, ACTOR, "create", "job", job.name, None, defaults, now)


def _update_coded_job(
    conn: Conn,
    job: type[CodedJob],
    row: Job,
    summary: SyncSummary,
    now: datetime,
) -> None:
    defaults = job.defaults()
    previous = row.code_defaults or {}
    changes: dict[str, Any] = {
        name: defaults[name]
        for name in FOLLOWS_CODE
        if name in previous
        and row.value_of(name) == previous[name]
        and row.value_of(name) != defaults[name]
    }
    if row.description != defaults["description"]:
        changes["description"] = defaults["description"]
    if previous != defaults:
        changes["code_defaults"] = Jsonb(defaults)
    if row.is_orphaned:
        changes |= {"orphaned_at": None, "enabled_before_orphaned": None}
        if row.enabled_before_orphaned is not None:
            changes["enabled"] = row.enabled_before_orphaned
        summary.jobs_restored.append(job.name)
    if changes:
        _apply(conn, row, changes, now, action="sync")
        if not row.is_orphaned:
            summary.jobs_updated.append(job.name)


def _apply(
    conn: Conn,
    row: Job,
    changes: dict[str, Any],
    now: datetime,
    action: str,
) -> None:
    assignments = ", ".join(f"{name} = %({name})s" for name in changes)
    conn.execute(
        f"UPDATE scheduled_jobs SET {assignments}, version = version + 1,"
        " updated_at = %(now)s, updated_by = %(actor)s, last_synced_at = %(now)s"
        " WHERE id = %(id)s",
        {**changes, "now": now, "actor": ACTOR, "id": row.id},
    )
    before = {name: row.value_of(name) for name in changes}
    after = {name: getattr(value, "obj", value) for name, value in changes.items()}
    record_change(conn, ACTOR, action, "job", row.name, before, after, now)


def _sync_rules(
    conn: Conn,
    jobs: list[Job],
    rules: RuleStore,
    summary: SyncSummary,
    now: datetime,
) -> None:
    wanted: dict[str, tuple[RuleSpec, str]] = {}
    per_job: dict[int, list[RuleSpec]] = {}
    for job in jobs:
        specs = _wanted_rules(job, rules.prefix, summary, now)
        if specs is None:  # unusable schedule: leave whatever rules it has alone
            continue
        per_job[job.id] = specs
        wanted |= {spec.name: (spec, job.name) for spec in specs}
    current = rules.managed()
    kept_invalid = {n for job in jobs if job.id not in per_job for n in job.rule_names}
    to_delete = [name for name in current if name not in wanted and name not in kept_invalid]
    to_create = [name for name in wanted if name not in current]
    _check_quota(rules, len(to_create) - len(to_delete), summary)
    for name, (spec, job_name) in wanted.items():
        existing = current.get(name)
        if existing is None:
            rules.put(spec, job_name)
            summary.rules_created.append(name)
        elif existing != spec or not rules.target_matches(name, job_name):
            rules.put(spec, job_name)
            summary.rules_updated.append(name)
        else:
            summary.rules_unchanged += 1
    for name in to_delete:
        rules.delete(name)
        summary.rules_deleted.append(name)
    _record_installed_rules(conn, jobs, per_job, now)


def _wanted_rules(
    job: Job, prefix: str, summary: SyncSummary, now: datetime
) -> list[RuleSpec] | None:
    if job.is_orphaned:
        return []
    try:
        schedule = Schedule.parse(job.cron_expression, job.timezone)
    except ScheduleError as exc:
        logger.error(
            "job has an unusable schedule; its rules are left as they are",
            extra={"job": job.name, "error": str(exc)},
        )
        summary.jobs_with_invalid_schedule.append(job.name)
        return None
    if Lifetime.of(job, schedule).is_over(now):
        return []
    return desired_rules(prefix, job, utc_rule_expressions(schedule, start=now))


def _check_quota(rules: RuleStore, net_new: int, summary: SyncSummary) -> None:
    total = rules.count_all()
    summary.rules_total_on_bus = total + net_new
    if net_new > 0 and total + net_new > rules.quota:
        raise RuleQuotaExceeded(
            f"The sync needs {total + net_new} rules on event bus '{rules.bus}' but its quota is "
            f"{rules.quota} ({total} exist, {net_new} more needed). Disable or delete jobs, or "
            "raise the quota in Service Quotas and set RULES_PER_BUS_QUOTA to match. "
            "Nothing was changed."
        )


def _record_installed_rules(
    conn: Conn,
    jobs: list[Job],
    per_job: dict[int, list[RuleSpec]],
    now: datetime,
) -> None:
    for job in jobs:
        specs = per_job.get(job.id)
        if specs is None:
            continue
        names = tuple(spec.name for spec in specs)
        expressions = tuple(spec.expression for spec in specs)
        if names != job.rule_names or expressions != job.rule_expressions:
            conn.execute(
                "UPDATE scheduled_jobs SET rule_names = %s, rule_expressions = %s,"
                " last_synced_at = %s WHERE id = %s",
                (list(names), list(expressions), now, job.id),
            )


def sync_job_rules(
    conn: Conn | None,
    rules: RuleStore,
    job: Job,
    now: datetime,
    also_consider: Iterable[str] = (),
) -> list[str]:
    """Make one job's rules match its row (an admin's edit); returns the names installed.

    The same comparison as the whole sync, limited to the rules the job has or wants (and
    ``also_consider``); the quota is checked before any change. Call it inside the
    transaction that changed the row, so that a failure here undoes the row too. Without
    ``conn`` the installed names are not recorded (putting rules back after a failure).
    """
    summary = SyncSummary()
    specs = _wanted_rules(job, rules.prefix, summary, now)
    if specs is None:
        raise SyncError(f"job '{job.name}' has an unusable schedule; its rules were left")
    wanted = {spec.name: spec for spec in specs}
    considered = {*job.rule_names, *also_consider}
    current = {
        name: spec for name, spec in rules.managed().items() if name in wanted or name in considered
    }
    stale = [name for name in current if name not in wanted]
    _check_quota(rules, len([n for n in wanted if n not in current]) - len(stale), summary)
    for name, spec in wanted.items():
        if current.get(name) != spec or not rules.target_matches(name, job.name):
            rules.put(spec, job.name)
    for name in stale:
        rules.delete(name)
    if conn is not None:
        _record_installed_rules(conn, [job], {job.id: specs}, now)
    return list(wanted)
