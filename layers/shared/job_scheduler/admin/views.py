"""Jobs and executions as people see them: JSON-ready dictionaries for the admin API.

Times are ISO 8601 strings; next runs are in the job's own timezone, as admins think of
them. A schedule that no longer parses (it can only come from an old row) is shown with
its error rather than failing the whole list.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from job_scheduler.admin.queries import ExecutionDetail
from job_scheduler.errors import ScheduleError
from job_scheduler.model import Execution, Job, JobOverview
from job_scheduler.schedule.describe import describe
from job_scheduler.schedule.zoned import Schedule

UPCOMING = 5


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def targeting_summary(job: Job) -> str:
    """ "everyone", or who the job is limited to, in a few words."""
    include, packs, exclude = job.include_user_ids, job.pack_ids, job.exclude_user_ids
    parts = []
    if include:
        parts.append(f"{len(include)} user{'s' if len(include) != 1 else ''}")
    if packs:
        parts.append(f"{len(packs)} pack{'s' if len(packs) != 1 else ''}")
    summary = " and ".join(parts) if parts else "everyone active"
    if exclude:
        summary += f", except {len(exclude)} user{'s' if len(exclude) != 1 else ''}"
    return summary


def schedule_of(expression: str, timezone: str, enabled: bool, now: datetime) -> dict[str, Any]:
    """A schedule in words and its next runs (none while disabled), or its error."""
    try:
        schedule = Schedule.parse(expression, timezone)
    except ScheduleError as exc:
        return {"in_words": None, "error": str(exc), "next_runs": []}
    upcoming = schedule.next_runs(now, UPCOMING) if enabled else []
    return {
        "in_words": describe(schedule),
        "error": None,
        "next_runs": [moment.astimezone(schedule.zone).isoformat() for moment in upcoming],
    }


def job_summary(overview: JobOverview, now: datetime) -> dict[str, Any]:
    """A row of the jobs table."""
    job, last = overview.job, overview.last
    return {
        "name": job.name,
        "kind": job.kind,
        "description": job.description,
        "expression": job.cron_expression,
        "timezone": job.timezone,
        "schedule": schedule_of(job.cron_expression, job.timezone, job.enabled, now),
        "enabled": job.enabled,
        "orphaned": job.is_orphaned,
        "last_execution": None
        if last is None
        else {"status": last.status, "scheduled_for": _iso(last.scheduled_for)},
        "targeting": targeting_summary(job),
        "version": job.version,
    }


def job_detail(overview: JobOverview, now: datetime) -> dict[str, Any]:
    """Everything an admin may read or edit about one job."""
    job = overview.job
    return {
        **job_summary(overview, now),
        "misfire_grace_seconds": job.misfire_grace_seconds,
        "overlap_policy": job.overlap_policy,
        "include_user_ids": list(job.include_user_ids),
        "exclude_user_ids": list(job.exclude_user_ids),
        "pack_ids": list(job.pack_ids),
        "message": dict(job.message_config) if job.is_custom else None,
        "rule_names": list(job.rule_names),
        "created_at": _iso(job.created_at),
        "created_by": job.created_by,
        "updated_at": _iso(job.updated_at),
        "updated_by": job.updated_by,
    }


EXECUTION_FIELDS = (
    "id",
    "trigger",
    "status",
    "lock_mode",
    "recipients_count",
    "queued_count",
    "sent_count",
    "failed_count",
    "uncertain_count",
    "skipped_count",
    "duration_ms",
    "attempts",
    "detail",
    "error",
)


def execution_view(execution: Execution) -> dict[str, Any]:
    values = asdict(execution)
    view = {name: values[name] for name in EXECUTION_FIELDS}
    view |= {
        "scheduled_for": _iso(execution.scheduled_for),
        "started_at": _iso(execution.started_at),
        "finished_at": _iso(execution.finished_at),
    }
    return view


def execution_detail_view(detail: ExecutionDetail) -> dict[str, Any]:
    return {
        **execution_view(detail.execution),
        "job": detail.job_name,
        "deliveries": detail.deliveries,
        "delivery_errors": detail.delivery_errors,
    }
