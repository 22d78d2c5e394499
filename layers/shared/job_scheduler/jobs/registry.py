"""Coded jobs: classes that say what they send, registered explicitly by name.

A coded job declares its defaults (schedule, timezone, misfire grace, overlap policy); the
startup sync writes them to ``scheduled_jobs`` for new jobs, and admins may change them
afterwards. At run time the executor hands the job the recipients the job's targeting
resolved to, and the job yields one ``OutgoingMessage`` per user it wants to reach.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from job_scheduler.errors import RegistryError, ScheduleError
from job_scheduler.schedule import Schedule

if TYPE_CHECKING:
    import psycopg

    from job_scheduler.config import Settings

JOB_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,47}$")
OVERLAP_POLICIES = ("skip", "allow")


@dataclass(frozen=True)
class Recipient:
    """A targeted user, as the targeting query returns them."""

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


@dataclass(frozen=True)
class JobRun:
    """What a job knows about the firing it is running for."""

    job_name: str
    scheduled_for: datetime
    trigger: str
    execution_id: int | None = None
    config: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list, compare=False)

    def note(self, text: str) -> None:
        """Leave a line on the execution for admins (why nothing was sent, what was odd)."""
        self.notes.append(text)


@dataclass(frozen=True)
class JobContext:
    """What a coded job may use while it runs: the settings and the executor's connection."""

    settings: Settings
    conn: psycopg.Connection


class CodedJob(ABC):
    """Base class of coded jobs; subclasses set the class attributes and ``messages``."""

    name: ClassVar[str]
    description: ClassVar[str]
    schedule: ClassVar[str]
    timezone: ClassVar[str] = "Asia/Tehran"
    enabled_by_default: ClassVar[bool] = True
    misfire_grace_seconds: ClassVar[int] = 300
    overlap_policy: ClassVar[str] = "skip"

    def __init__(self, context: JobContext | None = None) -> None:
        self.context = context

    @abstractmethod
    def messages(self, run: JobRun, recipients: Iterable[Recipient]) -> Iterator[OutgoingMessage]:
        """Yield the messages to send; skip a recipient by yielding nothing for them."""

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """The fields the sync writes for a new job (and compares on later syncs)."""
        return {
            "description": cls.description,
            "cron_expression": cls.schedule,
            "timezone": cls.timezone,
            "enabled": cls.enabled_by_default,
            "misfire_grace_seconds": cls.misfire_grace_seconds,
            "overlap_policy": cls.overlap_policy,
        }


class JobRegistry:
    """Coded jobs by name; registering checks the declared defaults once, at startup."""

    def __init__(self) -> None:
        self._jobs: dict[str, type[CodedJob]] = {}

    def register(self, job: type[CodedJob]) -> type[CodedJob]:
        _check_job(job)
        if job.name in self._jobs:
            raise RegistryError(f"Two coded jobs are named '{job.name}'; job names are unique.")
        self._jobs[job.name] = job
        return job

    def get(self, name: str) -> type[CodedJob] | None:
        return self._jobs.get(name)

    def names(self) -> list[str]:
        return sorted(self._jobs)

    def __iter__(self) -> Iterator[type[CodedJob]]:
        return iter(self._jobs[name] for name in self.names())

    def __len__(self) -> int:
        return len(self._jobs)


def _check_job(job: type[CodedJob]) -> None:
    name = getattr(job, "name", None)
    if not isinstance(name, str) or not JOB_NAME_RE.fullmatch(name):
        raise RegistryError(
            f"{job.__name__}.name must be 1-48 lowercase letters, digits or '-', not {name!r}"
        )
    if not getattr(job, "description", ""):
        raise RegistryError(f"Job '{name}' needs a description; admins read it.")
    try:
        Schedule.parse(job.schedule, job.timezone)
    except ScheduleError as exc:
        raise RegistryError(f"Job '{name}' has an unusable default schedule: {exc}") from exc
    if job.overlap_policy not in OVERLAP_POLICIES:
        raise RegistryError(f"Job '{name}': overlap_policy must be one of {OVERLAP_POLICIES}")
    if job.misfire_grace_seconds < 0:
        raise RegistryError(f"Job '{name}': misfire_grace_seconds must not be negative")
