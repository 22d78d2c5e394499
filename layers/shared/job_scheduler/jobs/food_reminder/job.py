"""The food reminders, as registered: at 22:00 in Tehran, people who have not picked their
food in Rastar for tomorrow (daily), or for two or more of the coming week's days (on
Fridays), are reminded. What a run does is in ``run``, imported only when the job runs:
every firing's cold start loads this module (the registry), and should not pay for the
run's HTTP and encryption libraries (~140 ms).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import ClassVar

from job_scheduler.jobs.registry import CodedJob
from job_scheduler.model import JobRun, OutgoingMessage, Recipient


class UnselectedFoodReminder(CodedJob):
    name: ClassVar[str] = "unselected-food-reminder"
    description: ClassVar[str] = (
        "Reminds people who have not picked tomorrow's food in Rastar, with tomorrow's menu,"
        " a suggestion and a link to pick"
    )
    schedule: ClassVar[str] = "cron(0 22 * * ? *)"
    timezone: ClassVar[str] = "Asia/Tehran"  # Rastar's days are Tehran days
    misfire_grace_seconds: ClassVar[int] = 3600  # a reminder at 23:00 still helps
    # Each person costs one or two Rastar calls: 2,000 a shard is ~25 s on a night of expired
    # sessions at RASTAR_CONCURRENCY 8 and 50 ms a call, inside the executor's 60 s.
    shard_size: ClassVar[int | None] = 2_000
    days_ahead: ClassVar[int] = 1  # the days after the firing's date it is about
    min_unselected_days: ClassVar[int] = 1  # of those (with food), unpicked to be reminded

    def messages(self, run: JobRun, recipients: Iterable[Recipient]) -> Iterator[OutgoingMessage]:
        from job_scheduler.jobs.food_reminder.run import Reminding

        reminding = Reminding(self.context, self.days_ahead, self.min_unselected_days)
        return reminding.messages(run, recipients)


class WeeklyFoodCheck(UnselectedFoodReminder):
    name: ClassVar[str] = "weekly-food-check"
    description: ClassVar[str] = (
        "On Friday nights, reminds people who have not picked their food for two or more of"
        " the coming seven days in Rastar, with those days' dishes and a button per dish"
    )
    schedule: ClassVar[str] = "cron(0 22 ? * FRI *)"
    days_ahead: ClassVar[int] = 7
    min_unselected_days: ClassVar[int] = 2
