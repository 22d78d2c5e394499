"""The system-wide pause: while it is on, nothing new is sent.

Pausing writes one row (``system_config`` key ``pause``); everything else reads it:

- the executor records every firing ``skipped`` with who paused and when (run now too);
- ``Window.top_up`` puts nothing on the notifications queue, so an execution's backlog
  waits in Postgres as ``ready``;
- a notifier that receives a message while paused puts its ``queued`` rows back to
  ``ready`` instead of sending them; what is already ``sending`` finishes.

Resuming clears the row and tops every waiting execution's window up again. A pause that
lasted longer than ``PAUSE_MAX_DELAY_SECONDS`` (an hour by default) drops what it held as
``skipped`` ("missed while paused") instead: a 22:00 reminder is not worth sending the next
morning. Both are audited.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from job_scheduler.adapters.db import Conn, database_errors
from job_scheduler.audit import record_change
from job_scheduler.errors import InvalidField, NotPaused, SystemPaused
from job_scheduler.model import DeliveryStatus

KEY = "pause"
MAX_REASON = 500


@dataclass(frozen=True)
class Pause:
    """Who paused sending, when, and why."""

    by: str
    at: datetime
    reason: str = ""

    def describe(self) -> str:
        why = f": {self.reason}" if self.reason else ""
        return f"sending is paused (by {self.by} since {self.at:%Y-%m-%d %H:%M} UTC{why})"

    def as_dict(self) -> dict[str, Any]:
        return {"paused": True, "by": self.by, "at": self.at.isoformat(), "reason": self.reason}


@dataclass(frozen=True)
class Resumed:
    """What a resume let go: executions topped up, deliveries dropped as missed."""

    paused_seconds: int
    executions: int
    dropped: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "paused": False,
            "paused_seconds": self.paused_seconds,
            "executions_resumed": self.executions,
            "deliveries_dropped": self.dropped,
        }


def current(conn: Conn) -> Pause | None:
    """The pause in force, or None."""
    with database_errors("reading the pause switch"):
        row = conn.execute("SELECT value FROM system_config WHERE key = %s", (KEY,)).fetchone()
    if row is None:
        return None
    value = row["value"]
    return Pause(value["by"], datetime.fromisoformat(value["at"]), value.get("reason", ""))


def pause(conn: Conn, actor: str, reason: str, now: datetime) -> Pause:
    """Turn the pause on (audited); pausing twice is refused, so the first reason stays."""
    reason = (reason or "").strip()
    if len(reason) > MAX_REASON:
        raise InvalidField(f"the reason must be at most {MAX_REASON} characters", "reason")
    made = Pause(actor, now, reason)
    with database_errors("pausing"), conn.transaction():
        row = conn.execute(
            "INSERT INTO system_config (key, value, updated_at) VALUES (%s, %s, %s)"
            " ON CONFLICT (key) DO NOTHING RETURNING key",
            (KEY, Jsonb(made.as_dict()), now),
        ).fetchone()
        if row is None:
            raise SystemPaused(f"already paused: {current(conn).describe()}")  # type: ignore[union-attr]
        record_change(conn, actor, "pause", "system", "sending", None, made.as_dict(), now)
    return made


def resume(
    conn: Conn, actor: str, max_delay_seconds: int, now: datetime
) -> tuple[Resumed, list[tuple[int, str]]]:
    """Turn the pause off (audited); drop what a too-long pause held. Returns what it did
    and the executions (id, job name) whose windows the caller tops up again."""
    with database_errors("resuming"), conn.transaction():
        row = conn.execute(
            "DELETE FROM system_config WHERE key = %s RETURNING value", (KEY,)
        ).fetchone()
        if row is None:
            raise NotPaused("sending is not paused: there is nothing to resume")
        paused_at = datetime.fromisoformat(row["value"]["at"])
        seconds = max(0, int((now - paused_at).total_seconds()))
        dropped = 0
        if seconds > max_delay_seconds:
            dropped = _drop_waiting(conn, paused_at, seconds)
        waiting = conn.execute(
            "SELECT DISTINCT d.execution_id, j.name FROM notification_deliveries AS d"
            " JOIN job_executions AS e ON e.id = d.execution_id"
            " JOIN scheduled_jobs AS j ON j.id = e.job_id"
            " WHERE d.status = %s ORDER BY d.execution_id",
            (DeliveryStatus.READY,),
        ).fetchall()
        done = Resumed(seconds, len(waiting), dropped)
        record_change(conn, actor, "resume", "system", "sending", row["value"], done.as_dict(),
                      now)  # fmt: skip
    return done, [(item["execution_id"], item["name"]) for item in waiting]


TopUp = Callable[[Conn, int, str], int]  # Window.top_up


def resume_and_top_up(
    conn: Conn, top_up: TopUp, actor: str, max_delay_seconds: int,
    now: datetime,
) -> Resumed:  # fmt: skip
    """Resume, then top every waiting execution's window up again (``top_up``: a Window's;
    passed in, as the window reads this module's switch)."""
    done, waiting = resume(conn, actor, max_delay_seconds, now)
    for execution_id, job_name in waiting:
        top_up(conn, execution_id, job_name)
    return done


def _drop_waiting(conn: Conn, paused_at: datetime, seconds: int) -> int:
    """Deliveries held by the pause (waiting to be queued) are skipped as missed."""
    rows = conn.execute(
        "UPDATE notification_deliveries SET status = %s, updated_at = now(), last_error = %s"
        " WHERE status = %s RETURNING execution_id",
        (DeliveryStatus.SKIPPED,
         f"missed: sending was paused for {seconds // 60} min from {paused_at:%Y-%m-%d %H:%M}"
         " UTC, longer than the pause's bound", DeliveryStatus.READY),
    ).fetchall()  # fmt: skip
    from job_scheduler.delivery.records import recount  # records imports nothing of ours back

    for execution_id in {row["execution_id"] for row in rows}:
        recount(conn, execution_id)
    return len(rows)


def hold(conn: Conn, ids: list[int]) -> int:
    """A notifier's message received while paused: its unclaimed ``queued`` rows go back to
    ``ready`` (they are topped up again on resume); how many."""
    with database_errors("holding deliveries while paused"):
        rows = conn.execute(
            "UPDATE notification_deliveries SET status = %s, updated_at = now(),"
            " claimed_by = NULL, claimed_until = NULL WHERE id = ANY(%s) AND status = %s"
            " AND (claimed_until IS NULL OR claimed_until < now()) RETURNING id",
            (DeliveryStatus.READY, ids, DeliveryStatus.QUEUED),
        ).fetchall()
    return len(rows)
