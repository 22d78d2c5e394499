"""When a job's schedule is live: a one-off until it has run, a repeating one between its
optional ``starts_at`` and ``ends_at`` (both inclusive).

One place answers the three questions the rest ask: may this scheduled firing run
(the executor records one outside the window as skipped, saying why), is the schedule
over (the sync and the executor remove its rules; the quota no longer counts them), and
what are its next runs (the admin views). A one-off is over once it has run
(``completed_at``), or once its minute is further back than its misfire grace: a firing
arriving later would be recorded missed anyway, and its year-pinned rule never fires again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from job_scheduler.schedule.zoned import Schedule

DEFAULT_GRACE = timedelta(minutes=5)


@dataclass(frozen=True)
class Ending:
    """Why a schedule will not fire again, and since when."""

    state: str  # done (a one-off that ran) | expired (its minute passed, not done) | ended
    since: datetime
    says: str


@dataclass(frozen=True)
class Lifetime:
    """A schedule and the bounds it fires within."""

    schedule: Schedule
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    completed_at: datetime | None = None
    grace: timedelta = DEFAULT_GRACE

    @classmethod
    def of(cls, job: Any, schedule: Schedule | None = None) -> Lifetime:
        """A job's (a ``Job`` row, or anything with its fields); ScheduleError if its
        schedule does not parse."""
        return cls(
            schedule or Schedule.parse(job.cron_expression, job.timezone),
            starts_at=job.starts_at,
            ends_at=job.ends_at,
            completed_at=getattr(job, "completed_at", None),
            grace=timedelta(seconds=job.misfire_grace_seconds),
        )

    @property
    def is_once(self) -> bool:
        return self.schedule.once_at is not None

    def local(self, moment: datetime) -> str:
        """An instant as the job's people read it: in its timezone, to the minute."""
        return moment.astimezone(self.schedule.zone).strftime("%Y-%m-%d %H:%M %Z")

    def refusal(self, instant: datetime) -> str | None:
        """Why a scheduled firing at ``instant`` must not run (recorded skipped), or None."""
        if self.is_once and self.completed_at is not None:
            return f"the one-off job already ran ({self.local(self.completed_at)})"
        if self.starts_at is not None and instant < self.starts_at:
            return f"before the job's start, {self.local(self.starts_at)}"
        if self.ends_at is not None and instant > self.ends_at:
            return f"after the job's end, {self.local(self.ends_at)}"
        return None

    def ending(self, now: datetime) -> Ending | None:
        """Why the schedule fires no more at ``now``, or None while it still may."""
        once = self.schedule.once_at
        if once is not None and self.completed_at is not None:
            return Ending("done", self.completed_at, f"ran once, {self.local(self.completed_at)}")
        if once is not None and now > once + self.grace:
            return Ending("expired", once, f"its time, {self.local(once)}, has passed")
        if self.ends_at is not None and now > self.ends_at:
            return Ending("ended", self.ends_at, f"its end, {self.local(self.ends_at)}, passed")
        return None

    def is_over(self, now: datetime) -> bool:
        """Whether no rule is wanted any more."""
        return self.ending(now) is not None

    def next_runs(self, now: datetime, count: int) -> list[datetime]:
        """The next ``count`` fire instants after ``now`` that fall inside the bounds."""
        if self.is_over(now):
            return []
        after = now
        if self.starts_at is not None and self.starts_at > now:
            after = self.starts_at - timedelta(microseconds=1)  # the start itself may fire
        runs: list[datetime] = []
        for instant in self.schedule.iter_after(after):
            if len(runs) == count or (self.ends_at is not None and instant > self.ends_at):
                break
            runs.append(instant)
        return runs
