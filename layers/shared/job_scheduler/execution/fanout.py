"""From a running execution to delivery rows, a chunk at a time, and the first window queued.

For each chunk of a job's messages: upsert the delivery rows as ``ready`` with what to send
(one statement; the UNIQUE (execution, user) key makes a resumed run find the rows it made
before, and leaves rows already on their way as they are), then top up the execution's
window on the notifications queue (``delivery/window.py``): sending starts after the first
chunk, while the rest is still being written, and the notifier keeps the window full from
then on.

A resumed run writes again every row its job produces again; rows of an earlier attempt it
does not produce again (the person picked their food meanwhile) and that have not been
queued are skipped at the end.

An execution cancelled while it fans out stops at its next chunk (``_write_chunk``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from itertools import islice
from typing import Any

from psycopg.types.json import Jsonb

from job_scheduler.adapters.db import Conn, database_errors
from job_scheduler.delivery.window import Window
from job_scheduler.execution.targeting import LAST_ID
from job_scheduler.model import DeliveryStatus, ExecutionStatus, OutgoingMessage

CHUNK = 1000
_COPY = "COPY notification_deliveries (execution_id, user_id, status, payload) FROM STDIN"


class _Chunks:
    """The messages a chunk at a time; with ``prefetch``, the next chunk is made on a thread
    while the caller writes this one (Postgres's wait releases the GIL)."""

    def __init__(self, messages: Iterator[OutgoingMessage], prefetch: bool) -> None:
        self.messages = messages
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="fanout") if prefetch else None
        self.following: Future[list[OutgoingMessage]] | None = None

    def __iter__(self) -> Iterator[list[OutgoingMessage]]:
        try:
            while chunk := self._next():
                yield chunk
        finally:
            if self.pool is not None:
                self.pool.shutdown(wait=True)

    def _next(self) -> list[OutgoingMessage]:
        if self.pool is None:
            return list(islice(self.messages, CHUNK))
        current = self.following or self.pool.submit(self._take)
        chunk = current.result()
        self.following = self.pool.submit(self._take) if chunk else None
        return chunk

    def _take(self) -> list[OutgoingMessage]:
        return list(islice(self.messages, CHUNK))

    def discard(self) -> int:
        """Stop: how many messages were made ahead and will not be written."""
        following, self.following = self.following, None
        return len(following.result()) if following is not None else 0


@dataclass
class FanoutResult:
    recipients: int = 0
    messages: int = 0
    queued: int = 0  # rows put on the queue by this run's top-ups (the first windows)
    skipped: int = 0
    sqs_calls: int = 0
    note: str | None = None
    cancelled: bool = False  # an admin cancelled the execution: the rest was not written
    unwritten: int = 0  # messages made but not written because of the cancel

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def payload_of(message: OutgoingMessage) -> dict[str, Any]:
    """What a delivery row keeps of its message: all the notifier needs but the chat id,
    which it reads from the person's row at send time (a chat that moved is followed)."""
    payload: dict[str, Any] = {
        "text": message.text,
        "parse_mode": message.parse_mode,
        "silent": message.disable_notification,
    }
    if message.reply_markup is not None:
        payload["reply_markup"] = dict(message.reply_markup)
    if message.photo is not None:  # the rest only when set: most rows stay as small as before
        payload["photo"] = message.photo
    if message.protect_content:
        payload["protect_content"] = True
    if not message.link_preview:
        payload["link_preview"] = False
    if message.paid_broadcast:
        payload["paid_broadcast"] = True
    return payload


@dataclass(frozen=True)
class Fanout:
    """Where one execution's messages go: its rows, and its window on the queue."""

    conn: Conn
    window: Window
    execution_id: int
    job_name: str
    ids: tuple[int, int] | None = None  # a shard's range of user ids (shards.py)
    # A first attempt: no row of this execution (or shard) can exist yet, so rows are
    # COPYed in (half the time of the upsert, bench/fanout.py) rather than upserted.
    fresh: bool = False
    # The messages do not read the executor's connection (a custom message's do not): the
    # next chunk is made on a thread while this one is written.
    prefetch: bool = False

    def run(self, messages: Iterator[OutgoingMessage]) -> FanoutResult:
        """Write every message ``messages`` yields and queue the execution's first window;
        counts the messages, the rows queued and the SQS calls (recipients and skips are
        the caller's)."""
        result = FanoutResult()
        calls_before = self.window.outbox.calls
        with database_errors("starting the fan-out"):
            started = self.conn.execute("SELECT now() AS at").fetchone()["at"]
        chunks = _Chunks(messages, self.prefetch)
        for chunk in chunks:
            if not self._write_chunk(chunk):
                result.cancelled, result.unwritten = True, len(chunk) + chunks.discard()
                break
            result.messages += len(chunk)
            result.queued += self.window.top_up(self.conn, self.execution_id, self.job_name)
        else:
            self._skip_rows_not_produced_again(started)
            result.queued += self.window.top_up(self.conn, self.execution_id, self.job_name)
        result.sqs_calls = self.window.outbox.calls - calls_before
        return result

    def _copy(self, by_user: dict[int, OutgoingMessage]) -> None:
        """A fresh run's chunk, COPYed in ``ready`` (inside the chunk's transaction)."""
        with self.conn.cursor() as cursor, cursor.copy(_COPY) as copy:
            for user_id, message in by_user.items():
                copy.write_row((self.execution_id, user_id, DeliveryStatus.READY,
                                json.dumps(payload_of(message), ensure_ascii=False)))  # fmt: skip

    def _skip_rows_not_produced_again(self, started: Any) -> None:
        """On a resumed run: rows of an earlier attempt that this attempt's job did not
        produce again, and that no notifier holds, are skipped, so nothing waits for ever;
        if one's message is still on the queue, the notifier's claim passes it by. On a
        first run nothing matches. A shard looks at its own range of people only."""
        with database_errors("closing rows the resumed run did not produce"):
            self.conn.execute(
                "UPDATE notification_deliveries SET status = %s, updated_at = now(),"
                " last_error = 'not produced again when the run resumed'"
                " WHERE execution_id = %s AND status IN (%s, %s) AND updated_at < %s"
                " AND (claimed_until IS NULL OR claimed_until < now())"
                " AND user_id BETWEEN %s AND %s",
                (DeliveryStatus.SKIPPED, self.execution_id, DeliveryStatus.READY,
                 DeliveryStatus.QUEUED, started, *(self.ids or (0, LAST_ID))),
            )  # fmt: skip

    def _write_chunk(self, chunk: list[OutgoingMessage]) -> bool:
        """Upsert the chunk's rows as ``ready``; a row already queued or further keeps its
        state (a resumed run touches it, so it is not skipped as not produced again).

        False, writing nothing, once the execution is cancelled. The execution row is read
        FOR SHARE in the same transaction: a cancel (which updates that row, then cancels
        the rows not sent) waits for this chunk to commit and so cancels it too, or has
        committed first and is seen here."""
        by_user = {message.user_id: message for message in chunk}
        with database_errors("writing deliveries"), self.conn.transaction():
            status = self.conn.execute(
                "SELECT status FROM job_executions WHERE id = %s FOR SHARE", (self.execution_id,)
            ).fetchone()
            if status is None or status["status"] == ExecutionStatus.CANCELLED:
                return False
            if self.fresh:
                self._copy(by_user)
                return True
            payloads = [Jsonb(payload_of(message)) for message in by_user.values()]
            self.conn.execute(
                "INSERT INTO notification_deliveries (execution_id, user_id, status, payload)"
                " SELECT %(execution)s, user_id, %(ready)s, payload"
                " FROM unnest(%(users)s::bigint[], %(payloads)s::jsonb[]) AS m(user_id, payload)"
                " ON CONFLICT ON CONSTRAINT notification_deliveries_once_per_user"
                " DO UPDATE SET updated_at = now(), payload = CASE"
                "   WHEN notification_deliveries.status = %(ready)s THEN EXCLUDED.payload"
                "   ELSE notification_deliveries.payload END",
                {"execution": self.execution_id, "ready": DeliveryStatus.READY,
                 "users": list(by_user), "payloads": payloads},
            )  # fmt: skip
        return True
