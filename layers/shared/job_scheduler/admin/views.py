"""Jobs and executions as people see them: JSON-ready dictionaries for the admin API.

Times are ISO 8601 strings; next runs are in the job's own timezone, as admins think of
them. A schedule that no longer parses (it can only come from an old row) is shown with
its error rather than failing the whole list.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from job_scheduler.errors import ScheduleError
from job_scheduler.schedule import Schedule, describe

UPCOMING = 5


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def targeting_summary(job: dict[str, Any]) -> str:
    """ "everyone", or who the job is limited to, in a few words."""
    include, packs, exclude = job["include_user_ids"], job["pack_ids"], job["exclude_user_ids"]
    parts = []
    if include:
        parts.append(f"{len(include)} user{'s' if len(include) != 1 else ''}")
    if packs:
        parts.append(f"{len(packs)} pack{'s' if len(packs) != 1 else ''}")
    summary = " and ".join(parts) if parts else "everyone active"
    if exclude:
        summary += f", except {len(exclude)} user{'s' if len(exclude) != 1 else ''}"
    return summary


def schedule_of(job: dict[str, Any], now: datetime) -> dict[str, Any]:
    try:
        schedule = Schedule.parse(job["cron_expression"], job["timezone"])
    except ScheduleError as exc:
        return {"in_words": None, "error": str(exc), "next_runs": []}
    upcoming = schedule.next_runs(now, UPCOMING) if job["enabled"] else []
    return {
        "in_words": describe(schedule),
        "error": None,
        "next_runs": [moment.astimezone(schedule.zone).isoformat() for moment in upcoming],
    }


def job_summary(job: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A row of the jobs table (``history.list_jobs`` rows carry the last execution)."""
    last = None
    if job.get("last_status"):
        last = {"status": job["last_status"], "scheduled_for": _iso(job["last_scheduled_for"])}
    return {
        "name": job["name"],
        "kind": job["kind"],
        "description": job["description"],
        "expression": job["cron_expression"],
        "timezone": job["timezone"],
        "schedule": schedule_of(job, now),
        "enabled": job["enabled"],
        "orphaned": job["orphaned_at"] is not None,
        "last_execution": last,
        "targeting": targeting_summary(job),
        "version": job["version"],
    }


def job_detail(job: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Everything an admin may read or edit about one job."""
    return {
        **job_summary(job, now),
        "misfire_grace_seconds": job["misfire_grace_seconds"],
        "overlap_policy": job["overlap_policy"],
        "include_user_ids": list(job["include_user_ids"]),
        "exclude_user_ids": list(job["exclude_user_ids"]),
        "pack_ids": list(job["pack_ids"]),
        "message": job["message_config"] if job["kind"] == "custom_message" else None,
        "rule_names": list(job["rule_names"]),
        "created_at": _iso(job["created_at"]),
        "created_by": job["created_by"],
        "updated_at": _iso(job["updated_at"]),
        "updated_by": job["updated_by"],
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
    "skipped_count",
    "duration_ms",
    "attempts",
    "detail",
    "error",
)


def execution_view(row: dict[str, Any]) -> dict[str, Any]:
    view = {name: row.get(name) for name in EXECUTION_FIELDS}
    view |= {
        "scheduled_for": _iso(row["scheduled_for"]),
        "started_at": _iso(row["started_at"]),
        "finished_at": _iso(row["finished_at"]),
    }
    return view
