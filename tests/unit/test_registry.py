"""The coded-job registry refuses malformed jobs at startup, with messages that say why."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pytest

from job_scheduler.errors import RegistryError
from job_scheduler.jobs.catalog import CODED_JOBS, register_all_jobs
from job_scheduler.jobs.registry import CodedJob, JobRegistry
from job_scheduler.model import JobRun, OutgoingMessage, Recipient


class Reminder(CodedJob):
    name = "reminder"
    description = "Reminds people"
    schedule = "cron(0 22 * * ? *)"

    def messages(self, run: JobRun, recipients: Iterable[Recipient]) -> Iterator[OutgoingMessage]:
        for user in recipients:
            yield OutgoingMessage(user.user_id, user.chat_id, f"Hi {user.first_name}")


def variant(**attributes: object) -> type[CodedJob]:
    return type("Variant", (Reminder,), attributes)


def test_register_and_look_up():
    registry = JobRegistry()
    registry.register(Reminder)
    assert registry.get("reminder") is Reminder and registry.names() == ["reminder"]
    assert Reminder.defaults() == {
        "description": "Reminds people",
        "cron_expression": "cron(0 22 * * ? *)",
        "timezone": "Asia/Tehran",
        "enabled": True,
        "misfire_grace_seconds": 300,
        "overlap_policy": "skip",
    }


@pytest.mark.parametrize(
    "attributes, message",
    [
        ({"name": "Bad Name"}, "lowercase letters"),
        ({"name": "x" * 49}, "1-48"),
        ({"description": ""}, "needs a description"),
        ({"schedule": "cron(0 22 * * *)"}, "unusable default schedule"),
        ({"schedule": "at(2031-01-01T09:00)"}, r"coded jobs repeat .* a one-off at\(\) is for"),
        ({"timezone": "Tehran"}, "Unknown timezone"),
        ({"overlap_policy": "queue"}, "overlap_policy"),
        ({"misfire_grace_seconds": -1}, "must not be negative"),
    ],
)
def test_malformed_jobs_are_refused(attributes, message):
    with pytest.raises(RegistryError, match=message):
        JobRegistry().register(variant(**attributes))


def test_names_are_unique():
    registry = JobRegistry()
    registry.register(Reminder)
    with pytest.raises(RegistryError, match="Two coded jobs are named 'reminder'"):
        registry.register(variant())


def test_a_job_yields_messages_for_its_recipients():
    run = JobRun(job_name="reminder", scheduled_for=None, trigger="manual")  # type: ignore[arg-type]
    people = [Recipient(1, 100, "Ada"), Recipient(2, 200, "Bo")]
    assert [m.text for m in Reminder().messages(run, people)] == ["Hi Ada", "Hi Bo"]


def test_register_all_jobs_registers_exactly_the_listed_jobs():
    assert register_all_jobs().names() == sorted(job.name for job in CODED_JOBS)
