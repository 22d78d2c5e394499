"""The package's shared vocabulary: jobs and executions as typed values, and the states
they move through. Rows become these types here, in one place (``Job.from_row``,
``Execution.from_row``); nothing else reads a job's columns by name.

Every enum's values are the ones the schema's CHECK constraints allow
(``tests/integration/test_model.py`` compares them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, NamedTuple

from job_scheduler.adapters.db import Conn

if TYPE_CHECKING:
    from job_scheduler.config import Settings


class JobKind(StrEnum):
    """Where a job's messages come from: its code, or an admin's template."""

    CODED = "coded"
    CUSTOM_MESSAGE = "custom_message"


class Trigger(StrEnum):
    """What started an execution: its schedule's rule, or a person ("run now")."""

    SCHEDULE = "schedule"
    MANUAL = "manual"


class OverlapPolicy(StrEnum):
    """What a firing does while the job's previous run still holds a live lease."""

    SKIP = "skip"  # recorded ``skipped``; the default
    ALLOW = "allow"  # runs alongside


class LockMode(StrEnum):
    """How the firing lock was taken: in Redis, skipped because Redis failed, or not
    configured. The Postgres unique key holds in every mode."""

    REDIS = "redis"
    REDIS_UNAVAILABLE = "redis-unavailable"
    NONE = "none"


class ExecutionStatus(StrEnum):
    """One firing's execution::

        (firing) ──▶ running ──▶ succeeded
           │           │  ▲
           │           ▼  │ resumed by a retry (a failed run, or a lease that expired)
           │         failed
           └──▶ skipped (disabled, overlap, paused)  ·  missed (later than the misfire grace)

    running, succeeded (still sending) or failed ──▶ cancelled (an admin stopped the send)

    ``succeeded``, ``skipped``, ``missed`` and ``cancelled`` are final: the same firing again
    is a duplicate. ``succeeded`` means the fan-out is done; its deliveries may still be
    going out, so it can still be cancelled.
    """

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    MISSED = "missed"
    CANCELLED = "cancelled"

    @classmethod
    def final(cls) -> tuple[ExecutionStatus, ...]:
        return (cls.SUCCEEDED, cls.SKIPPED, cls.MISSED, cls.CANCELLED)

    @classmethod
    def cancellable(cls) -> tuple[ExecutionStatus, ...]:
        return (cls.RUNNING, cls.SUCCEEDED, cls.FAILED)


class DeliveryStatus(StrEnum):
    """One person's message of one execution::

        ready ──▶ queued ──▶ sending ──▶ sent
          │   ▲     │  ▲        ├──────▶ failed     (refused, the chat gone, retries spent)
          │   │     │  │        ├──────▶ uncertain  (no answer came: it may have arrived)
          │   │     │  └────────┘                   (429, out of time, transient: again)
          │   └─────┘ (the sweeper re-queues a row whose queue message was lost)
          ├──▶ skipped   (a resumed run did not produce it again; the person left)
          └──▶ cancelled (from ready or queued: an admin cancelled the execution)

    ``ready``: written by the fan-out with what to send, waiting for its execution's window
    on the notifications queue (``delivery/window.py``); ``queued``: its queue message is
    on the way; ``sending``: its request may have left. ``sent``, ``failed``, ``uncertain``
    ``skipped`` and ``cancelled`` are final: an ``uncertain`` one is never sent again (at
    most once). A ``failed`` one marked ``retryable`` (Telegram or the network failed, not
    the person) may be made ``ready`` again by an admin's "retry failed".
    """

    READY = "ready"
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNCERTAIN = "uncertain"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"

    @classmethod
    def final(cls) -> tuple[DeliveryStatus, ...]:
        return (cls.SENT, cls.FAILED, cls.UNCERTAIN, cls.SKIPPED, cls.CANCELLED)


@dataclass(frozen=True)
class Job:
    """A row of ``scheduled_jobs``."""

    id: int
    name: str
    kind: JobKind
    cron_expression: str
    timezone: str
    description: str = ""
    enabled: bool = True
    message_config: Mapping[str, Any] = field(default_factory=dict)
    include_user_ids: tuple[int, ...] = ()
    exclude_user_ids: tuple[int, ...] = ()
    pack_ids: tuple[int, ...] = ()
    misfire_grace_seconds: int = 300
    overlap_policy: OverlapPolicy = OverlapPolicy.SKIP
    version: int = 1
    code_defaults: Mapping[str, Any] | None = None
    orphaned_at: datetime | None = None
    enabled_before_orphaned: bool | None = None
    rule_names: tuple[str, ...] = ()
    rule_expressions: tuple[str, ...] = ()
    last_synced_at: datetime | None = None
    created_at: datetime | None = None
    created_by: str = ""
    updated_at: datetime | None = None
    updated_by: str = ""
    # A repeating job's window (inclusive; None: unbounded), and when a one-off ``at()`` job
    # ran (it is then done: ``schedule/lifetime.py``).
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    completed_at: datetime | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Job:
        """The job from a ``SELECT * FROM scheduled_jobs`` row (extra columns are ignored)."""
        values = {name: row[name] for name in _JOB_COLUMNS if name in row}
        for name in _TUPLE_COLUMNS:
            if name in values:
                values[name] = tuple(values[name])
        values["kind"] = JobKind(values["kind"])
        values["overlap_policy"] = OverlapPolicy(values["overlap_policy"])
        return cls(**values)

    @property
    def is_custom(self) -> bool:
        return self.kind == JobKind.CUSTOM_MESSAGE

    @property
    def is_orphaned(self) -> bool:
        return self.orphaned_at is not None

    @property
    def is_once(self) -> bool:
        """A one-off job: its schedule is ``at(...)``."""
        return self.cron_expression.strip().startswith("at(")

    def value_of(self, column: str) -> Any:
        """A column's value by name: for audit rows and generic comparisons."""
        if column not in _JOB_COLUMNS:
            raise AttributeError(f"scheduled_jobs has no column {column!r}")
        return getattr(self, column)


_JOB_COLUMNS = frozenset(item.name for item in fields(Job))
_TUPLE_COLUMNS = (
    "include_user_ids",
    "exclude_user_ids",
    "pack_ids",
    "rule_names",
    "rule_expressions",
)


@dataclass(frozen=True)
class LastRun:
    """The latest execution of a job, as lists of jobs show it."""

    status: ExecutionStatus
    scheduled_for: datetime
    finished_at: datetime | None


@dataclass(frozen=True)
class JobOverview:
    """A job with its latest execution (None if it never ran)."""

    job: Job
    last: LastRun | None


@dataclass(frozen=True)
class Execution:
    """A row of ``job_executions``."""

    id: int
    job_id: int
    scheduled_for: datetime
    trigger: Trigger
    status: ExecutionStatus
    lock_mode: LockMode | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_ms: int | None = None
    recipients_count: int = 0
    queued_count: int = 0
    sent_count: int = 0
    failed_count: int = 0
    uncertain_count: int = 0
    skipped_count: int = 0
    cancelled_count: int = 0
    detail: str | None = None
    error: str | None = None
    attempts: int = 1
    triggered_by: str | None = None
    lease_until: datetime | None = None
    event_id: str | None = None
    cancelled_at: datetime | None = None
    cancelled_by: str | None = None
    shards: int = 0  # fanned out in this many shards (execution/shards.py); 0: in one run
    counted_at: datetime | None = None  # counts last taken from its rows (records.recount)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Execution:
        values = {name: row[name] for name in _EXECUTION_COLUMNS if name in row}
        values["trigger"] = Trigger(values["trigger"])
        values["status"] = ExecutionStatus(values["status"])
        if values.get("lock_mode") is not None:
            values["lock_mode"] = LockMode(values["lock_mode"])
        return cls(**values)


_EXECUTION_COLUMNS = frozenset(item.name for item in fields(Execution))


class Recipient(NamedTuple):
    """A targeted user, as the targeting query returns them. A named tuple, not a frozen
    dataclass: a million of them are made per big send, and a frozen dataclass's
    ``__init__`` costs four times the row's own decoding (bench/targeting.py)."""

    user_id: int
    chat_id: int
    first_name: str | None = None
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None


@dataclass(frozen=True)
class OutgoingMessage:
    """One Telegram message for one user."""

    user_id: int
    chat_id: int
    text: str
    parse_mode: str | None = "HTML"
    disable_notification: bool = False
    # Telegram's reply_markup (an inline keyboard: rows of buttons), as JSON-ready data.
    reply_markup: Mapping[str, Any] | None = None
    photo: str | None = None  # a picture's URL or file_id: sent with sendPhoto, text its caption
    protect_content: bool = False  # it cannot be forwarded or saved
    link_preview: bool = True  # False: no preview of the text's first link
    paid_broadcast: bool = False  # Telegram's allow_paid_broadcast: faster, billed in Stars

    @property
    def silent(self) -> bool:
        """As ``TelegramClient.deliver`` reads it (and a delivery row keeps it)."""
        return self.disable_notification


@dataclass(frozen=True)
class JobRun:
    """What a job knows about the firing it is running for."""

    job_name: str
    scheduled_for: datetime
    trigger: Trigger
    execution_id: int | None = None
    config: Mapping[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list, compare=False)

    def note(self, text: str) -> None:
        """Leave a line on the execution for admins (why nothing was sent, what was odd)."""
        self.notes.append(text)


@dataclass(frozen=True)
class JobContext:
    """What a coded job may use while it runs: the settings and the executor's connection."""

    settings: Settings
    conn: Conn
