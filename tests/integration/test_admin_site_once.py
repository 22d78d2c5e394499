"""The admin site's "Once at" and "Repeat" in headless Chromium: a one-off made from the
new-job form gets its one rule, runs, and shows as done; a repeating job's start and end
are saved from the job page. Served and driven as in tests/test_admin_site.py."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import boto3
import pytest
from admin_helpers import serve_admin, served_settings, sign_in
from pipeline import add_users

from job_scheduler.admin import tokens as admin_tokens
from job_scheduler.execution.firing import Firing, parse_firing
from job_scheduler.execution.handler import build_executor
from job_scheduler.schedule.utc_rules import once_rule
from job_scheduler.sync.startup import run_startup

TEHRAN = ZoneInfo("Asia/Tehran")


@pytest.fixture
def site(db, database_url, aws):
    add_users(db, 2)
    with serve_admin(database_url, aws) as (url, queues):
        run_startup(served_settings())
        yield url, queues, admin_tokens.create(db, "sara", "test")


def rules() -> dict[str, dict]:
    events = boto3.client("events", endpoint_url=served_settings().aws_endpoint_url,
                          region_name="us-east-1")  # fmt: skip
    return {rule["Name"]: rule for rule in events.list_rules(NamePrefix="admin-e2e-")["Rules"]}


def test_a_job_made_once_at_runs_once_and_shows_as_done(page, site, db, shots):
    url, _, token = site
    soon = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=2)
    sign_in(page, url, token)
    page.click("text=New message job")
    page.fill("#new-name", "one-time-hello")
    page.check("#new-when-once")
    assert page.is_hidden("#new-expression") and page.is_visible("#new-once-at")
    page.fill("#new-once-at", "2020-01-01T09:00")
    page.click("#create")
    page.wait_for_selector("#new-error:has-text('which has passed')")

    page.fill("#new-once-at", f"{soon.astimezone(TEHRAN):%Y-%m-%dT%H:%M}")
    page.screenshot(path=str(shots / "new-once.png"), full_page=True)
    page.click("#create")
    page.wait_for_selector("h2:has-text('one-time-hello')")
    page.wait_for_selector("#schedule-check:has-text('Once, on')")
    assert page.is_checked("#when-once")

    row = db.execute("SELECT cron_expression, rule_names FROM scheduled_jobs"
                     " WHERE name = 'one-time-hello'").fetchone()  # fmt: skip
    assert row["cron_expression"] == f"at({soon.astimezone(TEHRAN):%Y-%m-%dT%H:%M})"
    assert rules()[row["rule_names"][0]]["ScheduleExpression"] == once_rule(soon)

    executor = build_executor(served_settings())  # the rule's firing, as the queue brings it
    body = json.dumps(Firing("one-time-hello", soon, "schedule").to_message())
    assert executor.execute(parse_firing(body, executor.job_for_rule)).status == "ran"
    assert "admin-e2e-one-time-hello" not in rules()

    page.click("text=Jobs")
    badge = page.locator("tr[data-job='one-time-hello'] .badge.done")
    assert badge.inner_text() == "done"
    page.screenshot(path=str(shots / "jobs-once-done.png"), full_page=True)
    page.click("tr[data-job='one-time-hello'] a")
    page.wait_for_selector("#finished:has-text('It fires no more: ran once')")


def test_a_repeating_jobs_start_and_end_are_saved_from_its_page(page, site, db):
    url, _, token = site
    sign_in(page, url, token)
    page.click("text=New message job")
    page.fill("#new-name", "december-hello")
    page.fill("#new-expression", "cron(0 9 * * ? *)")
    page.fill("#new-starts", "2031-12-01T09:00")
    page.fill("#new-ends", "2031-11-01T09:00")
    page.click("#create")
    page.wait_for_selector("#new-error:has-text('must be after starts_at')")
    page.fill("#new-ends", "2031-12-31T09:00")
    page.click("#create")
    page.wait_for_selector("h2:has-text('december-hello')")
    assert page.input_value("#starts") == "2031-12-01T09:00"

    page.fill("#ends", "2031-12-03T09:00")
    page.click("#save-schedule")
    page.wait_for_selector("#toast:has-text('Schedule saved')")

    row = db.execute("SELECT starts_at, ends_at FROM scheduled_jobs"
                     " WHERE name = 'december-hello'").fetchone()  # fmt: skip
    assert (row["starts_at"], row["ends_at"]) == (
        datetime(2031, 12, 1, 5, 30, tzinfo=UTC),
        datetime(2031, 12, 3, 5, 30, tzinfo=UTC),
    )
    page.click("text=Jobs")
    assert "2031-12-01 09:00" in page.inner_text("tr[data-job='december-hello']")
