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
from job_scheduler.execution.targeting import LAST_ID
from job_scheduler.model import Execution, Job, JobOverview
from job_scheduler.schedule.describe import describe
from job_scheduler.schedule.lifetime import Lifetime
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


def schedule_of(
    expression: str, timezone: str, enabled: bool, now: datetime, job: Job | None = None
) -> dict[str, Any]:
    """A schedule in words and its next runs (none while disabled; within the ``job``'s
    window, none once it is over), or its error."""
    try:
        schedule = Schedule.parse(expression, timezone)
    except ScheduleError as exc:
        return {"in_words": None, "error": str(exc), "next_runs": []}
    lifetime = Lifetime.of(job, schedule) if job is not None else Lifetime(schedule)
    upcoming = lifetime.next_runs(now, UPCOMING) if enabled else []
    return {
        "in_words": describe(schedule),
        "error": None,
        "next_runs": [moment.astimezone(schedule.zone).isoformat() for moment in upcoming],
    }


def lifetime_of(job: Job, now: datetime) -> dict[str, Any]:
    """Once or repeating, its window and whether it is finished, in the job's timezone."""
    try:
        zone = Schedule.parse(job.cron_expression, job.timezone).zone
        ending = Lifetime.of(job).ending(now)
    except ScheduleError:
        zone, ending = None, None

    def local(moment: datetime | None) -> str | None:
        return _iso(moment.astimezone(zone) if moment is not None and zone else moment)

    return {
        "once": job.is_once,
        "starts_at": local(job.starts_at),
        "ends_at": local(job.ends_at),
        "completed_at": local(job.completed_at),
        "finished": None
        if ending is None
        else {"state": ending.state, "since": local(ending.since), "says": ending.says},
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
        "schedule": schedule_of(job.cron_expression, job.timezone, job.enabled, now, job),
        "enabled": job.enabled,
        "orphaned": job.is_orphaned,
        **lifetime_of(job, now),
        "last_execution": None
        if last is None
        else {"status": last.status, "scheduled_for": _iso(last.scheduled_for)},
        "targeting": targeting_summary(job),
        # Sent with Telegram's allow_paid_broadcast: faster, and billed in Stars.
        "paid_broadcast": job.is_custom and job.message_config.get("paid_broadcast") is True,
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
    "shards",
    "trigger",
    "status",
    "lock_mode",
    "recipients_count",
    "queued_count",
    "sent_count",
    "failed_count",
    "uncertain_count",
    "skipped_count",
    "cancelled_count",
    "cancelled_by",
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
        "cancelled_at": _iso(execution.cancelled_at),
    }
    return view


def execution_detail_view(detail: ExecutionDetail) -> dict[str, Any]:
    return {
        **execution_view(detail.execution),
        "job": detail.job_name,
        "deliveries": detail.deliveries,
        "delivery_errors": detail.delivery_errors,
        "progress": progress_of(detail),
        "shard_progress": [_shard_view(shard) for shard in detail.shards],
        "retryable_failed": detail.retryable,
    }


def _shard_view(shard: dict[str, Any]) -> dict[str, Any]:
    """A shard's range, state and counts; the last one's range ends with the newest user."""
    last = None if shard["last_user_id"] == LAST_ID else shard["last_user_id"]
    return {**shard, "last_user_id": last}


def progress_of(detail: ExecutionDetail) -> dict[str, Any]:
    """Where a send stands, for the live progress bar: done by outcome, still waiting,
    messages per second over the last 10 s (or since the first was sent, if sooner), and
    the time left at that rate."""
    counts = detail.deliveries
    waiting = sum(counts.get(status, 0) for status in ("ready", "queued", "sending"))
    rate = detail.sent_last_10s / detail.rate_seconds
    running = waiting > 0 and detail.execution.status != "cancelled"
    return {
        "total": sum(counts.values()),
        "sent": counts.get("sent", 0),
        "failed": counts.get("failed", 0),
        "uncertain": counts.get("uncertain", 0),
        "skipped": counts.get("skipped", 0),
        "cancelled": counts.get("cancelled", 0),
        "waiting": waiting,
        "in_flight": counts.get("sending", 0),
        "per_second": round(rate, 1),
        "seconds_left": round(waiting / rate) if running and rate > 0 else None,
        "sending": running,
    }
