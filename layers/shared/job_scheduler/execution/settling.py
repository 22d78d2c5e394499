"""A job's schedule at the edges: firings outside its window, and its last firing settled.

``outside_window`` is the executor's check of a scheduled firing against the job's
``starts_at``/``ends_at`` (the executor records one outside as ``skipped``, saying why).

``settle`` runs after the last scheduled firing of a schedule (a one-off's firing, whatever
its final status; any firing of a job past its end): the one-off is marked done
(``completed_at``) and the schedule's rules are deleted at once, rather than at the next
deploy's sync (which removes them too, and is the net if this fails). Two short
transactions, the job's row locked in each: the completion only if the row still holds the
same schedule (an admin who gave it a new time meanwhile wins), then the rules, deleted
while the row is locked so that an edit cannot re-create them in between. Only deletions:
the executor's IAM policy has no PutRule. Best effort: a failure is logged and counted and
leaves the firing's outcome as it was; a later firing, a duplicate of this one or the sync
finishes it (a one-off's year-pinned rule never fires again either way).
"""

from __future__ import annotations

from datetime import datetime

import psycopg

from job_scheduler.adapters.db import Conn, database_errors
from job_scheduler.audit import record_change
from job_scheduler.config import Settings
from job_scheduler.errors import JobSchedulerError, ScheduleError
from job_scheduler.model import Job
from job_scheduler.observability import logger, metrics
from job_scheduler.schedule.lifetime import Lifetime

ACTOR = "job_executor"


def outside_window(job: Job, instant: datetime) -> str | None:
    """Why a scheduled firing at ``instant`` falls outside the job's window, or None."""
    if job.starts_at is None and job.ends_at is None and not job.is_once:
        return None
    try:
        return Lifetime.of(job).refusal(instant)
    except ScheduleError:
        return None  # the executor's due check already logged the unusable schedule


def is_last_firing(job: Job, now: datetime) -> bool:
    """Whether a scheduled firing may be its schedule's last: cheap, on the loaded row."""
    return job.is_once or (job.ends_at is not None and now > job.ends_at)


def settle(conn: Conn, settings: Settings, job: Job, now: datetime) -> None:
    """Mark a one-off done and delete the rules of a schedule that is over (best effort)."""
    try:
        if job.is_once:
            _complete(conn, job, now)
        _delete_rules(conn, settings, job.id, now)
    except (JobSchedulerError, psycopg.Error) as exc:
        logger.error(
            "the job's schedule is over but it could not be settled; the sync will",
            extra={"job": job.name, "error": str(exc)},
        )
        metrics.add_metric(name="SchedulesNotSettled", unit="Count", value=1)


def _complete(conn: Conn, job: Job, now: datetime) -> None:
    with database_errors("marking the one-off job done"), conn.transaction():
        row = conn.execute(
            "UPDATE scheduled_jobs SET completed_at = %(now)s, version = version + 1,"
            " updated_at = %(now)s, updated_by = %(actor)s"
            " WHERE id = %(id)s AND completed_at IS NULL"
            " AND cron_expression = %(expression)s AND timezone = %(timezone)s RETURNING id",
            {
                "now": now,
                "actor": ACTOR,
                "id": job.id,
                "expression": job.cron_expression,
                "timezone": job.timezone,
            },
        ).fetchone()
        if row is not None:
            after = {"completed_at": now}
            record_change(conn, ACTOR, "complete", "job", job.name, {"completed_at": None}, after,
                          now)  # fmt: skip
            logger.info("one-off job done", extra={"job": job.name})


def _delete_rules(conn: Conn, settings: Settings, job_id: int, now: datetime) -> None:
    from job_scheduler.sync.rules import RuleStore  # the events client, only when needed

    with database_errors("removing the rules of a finished schedule"), conn.transaction():
        row = conn.execute(
            "SELECT * FROM scheduled_jobs WHERE id = %s FOR NO KEY UPDATE", (job_id,)
        ).fetchone()
        if row is None:
            return
        current = Job.from_row(row)
        if not current.rule_names or not _is_over(current, now):
            return
        rules = RuleStore(settings)
        for name in current.rule_names:
            rules.delete(name)
        conn.execute(
            "UPDATE scheduled_jobs SET rule_names = '{}', rule_expressions = '{}',"
            " last_synced_at = %s WHERE id = %s",
            (now, job_id),
        )
        logger.info("rules of a finished schedule deleted", extra={"job": current.name,
                    "rules": list(current.rule_names)})  # fmt: skip


def _is_over(job: Job, now: datetime) -> bool:
    try:
        return Lifetime.of(job).is_over(now)
    except ScheduleError:
        return False
