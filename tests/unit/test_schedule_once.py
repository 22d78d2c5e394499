"""One-off ``at()`` schedules and the window of repeating ones (``starts_at``/``ends_at``):
parsing, the one UTC rule, words, the lifetime's answers and the field checks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from job_scheduler.errors import InvalidExpression, InvalidJob
from job_scheduler.jobs import fields
from job_scheduler.schedule.describe import describe
from job_scheduler.schedule.expression import AtExpression, parse_expression
from job_scheduler.schedule.lifetime import Lifetime
from job_scheduler.schedule.utc_rules import utc_rule_expressions
from job_scheduler.schedule.zoned import Schedule


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# --- parsing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, wall",
    [
        ("at(2026-12-04T09:30)", "2026-12-04T09:30"),
        ("at(2026-12-04T09:30:00)", "2026-12-04T09:30"),  # as EventBridge Scheduler writes it
        ("  at(2028-02-29T00:00)  ", "2028-02-29T00:00"),  # a leap day; spaces trimmed
    ],
)
def test_at_parses_to_one_wall_minute(text, wall):
    parsed = parse_expression(text)
    assert isinstance(parsed, AtExpression)
    assert parsed.wall == datetime.fromisoformat(wall)


@pytest.mark.parametrize(
    "text, says",
    [
        ("at(2026-12-04 09:30)", r"write the date and time in the job's timezone as at\("),
        ("at(2026-12-04)", r"at\(YYYY-MM-DDThh:mm\)"),
        ("at(2026-12-04T9:30)", r"at\(YYYY-MM-DDThh:mm\)"),
        ("at(2026-12-04T09:30+03:30)", r"in the job's timezone"),
        ("at(2026-12-04T09:30:15)", "whole minutes; leave the seconds out or write :00"),
        ("at(2026-02-30T09:30)", "names no such date or time"),
        ("at(2026-12-04T24:00)", "hours 00-23"),
        ("at(2026-12-04T09:60)", "minutes 00-59"),
        ("at(2300-01-01T00:00)", "the year must lie within 1971-2198"),
    ],
)
def test_a_bad_at_says_what_to_write(text, says):
    with pytest.raises(InvalidExpression, match=says):
        parse_expression(text)


def test_something_unknown_mentions_at_for_once():
    with pytest.raises(InvalidExpression, match=r"or at\(2026-12-04T09:30\) to run once"):
        parse_expression("once(tomorrow)")


# --- when it fires, and its rule ----------------------------------------------------------


@pytest.mark.parametrize(
    "text, zone, instant, rule",
    [
        # Tehran is +03:30 all year: 09:30 local is 06:00 UTC
        ("at(2026-12-04T09:30)", "Asia/Tehran", "2026-12-04T06:00", "cron(0 6 4 12 ? 2026)"),
        # 01:00 in Tehran is the evening before in UTC, and New Year's Day the year before
        ("at(2027-01-01T01:00)", "Asia/Tehran", "2026-12-31T21:30", "cron(30 21 31 12 ? 2026)"),
        # Berlin's spring-forward gap: 02:30 does not exist and runs at 03:30 CEST (fold=0)
        ("at(2027-03-28T02:30)", "Europe/Berlin", "2027-03-28T01:30", "cron(30 1 28 3 ? 2027)"),
        # Berlin's fall-back: 02:30 happens twice and runs at the first (CEST)
        ("at(2026-10-25T02:30)", "Europe/Berlin", "2026-10-25T00:30", "cron(30 0 25 10 ? 2026)"),
        ("at(2026-07-01T12:00)", "UTC", "2026-07-01T12:00", "cron(0 12 1 7 ? 2026)"),
    ],
)
def test_a_one_off_fires_once_at_its_instant_through_one_exact_rule(text, zone, instant, rule):
    schedule = Schedule.parse(text, zone)
    once = utc(instant)

    assert schedule.once_at == once
    assert utc_rule_expressions(schedule) == [rule]
    assert schedule.next_after(once - timedelta(days=400)) == once
    assert schedule.next_after(once) is None
    assert list(schedule.iter_after(once - timedelta(minutes=1))) == [once]
    assert schedule.is_due(once)
    assert not schedule.is_due(once + timedelta(minutes=1))
    assert not schedule.is_due(once - timedelta(days=1))
    # the installed rule, read in UTC as the local ticker and EventBridge read it, fires once
    fired = Schedule.parse(rule, "UTC").next_runs(once - timedelta(days=800), 3)
    assert fired == [once]


@pytest.mark.parametrize(
    "text, zone, words",
    [
        ("at(2026-12-04T09:30)", "Asia/Tehran", "Once, on 2026-12-04 at 09:30 (Asia/Tehran)"),
        (
            "at(2027-03-28T02:30)",
            "Europe/Berlin",
            "Once, on 2027-03-28 at 02:30 (Europe/Berlin); the clocks skip 02:30 that day,"
            " so it runs at 03:30",
        ),
        (
            "at(2026-10-25T02:30:00)",
            "Europe/Berlin",
            "Once, on 2026-10-25 at 02:30 (Europe/Berlin)",
        ),
    ],
)
def test_a_one_off_in_words(text, zone, words):
    assert describe(Schedule.parse(text, zone)) == words


# --- the lifetime -------------------------------------------------------------------------

DAILY = Schedule.parse("cron(0 22 * * ? *)", "Asia/Tehran")  # 18:30 UTC
ONCE = Schedule.parse("at(2026-12-04T09:30)", "Asia/Tehran")  # 06:00 UTC


def test_a_window_refuses_firings_before_its_start_and_after_its_end_inclusive():
    lifetime = Lifetime(DAILY, utc("2026-12-01T18:30"), utc("2026-12-03T18:30"))

    assert lifetime.refusal(utc("2026-11-30T18:30")) == (
        "before the job's start, 2026-12-01 22:00 +0330"
    )
    assert lifetime.refusal(utc("2026-12-01T18:30")) is None  # the start itself runs
    assert lifetime.refusal(utc("2026-12-03T18:30")) is None  # and so does the end
    assert (
        lifetime.refusal(utc("2026-12-04T18:30")) == "after the job's end, 2026-12-03 22:00 +0330"
    )


def test_next_runs_stay_inside_the_window():
    lifetime = Lifetime(DAILY, utc("2026-12-01T18:30"), utc("2026-12-03T18:30"))

    runs = lifetime.next_runs(utc("2026-11-01T00:00"), 5)

    assert runs == [utc("2026-12-01T18:30"), utc("2026-12-02T18:30"), utc("2026-12-03T18:30")]
    assert lifetime.next_runs(utc("2026-12-04T00:00"), 5) == []


def test_a_window_ends_once_its_end_has_passed():
    lifetime = Lifetime(DAILY, ends_at=utc("2026-12-03T18:30"))

    assert lifetime.ending(utc("2026-12-03T18:30")) is None
    ended = lifetime.ending(utc("2026-12-03T18:31"))
    assert (ended.state, ended.since, ended.says) == (
        "ended",
        utc("2026-12-03T18:30"),
        "its end, 2026-12-03 22:00 +0330, passed",
    )
    assert (
        Lifetime(DAILY, starts_at=utc("2020-01-01T00:00")).ending(utc("2030-01-01T00:00")) is None
    )


def test_a_one_off_is_over_when_done_or_once_its_grace_has_passed_unrun():
    once = utc("2026-12-04T06:00")
    waiting = Lifetime(ONCE, grace=timedelta(minutes=5))

    assert waiting.ending(once) is None
    assert waiting.ending(once + timedelta(minutes=5)) is None  # a late firing may still come
    assert waiting.ending(once + timedelta(minutes=6)).state == "expired"
    assert waiting.next_runs(once - timedelta(hours=1), 5) == [once]

    done = Lifetime(ONCE, completed_at=once + timedelta(seconds=2))
    assert done.ending(once + timedelta(seconds=3)).state == "done"
    assert done.ending(once + timedelta(seconds=3)).says == "ran once, 2026-12-04 09:30 +0330"
    assert done.is_over(once + timedelta(seconds=3))
    assert done.next_runs(once - timedelta(hours=1), 5) == []
    assert done.refusal(once) == "the one-off job already ran (2026-12-04 09:30 +0330)"


# --- the field checks ---------------------------------------------------------------------


@dataclass
class Fields:
    cron_expression: str = "cron(0 22 * * ? *)"
    timezone: str = "Asia/Tehran"
    misfire_grace_seconds: int = 300
    overlap_policy: str = "skip"
    include_user_ids: tuple[int, ...] = ()
    exclude_user_ids: tuple[int, ...] = ()
    pack_ids: tuple[int, ...] = ()
    starts_at: datetime | None = None
    ends_at: datetime | None = None


@pytest.mark.parametrize(
    "value, stored",
    [
        ("2026-12-04T09:00+03:30", utc("2026-12-04T05:30")),
        ("2026-12-04T05:30Z", utc("2026-12-04T05:30")),
        ("2026-12-04 09:00:00+0330", utc("2026-12-04T05:30")),
        ("2026-12-04T09:00", datetime(2026, 12, 4, 9, 0)),  # naive: read in the job's zone later
        (None, None),
        ("", None),
    ],
)
def test_a_moment_arrives_with_an_offset_or_naive(value, stored):
    assert fields.moment(value, "starts_at") == stored


@pytest.mark.parametrize(
    "value, says",
    [
        ("2026-12-04", "must be a date and time like 2026-12-04T09:00"),
        ("tomorrow", "must be a date and time like"),
        (1764826200, "must be a date and time like"),
        ("2026-13-04T09:00", "is no such date or time"),
        ("2026-12-04T09:00:00.1234567", "must be a date and time like"),
    ],
)
def test_a_bad_moment_says_what_to_write(value, says):
    with pytest.raises(InvalidJob, match=says) as raised:
        fields.moment(value, "ends_at")
    assert raised.value.field == "ends_at"


def test_naive_moments_are_read_in_the_jobs_timezone_or_the_one_sent_with_them():
    naive = {"starts_at": datetime(2026, 12, 4, 9, 0), "ends_at": None}

    assert fields.in_job_zone(naive, "Asia/Tehran")["starts_at"] == utc("2026-12-04T05:30")
    moved = fields.in_job_zone({**naive, "timezone": "Europe/Berlin"}, "Asia/Tehran")
    assert moved["starts_at"] == utc("2026-12-04T08:00")
    gap = fields.in_job_zone({"starts_at": datetime(2027, 3, 28, 2, 30)}, "Europe/Berlin")
    assert gap["starts_at"] == utc("2027-03-28T01:30")  # fold=0, as schedules are read
    with pytest.raises(InvalidJob, match="Unknown timezone") as raised:
        fields.in_job_zone({**naive, "timezone": "Mars/Olympus"}, "Asia/Tehran")
    assert raised.value.field == "timezone"


@pytest.mark.parametrize(
    "job, field, says",
    [
        (
            Fields(starts_at=utc("2026-12-04T00:00"), ends_at=utc("2026-12-04T00:00")),
            "ends_at",
            "must be after starts_at",
        ),
        (
            Fields(cron_expression="at(2026-12-04T09:30)", ends_at=utc("2026-12-05T00:00")),
            "ends_at",
            "a one-off at\\(\\) job runs once at its time; starts_at and ends_at are for repeating",
        ),
        (
            Fields(cron_expression="at(2026-12-04T09:30)", starts_at=utc("2026-12-01T00:00")),
            "starts_at",
            "Clear them, or make it repeat",
        ),
    ],
)
def test_a_window_that_cannot_be_is_refused(job, field, says):
    with pytest.raises(InvalidJob, match=says) as raised:
        fields.check_job_fields(job)
    assert raised.value.field == field


NOW = utc("2026-12-01T12:00")


def test_a_one_off_in_the_past_is_refused_saying_when_it_is_now():
    job = Fields(cron_expression="at(2026-12-01T15:00)")  # 11:30 UTC: half an hour ago

    with pytest.raises(InvalidJob, match="has passed") as raised:
        fields.check_timely(job, NOW)

    assert raised.value.field == "cron_expression"
    assert str(raised.value) == (
        "at(2026-12-01T15:00) in Asia/Tehran is 2026-12-01 15:00 +0330, which has passed"
        " (it is now 2026-12-01 15:30 +0330); pick a time still to come."
    )
    fields.check_timely(Fields(cron_expression="at(2026-12-01T15:31)"), NOW)  # still to come
    # a done one-off's other fields stay editable: only a new time must be ahead
    fields.check_timely(job, NOW, changed=["description"])
    with pytest.raises(InvalidJob, match="has passed"):
        fields.check_timely(job, NOW, changed=["timezone"])


def test_an_end_already_behind_us_is_refused_when_it_is_set():
    job = Fields(ends_at=utc("2026-12-01T11:59"))

    with pytest.raises(InvalidJob, match="has already passed; pick a later end") as raised:
        fields.check_timely(job, NOW)
    assert raised.value.field == "ends_at"
    fields.check_timely(job, NOW, changed=["description"])  # an ended job stays editable
    fields.check_timely(Fields(ends_at=utc("2026-12-01T12:01")), NOW)


def test_the_live_check_refuses_a_passed_one_off_only_when_given_now():
    assert fields.check_schedule("at(2026-12-01T15:00)", "Asia/Tehran").once_at is not None
    with pytest.raises(InvalidJob, match="which has passed"):
        fields.check_schedule("at(2026-12-01T15:00)", "Asia/Tehran", NOW)
