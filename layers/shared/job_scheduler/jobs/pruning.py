"""History that does not grow for ever: executions (with their deliveries), audit rows,
used or expired one-time links and reminder offers older than ``HISTORY_DAYS`` go.

Rows are deleted oldest first, ``BATCH_ROWS`` at a time, each batch its own short
transaction, so a prune never holds locks long nor competes with a send for minutes. A run
still going (``running``) is never pruned, however old. ``jobsctl prune --dry-run`` counts
what a prune would delete.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import ClassVar

from job_scheduler.adapters.db import Conn, database_errors
from job_scheduler.errors import RegistryError
from job_scheduler.jobs.registry import CodedJob
from job_scheduler.model import JobRun, OutgoingMessage, Recipient

BATCH_ROWS = 5000

# What goes, by table: the rows older than the cutoff (%(cutoff)s), oldest first.
_OLD = {
    "notification_deliveries": (
        "SELECT d.id FROM notification_deliveries d WHERE d.execution_id IN (SELECT e.id FROM"
        " job_executions e WHERE e.scheduled_for < %(cutoff)s AND e.status <> 'running'"
        " AND EXISTS (SELECT 1 FROM notification_deliveries k WHERE k.execution_id = e.id)"
        " ORDER BY e.scheduled_for LIMIT 100)"
    ),
    "job_executions": (
        "SELECT e.id FROM job_executions e WHERE e.scheduled_for < %(cutoff)s"
        " AND e.status <> 'running' ORDER BY e.scheduled_for"
    ),
    "audit_log": "SELECT a.id FROM audit_log a WHERE a.at < %(cutoff)s ORDER BY a.at",
}
_OLD_DELIVERIES = (  # every one, for a dry run's count (a prune takes them 100 runs at a time)
    "SELECT d.id FROM notification_deliveries d JOIN job_executions e ON e.id = d.execution_id"
    " WHERE e.scheduled_for < %(cutoff)s AND e.status <> 'running'"
)
_EXPIRED = {  # keyed by their own primary keys, no ids to order by
    "rastar_link_states": "expires_at < %(cutoff)s",
    "rastar_pick_offers": "expires_at < %(cutoff)s",
}


@dataclass
class PruneReport:
    cutoff: datetime
    deleted: dict[str, int]
    dry_run: bool = False

    def summary(self) -> str:
        verb = "would delete" if self.dry_run else "deleted"
        parts = [f"{count} {table}" for table, count in self.deleted.items() if count]
        return f"{verb} {', '.join(parts) or 'nothing'} older than {self.cutoff:%Y-%m-%d %H:%M} UTC"


def prune(
    conn: Conn, keep_days: int, dry_run: bool = False, now: datetime | None = None
) -> PruneReport:
    cutoff = (now or datetime.now(UTC)) - timedelta(days=keep_days)
    params = {"cutoff": cutoff}
    deleted: dict[str, int] = {}
    with database_errors("pruning history"):
        if dry_run:
            deleted["notification_deliveries"] = _count(conn, _OLD_DELIVERIES, params)
            for table in ("job_executions", "audit_log"):
                deleted[table] = _count(conn, _OLD[table], params)
            for table, condition in _EXPIRED.items():
                deleted[table] = _count(conn, f"SELECT 1 FROM {table} WHERE {condition}", params)
            return PruneReport(cutoff, deleted, dry_run=True)
        for table, query in _OLD.items():
            deleted[table] = _in_batches(conn, table, query, params)
        for table, condition in _EXPIRED.items():
            deleted[table] = conn.execute(f"DELETE FROM {table} WHERE {condition}", params).rowcount
    return PruneReport(cutoff, deleted)


def _in_batches(conn: Conn, table: str, query: str, params: dict) -> int:
    total = 0
    while True:
        gone = conn.execute(
            f"DELETE FROM {table} WHERE id IN ({query} LIMIT {BATCH_ROWS})", params
        ).rowcount
        total += gone
        if gone == 0:
            return total


def _count(conn: Conn, query: str, params: dict) -> int:
    return conn.execute(f"SELECT count(*) AS n FROM ({query}) AS old", params).fetchone()["n"]


class PruneHistory(CodedJob):
    name: ClassVar[str] = "prune-history"
    description: ClassVar[str] = (
        "Daily: deletes executions and their deliveries, audit rows, and used one-time links"
        " and reminder offers older than HISTORY_DAYS (90 by default), in small batches. It"
        " sends no message itself."
    )
    schedule: ClassVar[str] = "cron(30 0 * * ? *)"  # 04:00 in Tehran, when nothing is sent
    timezone: ClassVar[str] = "UTC"
    misfire_grace_seconds: ClassVar[int] = 3600  # the next day's prune does the same work
    sends_messages: ClassVar[bool] = False

    def messages(self, run: JobRun, recipients: Iterable[Recipient]) -> Iterator[OutgoingMessage]:
        if self.context is None:
            raise RegistryError("prune-history needs a JobContext (settings, database)")
        report = prune(self.context.conn, self.context.settings.history_days)
        run.note(report.summary())
        yield from ()
