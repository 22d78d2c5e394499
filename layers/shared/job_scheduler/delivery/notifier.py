"""Sending a batch of deliveries to Telegram: each at most once, none sent unrecorded.

For one queue message (one ``DeliveryBatch``):

0. while sending is paused (``pause.py``), put its rows back to wait and send nothing;
1. claim its ``queued`` rows (``records.py``); sent, failed and claimed ones are passed by,
   so a redelivered message sends nothing twice; rows of people no longer reachable are
   skipped;
2. send the claimed ones on a few threads, in waves: each wave is marked ``sending`` in one
   statement just before it goes, no wave goes until the one before could be marked, and
   at most two are out at once. So when Postgres goes away, sending stops within a wave:
   what was sent but not recorded is what was in flight, and it is never sent again (it is
   settled ``uncertain`` if its outcome cannot be written in the end);
3. record the outcomes as they arrive: ``sent`` with Telegram's message_id (the sends that
   succeeded since the last wave in the transaction that marks the next one: one commit a
   wave); 403/chat-not-found → the person goes
   inactive and the delivery fails for good; a migrated chat → the person's chat id is
   updated and the message sent again; 429 → the limiter is penalised and the delivery
   re-queued with a delay; a paid broadcast's message the bot's Telegram Stars cannot pay
   for → failed, retryable (nothing was sent; "retry failed" sends it once the balance is
   topped up); 5xx or a connection that never reached Telegram → retried here
   with backoff, then queued again for the record's redelivery (on the last receive the
   delivery fails); no answer after sending (read timeout, cut connection) → ``uncertain``
   ("may have arrived"), never sent again; too little time left in the invocation →
   re-queued rather than sent;
4. recount the execution from its rows (at most every ``RECOUNT_SECONDS`` while it sends,
   and always once nothing of it is left), and top its window up (``window.py``).

What cannot be closed: Telegram accepted a message and its outcome was never written (the
notifier died, or Postgres stayed away past ``RECORD_RETRY_SECONDS``). Telegram has no
idempotency key; such a delivery is not sent again but shown as "may have arrived".
"""

from __future__ import annotations

import math
import queue
import time
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from job_scheduler.adapters.db import Conn, get_connection
from job_scheduler.config import Settings
from job_scheduler.delivery import pause
from job_scheduler.delivery.outbox import DeliveryBatch, Outbox
from job_scheduler.delivery.ratelimit import Grant, RateLimiter
from job_scheduler.delivery.records import Delivery, DeliveryRecords, recount_if_due
from job_scheduler.delivery.window import Window
from job_scheduler.errors import (
    ChatGone,
    ChatMigrated,
    Deferred,
    DeliveriesFailed,
    JobSchedulerError,
    RateLimited,
    Rejected,
    RetryLater,
    SendError,
    StarsBalanceTooLow,
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
RECORD_RETRY_SECONDS = 15.0  # how long outcomes already known wait for Postgres to return
RECOUNT_SECONDS = 2.0  # an execution's counts lag its rows by at most this while it sends
Outcome = int | SendError  # Telegram's message_id, or why it was not sent


@dataclass
class NotifyResult:
    claimed: int = 0
    sent: int = 0
    failed: int = 0
    uncertain: int = 0
    skipped: int = 0
    requeued: int = 0
    held: int = 0  # put back to wait while sending is paused
    retry: list[int] = field(default_factory=list)


@dataclass
class _Batch:
    """One message's work in progress: outcomes waiting to be written, rows re-queued."""

    token: str
    result: NotifyResult
    deadline: float | None
    # Sent, not yet written: (delivery id, Telegram's message_id); written with the next
    # wave's marks, once a wave's worth waits, or together at the end (``_send_all``).
    sent: list[tuple[int, int]] = field(default_factory=list)
    unrecorded: list[tuple[Delivery, SendError]] = field(default_factory=list)
    later: list[tuple[Delivery, float]] = field(default_factory=list)


@dataclass
class Notifier:
    settings: Settings
    send: Callable[[int, Delivery], int]  # TelegramClient.deliver(chat_id, delivery)
    limiter: RateLimiter
    outbox: Outbox
    _pool: ThreadPoolExecutor | None = field(default=None, init=False, repr=False)

    @property
    def conn(self) -> Conn:
        """The calling thread's connection; sending threads never write to Postgres."""
        return get_connection(self.settings.database_url)

    @property
    def window(self) -> Window:
        return Window.of(self.outbox, self.settings)

    def records(self) -> DeliveryRecords:
        return DeliveryRecords(self.conn, self.settings.execution_lease_seconds)

    def process(
        self, batch: DeliveryBatch, receive_count: int = 1, deadline: float | None = None
    ) -> NotifyResult:
        """Send what can be claimed; ``deadline`` (monotonic) is when to stop and re-queue."""
        work = _Batch(uuid.uuid4().hex, NotifyResult(), deadline)
        if pause.current(self.conn) is not None:  # they wait as ready for the resume
            work.result.held = pause.hold(self.conn, list(batch.delivery_ids))
            return work.result
        claimed = self.records().claim(batch.delivery_ids, work.token, batch.inline)
        work.result.claimed = len(claimed.deliveries)
        self._skip_unreachable(claimed.unreachable, work.result)
        try:
            self._send_all(claimed.deliveries, work)
            self._give_up_worn(work)
            if work.later:
                self._requeue(batch, work)
        finally:
            if work.result.retry:
                final = receive_count >= self.settings.max_receive_count
                self._give_back(work.result.retry, final=final)
            self._recount(batch.execution_id)
        if work.result.retry:
            raise DeliveriesFailed(f"{len(work.result.retry)} deliveries hit transient errors")
        if len(claimed.deliveries) + len(claimed.unreachable) < len(batch.delivery_ids):
            held = self.records().held_elsewhere(batch.delivery_ids, work.token)
            if held:  # deleting the message now would leave them to the sweeper
                raise RetryLater(f"{held} deliveries are held by another claim until it expires")
        self.window.top_up(self.conn, batch.execution_id, batch.job_name)
        return work.result

    def _recount(self, execution_id: int) -> None:
        try:
            recount_if_due(self.conn, execution_id, RECOUNT_SECONDS)
        except JobSchedulerError:  # the sweeper recounts; the batch's own error matters more
            logger.warning("could not recount the execution", extra={"execution_id": execution_id})

    def _skip_unreachable(self, unreachable: list[tuple[int, str]], result: NotifyResult) -> None:
        for delivery_id, why in unreachable:
            self.records().settle([delivery_id], DeliveryStatus.SKIPPED, why)
        result.skipped += len(unreachable)

    # --- sending -------------------------------------------------------------------------

    def _send_all(self, deliveries: list[Delivery], work: _Batch) -> None:
        """Send in waves on a few threads; record outcomes as they come.

        A wave goes only once it is marked ``sending``, and only while at most one wave is
        in flight (the threads never run dry, and no more than two waves are ever out). The
        sends that succeeded meanwhile are recorded in the same transaction that marks the
        next wave (one commit a wave: ``DeliveryRecords.mark_sending``), or once a wave's
        worth waits, or together at the end; failures are recorded as they come. If Postgres
        fails, no further wave goes: the sends in flight finish, their outcomes are written
        once Postgres answers again (within ``RECORD_RETRY_SECONDS``), and the rows never
        sent are released for the redelivered message.
        """
        pending = deque(deliveries)
        running: dict[Future[tuple[Outcome, list[Grant]]], Delivery] = {}
        finished: queue.SimpleQueue[Future[tuple[Outcome, list[Grant]]]] = queue.SimpleQueue()
        failure: Exception | None = None
        wave = self.settings.notifier_concurrency
        while running or (pending and failure is None):
            waves_follow = bool(pending) and failure is None
            if waves_follow and len(running) <= wave:
                try:
                    self._start_wave(pending, wave, work, running, finished)
                except JobSchedulerError as exc:  # Postgres: send no more of this batch
                    failure = exc
                continue
            hold = len(work.sent) < wave  # the last ones: written together by _flush
            failure = self._collect(finished, running, work, hold) or failure
        failure = self._flush(work) or failure
        if pending:
            self._release(list(pending), work)
        if failure is not None:
            raise failure

    def _start_wave(
        self,
        pending: deque[Delivery],
        size: int,
        work: _Batch,
        running: dict[Future[tuple[Outcome, list[Grant]]], Delivery],
        finished: queue.SimpleQueue[Future[tuple[Outcome, list[Grant]]]],
    ) -> None:
        wave = [pending.popleft() for _ in range(min(size, len(pending)))]
        try:
            marked = self.records().mark_sending([d.delivery_id for d in wave], work.token,
                                                 work.sent)  # fmt: skip
        except JobSchedulerError:
            pending.extendleft(reversed(wave))  # and the sent ones wait to be written
            raise
        self._count_sent(work)
        for delivery in wave:
            if delivery.delivery_id in marked:  # another holder took it meanwhile: not ours
                future = self._senders().submit(self._send_one, delivery, work.deadline)
                running[future] = delivery
                future.add_done_callback(finished.put)

    def _collect(
        self,
        finished: queue.SimpleQueue[Future[tuple[Outcome, list[Grant]]]],
        running: dict[Future[tuple[Outcome, list[Grant]]], Delivery],
        work: _Batch,
        hold: bool = False,
    ) -> Exception | None:
        """Wait for a send to finish; record it and every other one finished by then (the
        sent ones only later when ``hold``: the next wave's marking writes them). Finished
        sends arrive on a queue: concurrent.futures.wait() would lock and unlock every
        pending future on each wake, O(batch) per send."""
        done = [finished.get()]
        while not finished.empty():
            done.append(finished.get_nowait())
        grants: list[Grant] = []
        for future in done:
            outcome, unsettled = future.result()
            delivery = running.pop(future)
            if isinstance(outcome, int):
                work.sent.append((delivery.delivery_id, outcome))
            else:
                work.unrecorded.append((delivery, outcome))
            grants += unsettled
        failure = self._record_unrecorded(work, sent_too=not hold)
        try:
            self.limiter.settle(grants)
        except Exception as exc:  # a limiter fault must not cost the records above
            failure = failure or exc
        return failure

    def _flush(self, work: _Batch) -> Exception | None:
        """Outcomes Postgres could not take yet: retry a while (a new connection each time),
        then settle them as ``uncertain`` if it stays away (they are never sent again)."""
        stop = _record_retry_until(work)
        failure: Exception | None = None
        while work.unrecorded or work.sent:
            failure = self._record_unrecorded(work)
            if failure is None or time.monotonic() > stop:
                break
            time.sleep(0.5)
        if work.unrecorded or work.sent:
            ids = [d.delivery_id for d, _ in work.unrecorded] + [i for i, _ in work.sent]
            logger.error(
                "outcomes of sent deliveries could not be recorded; they stay 'sending' and"
                " the sweeper will show them as 'may have arrived'",
                extra={"deliveries": ids},
            )
        return failure

    def _record_unrecorded(self, work: _Batch, sent_too: bool = True) -> Exception | None:
        """Write the outcomes waiting in ``work`` (the sent ones in one statement, unless
        not ``sent_too``); whatever could not be written stays, and the error is returned."""
        try:
            records = self.records()
            if work.sent and sent_too:
                records.mark_sent(work.sent)
                self._count_sent(work)
            while work.unrecorded:
                delivery, outcome = work.unrecorded[0]
                self._record(records, delivery, outcome, work)
                work.unrecorded.pop(0)
        except JobSchedulerError as exc:
            return exc
        return None

    def _count_sent(self, work: _Batch) -> None:
        """The sent ones just written: counted, and no longer waiting."""
        if work.sent:
            work.result.sent += len(work.sent)
            metrics.add_metric(name="MessagesSent", unit="Count", value=len(work.sent))
            work.sent = []

    def _release(self, deliveries: list[Delivery], work: _Batch) -> None:
        """The rows never sent, given back; retried a while as ``_flush`` is, since a wave
        whose mark Postgres committed as it went away stays ``sending`` (later: "may have
        arrived") until this is written."""
        stop = _record_retry_until(work)
        while True:
            try:
                self.records().release([d.delivery_id for d in deliveries], work.token)
                return
            except JobSchedulerError:
                if time.monotonic() > stop:
                    logger.warning("claims not released; they expire on their own")
                    return
                time.sleep(0.5)

    def _senders(self) -> ThreadPoolExecutor:
        """One pool for the Lambda's life: its threads keep their HTTP keep-alive sessions."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                max_workers=self.settings.notifier_concurrency, thread_name_prefix="send"
            )
        return self._pool

    def _send_one(self, delivery: Delivery, deadline: float | None) -> tuple[Outcome, list[Grant]]:
        """Telegram's message_id or the SendError to record, and the limiter's grant for a
        send that succeeded (settled by the recording thread). Never raises."""
        unsettled: list[Grant] = []
        try:
            return self._send_retrying(delivery.chat_id, delivery, deadline, unsettled), unsettled
        except ChatMigrated as moved:
            return self._send_to_moved_chat(delivery, moved, deadline, unsettled), unsettled
        except SendError as exc:
            return exc, unsettled

    def _send_to_moved_chat(
        self, delivery: Delivery, moved: ChatMigrated, deadline: float | None, grants: list[Grant]
    ) -> Outcome:
        try:
            DeliveryRecords(self._thread_conn(), 0).move_chat(delivery.user_id, moved.new_chat_id)
            return self._send_retrying(moved.new_chat_id, delivery, deadline, grants)
        except SendError as exc:
            return exc
        except JobSchedulerError as exc:
            return Rejected(f"{moved}; moving the user to the new chat failed: {exc}")

    def _thread_conn(self) -> Conn:
        return get_connection(self.settings.database_url)

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
            chat_id,
            deadline=None if deadline is None else deadline - SEND_MARGIN_SECONDS,
            paid=delivery.paid_broadcast,
        )
        if grant is None:
            raise Deferred("waiting for the rate limit would pass the invocation's deadline")
        try:
            message_id = self.send(chat_id, delivery)
        except BaseException:
            self.limiter.settle([grant])  # now, before any retry's wait
            raise
        unsettled.append(grant)
        return message_id

    # --- recording -----------------------------------------------------------------------

    def _record(
        self, records: DeliveryRecords, delivery: Delivery, outcome: SendError, work: _Batch
    ) -> None:
        result, delivery_id = work.result, delivery.delivery_id
        if isinstance(outcome, RateLimited):
            self.limiter.penalise(outcome.retry_after)
            work.later.append((delivery, outcome.retry_after))
        elif isinstance(outcome, Deferred):
            work.later.append((delivery, 0))
        elif isinstance(outcome, Uncertain):
            records.settle([delivery_id], DeliveryStatus.UNCERTAIN, str(outcome))
            result.uncertain += 1
            metrics.add_metric(name="DeliveriesUncertain", unit="Count", value=1)
        elif isinstance(outcome, StarsBalanceTooLow):  # the bot's to fix, not the person's
            records.settle([delivery_id], DeliveryStatus.FAILED, str(outcome), retryable=True)
            result.failed += 1
            metrics.add_metric(name="PaidBroadcastStarsTooLow", unit="Count", value=1)
        elif isinstance(outcome, ChatGone):
            records.deactivate(delivery.user_id, str(outcome))
            records.settle([delivery_id], DeliveryStatus.FAILED, str(outcome))
            result.failed += 1
        elif isinstance(outcome, Rejected | ChatMigrated):
            records.settle([delivery_id], DeliveryStatus.FAILED, str(outcome))
            result.failed += 1
        else:  # Transient: it never reached Telegram, or Telegram failed to take it
            records.back_to_queued([delivery_id], str(outcome))
            result.retry.append(delivery_id)
        if not isinstance(outcome, Deferred):
            logger.warning(
                "delivery not sent", extra={"delivery_id": delivery_id, "error": str(outcome)}
            )

    def _give_up_worn(self, work: _Batch) -> None:
        worn = [d.delivery_id for d, _ in work.later if d.attempts >= MAX_DELIVERY_ATTEMPTS]
        if worn:
            reason = f"rate limited or out of time on {MAX_DELIVERY_ATTEMPTS} attempts; given up"
            self.records().settle(worn, DeliveryStatus.FAILED, reason, retryable=True)
            work.result.failed += len(worn)
        work.later = [(d, wait) for d, wait in work.later if d.delivery_id not in set(worn)]

    def _requeue(self, batch: DeliveryBatch, work: _Batch) -> None:
        """Rows first, message second: a notifier that receives the new message at once
        must find them claimable. If queueing fails, this record fails, and its redelivery
        claims the rows that are now ``queued``."""
        delay = min(MAX_REQUEUE_DELAY, math.ceil(max(wait for _, wait in work.later)))
        ids = [delivery.delivery_id for delivery, _ in work.later]
        self.records().back_to_queued(ids, "rate limited or out of time; re-queued")
        self.outbox.send([DeliveryBatch(batch.execution_id, batch.job_name, tuple(ids))], delay)
        work.result.requeued = len(ids)
        metrics.add_metric(name="TelegramRateLimited", unit="Count", value=len(ids))

    def _give_back(self, ids: list[int], final: bool) -> None:
        """Transient failures: queued for the retry, or failed on the last receive."""
        if final:  # the last transient error is the reason
            self.records().settle(ids, DeliveryStatus.FAILED, None, retryable=True)


def _record_retry_until(work: _Batch) -> float:
    """When writing to Postgres stops being retried: ``RECORD_RETRY_SECONDS`` from now, or a
    second before the invocation's deadline if that comes first."""
    stop = time.monotonic() + RECORD_RETRY_SECONDS
    return stop if work.deadline is None else min(stop, work.deadline - 1)


def receive_count(record: object) -> int:
    """ApproximateReceiveCount of an SQS record (1 on the first delivery)."""
    return int(record.attributes.approximate_receive_count or 1)  # type: ignore[attr-defined]
