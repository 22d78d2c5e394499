"""Reading jobs and their executions for people: the CLI now, the admin API later."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg

from .db import database_errors
from .errors import JobNotFound

MAX_PAGE = 200


def list_jobs(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """Every job with its latest execution (status and time), by name."""
    with database_errors("listing jobs"):
        return conn.execute(
            "SELECT j.*, last.status AS last_status, last.scheduled_for AS last_scheduled_for,"
            " last.finished_at AS last_finished_at"
            " FROM scheduled_jobs AS j"
            " LEFT JOIN LATERAL (SELECT status, scheduled_for, finished_at FROM job_executions"
            "   WHERE job_id = j.id ORDER BY scheduled_for DESC, id DESC LIMIT 1) AS last ON true"
            " ORDER BY j.name"
        ).fetchall()


def get_job(conn: psycopg.Connection, name: str) -> dict[str, Any]:
    with database_errors("loading the job"):
        row = conn.execute("SELECT * FROM scheduled_jobs WHERE name = %s", (name,)).fetchone()
    if row is None:
        raise JobNotFound(f"There is no job named '{name}'.", "name")
    return row


def list_executions(
    conn: psycopg.Connection,
    job_name: str,
    status: str | None = None,
    before: tuple[datetime, int] | None = None,
    limit: int = 20,
) -> list[dict[str, Any]]:
    """A page of a job's executions, newest first; ``before`` is the last row's cursor."""
    job = get_job(conn, job_name)
    query = "SELECT * FROM job_executions WHERE job_id = %(job)s"
    params: dict[str, Any] = {"job": job["id"], "limit": max(1, min(limit, MAX_PAGE))}
    if status:
        query += " AND status = %(status)s"
        params["status"] = status
    if before:
        query += " AND (scheduled_for, id) < (%(at)s, %(id)s)"
        params |= {"at": before[0], "id": before[1]}
    query += " ORDER BY scheduled_for DESC, id DESC LIMIT %(limit)s"
    with database_errors("listing executions"):
        return conn.execute(query, params).fetchall()
