"""The people page: who they are, whether they can be reached and want to be, since when,
their language, packs, Rastar link and when they were last seen."""

from __future__ import annotations

import re
from typing import Any

from job_scheduler.adapters.db import Conn, database_errors
from job_scheduler.errors import UserNotFound

STATES = ("active", "blocked", "opted_out")
MAX_PAGE = 200

# One person's row as the page shows it. "blocked" covers every reason Telegram gave for
# not reaching them (the reason is shown); opted out is their own /stop.
_PERSON = """
SELECT u.id, u.telegram_chat_id, u.first_name, u.last_name, u.username, u.language,
       u.language_code, u.last_seen_at, u.created_at,
       CASE WHEN NOT u.is_active THEN 'blocked'
            WHEN u.opted_out_at IS NOT NULL THEN 'opted_out' ELSE 'active' END AS state,
       CASE WHEN NOT u.is_active THEN u.inactive_since
            WHEN u.opted_out_at IS NOT NULL THEN u.opted_out_at ELSE u.created_at END AS since,
       u.inactive_reason,
       COALESCE(a.status, 'not_linked') AS rastar,
       COALESCE((SELECT array_agg(p.name ORDER BY p.name) FROM user_character_packs m
                 JOIN character_packs p ON p.id = m.pack_id WHERE m.user_id = u.id),
                '{}') AS packs
FROM users u LEFT JOIN rastar_accounts a ON a.user_id = u.id
"""


def list_people(
    conn: Conn,
    query: str | None = None,
    state: str | None = None,
    limit: int = 50,
    after_id: int = 0,
    pack_id: int | None = None,
) -> list[dict[str, Any]]:
    """People in id order after ``after_id``: matching ``query`` (name, username, id or chat
    id), in ``state``, in pack ``pack_id``, as each is given."""
    where = ["u.id > %(after)s"]
    params: dict[str, Any] = {"after": after_id, "limit": max(1, min(limit, MAX_PAGE))}
    if query:
        params["pattern"] = "%" + re.sub(r"([\\%_])", r"\\\1", query.strip()) + "%"
        params["number"] = int(query) if re.fullmatch(r"-?[0-9]{1,18}", query.strip()) else None
        where.append("(u.first_name ILIKE %(pattern)s OR u.last_name ILIKE %(pattern)s"
                     " OR u.username ILIKE %(pattern)s OR u.id = %(number)s"
                     " OR u.telegram_chat_id = %(number)s)")  # fmt: skip
    if state == "active":
        where.append("u.is_active AND u.opted_out_at IS NULL")
    elif state == "blocked":
        where.append("NOT u.is_active")
    elif state == "opted_out":
        where.append("u.is_active AND u.opted_out_at IS NOT NULL")
    if pack_id is not None:
        params["pack"] = pack_id
        where.append("EXISTS (SELECT 1 FROM user_character_packs m"
                     " WHERE m.user_id = u.id AND m.pack_id = %(pack)s)")  # fmt: skip
    with database_errors("listing people"):
        return conn.execute(
            _PERSON + " WHERE " + " AND ".join(where) + " ORDER BY u.id LIMIT %(limit)s", params
        ).fetchall()


def get_person(conn: Conn, user_id: int) -> dict[str, Any]:
    with database_errors("reading a person"):
        row = conn.execute(_PERSON + " WHERE u.id = %s", (user_id,)).fetchone()
    if row is None:
        raise UserNotFound(f"there is no user with id {user_id}", "user_id")
    return row


def deliveries_of(
    conn: Conn, user_id: int, limit: int = 50, before_id: int | None = None
) -> list[dict[str, Any]]:
    """What this person was sent (or not, and why), newest first: each delivery with its
    job, the firing it belonged to, its status, when and Telegram's message id."""
    get_person(conn, user_id)
    params: dict[str, Any] = {"user": user_id, "limit": max(1, min(limit, MAX_PAGE))}
    where = "d.user_id = %(user)s"
    if before_id is not None:
        where += " AND d.id < %(before)s"
        params["before"] = before_id
    with database_errors("reading a person's deliveries"):
        return conn.execute(
            "SELECT d.id, d.execution_id, j.name AS job_name, e.scheduled_for, e.trigger,"
            " d.status, d.attempts, d.sent_at, d.updated_at, d.telegram_message_id,"
            " d.last_error FROM notification_deliveries d"
            " JOIN job_executions e ON e.id = d.execution_id"
            " JOIN scheduled_jobs j ON j.id = e.job_id"
            f" WHERE {where} ORDER BY d.id DESC LIMIT %(limit)s",
            params,
        ).fetchall()


def counts(conn: Conn) -> dict[str, int]:
    """How many people are in each state."""
    with database_errors("counting people"):
        row = conn.execute(
            "SELECT count(*) FILTER (WHERE is_active AND opted_out_at IS NULL) AS active,"
            " count(*) FILTER (WHERE NOT is_active) AS blocked,"
            " count(*) FILTER (WHERE is_active AND opted_out_at IS NOT NULL) AS opted_out"
            " FROM users"
        ).fetchone()
    return dict(row)
