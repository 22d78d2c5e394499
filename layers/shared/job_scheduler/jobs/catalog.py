"""The coded jobs this deployment runs. Add a job by importing its class and listing it here.

Registration is explicit (no import-time side effects or scanning), so what runs in
production is exactly what this list says.
"""

from __future__ import annotations

from job_scheduler.jobs.food_reminder.job import UnselectedFoodReminder, WeeklyFoodCheck
from job_scheduler.jobs.pruning import PruneHistory
from job_scheduler.jobs.registry import CodedJob, JobRegistry
from job_scheduler.jobs.sweeper import StrandedWorkSweeper

CODED_JOBS: tuple[type[CodedJob], ...] = (
    UnselectedFoodReminder,
    WeeklyFoodCheck,
    StrandedWorkSweeper,
    PruneHistory,
)


def register_all_jobs(registry: JobRegistry | None = None) -> JobRegistry:
    """A registry holding every coded job of this deployment."""
    registry = registry or JobRegistry()
    for job in CODED_JOBS:
        registry.register(job)
    return registry
