"""Each execution's window on the notifications queue: its backlog waits in Postgres.

The fan-out writes every delivery as ``ready``; only ``window_messages`` messages' worth of
an execution's deliveries are ``queued`` or ``sending`` at any time. Whenever some of them
finish, the notifier puts as many ``ready`` ones on the queue (``top_up``), in id order and
in whole messages. So
the queue holds at most a window per running send: a message of a job fired while another
job sends to 100,000 people waits behind a few of that job's messages, not all of them,
and no job can starve the others. It also makes a lost queue message visible: an
execution with ``ready`` rows and an empty window (``Sweeper``) has lost its messages.

While sending is paused (``pause.py``) a top-up queues nothing. Topping up is serialised
per execution (an advisory lock), so two notifiers finishing at
once do not both fill the same room.
"""

from __future__ import annotations

from dataclasses import dataclass

from job_scheduler.adapters.db import Conn, database_errors
from job_scheduler.config import Settings
from job_scheduler.delivery.outbox import Outbox, pack
from job_scheduler.delivery.pause import KEY as PAUSE_KEY
from job_scheduler.errors import AwsError
from job_scheduler.model import DeliveryStatus
from job_scheduler.observability import logger

WINDOW_LOCK_SPACE = 0x77696E  # pg_advisory_xact_lock(space, execution id): "win"


@dataclass(frozen=True)
class Window:
    """How much of one execution may be on the queue at once, and where it goes."""

    outbox: Outbox
    per_message: int  # deliveries per queue message (RECIPIENTS_PER_MESSAGE)
    messages: int  # messages' worth of deliveries queued or sending at once (NOTIFY_WINDOW)

    @classmethod
    def of(cls, outbox: Outbox, settings: Settings) -> Window:
        """The window the settings give (RECIPIENTS_PER_MESSAGE, NOTIFY_WINDOW_MESSAGES)."""
        return cls(outbox, settings.recipients_per_message, settings.notify_window_messages)

    @property
    def rows(self) -> int:
        return self.per_message * self.messages

    def top_up(self, conn: Conn, execution_id: int, job_name: str) -> int:
        """Queue the execution's next ``ready`` rows, up to its window; how many."""
        with database_errors("topping up the send window"), conn.transaction():
            conn.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)",
                (WINDOW_LOCK_SPACE, execution_id % 2_147_483_647),
            )
            found = conn.execute(
                "SELECT count(*) AS n, EXISTS (SELECT 1 FROM system_config WHERE key = %s)"
                " AS paused FROM notification_deliveries"
                " WHERE execution_id = %s AND status IN (%s, %s)",
                (PAUSE_KEY, execution_id, DeliveryStatus.QUEUED, DeliveryStatus.SENDING),
            ).fetchone()
            # Whole messages only: a top-up after every finished message would otherwise
            # queue the few rows that just finished as a message of their own, and each small
            # message costs a claim, a pause check and a top-up of its own (a paid broadcast
            # ran 19 rows a message instead of 50). Rows in flight top it up again when they
            # finish, so the window never stalls; the last rows go once they fit.
            room = (self.rows - found["n"]) // self.per_message * self.per_message
            if room <= 0 or found["paused"]:  # paused: the backlog waits as ready
                return 0
            rows = conn.execute(
                "UPDATE notification_deliveries SET status = %(queued)s, updated_at = now(),"
                " claimed_by = NULL, claimed_until = NULL"
                " WHERE id IN (SELECT id FROM notification_deliveries"
                "   WHERE execution_id = %(execution)s AND status = %(ready)s"
                "   ORDER BY id LIMIT %(room)s FOR UPDATE SKIP LOCKED)"
                " RETURNING id",
                {"queued": DeliveryStatus.QUEUED, "ready": DeliveryStatus.READY,
                 "execution": execution_id, "room": room},
            ).fetchall()  # fmt: skip
        ids = sorted(row["id"] for row in rows)
        if ids:
            self.send(conn, execution_id, job_name, ids)
        return len(ids)

    def send(self, conn: Conn, execution_id: int, job_name: str, ids: list[int]) -> None:
        """Put these ``queued`` rows' messages on the queue; if SQS refuses, they go back to
        ``ready`` (the next top-up takes them) and the error is raised."""
        try:
            self.outbox.send(pack(execution_id, job_name, ids, self.per_message))
        except AwsError:
            logger.warning("queueing a window failed; its rows wait as ready",
                           extra={"execution_id": execution_id, "rows": len(ids)})  # fmt: skip
            with database_errors("putting back rows that could not be queued"):
                conn.execute(
                    "UPDATE notification_deliveries SET status = %s, updated_at = now()"
                    " WHERE id = ANY(%s) AND status = %s AND claimed_by IS NULL",
                    (DeliveryStatus.READY, ids, DeliveryStatus.QUEUED),
                )
            raise
