"""One-off jobs and windows against the real services: the rule on moto's EventBridge, fired
by the local runtime's ticker onto moto's SQS, run by the executor, delivered by the
notifier to the fake Telegram; Postgres holds what an admin reads."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from admin_helpers import admin_settings, load_admin_app
from chalice.test import Client
from execution_fixtures import *  # noqa: F403 - the fixtures
from execution_fixtures import chats, deliver, now_minute
from pipeline import add_custom_job, add_users, execution_rows, firing, receive_all

from infra.local.ticker import RuleTicker
from job_scheduler.admin import tokens as admin_tokens
from job_scheduler.admin.edits import create_job, edit_job
from job_scheduler.admin.specs import CustomJobSpec
from job_scheduler.errors import RuleQuotaExceeded
from job_scheduler.execution.firing import parse_firing
from job_scheduler.jobs.registry import JobRegistry
from job_scheduler.model import Job
from job_scheduler.schedule.utc_rules import once_rule
from job_scheduler.sync.converge import sync_job_rules, sync_jobs_and_rules
from job_scheduler.sync.rules import RuleStore

MESSAGE = {"text": "Hi {{ user.first_name }}", "parse_mode": None}
TEHRAN = ZoneInfo("Asia/Tehran")


def at_in_tehran(instant: datetime) -> str:
    """The at() that names ``instant`` in Asia/Tehran (+03:30 all year)."""
    return f"at({instant.astimezone(TEHRAN):%Y-%m-%dT%H:%M})"


def job_of(db, name: str) -> Job:
    return Job.from_row(
        db.execute("SELECT * FROM scheduled_jobs WHERE name = %s", (name,)).fetchone()
    )


def bus(events) -> dict[str, dict]:
    return {rule["Name"]: rule for rule in events.list_rules(NamePrefix="test-jobs-")["Rules"]}


def create(db, settings, **body) -> Job:
    spec = CustomJobSpec.from_fields({"name": "once", "message": MESSAGE, **body}, "Asia/Tehran")
    create_job(db, RuleStore(settings), spec, "admin:sara")
    return job_of(db, spec.name)  # with the rules it was given


def tick_and_run(settings, queues, executor, events, minutes: list[datetime]) -> list[str]:
    """Fire the bus's rules for each minute as the local runtime's ticker does, then run
    what reached the jobs queue through the executor; the outcomes' statuses."""
    ticker = RuleTicker(events, queues.sqs, settings.rule_prefix, "us-east-1", stop=None)
    for minute in minutes:
        ticker.fire(minute)
    outcomes = []
    for message in receive_all(queues, queues.jobs):  # each run well within its visibility
        outcome = executor.execute(parse_firing(json.loads(message["Body"]), executor.job_for_rule))
        outcomes.append(outcome.status)
    return outcomes


# --- once ---------------------------------------------------------------------------------


def test_a_one_off_fires_once_then_is_done_and_its_rule_is_gone(
    db, settings, executor, notifier, queues, telegram, events
):
    add_users(db, 3)
    soon = now_minute() + timedelta(minutes=2)
    job = create(db, settings, expression=at_in_tehran(soon))

    (rule_name,) = job.rule_names
    assert bus(events)[rule_name]["ScheduleExpression"] == once_rule(soon)
    assert (
        once_rule(soon) == f"cron({soon.minute} {soon.hour} {soon.day} {soon.month} ? {soon.year})"
    )

    # the ticker fires the rule at its minute only; the executor runs it once
    minutes = [soon - timedelta(minutes=1), soon, soon + timedelta(minutes=1)]
    assert tick_and_run(settings, queues, executor, events, minutes) == ["ran"]
    deliver(queues, notifier)

    assert chats(telegram) == [5000, 5001, 5002]
    done = job_of(db, "once")
    assert done.completed_at is not None and done.rule_names == ()
    assert rule_name not in bus(events)
    assert done.version == job.version + 1 and done.updated_by == "job_executor"
    audit = db.execute("SELECT actor, action, after FROM audit_log ORDER BY id DESC").fetchone()
    assert (audit["actor"], audit["action"], list(audit["after"])) == (
        "job_executor",
        "complete",
        ["completed_at"],
    )
    # the same firing again is a duplicate; a sync puts no rule back
    assert executor.execute(firing("once", soon)).status == "duplicate"
    sync_jobs_and_rules(db, JobRegistry(), RuleStore(settings))
    assert bus(events) == {} and job_of(db, "once").rule_names == ()
    assert [row["status"] for row in execution_rows(db)] == ["succeeded"]
    assert len(telegram.messages()) == 3


def test_a_one_off_skipped_because_disabled_is_done_too(db, settings, executor, events):
    soon = now_minute() + timedelta(minutes=2)
    create(db, settings, expression=at_in_tehran(soon))
    db.execute("UPDATE scheduled_jobs SET enabled = false WHERE name = 'once'")  # after queuing

    assert executor.execute(firing("once", soon)).status == "skipped"

    assert job_of(db, "once").completed_at is not None
    assert bus(events) == {}


def test_run_now_runs_a_done_one_off_and_it_stays_done(db, settings, executor, telegram, events):
    add_users(db, 1)
    soon = now_minute() + timedelta(minutes=2)
    create(db, settings, expression=at_in_tehran(soon))
    executor.execute(firing("once", soon))
    done_at = job_of(db, "once").completed_at

    assert executor.execute(firing("once", now_minute(), trigger="manual")).status == "ran"

    assert job_of(db, "once").completed_at == done_at and bus(events) == {}


def test_a_done_one_off_given_a_new_time_runs_again(db, settings, executor, events):
    soon = now_minute() + timedelta(minutes=2)
    job = create(db, settings, expression=at_in_tehran(soon))
    executor.execute(firing("once", soon))
    version = job_of(db, "once").version

    later = soon + timedelta(days=1)
    body = {"expression": at_in_tehran(later), "version": version}
    again = edit_job(db, RuleStore(settings), "once", body, "admin:sara")

    assert again.completed_at is None
    assert bus(events)[job.rule_names[0]]["ScheduleExpression"] == once_rule(later)
    audit = db.execute("SELECT before, after FROM audit_log ORDER BY id DESC").fetchone()
    assert audit["after"]["completed_at"] is None and audit["before"]["completed_at"]


def test_a_one_off_whose_time_passed_unrun_loses_its_rule_at_the_sync(db, settings, events):
    soon = now_minute() + timedelta(minutes=2)
    create(db, settings, expression=at_in_tehran(soon), enabled=False)
    assert len(bus(events)) == 1  # DISABLED: it never fires

    later = soon + timedelta(minutes=6)  # past its 5-minute grace
    summary = sync_jobs_and_rules(db, JobRegistry(), RuleStore(settings), now=later)

    assert summary.rules_deleted == ["test-jobs-once"] and bus(events) == {}


# --- between ------------------------------------------------------------------------------


def add_windowed_job(db, settings, **window) -> Job:
    """An every-minute job with a window, its rule installed as an admin's edit would."""
    job = Job.from_row(add_custom_job(db, name="between", **window))
    sync_job_rules(db, RuleStore(settings), job, datetime.now(UTC))
    return job_of(db, "between")


def test_a_firing_after_the_end_is_skipped_and_the_rule_removed(db, settings, executor, events):
    add_users(db, 1)
    job = add_windowed_job(db, settings, ends_at=now_minute() + timedelta(minutes=1))
    assert list(bus(events)) == ["test-jobs-between"]

    assert executor.execute(firing("between", now_minute())).status == "ran"  # inside
    assert list(bus(events)) == ["test-jobs-between"]  # the end has not passed yet
    late = now_minute() + timedelta(minutes=2)
    executor.clock = lambda: late + timedelta(seconds=5)
    assert executor.execute(firing("between", late)).status == "skipped"

    skipped = execution_rows(db)[-1]
    assert skipped["status"] == "skipped"
    assert skipped["detail"].startswith("after the job's end, ")
    assert bus(events) == {} and job_of(db, "between").rule_names == ()
    assert job.completed_at is None and job_of(db, "between").completed_at is None


def test_the_sync_removes_the_rules_of_ended_jobs(db, settings, events):
    add_windowed_job(db, settings, ends_at=datetime.now(UTC) + timedelta(hours=1))
    assert list(bus(events)) == ["test-jobs-between"]

    after_end = datetime.now(UTC) + timedelta(hours=2)
    summary = sync_jobs_and_rules(db, JobRegistry(), RuleStore(settings), now=after_end)

    assert summary.rules_deleted == ["test-jobs-between"]
    assert bus(events) == {} and job_of(db, "between").rule_names == ()


def test_firings_before_the_start_are_skipped_saying_when_it_starts(db, settings, executor):
    add_users(db, 1)
    start = now_minute() + timedelta(minutes=1)
    add_windowed_job(db, settings, starts_at=start)

    assert executor.execute(firing("between", now_minute())).status == "skipped"
    assert executor.execute(firing("between", start)).status == "ran"

    before, at_start = execution_rows(db)
    local = start.astimezone(TEHRAN).strftime("%Y-%m-%d %H:%M")
    assert before["detail"] == f"before the job's start, {local} +0330"
    assert at_start["status"] == "succeeded"


def test_the_quota_does_not_count_the_rules_of_finished_jobs(db, settings, events):
    """Two stale rules (a done one-off, an ended job) and two new jobs: a bus quota of two
    holds, since the sync deletes the stale rules as it creates the new ones."""
    soon = now_minute() + timedelta(minutes=2)
    create(db, settings, expression=at_in_tehran(soon))
    add_windowed_job(db, settings, ends_at=datetime.now(UTC) + timedelta(minutes=30))
    db.execute("UPDATE scheduled_jobs SET completed_at = now() WHERE name = 'once'")
    for name in ("new-a", "new-b"):
        add_custom_job(db, name=name, cron="cron(0 9 * * ? *)")
    assert len(bus(events)) == 2
    strict = RuleStore(settings)
    strict.quota = 2
    later = datetime.now(UTC) + timedelta(hours=1)

    summary = sync_jobs_and_rules(db, JobRegistry(), strict, now=later)

    assert sorted(summary.rules_created) == ["test-jobs-new-a", "test-jobs-new-b"]
    assert sorted(bus(events)) == ["test-jobs-new-a", "test-jobs-new-b"]
    assert summary.rules_total_on_bus == 2
    add_custom_job(db, name="new-c", cron="cron(0 9 * * ? *)")
    with pytest.raises(RuleQuotaExceeded):  # live jobs still count
        sync_jobs_and_rules(db, JobRegistry(), strict, now=later)


# --- the admin API ------------------------------------------------------------------------


@pytest.fixture
def api(db, database_url, aws, queues):
    """POST/GET/PATCH the admin API in process (Chalice's test client) with an admin token."""
    token = admin_tokens.create(db, "sara", "test")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    with Client(load_admin_app(admin_settings(database_url, aws, queues))) as client:

        def call(method: str, path: str, body=None):
            data = json.dumps(body).encode() if body is not None else b""
            response = client.http.request(method, path, headers=headers, body=data)
            return response.status_code, json.loads(response.body or b"null")

        yield call


PAST = "at(2020-01-01T09:00)"


@pytest.mark.parametrize(
    "fields, field, says",
    [
        ({"expression": PAST}, "expression", r"is 2020-01-01 09:00 \+0330, which has passed"),
        ({"expression": "at(2026-12-04)"}, "expression", r"at\(YYYY-MM-DDThh:mm\)"),
        (
            {"starts_at": "next monday"},
            "starts_at",
            "must be a date and time like 2026-12-04T09:00",
        ),
        ({"ends_at": 20261204}, "ends_at", "must be a date and time like"),
        (
            {"starts_at": "2031-01-02T09:00", "ends_at": "2031-01-01T09:00"},
            "ends_at",
            "must be after starts_at",
        ),
        ({"ends_at": "2020-01-01T00:00+00:00"}, "ends_at", "has already passed; pick a later end"),
        (
            {"expression": "at(2031-01-01T09:00)", "ends_at": "2031-02-01T09:00"},
            "ends_at",
            "for repeating schedules",
        ),
    ],
)
def test_the_api_refuses_what_cannot_run_saying_what_to_fix(api, db, fields, field, says):
    body = {"name": "bad", "expression": "cron(0 9 * * ? *)", "message": MESSAGE, **fields}

    status, answer = api("POST", "/api/jobs", body)

    assert status == 422, answer
    assert answer["error"]["field"] == field
    assert re.search(says, answer["error"]["message"]), answer["error"]["message"]
    assert db.execute("SELECT count(*) AS n FROM scheduled_jobs").fetchone()["n"] == 0


def test_the_live_check_refuses_a_one_off_in_the_past(api):
    status, answer = api("GET", f"/api/schedule?expression={PAST}&timezone=Asia/Tehran")
    assert status == 422 and "which has passed" in answer["error"]["message"]

    status, answer = api(
        "GET", "/api/schedule?expression=at(2031-01-01T09:00)&timezone=Asia/Tehran"
    )
    assert status == 200
    assert answer["in_words"] == "Once, on 2031-01-01 at 09:00 (Asia/Tehran)"
    assert answer["next_runs"] == ["2031-01-01T09:00:00+03:30"]


def test_the_api_shows_a_one_off_then_shows_it_done(api, db, executor, events):
    soon = now_minute() + timedelta(minutes=2)
    body = {"name": "once", "expression": at_in_tehran(soon), "message": MESSAGE}

    status, created = api("POST", "/api/jobs", body)

    assert status == 201, created
    assert (created["once"], created["finished"], created["starts_at"]) == (True, None, None)
    assert created["schedule"]["next_runs"] == [soon.astimezone(TEHRAN).isoformat()]
    executor.execute(firing("once", soon))
    _, shown = api("GET", "/api/jobs/once")
    assert shown["finished"]["state"] == "done"
    assert shown["finished"]["says"].startswith("ran once, ")
    assert shown["completed_at"].endswith("+03:30")  # in the job's timezone
    assert (shown["schedule"]["next_runs"], shown["rule_names"]) == ([], [])
    _, listed = api("GET", "/api/jobs")
    (row,) = listed["jobs"]
    assert row["finished"]["state"] == "done"


def test_the_api_takes_a_window_in_the_jobs_timezone_and_shows_runs_inside_it(api):
    body = {
        "name": "between",
        "expression": "cron(0 9 * * ? *)",
        "message": MESSAGE,
        "starts_at": "2031-01-01T09:00",  # naive: in the job's timezone
        "ends_at": "2031-01-03T05:30Z",  # with an offset: 09:00 in Tehran
    }

    status, created = api("POST", "/api/jobs", body)

    assert status == 201, created
    assert (created["starts_at"], created["ends_at"]) == (
        "2031-01-01T09:00:00+03:30",
        "2031-01-03T09:00:00+03:30",
    )
    assert created["schedule"]["next_runs"] == [
        "2031-01-01T09:00:00+03:30",
        "2031-01-02T09:00:00+03:30",
        "2031-01-03T09:00:00+03:30",
    ]
    status, edited = api("PATCH", "/api/jobs/between", {"version": 1, "ends_at": None})
    assert status == 200 and edited["ends_at"] is None
    assert len(edited["schedule"]["next_runs"]) == 5
