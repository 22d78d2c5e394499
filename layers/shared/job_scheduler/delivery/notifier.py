"""Sending a batch of deliveries to Telegram, each at most once where Postgres can tell.

For one queue message (one ``DeliveryBatch``):

1. claim the deliveries: ``queued`` ones, or ``sending`` ones whose claim
   expired (a notifier died mid-send). Sent, failed and freshly claimed ones are skipped,
   so a redelivered message sends nothing twice where the send was recorded;
2. send the claimed ones on a few threads, each waiting on the shared rate limiter;
3. record the outcomes as they arrive (the sent ones that finished together in one
   statement): ``sent`` with Telegram's message_id; 403/chat-not-found
   → the user goes inactive and the delivery fails for good; a migrated chat → the user's
   chat id is updated and the message sent again; 429 → the limiter is penalised and the
   delivery re-queued with a delay; 5xx or a connection that never reached Telegram →
   retried here with backoff, then the record fails and SQS retries it (on the last receive
   the delivery is marked failed); no answer after sending (read timeout, cut connection)
   → failed, not resent, since Telegram may have delivered it; too little time left in the
   invocation → re-queued rather than sent;
4. recount the execution's sent and failed deliveries from their rows.

The one window that cannot be closed: Telegram accepted a message and the notifier died
before Postgres recorded it. Telegram has no idempotency key, so that message is sent
again once the claim expires.
"""

from __future__ import annotations

import math
import queue
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import psycopg
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from job_scheduler.adapters.db import database_errors, get_connection
from job_scheduler.config import Settings
from job_scheduler.delivery.outbox import Delivery, DeliveryBatch, Outbox
from job_scheduler.delivery.ratelimit import Grant, RateLimiter
from job_scheduler.errors import (
    ChatGone,
    ChatMigrated,
    Deferred,
    DeliveriesFailed,
    JobSchedulerError,
    RateLimited,
    Rejected,
    SendError,
    Transient,
    Uncertain,
)
from job_scheduler.model import DeliveryStatus
from job_scheduler.observability import logger, metrics

TRANSIENT_ATTEMPTS = 3
MAX_REQUEUE_DELAY = 900  # SQS's DelaySeconds limit
# A re-queued delivery comes back as a new queue message, so maxReceiveCount never stops
# it: after this many claims it fails for good instead of circling for ever.
MAX_DELIVERY_ATTEMPTS = 20
SEND_MARGIN_SECONDS = 5.0  # stop sending this long before the invocation's deadline


@dataclass
class NotifyResult:
    claimed: int = 0
    sent: int = 0
    failed: int = 0
    requeued: int = 0
    retry: list[int] = field(default_factory=list)


@dataclass
class Notifier:
    settings: Settings
    send: Callable[[int, str, str | None, bool], int]  # TelegramClient.send
    limiter: RateLimiter
    outbox: Outbox
    _pool: ThreadPoolExecutor | None = field(default=None, init=False, repr=False)

    @property
    def conn(self) -> psycopg.Connection:
        """The calling thread's connection; sending threads use the batch's (``_conn``)."""
        return get_connection(self.settings.database_url)

    def process(
        self, batch: DeliveryBatch, receive_count: int = 1, deadline: float | None = None
    ) -> NotifyResult:
        """Send what can be claimed; ``deadline`` (monotonic) is when to stop and re-queue."""
        self._conn = self.conn  # the sending threads write through this one (psycopg is
        # thread-safe per connection), instead of each opening its own
        attempts = self._claim([d.delivery_id for d in batch.deliveries])
        deliveries = [d for d in batch.deliveries if d.delivery_id in attempts]
        result = NotifyResult(claimed=len(deliveries))
        later: list[tuple[Delivery, float]] = []
        try:
            self._send_all(deliveries, deadline, result, later)
            worn = {
                d.delivery_id for d, _ in later if attempts[d.delivery_id] >= MAX_DELIVERY_ATTEMPTS
            }
            for delivery_id in worn:
                self._mark(
                    delivery_id,
                    DeliveryStatus.FAILED,
                    f"rate limited or out of time on {MAX_DELIVERY_ATTEMPTS} attempts; given up",
                )
            result.failed += len(worn)
            later = [(d, wait) for d, wait in later if d.delivery_id not in worn]
            if later:
                self._requeue(batch, later, result)
        finally:
            if result.retry:
                final = receive_count >= self.settings.max_receive_count
                self._give_back(result.retry, final=final)
            self._count(batch.execution_id)
        if result.retry:
            raise DeliveriesFailed(f"{len(result.retry)} deliveries hit transient errors")
        return result

    def _send_all(
        self,
        deliveries: list[Delivery],
        deadline: float | None,
        result: NotifyResult,
        later: list[tuple[Delivery, float]],
    ) -> None:
        """Send on a few threads; record outcomes as they come, all that finished at once.

        Whenever this thread is free it records every send finished by then, the sent ones
        in one statement: one at a time when sends are slow (as under Telegram's limits),
        in groups when they outpace Postgres. Every outcome is recorded even if recording
        one fails.
        """
        if not deliveries:
            return
        failure: Exception | None = None
        pool = self._senders()
        # Finished sends arrive on a queue: concurrent.futures.wait() would lock and unlock
        # every pending future on each wake, O(batch) per send.
        finished: queue.SimpleQueue[Future[tuple[int | SendError, list[Grant]]]]
        finished = queue.SimpleQueue()
        running = {}
        for delivery in deliveries:
            future = pool.submit(self._send_one, delivery, deadline)
            running[future] = delivery
            future.add_done_callback(finished.put)
        while running:
            done = [finished.get()]
            while not finished.empty():
                done.append(finished.get_nowait())
            outcomes = []
            grants: list[Grant] = []
            for future in done:
                outcome, unsettled = future.result()
                outcomes.append((running.pop(future), outcome))
                grants += unsettled
            try:
                self._record_all(outcomes, result, later)
            except Exception as exc:  # record the others first, then raise
                failure = failure or exc
            try:
                self.limiter.settle(grants)
            except Exception as exc:  # a limiter fault must not cost the records above
                failure = failure or exc
        if failure is not None:
            raise failure

    def _senders(self) -> ThreadPoolExecutor:
        """One pool for the Lambda's life: its threads keep their HTTP keep-alive sessions."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                max_workers=self.settings.notifier_concurrency, thread_name_prefix="send"
            )
        return self._pool

    def _send_one(
        self, delivery: Delivery, deadline: float | None
    ) -> tuple[int | SendError, list[Grant]]:
        """Telegram's message_id or the SendError to record, and the limiter's grant for a
        send that succeeded (settled by the recording thread). Never raises."""
        unsettled: list[Grant] = []
        try:
            return self._send_retrying(delivery.chat_id, delivery, deadline, unsettled), unsettled
        except ChatMigrated as moved:
            try:
                self._move_chat(delivery.user_id, moved.new_chat_id)
                chat_id = moved.new_chat_id
                return self._send_retrying(chat_id, delivery, deadline, unsettled), unsettled
            except SendError as exc:
                return exc, unsettled
            except JobSchedulerError as exc:
                return Rejected(f"{moved}; moving the user to the new chat failed: {exc}"), []
        except SendError as exc:
            return exc, unsettled

    @retry(
        retry=retry_if_exception_type(Transient),
        stop=stop_after_attempt(TRANSIENT_ATTEMPTS),
        wait=wait_exponential(multiplier=0.2, max=2),
        reraise=True,
    )
    def _send_retrying(
        self, chat_id: int, delivery: Delivery, deadline: float | None, unsettled: list[Grant]
    ) -> int:
        if deadline is not None and time.monotonic() > deadline - SEND_MARGIN_SECONDS:
            raise Deferred("the invocation is about to time out")
        grant = self.limiter.acquire(
            chat_id, deadline=None if deadline is None else deadline - SEND_MARGIN_SECONDS
        )
        if grant is None:
            raise Deferred("waiting for the rate limit would pass the invocation's deadline")
        try:
            message_id = self.send(chat_id, delivery.text, delivery.parse_mode, delivery.silent)
        except BaseException:
            self.limiter.settle([grant])  # now, before any retry's wait
            raise
        unsettled.append(grant)
        return message_id

    def _record_all(
        self,
        outcomes: list[tuple[Delivery, int | SendError]],
        result: NotifyResult,
        rate_limited: list[tuple[Delivery, float]],
    ) -> None:
        sent = [(d.delivery_id, outcome) for d, outcome in outcomes if isinstance(outcome, int)]
        failure: Exception | None = None
        for delivery, outcome in outcomes:
            if not isinstance(outcome, int):
                try:
                    self._record(delivery, outcome, result, rate_limited)
                except Exception as exc:
                    failure = failure or exc
        if sent:
            self._mark_sent(sent)
            result.sent += len(sent)
            metrics.add_metric(name="MessagesSent", unit="Count", value=len(sent))
        if failure is not None:
            raise failure

    def _record(
        self,
        delivery: Delivery,
        outcome: SendError,
        result: NotifyResult,
        rate_limited: list[tuple[Delivery, float]],
    ) -> None:
        if isinstance(outcome, RateLimited):
            self.limiter.penalise(outcome.retry_after)
            rate_limited.append((delivery, outcome.retry_after))
        elif isinstance(outcome, Deferred):
            rate_limited.append((delivery, 0))
        elif isinstance(outcome, ChatGone):
            self._deactivate(delivery.user_id, str(outcome))
            self._mark(delivery.delivery_id, DeliveryStatus.FAILED, error=str(outcome))
            result.failed += 1
        elif isinstance(outcome, Rejected | ChatMigrated | Uncertain):
            self._mark(delivery.delivery_id, DeliveryStatus.FAILED, error=str(outcome))
            result.failed += 1
        else:
            self._mark(delivery.delivery_id, DeliveryStatus.SENDING, error=str(outcome))
            result.retry.append(delivery.delivery_id)
        if not isinstance(outcome, Deferred):
            logger.warning(
                "delivery not sent",
                extra={"delivery_id": delivery.delivery_id, "error": str(outcome)},
            )

    def _requeue(
        self, batch: DeliveryBatch, limited: list[tuple[Delivery, float]], result: NotifyResult
    ) -> None:
        delay = min(MAX_REQUEUE_DELAY, math.ceil(max(wait for _, wait in limited)))
        deliveries = tuple(delivery for delivery, _ in limited)
        ids = [delivery.delivery_id for delivery in deliveries]
        # Rows first, message second: a notifier that receives the new message at once must
        # find them claimable. If queueing fails, this record fails, and its redelivery
        # claims the rows that are now 'queued'.
        with database_errors("re-queueing rate-limited deliveries"):
            self.conn.execute(
                "UPDATE notification_deliveries SET status = 'queued', claimed_until = NULL,"
                " last_error = 'rate limited or out of time; re-queued', updated_at = now()"
                " WHERE id = ANY(%s) AND status = 'sending'",
                (ids,),
            )
        self.outbox.send([DeliveryBatch(batch.execution_id, batch.job_name, deliveries)], delay)
        result.requeued = len(ids)
        metrics.add_metric(name="TelegramRateLimited", unit="Count", value=len(ids))

    # --- Postgres -------------------------------------------------------------------------

    def _claim(self, ids: list[int]) -> dict[int, int]:
        """Claim what is still to send: {delivery id: attempts, this one included}."""
        with database_errors("claiming deliveries"):
            rows = self.conn.execute(
                "UPDATE notification_deliveries SET status = 'sending', attempts = attempts + 1,"
                " claimed_until = now() + make_interval(secs => %s), updated_at = now()"
                " WHERE id = ANY(%s) AND (status = 'queued'"
                "   OR (status = 'sending' AND claimed_until < now()))"
                " RETURNING id, attempts",
                (self.settings.execution_lease_seconds, ids),
            ).fetchall()
        return {row["id"]: row["attempts"] for row in rows}

    def _mark_sent(self, sent: list[tuple[int, int]]) -> None:
        """Record sent deliveries with Telegram's message ids, in one statement."""
        with database_errors("recording sent deliveries"):
            self.conn.execute(
                "UPDATE notification_deliveries AS d SET status = 'sent',"
                " telegram_message_id = s.message_id, last_error = NULL, sent_at = now(),"
                " updated_at = now(), claimed_until = NULL"
                " FROM unnest(%s::bigint[], %s::bigint[]) AS s(id, message_id)"
                " WHERE d.id = s.id",
                ([delivery_id for delivery_id, _ in sent], [message_id for _, message_id in sent]),
            )

    def _mark(self, delivery_id: int, status: DeliveryStatus, error: str) -> None:
        with database_errors("recording a delivery"):
            self.conn.execute(
                "UPDATE notification_deliveries SET status = %s, last_error = %s,"
                " updated_at = now(),"
                " claimed_until = CASE WHEN %s = 'sending' THEN claimed_until END"
                " WHERE id = %s",
                (status, error, status, delivery_id),
            )

    def _give_back(self, ids: list[int], final: bool) -> None:
        """Transient failures: free the claim for the retry, or fail them on the last try."""
        status = DeliveryStatus.FAILED if final else DeliveryStatus.QUEUED
        with database_errors("releasing deliveries"):
            self.conn.execute(
                "UPDATE notification_deliveries SET status = %s, claimed_until = NULL,"
                " updated_at = now() WHERE id = ANY(%s) AND status = 'sending'",
                (status, ids),
            )

    def _deactivate(self, user_id: int, reason: str) -> None:
        with database_errors("deactivating a user"):
            self.conn.execute(
                "UPDATE users SET is_active = false, inactive_reason = %s, inactive_since = now(),"
                " updated_at = now() WHERE id = %s AND is_active",
                (reason, user_id),
            )
        metrics.add_metric(name="UsersDeactivated", unit="Count", value=1)

    def _move_chat(self, user_id: int, new_chat_id: int) -> None:
        with database_errors("moving a user to their new chat id"):
            self._conn.execute(
                "UPDATE users SET telegram_chat_id = %s, updated_at = now() WHERE id = %s",
                (new_chat_id, user_id),
            )

    def _count(self, execution_id: int) -> None:
        """Recount from the delivery rows, so a lost increment can never skew the totals."""
        with database_errors("counting deliveries"):
            self.conn.execute(
                "UPDATE job_executions SET"
                " sent_count = (SELECT count(*) FROM notification_deliveries"
                "   WHERE execution_id = %(id)s AND status = 'sent'),"
                " failed_count = (SELECT count(*) FROM notification_deliveries"
                "   WHERE execution_id = %(id)s AND status = 'failed')"
                " WHERE id = %(id)s",
                {"id": execution_id},
            )


def receive_count(record: Any) -> int:
    """ApproximateReceiveCount of an SQS record (1 on the first delivery)."""
    return int(record.attributes.approximate_receive_count or 1)
