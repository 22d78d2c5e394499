"""Running one firing: the job executor's whole decision path, in order.

1. the job is looked up; a firing of a job that no longer exists is dropped;
2. a scheduled firing that ``is_due`` rejects (the UTC rule's superset) is dropped;
3. a firing that already has an execution is a duplicate (dropped), or a failed or
   abandoned run to resume (claimed atomically in Postgres), or in progress elsewhere
   (``RetryLater``: the queue redelivers it after its visibility timeout);
4. while sending is paused every firing of a job that sends messages is recorded
   ``skipped`` (``delivery/pause.py``); a
   disabled job's scheduled firing is recorded ``skipped``, and so is one outside the job's
   ``starts_at``/``ends_at``; one later than the job's misfire grace is recorded ``missed``,
   not run stale;
5. the Redis lock (or, with Redis down, none — the Postgres unique key still holds);
6. the overlap policy: ``skip`` records ``skipped`` while another run of the job holds a
   live lease;
7. the execution row, the job's messages fanned out (``fanout``), the row finished. An
   admin's cancel (``cancellation.py``) stops the fan-out at its next chunk and stays the
   execution's status.

After a schedule's last scheduled firing (a one-off's, whatever its final status, or one
past the job's end) the one-off is marked done and the rules deleted (``settling``).

Any exception marks the execution ``failed`` with its error and propagates, so the queue
record is reported as a batch item failure and retried; the retry resumes the run and
queues again what may not have reached the queue (``fanout``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg

from job_scheduler.adapters.db import Conn, database_errors, get_connection
from job_scheduler.config import Settings
from job_scheduler.delivery import pause
from job_scheduler.delivery.outbox import Outbox
from job_scheduler.delivery.window import Window
from job_scheduler.errors import JobSchedulerError, RegistryError, RetryLater, ScheduleError
from job_scheduler.execution import settling
from job_scheduler.execution.fanout import Fanout, FanoutResult
from job_scheduler.execution.firing import Firing
from job_scheduler.execution.locks import FiringLock, LockResult, firing_key
from job_scheduler.execution.shards import Shard, ShardRows, ShardTask, queue_tasks, ranges
from job_scheduler.execution.targeting import Targeting, iter_recipients, shard_starts
from job_scheduler.jobs.registry import JobRegistry
from job_scheduler.messages.rendering import custom_message_job_messages
from job_scheduler.model import (
    Execution,
    ExecutionStatus,
    Job,
    JobContext,
    JobRun,
    OutgoingMessage,
    OverlapPolicy,
    Recipient,
    Trigger,
)
from job_scheduler.observability import logger, metrics, scrub
from job_scheduler.schedule.zoned import Schedule

JOB_LOCK_SPACE = 0x6A6F62  # pg_advisory_xact_lock(space, job id): one job's start at a time


@dataclass(frozen=True)
class Outcome:
    """What happened to a firing (for logs, metrics and tests)."""

    status: str  # ran | skipped | missed | cancelled | not-due | duplicate | unknown-job
    execution_id: int | None = None
    detail: str = ""
    result: FanoutResult | None = None


class _Counted:
    """Counts the recipients the job pulls from the targeting stream."""

    def __init__(self, recipients: Iterable[Recipient]) -> None:
        self._recipients = iter(recipients)
        self.count = 0

    def __iter__(self) -> Iterator[Recipient]:
        for recipient in self._recipients:
            self.count += 1
            yield recipient


@dataclass
class Executor:
    """Everything a firing needs, built once per cold start."""

    settings: Settings
    registry: JobRegistry
    lock: FiringLock
    outbox: Outbox
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    @property
    def conn(self) -> Conn:
        return get_connection(self.settings.database_url)

    @property
    def window(self) -> Window:
        return Window.of(self.outbox, self.settings)

    def execute(self, firing: Firing) -> Outcome:
        logger.set_correlation_id(None)  # set to the execution id once there is one
        job = self._load_job(firing.job_name)
        if job is None:
            logger.warning("firing for a job that does not exist", extra={"job": firing.job_name})
            metrics.add_metric(name="FiringsForUnknownJobs", unit="Count", value=1)
            return Outcome("unknown-job")
        if firing.trigger == Trigger.SCHEDULE and not _is_due(job, firing):
            metrics.add_metric(name="FiringsNotDue", unit="Count", value=1)
            return Outcome("not-due")
        existing = self._find_execution(job, firing)
        if existing is not None:
            return self._settled(job, firing, self._resume_or_drop(job, firing, existing))
        refusal = self._refusal(job, firing)
        if refusal is not None:
            return self._settled(job, firing, refusal)
        return self._settled(job, firing, self._run_new(job, firing))

    def _settled(self, job: Job, firing: Firing, outcome: Outcome) -> Outcome:
        """After a schedule's last firing: a one-off done, the rules gone (``settling``)."""
        if firing.trigger == Trigger.SCHEDULE and settling.is_last_firing(job, self.clock()):
            settling.settle(self.conn, self.settings, job, self.clock())
        return outcome

    def _refusal(self, job: Job, firing: Firing) -> Outcome | None:
        """Disabled or late scheduled firings are recorded without running."""
        paused = pause.current(self.conn) if self._sends_messages(job) else None
        if paused is not None:  # every trigger: a paused system sends nothing new
            metrics.add_metric(name="FiringsWhilePaused", unit="Count", value=1)
            return self._record_unrun(job, firing, ExecutionStatus.SKIPPED, paused.describe())
        if firing.trigger != Trigger.SCHEDULE:
            return None  # an admin's "run now" runs even a disabled job
        if not job.enabled:
            return self._record_unrun(job, firing, ExecutionStatus.SKIPPED, "the job is disabled")
        outside = settling.outside_window(job, firing.scheduled_for)
        if outside is not None:  # before starts_at or after ends_at
            return self._record_unrun(job, firing, ExecutionStatus.SKIPPED, outside)
        lateness = (firing.first_received_at or self.clock()) - firing.scheduled_for
        if lateness > timedelta(seconds=job.misfire_grace_seconds):
            detail = (
                f"arrived {int(lateness.total_seconds())} s after its time; the misfire grace "
                f"is {job.misfire_grace_seconds} s"
            )
            metrics.add_metric(name="FiringsMissed", unit="Count", value=1)
            return self._record_unrun(job, firing, ExecutionStatus.MISSED, detail)
        return None

    def _sends_messages(self, job: Job) -> bool:
        """Housekeeping (the sweeper, pruning) runs on through a pause: it sends nothing."""
        coded = None if job.is_custom else self.registry.get(job.name)
        return coded is None or coded.sends_messages

    def _run_new(self, job: Job, firing: Firing) -> Outcome:
        lock = self._lock(firing)
        try:
            started = self._start(job, firing, lock)
            if isinstance(started, Outcome):
                return started
            return self._run(job, firing, started, fresh=True)
        finally:
            self.lock.release(lock)

    def _lock(self, firing: Firing) -> LockResult:
        lock = self.lock.acquire(_lock_key(firing))
        if not lock.acquired:
            raise RetryLater(
                f"{firing.job_name} at {firing.scheduled_for} is locked by another run"
            )
        return lock

    def _start(self, job: Job, firing: Firing, lock: LockResult) -> int | Outcome:
        """The overlap check and the execution row, atomic per job (an advisory lock)."""
        with database_errors("starting the execution"), self.conn.transaction():
            self.conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (JOB_LOCK_SPACE, job.id))
            skip_overlap = job.overlap_policy == OverlapPolicy.SKIP
            running = self._live_run_of(job) if skip_overlap else None
            if running is not None:
                detail = f"execution {running} of this job is still running (overlap policy skip)"
                return self._record_unrun(job, firing, ExecutionStatus.SKIPPED, detail)
            execution_id = self._insert_running(job, firing, lock)
        if execution_id is None:
            raise RetryLater(f"{firing.job_name} at {firing.scheduled_for} started elsewhere")
        return execution_id

    def _resume_or_drop(self, job: Job, firing: Firing, existing: Execution) -> Outcome:
        split_and_running = existing.shards and existing.status == ExecutionStatus.RUNNING
        if existing.status in ExecutionStatus.final() or split_and_running:
            metrics.add_metric(name="DuplicateFirings", unit="Count", value=1)
            return Outcome("duplicate", existing.id, f"already {existing.status}")
        lock = self._lock(firing)
        try:
            if not self._claim(existing.id, lock):
                raise RetryLater(f"execution {existing.id} is running elsewhere")
            logger.info("resuming execution", extra={"execution_id": existing.id})
            return self._run(job, firing, existing.id)
        finally:
            self.lock.release(lock)

    def _run(self, job: Job, firing: Firing, execution_id: int, fresh: bool = False) -> Outcome:
        logger.set_correlation_id(str(execution_id))
        started = self.clock()
        run = JobRun(
            job.name, firing.scheduled_for, firing.trigger, execution_id, job.message_config
        )
        try:
            split = self._split(job, execution_id)
            if split is not None:
                return split
            result = self._fan_out(job, run, fresh=fresh)
        except Exception as exc:
            self._mark_failed(execution_id, exc)
            raise
        duration_ms = int((self.clock() - started).total_seconds() * 1000)
        self._finish(execution_id, result, duration_ms)
        if result.cancelled:
            logger.info("execution cancelled while fanning out", extra=result.as_dict())
            return Outcome("cancelled", execution_id, result=result)
        metrics.add_metric(name="ExecutionsSucceeded", unit="Count", value=1)
        metrics.add_metric(name="MessagesQueued", unit="Count", value=result.queued)
        logger.info("execution finished", extra={"job": job.name, **result.as_dict()})
        return Outcome("ran", execution_id, result=result)

    def _split(self, job: Job, execution_id: int) -> Outcome | None:
        """A big audience becomes shards on the jobs queue (``shards.py``), and this run
        ends; None when it fits one run. A resumed split run queues its unfinished shards
        again (they are idempotent) rather than planning anew."""
        rows = ShardRows(self.conn, self.settings.execution_lease_seconds)
        todo = rows.unfinished(execution_id)
        if todo is None:
            size = self._shard_size(job)
            starts = shard_starts(self.conn, Targeting.of_job(job), size)
            if len(starts) <= 1:
                return None
            todo = rows.plan(execution_id, ranges(starts))
            logger.info("execution split into shards",
                        extra={"shards": len(starts), "shard_size": size})  # fmt: skip
        queue_tasks(self.settings, [ShardTask(execution_id, shard) for shard in todo])
        rows.release_execution_lease(execution_id)
        if not todo:
            rows.finish_if_last(execution_id)
        metrics.add_metric(name="ShardsQueued", unit="Count", value=len(todo))
        return Outcome("sharded", execution_id, f"{len(todo)} shards queued")

    def _shard_size(self, job: Job) -> int:
        coded = None if job.is_custom else self.registry.get(job.name)
        return (coded.shard_size if coded else None) or self.settings.shard_size

    def run_shard(self, task: ShardTask) -> Outcome:
        """One shard of a split execution: its range of people fanned out, then the
        execution finished if it was the last (``shards.py``)."""
        logger.set_correlation_id(str(task.execution_id))
        rows = ShardRows(self.conn, self.settings.execution_lease_seconds)
        shard = rows.claim(task)
        if shard == "running":
            raise RetryLater(f"shard {task.shard} of execution {task.execution_id} is running")
        if isinstance(shard, str):  # done, or its execution was deleted
            metrics.add_metric(name="DuplicateShards", unit="Count", value=1)
            return Outcome("duplicate", task.execution_id, f"shard {task.shard} is {shard}")
        execution, job = self._execution_and_job(task.execution_id)
        run = JobRun(job.name, execution.scheduled_for, execution.trigger, execution.id,
                     job.message_config)  # fmt: skip
        try:
            fresh = shard.attempts == 1 and execution.attempts == 1
            result = self._fan_out(job, run, shard.ids, fresh)
        except Exception as exc:
            self._shard_failed(rows, shard, exc)
            raise
        rows.done(shard, result.recipients, result.messages, result.skipped, result.note)
        if rows.finish_if_last(execution.id):
            metrics.add_metric(name="ExecutionsSucceeded", unit="Count", value=1)
            logger.info("execution finished by its last shard", extra={"job": job.name})
        return Outcome("cancelled" if result.cancelled else "shard", execution.id, result=result)

    def _shard_failed(self, rows: ShardRows, shard: Shard, exc: BaseException) -> None:
        """The shard failed; on its last try, the execution says which part is missing."""
        error = scrub(f"{type(exc).__name__}: {exc}")[:1000]
        try:
            rows.failed(shard, error)
        except JobSchedulerError:
            logger.exception("could not record the shard failed; its lease will expire")
        if shard.attempts >= self.settings.max_receive_count:
            self._record_failure(
                shard.execution_id,
                f"{shard.describe()} failed {shard.attempts} times ({error}); its task is in"
                " the jobs dead-letter queue: `jobsctl dlq redrive jobs` runs it again and"
                " finishes the execution",
            )

    def _fan_out(
        self, job: Job, run: JobRun, ids: tuple[int, int] | None = None, fresh: bool = False
    ) -> FanoutResult:
        """The job's messages over its recipients (those of ``ids``, a shard's range),
        written and queued; recipients counted. ``fresh``: a first attempt, nothing of it
        written yet (its rows are COPYed in)."""
        assert run.execution_id is not None
        targeted = iter_recipients(self.conn, Targeting.of_job(job), ids=ids)
        recipients = _Counted(targeted)
        fanout = Fanout(self.conn, self.window, run.execution_id, job.name, ids, fresh,
                        prefetch=job.is_custom)  # fmt: skip
        result = fanout.run(self._messages(job, run, recipients))
        result.recipients = recipients.count
        result.skipped = recipients.count - result.messages - result.unwritten
        result.note = "; ".join(run.notes) or None
        return result

    def _messages(
        self, job: Job, run: JobRun, recipients: Iterable[Recipient]
    ) -> Iterator[OutgoingMessage]:
        if job.is_custom:
            return custom_message_job_messages(job, run, recipients)
        coded = self.registry.get(job.name)
        if coded is None:
            raise RegistryError(f"coded job '{job.name}' is not in this deployment's code")
        return coded(JobContext(self.settings, self.conn)).messages(run, recipients)

    # --- Postgres -------------------------------------------------------------------------

    def _load_job(self, name: str) -> Job | None:
        with database_errors("loading the job"):
            row = self.conn.execute(
                "SELECT * FROM scheduled_jobs WHERE name = %s", (name,)
            ).fetchone()
        return None if row is None else Job.from_row(row)

    def _execution_and_job(self, execution_id: int) -> tuple[Execution, Job]:
        with database_errors("loading a shard's execution"):
            execution = self.conn.execute(
                "SELECT * FROM job_executions WHERE id = %s", (execution_id,)
            ).fetchone()
            job = (
                execution
                and self.conn.execute(
                    "SELECT * FROM scheduled_jobs WHERE id = %s", (execution["job_id"],)
                ).fetchone()
            )
        if not job:
            raise RegistryError(f"execution {execution_id} of a shard, or its job, is gone")
        return Execution.from_row(execution), Job.from_row(job)

    def job_for_rule(self, rule_name: str) -> str | None:
        with database_errors("finding the job of a rule"):
            row = self.conn.execute(
                "SELECT name FROM scheduled_jobs WHERE %s = ANY(rule_names)", (rule_name,)
            ).fetchone()
        return row["name"] if row else None

    def _find_execution(self, job: Job, firing: Firing) -> Execution | None:
        with database_errors("looking up the execution"):
            row = self.conn.execute(
                "SELECT * FROM job_executions"
                " WHERE job_id = %s AND scheduled_for = %s AND trigger = %s",
                (job.id, firing.scheduled_for, firing.trigger),
            ).fetchone()
        return None if row is None else Execution.from_row(row)

    def _record_unrun(
        self, job: Job, firing: Firing, status: ExecutionStatus, detail: str
    ) -> Outcome:
        with database_errors(f"recording a {status} execution"):
            row = self.conn.execute(
                "INSERT INTO job_executions (job_id, scheduled_for, trigger, status, detail,"
                " finished_at, duration_ms, lock_mode, event_id, triggered_by)"
                " VALUES (%s, %s, %s, %s, %s, now(), 0, 'none', %s, %s)"
                " ON CONFLICT ON CONSTRAINT job_executions_once_per_firing DO NOTHING RETURNING id",
                (
                    job.id,
                    firing.scheduled_for,
                    firing.trigger,
                    status,
                    detail,
                    firing.event_id,
                    firing.requested_by,
                ),
            ).fetchone()
        logger.info(f"firing {status}", extra={"job": job.name, "detail": detail})
        return Outcome(status if row else "duplicate", row["id"] if row else None, detail)

    def _live_run_of(self, job: Job) -> int | None:
        with database_errors("checking for a running execution"):
            row = self.conn.execute(
                "SELECT id FROM job_executions WHERE job_id = %s AND status = 'running'"
                " AND (lease_until > now() OR shards > 0) ORDER BY id DESC LIMIT 1",
                (job.id,),
            ).fetchone()
        return row["id"] if row else None

    def _insert_running(self, job: Job, firing: Firing, lock: LockResult) -> int | None:
        with database_errors("starting the execution"):
            row = self.conn.execute(
                "INSERT INTO job_executions (job_id, scheduled_for, trigger, status, lock_mode,"
                " lease_until, event_id, triggered_by)"
                " VALUES (%s, %s, %s, 'running', %s, now() + make_interval(secs => %s), %s, %s)"
                " ON CONFLICT ON CONSTRAINT job_executions_once_per_firing DO NOTHING RETURNING id",
                (
                    job.id,
                    firing.scheduled_for,
                    firing.trigger,
                    lock.mode,
                    self.settings.execution_lease_seconds,
                    firing.event_id,
                    firing.requested_by,
                ),
            ).fetchone()
        return row["id"] if row else None

    def _claim(self, execution_id: int, lock: LockResult) -> bool:
        with database_errors("claiming the execution"):
            row = self.conn.execute(
                "UPDATE job_executions SET status = 'running', attempts = attempts + 1,"
                " lease_until = now() + make_interval(secs => %s), error = NULL,"
                " finished_at = NULL, lock_mode = %s"
                " WHERE id = %s AND (status = 'failed'"
                "   OR (status = 'running' AND lease_until < now()))"
                " RETURNING id",
                (self.settings.execution_lease_seconds, lock.mode, execution_id),
            ).fetchone()
        return row is not None

    def _finish(self, execution_id: int, result: FanoutResult, duration_ms: int) -> None:
        with database_errors("finishing the execution"):
            self.conn.execute(
                "UPDATE job_executions SET finished_at = now(),"
                " status = CASE status WHEN 'cancelled' THEN status ELSE 'succeeded' END,"
                " duration_ms = %(ms)s, recipients_count = %(recipients)s,"
                " queued_count = (SELECT count(*) FROM notification_deliveries"
                "   WHERE execution_id = %(id)s),"
                " skipped_count = %(skipped)s, detail = %(note)s, lease_until = NULL"
                " WHERE id = %(id)s",
                {
                    "ms": duration_ms,
                    "recipients": result.recipients,
                    "skipped": result.skipped,
                    "note": result.note,
                    "id": execution_id,
                },
            )

    def _mark_failed(self, execution_id: int, exc: BaseException) -> None:
        self._record_failure(execution_id, scrub(f"{type(exc).__name__}: {exc}")[:2000])

    def _record_failure(self, execution_id: int, error: str) -> None:
        """Best effort: if the connection is what broke, ``get_connection`` opens a new one."""
        try:
            get_connection(self.settings.database_url).execute(
                "UPDATE job_executions SET status = 'failed', error = %s, finished_at = now(),"
                " lease_until = NULL WHERE id = %s AND status <> 'cancelled'",
                (error, execution_id),
            )
        except (psycopg.Error, JobSchedulerError):
            logger.exception("could not mark the execution failed; its lease will expire")
        metrics.add_metric(name="ExecutionsFailed", unit="Count", value=1)
        logger.error("execution failed", extra={"execution_id": execution_id, "error": error})


def _lock_key(firing: Firing) -> str:
    return f"{firing_key(firing.job_name, firing.scheduled_for)}:{firing.trigger}"


def _is_due(job: Job, firing: Firing) -> bool:
    try:
        return Schedule.parse(job.cron_expression, job.timezone).is_due(firing.scheduled_for)
    except ScheduleError:
        logger.error("the job's stored schedule is unusable", extra={"job": job.name})
        return False
