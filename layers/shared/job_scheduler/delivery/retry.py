"""Retrying what failed: an execution's failed deliveries, once more, when it could help.

A delivery is retried only if its failure was Telegram's or the network's (``retryable``,
set by the notifier: 5xx or no connection after every retry, or rate limited on every
attempt) and its person is still reachable (active, not opted out). A person who blocked
the bot, a message Telegram refused as malformed, or one that "may have arrived" is never
sent again. Each request retries what is failed at that moment once: the rows become
``ready`` (attempts counted afresh) and the window queues them as it queues any backlog.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from job_scheduler.adapters.db import Conn, database_errors
from job_scheduler.audit import record_change
from job_scheduler.delivery.records import recount
from job_scheduler.delivery.window import Window
from job_scheduler.errors import ExecutionNotFound, ExecutionSettled
from job_scheduler.model import DeliveryStatus, ExecutionStatus


@dataclass(frozen=True)
class Retried:
    """What a retry did: deliveries queued again, and failed ones left as they are."""

    execution_id: int
    job: str
    retried: int
    not_retried: int  # failed for the person's reason, or a malformed message
    queued: int  # put on the queue at once (the rest follow as the window empties)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def retry_failed(
    conn: Conn, window: Window, execution_id: int, actor: str, now: datetime
) -> Retried:
    """Make the execution's retryable failed deliveries ``ready`` again (audited) and top
    its window up."""
    with database_errors("retrying failed deliveries"), conn.transaction():
        row = conn.execute(
            "SELECT e.status, j.name FROM job_executions AS e JOIN scheduled_jobs AS j"
            " ON j.id = e.job_id WHERE e.id = %s FOR UPDATE OF e",
            (execution_id,),
        ).fetchone()
        if row is None:
            raise ExecutionNotFound(f"there is no execution {execution_id}", "execution_id")
        if row["status"] == ExecutionStatus.CANCELLED:
            raise ExecutionSettled("this execution was cancelled: nothing of it is sent again",
                                   "execution_id")  # fmt: skip
        retried = conn.execute(
            "UPDATE notification_deliveries AS d SET status = %(ready)s, retryable = false,"
            " attempts = 0, claimed_by = NULL, claimed_until = NULL, updated_at = now(),"
            " last_error = 'retried by ' || %(actor)s || ' after: ' || COALESCE(d.last_error, '')"
            " FROM users AS u WHERE d.execution_id = %(id)s AND d.status = %(failed)s"
            " AND d.retryable AND u.id = d.user_id AND u.is_active AND u.opted_out_at IS NULL",
            {"ready": DeliveryStatus.READY, "failed": DeliveryStatus.FAILED, "id": execution_id,
             "actor": actor},
        ).rowcount  # fmt: skip
        left = conn.execute(
            "SELECT count(*) AS n FROM notification_deliveries"
            " WHERE execution_id = %s AND status = %s",
            (execution_id, DeliveryStatus.FAILED),
        ).fetchone()["n"]  # type: ignore[index]  # count(*) always has a row
        recount(conn, execution_id)
        record_change(conn, actor, "retry-failed", "execution", str(execution_id), None,
                      {"retried": retried, "not_retried": left}, now)  # fmt: skip
    queued = window.top_up(conn, execution_id, row["name"]) if retried else 0
    return Retried(execution_id, row["name"], retried, left, queued)
