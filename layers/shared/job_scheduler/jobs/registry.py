"""Coded jobs: classes that say what they send, registered explicitly by name.

A coded job declares its defaults (schedule, timezone, misfire grace, overlap policy); the
startup sync writes them to ``scheduled_jobs`` for new jobs, and admins may change them
afterwards. At run time the executor hands the job the recipients the job's targeting
resolved to, and the job yields one ``OutgoingMessage`` per user it wants to reach.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

from job_scheduler.errors import InvalidJob, RegistryError
from job_scheduler.jobs import fields
from job_scheduler.model import JobContext, JobRun, OutgoingMessage, OverlapPolicy, Recipient


class CodedJob(ABC):
    """Base class of coded jobs; subclasses set the class attributes and ``messages``."""

    name: ClassVar[str]
    description: ClassVar[str]
    schedule: ClassVar[str]
    timezone: ClassVar[str] = "Asia/Tehran"
    enabled_by_default: ClassVar[bool] = True
    misfire_grace_seconds: ClassVar[int] = 300
    overlap_policy: ClassVar[OverlapPolicy] = OverlapPolicy.SKIP
    sends_messages: ClassVar[bool] = True  # False: a housekeeping job (no audience guard)
    # People per shard when its audience is split over parallel invocations (None: the
    # SHARD_SIZE setting). A job whose every person costs a remote call wants fewer.
    shard_size: ClassVar[int | None] = None

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
    """The same checks as an admin's job gets (``jobs.fields``), said as the code's fault."""
    name = getattr(job, "name", None)
    try:
        fields.check_name(name)
    except InvalidJob as exc:
        raise RegistryError(f"{job.__name__}.name: {exc}") from exc
    if not getattr(job, "description", ""):
        raise RegistryError(f"Job '{name}' needs a description; admins read it.")
    try:
        fields.check_schedule(job.schedule, job.timezone)
    except InvalidJob as exc:
        raise RegistryError(f"Job '{name}' has an unusable default schedule: {exc}") from exc
    if job.schedule.strip().startswith("at("):
        raise RegistryError(
            f"Job '{name}': coded jobs repeat (cron or rate); a one-off at() is for message jobs."
        )
    try:
        fields.check_policies(job.misfire_grace_seconds, job.overlap_policy)
    except InvalidJob as exc:
        raise RegistryError(f"Job '{name}': {exc}") from exc


__all__ = ["CodedJob", "JobRegistry"]
