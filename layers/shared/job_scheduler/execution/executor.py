"""Running one firing: the job executor's whole decision path, in order.

1. the job is looked up; a firing of a job that no longer exists is dropped;
2. a scheduled firing that ``is_due`` rejects (the UTC rule's superset) is dropped;
3. a firing that already has an execution is a duplicate (dropped), or a failed or
   abandoned run to resume (claimed atomically in Postgres), or in progress elsewhere
   (``RetryLater``: the queue redelivers it after its visibility timeout);
4. a disabled job's scheduled firing is recorded ``skipped``; one later than the job's
   misfire grace is recorded ``missed``, not run stale;
5. the Redis lock (or, with Redis down, none — the Postgres unique key still holds);
6. the overlap policy: ``skip`` records ``skipped`` while another run of the job holds a
   live lease;
7. the execution row, the job's messages fanned out (``fanout``), the row finished.

Any exception marks the execution ``failed`` with its error and propagates, so the queue
record is reported as a batch item failure and retried; the retry resumes the run and
queues again what may not have reached the queue (``fanout``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg

from job_scheduler.adapters.db import database_errors, get_connection
from job_scheduler.config import Settings
from job_scheduler.delivery.outbox import Outbox
from job_scheduler.delivery.window import Window
from job_scheduler.errors import JobSchedulerError, RegistryError, RetryLater, ScheduleError
from job_scheduler.execution.fanout import Fanout, FanoutResult
from job_scheduler.execution.firing import Firing
from job_scheduler.execution.locks import FiringLock, LockResult, firing_key
from job_scheduler.execution.targeting import Targeting, iter_recipients
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

    status: str  # ran | skipped | missed | not-due | duplicate | unknown-job
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
    def conn(self) -> psycopg.Connection:
        return get_connection(self.settings.database_url)

    @property
    def window(self) -> Window:
        settings = self.settings
        return Window(self.outbox, settings.recipients_per_message, settings.notify_window_messages)

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
            return self._resume_or_drop(job, firing, existing)
        refusal = self._refusal(job, firing)
        if refusal is not None:
            return refusal
        return self._run_new(job, firing)

    def _refusal(self, job: Job, firing: Firing) -> Outcome | None:
        """Disabled or late scheduled firings are recorded without running."""
        if firing.trigger != Trigger.SCHEDULE:
            return None  # an admin's "run now" runs even a disabled job
        if not job.enabled:
            return self._record_unrun(job, firing, ExecutionStatus.SKIPPED, "the job is disabled")
        lateness = (firing.first_received_at or self.clock()) - firing.scheduled_for
        if lateness > timedelta(seconds=job.misfire_grace_seconds):
            detail = (
                f"arrived {int(lateness.total_seconds())} s after its time; the misfire grace "
                f"is {job.misfire_grace_seconds} s"
            )
            metrics.add_metric(name="FiringsMissed", unit="Count", value=1)
            return self._record_unrun(job, firing, ExecutionStatus.MISSED, detail)
        return None

    def _run_new(self, job: Job, firing: Firing) -> Outcome:
        lock = self._lock(firing)
        try:
            started = self._start(job, firing, lock)
            if isinstance(started, Outcome):
                return started
            return self._run(job, firing, started)
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
        if existing.status in ExecutionStatus.final():
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

    def _run(self, job: Job, firing: Firing, execution_id: int) -> Outcome:
        logger.set_correlation_id(str(execution_id))
        started = self.clock()
        try:
            result = self._fan_out(job, firing, execution_id)
        except Exception as exc:
            self._mark_failed(execution_id, exc)
            raise
        duration_ms = int((self.clock() - started).total_seconds() * 1000)
        self._finish(execution_id, result, duration_ms)
        metrics.add_metric(name="ExecutionsSucceeded", unit="Count", value=1)
        metrics.add_metric(name="MessagesQueued", unit="Count", value=result.queued)
        logger.info("execution finished", extra={"job": job.name, **result.as_dict()})
        return Outcome("ran", execution_id, result=result)

    def _fan_out(self, job: Job, firing: Firing, execution_id: int) -> FanoutResult:
        """The job's messages over its recipients, written and queued; recipients counted."""
        recipients = _Counted(iter_recipients(self.conn, Targeting.of_job(job)))
        run = JobRun(
            job.name, firing.scheduled_for, firing.trigger, execution_id, job.message_config
        )
        fanout = Fanout(self.conn, self.window, execution_id, job.name)
        result = fanout.run(self._messages(job, run, recipients))
        result.recipients = recipients.count
        result.skipped = recipients.count - result.messages
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
                " AND lease_until > now() ORDER BY id DESC LIMIT 1",
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
                "UPDATE job_executions SET status = 'succeeded', finished_at = now(),"
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
        """Best effort: if the connection is what broke, ``get_connection`` opens a new one."""
        error = scrub(f"{type(exc).__name__}: {exc}")[:2000]
        try:
            get_connection(self.settings.database_url).execute(
                "UPDATE job_executions SET status = 'failed', error = %s, finished_at = now(),"
                " lease_until = NULL WHERE id = %s",
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
