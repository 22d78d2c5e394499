"""The notifier's side of ``notification_deliveries``: claims, and every outcome recorded.

A notifier *claims* the ``queued`` rows a queue message names (``claimed_by`` its own
token, ``claimed_until`` a lease): a copy of the message, or a second notifier, finds
nothing to claim. Just before a row's request leaves, it becomes ``sending``; after that it
is never sent again by anyone: its outcome is recorded, or the sweeper settles it as
``uncertain``. A claimed row still ``queued`` never left, so when its notifier dies it is
claimed again once the lease runs out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from job_scheduler.adapters.db import Conn, database_errors
from job_scheduler.model import DeliveryStatus
from job_scheduler.observability import metrics


@dataclass(frozen=True)
class Delivery:
    """A claimed delivery: what to send, to whom, and how many claims it has had."""

    delivery_id: int
    user_id: int
    chat_id: int
    text: str
    parse_mode: str | None
    silent: bool
    attempts: int = 1
    reply_markup: Mapping[str, Any] | None = None
    photo: str | None = None  # sent with sendPhoto, ``text`` as its caption
    protect_content: bool = False
    link_preview: bool = True
    paid_broadcast: bool = False  # sent with allow_paid_broadcast, limited at the paid rate


@dataclass(frozen=True)
class Claimed:
    """What a claim found: rows to send, and rows whose person cannot be reached now."""

    deliveries: list[Delivery]
    unreachable: list[tuple[int, str]]  # (delivery id, why)


_CLAIM = """
UPDATE notification_deliveries AS d
SET claimed_by = %(token)s, claimed_until = now() + make_interval(secs => %(lease)s),
    attempts = d.attempts + 1, updated_at = now()
FROM users AS u
WHERE d.id = ANY(%(ids)s) AND u.id = d.user_id AND d.status = 'queued'
  AND (d.claimed_until IS NULL OR d.claimed_until < now())
RETURNING d.id, d.user_id, d.attempts, d.payload, u.telegram_chat_id AS chat_id, u.is_active,
          u.inactive_reason, u.opted_out_at
"""


class DeliveryRecords:
    """Reads and writes the rows of the deliveries one notifier handles."""

    def __init__(self, conn: Conn, lease_seconds: int) -> None:
        self.conn = conn
        self.lease_seconds = lease_seconds

    def claim(
        self, ids: Sequence[int], token: str, inline: Mapping[int, Mapping[str, Any]]
    ) -> Claimed:
        """Claim what is still to send; ``inline`` holds payloads a message carried itself."""
        params = {"token": token, "lease": self.lease_seconds, "ids": list(ids)}
        with database_errors("claiming deliveries"):
            rows = self.conn.execute(_CLAIM, params).fetchall()
        deliveries, unreachable = [], []
        for row in sorted(rows, key=lambda row: row["id"]):
            payload = row["payload"] or inline.get(row["id"])
            if not row["is_active"]:
                why = f"the person can no longer be reached ({row['inactive_reason']})"
                unreachable.append((row["id"], why))
            elif row["opted_out_at"] is not None:  # said /stop after the message was queued
                unreachable.append((row["id"], "the person opted out of messages (/stop)"))
            elif payload is None:
                unreachable.append((row["id"], "nothing to send: the row has no payload"))
            else:
                deliveries.append(_delivery(row, payload))
        return Claimed(deliveries, unreachable)

    def mark_sending(
        self, ids: Sequence[int], token: str, sent: Sequence[tuple[int, int]] = ()
    ) -> set[int]:
        """The rows of ``ids`` this claim still holds, now ``sending``: only they may go.

        ``sent`` (as for ``mark_sent``) are recorded in the same transaction, pipelined: one
        round trip and one commit for the outcomes of the last wave and the marks of the
        next, where two commits a wave were most of the notifier's own time."""
        with database_errors("marking deliveries as sending"), self.conn.transaction():
            with self.conn.pipeline():
                if sent:
                    self._mark_sent(sent)
                cursor = self.conn.execute(
                    "UPDATE notification_deliveries SET status = %s, updated_at = now()"
                    " WHERE id = ANY(%s) AND claimed_by = %s AND status = %s RETURNING id",
                    (DeliveryStatus.SENDING, list(ids), token, DeliveryStatus.QUEUED),
                )
            rows = cursor.fetchall()
        return {row["id"] for row in rows}

    def held_elsewhere(self, ids: Sequence[int], token: str) -> int:
        """How many of ``ids`` are still to send but claimed by another, unexpired claim
        (a duplicate message being sent now, or a claim whose holder died before it could
        release it)."""
        with database_errors("reading claims"):
            row = self.conn.execute(
                "SELECT count(*) AS n FROM notification_deliveries WHERE id = ANY(%s)"
                " AND status = %s AND claimed_by IS DISTINCT FROM %s AND claimed_until >= now()",
                (list(ids), DeliveryStatus.QUEUED, token),
            ).fetchone()
        return row["n"]

    def release(self, ids: Sequence[int], token: str) -> None:
        """Give up this claim on rows that never left: a redelivery may claim them at once.
        A row among them may be ``sending``: its wave's mark was committed but the answer
        was lost with the connection, so the wave never went; this claim's holder is the
        only one that could have sent it, and it did not, so it is ``queued`` again."""
        with database_errors("releasing claims"):
            self.conn.execute(
                "UPDATE notification_deliveries SET status = %s, claimed_by = NULL,"
                " claimed_until = NULL, updated_at = now()"
                " WHERE id = ANY(%s) AND claimed_by = %s AND status IN (%s, %s)",
                (DeliveryStatus.QUEUED, list(ids), token, DeliveryStatus.QUEUED,
                 DeliveryStatus.SENDING),
            )  # fmt: skip

    def mark_sent(self, sent: Sequence[tuple[int, int]]) -> None:
        """Record sent deliveries with Telegram's message ids, in one statement."""
        with database_errors("recording sent deliveries"):
            self._mark_sent(sent)

    def _mark_sent(self, sent: Sequence[tuple[int, int]]) -> None:
        self.conn.execute(
            "UPDATE notification_deliveries AS d SET status = 'sent',"
            " telegram_message_id = s.message_id, last_error = NULL, sent_at = now(),"
            " updated_at = now(), claimed_until = NULL"
            " FROM unnest(%s::bigint[], %s::bigint[]) AS s(id, message_id)"
            " WHERE d.id = s.id",
            ([delivery_id for delivery_id, _ in sent], [message_id for _, message_id in sent]),
        )

    def settle(
        self, ids: Sequence[int], status: DeliveryStatus, error: str | None,
        retryable: bool = False,
    ) -> None:  # fmt: skip
        """A final outcome (failed, uncertain, skipped) for these rows, with its reason
        (None: the last error recorded stays the reason); ``retryable``: a failure of
        Telegram or the network, which an admin's "retry failed" may send again."""
        with database_errors("recording deliveries"):
            self.conn.execute(
                "UPDATE notification_deliveries SET status = %s,"
                " last_error = COALESCE(%s, last_error), updated_at = now(),"
                " claimed_until = NULL, retryable = %s WHERE id = ANY(%s)",
                (status, error, retryable, list(ids)),
            )

    def back_to_queued(self, ids: Sequence[int], error: str | None = None) -> None:
        """Rows that did not reach Telegram (429, out of time, a transient error): queued
        again and unclaimed, for a new message or the redelivered one."""
        with database_errors("re-queueing deliveries"):
            self.conn.execute(
                "UPDATE notification_deliveries SET status = %s, claimed_by = NULL,"
                " claimed_until = NULL, updated_at = now(), last_error = COALESCE(%s, last_error)"
                " WHERE id = ANY(%s) AND status IN (%s, %s)",
                (DeliveryStatus.QUEUED, error, list(ids), DeliveryStatus.SENDING,
                 DeliveryStatus.QUEUED),
            )  # fmt: skip

    def deactivate(self, user_id: int, reason: str) -> None:
        with database_errors("deactivating a user"):
            self.conn.execute(
                "UPDATE users SET is_active = false, inactive_reason = %s, inactive_since = now(),"
                " updated_at = now() WHERE id = %s AND is_active",
                (reason, user_id),
            )
        metrics.add_metric(name="UsersDeactivated", unit="Count", value=1)

    def move_chat(self, user_id: int, new_chat_id: int) -> None:
        with database_errors("moving a user to their new chat id"):
            self.conn.execute(
                "UPDATE users SET telegram_chat_id = %s, updated_at = now() WHERE id = %s",
                (new_chat_id, user_id),
            )


def recount(conn: Conn, execution_id: int) -> None:
    """An execution's sent, failed, uncertain and cancelled counts, from its rows (so a
    crash or a lost increment can never leave them wrong)."""
    with database_errors("counting deliveries"):
        conn.execute(
            "UPDATE job_executions AS e SET sent_count = c.sent, failed_count = c.failed,"
            " uncertain_count = c.uncertain, cancelled_count = c.cancelled, counted_at = now()"
            " FROM (SELECT count(*) FILTER (WHERE status = 'sent') AS sent,"
            "   count(*) FILTER (WHERE status = 'failed') AS failed,"
            "   count(*) FILTER (WHERE status = 'uncertain') AS uncertain,"
            "   count(*) FILTER (WHERE status = 'cancelled') AS cancelled"
            "   FROM notification_deliveries WHERE execution_id = %(id)s) AS c"
            " WHERE e.id = %(id)s",
            {"id": execution_id},
        )


def _delivery(row: Mapping[str, Any], payload: Mapping[str, Any]) -> Delivery:
    return Delivery(
        delivery_id=row["id"],
        user_id=row["user_id"],
        chat_id=row["chat_id"],
        text=payload["text"],
        parse_mode=payload.get("parse_mode"),
        silent=bool(payload.get("silent")),
        attempts=row["attempts"],
        reply_markup=payload.get("reply_markup"),
        photo=payload.get("photo"),
        protect_content=bool(payload.get("protect_content")),
        link_preview=payload.get("link_preview", True) is not False,
        paid_broadcast=payload.get("paid_broadcast") is True,
    )


def recount_if_due(conn: Conn, execution_id: int, every_seconds: float) -> bool:
    """``recount``, unless the execution was counted within ``every_seconds`` and some of
    it is still to send; whether it counted. A count reads every row of the execution:
    after each queue message of a big send that was O(rows) a message, most of Postgres's
    work (bench/paid_broadcast.py). Of the notifiers finishing the last messages, the last
    to look finds nothing left (each records its outcomes before it looks), so the final
    counts are exact; meanwhile they lag by at most ``every_seconds``."""
    with database_errors("counting deliveries"):
        row = conn.execute(
            "SELECT e.counted_at >= now() - make_interval(secs => %(every)s) AS fresh,"
            " EXISTS (SELECT 1 FROM notification_deliveries WHERE execution_id = e.id"
            "   AND status IN (%(ready)s, %(queued)s, %(sending)s)) AS going"
            " FROM job_executions AS e WHERE e.id = %(id)s",
            {"every": every_seconds, "id": execution_id, "ready": DeliveryStatus.READY,
             "queued": DeliveryStatus.QUEUED, "sending": DeliveryStatus.SENDING},
        ).fetchone()  # fmt: skip
    if row is not None and row["fresh"] and row["going"]:
        return False
    recount(conn, execution_id)
    return True
