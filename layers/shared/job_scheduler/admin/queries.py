"""Reading jobs, executions, people, packs and the audit log for admins (API and CLI)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from job_scheduler.adapters.db import Conn, database_errors
from job_scheduler.errors import ExecutionNotFound, JobNotFound
from job_scheduler.model import Execution, ExecutionStatus, Job, JobOverview, LastRun

MAX_PAGE = 200


@dataclass(frozen=True)
class ExecutionDetail:
    """One execution, with its job's name and what happened to its deliveries."""

    execution: Execution
    job_name: str
    deliveries: dict[str, int]  # status -> count
    delivery_errors: list[dict[str, Any]]  # the latest 20: user_id, status, last_error, at
    shards: list[dict[str, Any]] = field(default_factory=list)  # a split execution's
    sent_last_10s: int = 0  # for the progress bar's messages per second ...
    rate_seconds: float = 10.0  # ... over this long (less while the send is younger)
    retryable: int = 0  # failed deliveries "retry failed" would send again


def list_jobs(conn: Conn, name: str | None = None) -> list[JobOverview]:
    """Every job (or the one named) with its latest execution, by name."""
    with database_errors("listing jobs"):
        rows = conn.execute(
            "SELECT j.*, last.status AS last_status, last.scheduled_for AS last_scheduled_for,"
            " last.finished_at AS last_finished_at"
            " FROM scheduled_jobs AS j"
            " LEFT JOIN LATERAL (SELECT status, scheduled_for, finished_at FROM job_executions"
            "   WHERE job_id = j.id ORDER BY scheduled_for DESC, id DESC LIMIT 1) AS last ON true"
            " WHERE %(name)s::text IS NULL OR j.name = %(name)s"
            " ORDER BY j.name",
            {"name": name},
        ).fetchall()
    return [_overview(row) for row in rows]


def _overview(row: dict[str, Any]) -> JobOverview:
    last = None
    if row["last_status"] is not None:
        status = ExecutionStatus(row["last_status"])
        last = LastRun(status, row["last_scheduled_for"], row["last_finished_at"])
    return JobOverview(Job.from_row(row), last)


def job_overview(conn: Conn, name: str) -> JobOverview:
    found = list_jobs(conn, name)
    if not found:
        raise JobNotFound(f"There is no job named '{name}'.", "name")
    return found[0]


def get_job(conn: Conn, name: str) -> Job:
    with database_errors("loading the job"):
        row = conn.execute("SELECT * FROM scheduled_jobs WHERE name = %s", (name,)).fetchone()
    if row is None:
        raise JobNotFound(f"There is no job named '{name}'.", "name")
    return Job.from_row(row)


def list_executions(
    conn: Conn,
    job_name: str,
    status: str | None = None,
    before: tuple[datetime, int] | None = None,
    limit: int = 20,
) -> list[Execution]:
    """A page of a job's executions, newest first; ``before`` is the last row's cursor."""
    job = get_job(conn, job_name)
    found = search_executions(conn, status, None, None, before, limit, job_id=job.id)
    return [execution for execution, _ in found]


def get_execution(conn: Conn, execution_id: int) -> ExecutionDetail:
    """One execution with its job's name, its deliveries counted by status, and the latest
    delivery errors."""
    with database_errors("loading the execution"):
        row = conn.execute(
            "SELECT e.*, j.name AS job_name FROM job_executions e"
            " JOIN scheduled_jobs j ON j.id = e.job_id WHERE e.id = %s",
            (execution_id,),
        ).fetchone()
        if row is None:
            raise ExecutionNotFound(f"there is no execution {execution_id}", "execution_id")
        counts = conn.execute(
            "SELECT status, count(*) AS n FROM notification_deliveries"
            " WHERE execution_id = %s GROUP BY status",
            (execution_id,),
        ).fetchall()
        recent = conn.execute(
            "SELECT count(*) FILTER (WHERE sent_at > now() - interval '10 seconds') AS sent,"
            " LEAST(10, GREATEST(1, EXTRACT(EPOCH FROM now() - min(sent_at)))) AS seconds,"
            " count(*) FILTER (WHERE status = 'failed' AND retryable) AS retryable"
            " FROM notification_deliveries WHERE execution_id = %s",
            (execution_id,),
        ).fetchone()
        shards = conn.execute(
            "SELECT shard, first_user_id, last_user_id, status, attempts, recipients, messages,"
            " error FROM execution_shards WHERE execution_id = %s ORDER BY shard",
            (execution_id,),
        ).fetchall()
        errors = conn.execute(
            "SELECT d.user_id, d.status, d.last_error, d.updated_at FROM notification_deliveries d"
            " WHERE d.execution_id = %s AND d.last_error IS NOT NULL AND d.status <> 'cancelled'"
            " ORDER BY d.updated_at DESC LIMIT 20",
            (execution_id,),
        ).fetchall()
    deliveries = {count["status"]: count["n"] for count in counts}
    return ExecutionDetail(Execution.from_row(row), row["job_name"], deliveries, errors,
                           shards, recent["sent"], float(recent["seconds"] or 10),
                           recent["retryable"])  # fmt: skip


def search_executions(
    conn: Conn,
    status: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before: tuple[datetime, int] | None = None,
    limit: int = 20,
    job_id: int | None = None,
) -> list[tuple[Execution, str]]:
    """Executions of every job (or of ``job_id``), with the job's name, newest first: by
    status, and with a scheduled time in [since, until); ``before`` is the last row's
    cursor."""
    query = ("SELECT e.*, j.name AS job_name FROM job_executions AS e"
             " JOIN scheduled_jobs AS j ON j.id = e.job_id WHERE true")  # fmt: skip
    params: dict[str, Any] = {"limit": max(1, min(limit, MAX_PAGE))}
    filters = {"job": (job_id, "e.job_id = %(job)s"), "status": (status, "e.status = %(status)s"),
               "since": (since, "e.scheduled_for >= %(since)s"),
               "until": (until, "e.scheduled_for < %(until)s")}  # fmt: skip
    for name, (value, condition) in filters.items():
        if value is not None and value != "":
            query += f" AND {condition}"
            params[name] = value
    if before:
        query += " AND (e.scheduled_for, e.id) < (%(at)s, %(id)s)"
        params |= {"at": before[0], "id": before[1]}
    query += " ORDER BY e.scheduled_for DESC, e.id DESC LIMIT %(limit)s"
    with database_errors("searching executions"):
        return [(Execution.from_row(row), row["job_name"]) for row in conn.execute(query, params)]


def search_users(conn: Conn, query: str, limit: int = 20) -> list[dict[str, Any]]:
    """Users whose name or username contains ``query`` (or whose id or chat id it is)."""
    pattern = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    number = int(query) if re.fullmatch(r"-?[0-9]{1,18}", query.strip()) else None
    with database_errors("searching users"):
        return conn.execute(
            "SELECT id, telegram_chat_id, first_name, last_name, username, is_active"
            " FROM users WHERE first_name ILIKE %(p)s OR last_name ILIKE %(p)s"
            " OR username ILIKE %(p)s OR id = %(n)s OR telegram_chat_id = %(n)s"
            " ORDER BY id LIMIT %(limit)s",
            {"p": pattern, "n": number, "limit": max(1, min(limit, MAX_PAGE))},
        ).fetchall()


def users_by_id(conn: Conn, ids: list[int]) -> list[dict[str, Any]]:
    """The users with these ids (the pickers show names for ids already chosen)."""
    with database_errors("reading users"):
        return conn.execute(
            "SELECT id, telegram_chat_id, first_name, last_name, username, is_active"
            " FROM users WHERE id = ANY(%s) ORDER BY id",
            (ids,),
        ).fetchall()


def list_audit(conn: Conn, job_name: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """Audit rows, newest first; of one job when ``job_name`` is given."""
    query = "SELECT id, at, actor, action, entity_type, entity_name, before, after FROM audit_log"
    params: dict[str, Any] = {"limit": max(1, min(limit, MAX_PAGE))}
    if job_name is not None:
        query += " WHERE entity_type = 'job' AND entity_name = %(job)s"
        params["job"] = job_name
    with database_errors("reading the audit log"):
        return conn.execute(query + " ORDER BY at DESC, id DESC LIMIT %(limit)s", params).fetchall()
