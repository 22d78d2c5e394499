"""The sweeper: a coded job every five minutes that finds work no longer anywhere, and puts
it back where it continues, or says what became of it.

- A run ``running`` past its lease (its executor died, and its firing's queue message is
  gone or not due back yet): its firing is queued again, and the executor resumes it.
- A shard of a split execution that nothing holds or brings back (``execution/shards.py``):
  its task is queued again (a shard is idempotent).
- A delivery ``sending`` past its claim: its notifier stopped with the request possibly
  gone. At most once: it is not sent again but settled ``uncertain`` ("may have arrived").
- A delivery ``queued`` but unclaimed for longer than any queue delay: its message was lost
  (it reached the dead-letter queue, or an emulator restarted). Its message is sent again;
  a copy of a message that still exists sends nothing (the notifier claims each row).
- An execution with ``ready`` deliveries and none on the queue: its window was lost with
  its messages; it is topped up again.

Every execution it touched is recounted from its rows. What it did is the note on its own
execution, so ``jobsctl executions sweep-stranded-work`` and the admin site show it.
``sweep(after_restart=True)`` is for the local runtime's start, when nothing from before
can still be in flight: it does the same without waiting for leases and delays to run out.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import ClassVar

from job_scheduler.adapters.aws import aws_call, client
from job_scheduler.adapters.db import Conn, database_errors
from job_scheduler.config import Settings
from job_scheduler.delivery.outbox import Outbox
from job_scheduler.delivery.records import recount
from job_scheduler.delivery.window import Window
from job_scheduler.errors import RegistryError
from job_scheduler.execution.firing import Firing
from job_scheduler.execution.shards import ShardTask, queue_tasks
from job_scheduler.jobs.registry import CodedJob
from job_scheduler.model import DeliveryStatus, JobRun, OutgoingMessage, Recipient
from job_scheduler.observability import logger, metrics

SENDING_GRACE_SECONDS = 60  # past its claim, a notifier holding a row is gone (timeout 60 s)
QUEUED_STALE_SECONDS = 1200  # longer than any re-queue delay (900 s) and a busy window
MOST_ROWS_PER_SWEEP = 20_000
UNCERTAIN_REASON = "its notifier stopped while sending; it may have arrived, and is not sent again"


@dataclass
class SweepReport:
    resumed: list[int] = field(default_factory=list)  # execution ids
    uncertain: int = 0
    requeued: int = 0
    topped_up: int = 0
    shards: int = 0  # shard tasks queued again
    touched: set[int] = field(default_factory=set)

    def summary(self) -> str:
        if not (self.resumed or self.uncertain or self.requeued or self.topped_up
                or self.shards):  # fmt: skip
            return "nothing stranded"
        resumed = ", ".join(str(execution) for execution in self.resumed) or "none"
        return (
            f"resumed runs: {resumed}; {self.uncertain} sends that stopped midway shown as"
            f" 'may have arrived'; {self.requeued} deliveries whose queue message was lost"
            f" queued again; {self.topped_up} queued for windows that had gone empty"
            + (f"; {self.shards} stranded shards queued again" if self.shards else "")
        )


@dataclass(frozen=True)
class Sweeper:
    settings: Settings
    conn: Conn
    window: Window

    @classmethod
    def from_settings(cls, settings: Settings, conn: Conn) -> Sweeper:
        outbox = Outbox(client(settings, "sqs"), settings.notifications_queue_url)
        window = Window.of(outbox, settings)
        return cls(settings, conn, window)

    def sweep(self, after_restart: bool = False) -> SweepReport:
        report = SweepReport()
        self._resume_abandoned_runs(report, after_restart)
        self._requeue_stranded_shards(report, after_restart)
        self._settle_stopped_sends(report, after_restart)
        self._requeue_lost_messages(report, after_restart)
        self._top_up_empty_windows(report)
        for execution_id in report.touched:
            recount(self.conn, execution_id)
        metrics.add_metric(name="SweptUncertain", unit="Count", value=report.uncertain)
        metrics.add_metric(name="SweptRequeued", unit="Count", value=report.requeued)
        metrics.add_metric(name="SweptResumed", unit="Count", value=len(report.resumed))
        logger.info("sweep finished", extra={"summary": report.summary()})
        return report

    def _resume_abandoned_runs(self, report: SweepReport, after_restart: bool) -> None:
        with database_errors("finding abandoned runs"):
            if after_restart:  # nothing from before is still running: their leases are over
                self.conn.execute(
                    "UPDATE job_executions SET lease_until = now() - interval '1 second'"
                    " WHERE status = 'running' AND lease_until > now()"
                )
            rows = self.conn.execute(
                "SELECT e.id, e.scheduled_for, e.trigger, e.triggered_by, j.name"
                " FROM job_executions e JOIN scheduled_jobs j ON j.id = e.job_id"
                " WHERE e.status = 'running' AND (%s OR e.lease_until < now())"
                " AND e.shards = 0 AND j.name <> %s ORDER BY e.id",
                (after_restart, StrandedWorkSweeper.name),
            ).fetchall()
        if rows and not self.settings.jobs_queue_url:
            logger.warning("abandoned runs found, but JOBS_QUEUE_URL is not set to resume them")
            return
        for row in rows:
            firing = Firing(row["name"], row["scheduled_for"], row["trigger"],
                            requested_by=row["triggered_by"])  # fmt: skip
            with aws_call("queueing an abandoned run's firing again"):
                client(self.settings, "sqs").send_message(
                    QueueUrl=self.settings.jobs_queue_url,
                    MessageBody=json.dumps(firing.to_message()),
                )
            report.resumed.append(row["id"])

    def _requeue_stranded_shards(self, report: SweepReport, after_restart: bool) -> None:
        """Shards of a split execution that nobody holds and nothing is bringing back: not
        done, unclaimed or past their lease, and untouched for longer than a queue could
        keep them waiting (an emulator restarted, or their messages were deleted)."""
        with database_errors("finding stranded shards"):
            rows = self.conn.execute(
                "SELECT s.execution_id, s.shard FROM execution_shards AS s"
                " JOIN job_executions AS e ON e.id = s.execution_id"
                " WHERE e.status = 'running' AND s.status <> 'done'"
                " AND (s.lease_until IS NULL OR s.lease_until < now())"
                " AND (%s OR s.updated_at < now() - make_interval(secs => %s))"
                " ORDER BY s.execution_id, s.shard LIMIT %s",
                (after_restart, QUEUED_STALE_SECONDS, MOST_ROWS_PER_SWEEP),
            ).fetchall()
        if not rows:
            return
        queue_tasks(self.settings, [ShardTask(row["execution_id"], row["shard"]) for row in rows])
        with database_errors("marking stranded shards queued again"):
            self.conn.execute(
                "UPDATE execution_shards SET updated_at = now()"
                " WHERE (execution_id, shard) IN (SELECT * FROM unnest(%s::bigint[], %s::int[]))",
                ([row["execution_id"] for row in rows], [row["shard"] for row in rows]),
            )
        report.shards += len(rows)

    def _settle_stopped_sends(self, report: SweepReport, after_restart: bool) -> None:
        with database_errors("settling sends that stopped midway"):
            rows = self.conn.execute(
                "UPDATE notification_deliveries SET status = %(uncertain)s, last_error = %(why)s,"
                " updated_at = now(), claimed_until = NULL"
                " WHERE id IN (SELECT id FROM notification_deliveries WHERE status = %(sending)s"
                "   AND (%(restart)s OR claimed_until IS NULL"
                "     OR claimed_until < now() - make_interval(secs => %(grace)s))"
                "   LIMIT %(most)s)"
                " RETURNING execution_id",
                {"uncertain": DeliveryStatus.UNCERTAIN, "sending": DeliveryStatus.SENDING,
                 "why": UNCERTAIN_REASON, "restart": after_restart,
                 "grace": SENDING_GRACE_SECONDS, "most": MOST_ROWS_PER_SWEEP},
            ).fetchall()  # fmt: skip
        report.uncertain += len(rows)
        report.touched |= {row["execution_id"] for row in rows}

    def _requeue_lost_messages(self, report: SweepReport, after_restart: bool) -> None:
        with database_errors("finding deliveries whose message was lost"):
            rows = self.conn.execute(
                "UPDATE notification_deliveries d SET updated_at = now(), claimed_by = NULL,"
                " claimed_until = NULL"
                " FROM job_executions e JOIN scheduled_jobs j ON j.id = e.job_id"
                " WHERE e.id = d.execution_id AND d.id IN (SELECT id FROM notification_deliveries"
                "   WHERE status = %(queued)s AND (claimed_until IS NULL OR claimed_until < now())"
                "   AND (%(restart)s OR updated_at < now() - make_interval(secs => %(stale)s))"
                "   ORDER BY id LIMIT %(most)s)"
                " RETURNING d.id, d.execution_id, j.name",
                {"queued": DeliveryStatus.QUEUED, "restart": after_restart,
                 "stale": QUEUED_STALE_SECONDS, "most": MOST_ROWS_PER_SWEEP},
            ).fetchall()  # fmt: skip
        by_execution: dict[tuple[int, str], list[int]] = defaultdict(list)
        for row in rows:
            by_execution[(row["execution_id"], row["name"])].append(row["id"])
        for (execution_id, job_name), ids in by_execution.items():
            self.window.send(self.conn, execution_id, job_name, sorted(ids))
            report.requeued += len(ids)
            report.touched.add(execution_id)

    def _top_up_empty_windows(self, report: SweepReport) -> None:
        with database_errors("finding windows that went empty"):
            rows = self.conn.execute(
                "SELECT DISTINCT d.execution_id, j.name FROM notification_deliveries d"
                " JOIN job_executions e ON e.id = d.execution_id"
                " JOIN scheduled_jobs j ON j.id = e.job_id"
                " WHERE d.status = %(ready)s AND e.status <> 'running'"
                " AND NOT EXISTS (SELECT 1 FROM notification_deliveries o"
                "   WHERE o.execution_id = d.execution_id"
                "   AND o.status IN (%(queued)s, %(sending)s))",
                {"ready": DeliveryStatus.READY, "queued": DeliveryStatus.QUEUED,
                 "sending": DeliveryStatus.SENDING},
            ).fetchall()  # fmt: skip
        for row in rows:
            report.topped_up += self.window.top_up(self.conn, row["execution_id"], row["name"])
            report.touched.add(row["execution_id"])


class StrandedWorkSweeper(CodedJob):
    name: ClassVar[str] = "sweep-stranded-work"
    description: ClassVar[str] = (
        "Every five minutes: resumes runs whose executor stopped, queues again deliveries"
        " whose queue message was lost, and shows sends that stopped midway as 'may have"
        " arrived'. It sends no message itself."
    )
    schedule: ClassVar[str] = "cron(0/5 * * * ? *)"
    timezone: ClassVar[str] = "UTC"
    misfire_grace_seconds: ClassVar[int] = 240  # a later sweep does the same work
    sends_messages: ClassVar[bool] = False

    def messages(self, run: JobRun, recipients: Iterable[Recipient]) -> Iterator[OutgoingMessage]:
        if self.context is None:
            raise RegistryError("the sweeper needs a JobContext (settings, database)")
        report = Sweeper.from_settings(self.context.settings, self.context.conn).sweep()
        run.note(report.summary())
        yield from ()
