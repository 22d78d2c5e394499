"""Cancelling an execution: stop a send that should not go on.

One transaction: the execution row is locked and becomes ``cancelled`` (who, when), then
every delivery of it not yet sent (``ready``, ``queued``) becomes ``cancelled``. From then:

- the fan-out writes no more rows (it reads the execution row FOR SHARE per chunk, so a
  chunk either committed before the cancel, and is cancelled with the rest, or sees it);
- a notifier's claim and its per-wave ``sending`` mark both require ``queued``, so a
  message already on the queue, or a batch half sent, sends nothing more;
- what is ``sending`` at that moment is in flight: its requests may already have left, so
  it finishes and is recorded as usual. The answer says how many that is.

A send that finished (nothing left to cancel), a skipped or missed firing, or one already
cancelled is refused (``ExecutionSettled``) with what happened to it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from job_scheduler.adapters.db import Conn, database_errors
from job_scheduler.audit import record_change
from job_scheduler.delivery.records import recount
from job_scheduler.errors import ExecutionNotFound, ExecutionSettled
from job_scheduler.model import DeliveryStatus, ExecutionStatus


@dataclass(frozen=True)
class Cancelled:
    """What a cancel stopped: deliveries cancelled, and those already in flight."""

    execution_id: int
    job: str
    was: str  # the execution's status before
    cancelled: int
    in_flight: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def cancel_execution(conn: Conn, execution_id: int, actor: str, now: datetime) -> Cancelled:
    """Cancel the execution and its unsent deliveries (audited); refuse a settled one."""
    with database_errors("cancelling the execution"), conn.transaction():
        row = conn.execute(
            "SELECT e.status, e.cancelled_by, e.cancelled_at, j.name FROM job_executions AS e"
            " JOIN scheduled_jobs AS j ON j.id = e.job_id WHERE e.id = %s FOR UPDATE OF e",
            (execution_id,),
        ).fetchone()
        if row is None:
            raise ExecutionNotFound(f"there is no execution {execution_id}", "execution_id")
        _refuse_settled(row)
        cancelled = conn.execute(
            "UPDATE notification_deliveries SET status = %s, updated_at = now(),"
            " claimed_until = NULL, last_error = %s"
            " WHERE execution_id = %s AND status IN (%s, %s)",
            (DeliveryStatus.CANCELLED, f"cancelled by {actor}", execution_id,
             DeliveryStatus.READY, DeliveryStatus.QUEUED),
        ).rowcount  # fmt: skip
        in_flight = conn.execute(
            "SELECT count(*) AS n FROM notification_deliveries"
            " WHERE execution_id = %s AND status = %s",
            (execution_id, DeliveryStatus.SENDING),
        ).fetchone()["n"]  # type: ignore[index]  # count(*) always has a row
        if row["status"] == ExecutionStatus.SUCCEEDED and not cancelled and not in_flight:
            raise ExecutionSettled(
                f"execution {execution_id} has finished sending: there is nothing left to"
                " cancel", "execution_id")  # fmt: skip
        conn.execute(
            "UPDATE job_executions SET status = %s, cancelled_at = %s, cancelled_by = %s,"
            " finished_at = COALESCE(finished_at, %s) WHERE id = %s",
            (ExecutionStatus.CANCELLED, now, actor, now, execution_id),
        )
        recount(conn, execution_id)
        done = Cancelled(execution_id, row["name"], row["status"], cancelled, in_flight)
        record_change(conn, actor, "cancel", "execution", str(execution_id),
                      {"status": row["status"]}, done.as_dict(), now)  # fmt: skip
    return done


def _refuse_settled(row: dict[str, Any]) -> None:
    status = row["status"]
    if status == ExecutionStatus.CANCELLED:
        raise ExecutionSettled(
            f"already cancelled by {row['cancelled_by']} at {row['cancelled_at']:%Y-%m-%d %H:%M}"
            " UTC", "execution_id")  # fmt: skip
    if status not in ExecutionStatus.cancellable():
        raise ExecutionSettled(f"this firing was {status}: nothing was sent", "execution_id")
