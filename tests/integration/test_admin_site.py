"""The admin site in headless Chromium (Debian's ``chromium`` through Playwright's
``executable_path``; no browser download), clicked through as an admin would, against the
admin app served as ``chalice local`` serves it, the real Postgres and moto's server.

Screenshots go to a temporary directory, or to docs/screenshots with UPDATE_SCREENSHOTS=1.
"""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from admin_helpers import serve_admin, served_settings, sign_in
from pipeline import add_users

from job_scheduler.admin import tokens as admin_tokens
from job_scheduler.execution.firing import parse_firing
from job_scheduler.execution.handler import build_executor
from job_scheduler.sync.startup import run_startup

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def site(db, database_url, aws):
    add_users(db, 4)
    db.execute("INSERT INTO character_packs (slug, name) VALUES ('owls', 'Night Owls')")
    with serve_admin(database_url, aws) as (url, queues):
        run_startup(served_settings())  # the coded jobs and their rules, as at deploy
        yield url, queues, admin_tokens.create(db, "sara", "test")


def disable_the_reminder(page, site) -> None:
    url, _, token = site
    sign_in(page, url, token)
    page.click("text=unselected-food-reminder")
    page.click("#toggle:has-text('Disable')")
    page.wait_for_selector("#toggle:has-text('Enable')")


def rule(name: str) -> dict:
    events = boto3.client("events", endpoint_url=served_settings().aws_endpoint_url,
                          region_name="us-east-1")  # fmt: skip
    return events.describe_rule(Name=name)


def test_sign_in_refuses_a_bad_token_and_shows_the_jobs(page, site, shots):
    url, _, token = site
    page.goto(url)
    page.fill("#token", "tja_" + "x" * 43)
    page.click("button:has-text('Sign in')")
    page.wait_for_selector("#sign-in-error:has-text('unknown or revoked')")
    page.screenshot(path=str(shots / "sign-in.png"))

    sign_in(page, url, token)

    row = page.locator("tr[data-job='unselected-food-reminder']")
    assert "At 22:00 (Asia/Tehran)" in row.inner_text()
    assert "enabled" in row.inner_text()
    page.screenshot(path=str(shots / "jobs.png"), full_page=True)


def test_changing_a_schedule_with_live_validation(page, site, db, shots):
    url, _, token = site
    sign_in(page, url, token)
    page.click("text=unselected-food-reminder")
    page.wait_for_selector("#schedule-check:has-text('At 22:00')")

    page.fill("#expression", "cron(0 25 * * ? *)")
    page.wait_for_selector("#schedule-check .error")
    assert page.is_disabled("#save-schedule")
    page.fill("#expression", "cron(30 21 * * ? *)")
    page.wait_for_selector("#schedule-check:has-text('At 21:30 (Asia/Tehran)')")
    page.screenshot(path=str(shots / "edit-schedule.png"), full_page=True)
    page.click("#save-schedule")
    page.wait_for_selector("#toast:has-text('Schedule saved')")

    row = db.execute("SELECT cron_expression, version, updated_by FROM scheduled_jobs"
                     " WHERE name = 'unselected-food-reminder'").fetchone()  # fmt: skip
    assert (row["cron_expression"], row["version"], row["updated_by"]) == (
        "cron(30 21 * * ? *)",
        2,
        "admin:sara",
    )
    assert rule("admin-e2e-unselected-food-reminder")["ScheduleExpression"] == "cron(0 18 * * ? *)"


def test_disabling_a_job(page, site, db):
    disable_the_reminder(page, site)

    enabled = db.execute(
        "SELECT enabled FROM scheduled_jobs WHERE name = 'unselected-food-reminder'"
    ).fetchone()["enabled"]
    assert enabled is False
    assert rule("admin-e2e-unselected-food-reminder")["State"] == "DISABLED"
    page.click("#run-now")  # the dialog says that a disabled job runs anyway
    page.wait_for_selector("#confirm-run:has-text('This job is disabled')")
    page.click("#confirm-run-cancel")


def test_creating_and_running_a_custom_job_then_watching_its_execution(page, site, db, shots):
    url, queues, token = site
    sign_in(page, url, token)
    page.click("text=New message job")
    page.fill("#new-name", "weekly-hello")
    page.fill("#new-expression", "cron(0 9 ? * MON *)")
    page.fill("#text", "<b>Hello {{ user.first_name }}</b>, a new week!")
    page.fill("#include", "User1")
    page.click(".results div >> nth=0")
    page.click("text=Create")
    page.wait_for_selector("h2:has-text('weekly-hello')")
    page.click("#preview-button")
    page.wait_for_selector("#preview:has-text('Reaches 1 person')")
    assert "Hello User1" in page.inner_text("#preview .preview")
    page.screenshot(path=str(shots / "message-job.png"), full_page=True)

    page.click("#run-now")  # asks first: whom, and what the first one gets
    page.wait_for_selector("#confirm-run:has-text('It reaches 1 person, now.')")
    assert "Hello User1" in page.inner_text("#confirm-run pre")
    page.screenshot(path=str(shots / "run-now-confirm.png"))
    page.click("#confirm-run-cancel")
    page.wait_for_selector("#confirm-run", state="detached")
    assert queues.depth(queues.jobs) == 0  # cancelled: nothing queued
    page.click("#run-now")
    page.click("#confirm-run-send")
    page.wait_for_selector("#toast:has-text('Queued weekly-hello')")
    run_queued_firings(queues)
    page.wait_for_selector("#history tr.execution:has-text('succeeded')", timeout=15_000)
    page.screenshot(path=str(shots / "history.png"), full_page=True)

    page.click("#history tr.execution >> nth=0")
    page.wait_for_selector("h2:has-text('Execution')")
    assert "Reached 1" in page.inner_text("main")
    page.screenshot(path=str(shots / "execution.png"), full_page=True)


def test_the_audit_log_says_who_changed_what(page, site):
    disable_the_reminder(page, site)
    page.click("text=Audit log")
    entry = page.locator("tr.audit", has_text="update job unselected-food-reminder")
    assert "admin:sara" in entry.inner_text()
    assert '"enabled": false' in entry.inner_text()


def test_the_site_is_readable_on_a_phone(browser, site, shots):
    url, _, token = site
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    phone = context.new_page()
    sign_in(phone, url, token)
    width = phone.evaluate("document.documentElement.scrollWidth")
    phone.screenshot(path=str(shots / "phone.png"), full_page=True)
    context.close()
    assert width <= 390  # nothing wider than the screen: no sideways scrolling


def run_queued_firings(queues) -> None:
    """Do what the job executor's queue poller does for the firings queued so far."""
    executor = build_executor(served_settings())
    messages = queues.sqs.receive_message(
        QueueUrl=queues.jobs["url"], MaxNumberOfMessages=10, WaitTimeSeconds=2
    ).get("Messages", [])
    assert messages, "no firing was queued"
    for message in messages:
        executor.execute(parse_firing(json.loads(message["Body"]), executor.job_for_rule))


def test_choosing_a_pack_saves_the_targeting(page, site, db):
    url, _, token = site
    sign_in(page, url, token)
    page.click("text=unselected-food-reminder")
    page.wait_for_selector("#save-targeting:not([disabled])")
    page.check("#packs input[type=checkbox]")
    page.click("#save-targeting")
    page.wait_for_selector("#toast:has-text('Targeting saved')")

    row = db.execute("SELECT pack_ids FROM scheduled_jobs WHERE name = 'unselected-food-reminder'")
    assert row.fetchone()["pack_ids"] == [1]
    page.wait_for_selector("text=reaches 1 pack")


def test_a_job_that_would_send_too_much_asks_before_it_is_saved(page, site, db, shots):
    from dataclasses import replace

    from chalicelib.context import current

    # 3,600 messages a day allowed; four people every minute is more.
    slow = replace(served_settings(), telegram_rate_per_second=1, job_send_budget_hours=1)
    current.configure(slow)
    url, _, token = site
    asked: list[str] = []

    def answer(dialog) -> None:
        asked.append(dialog.message)
        dialog.accept() if len(asked) > 1 else dialog.dismiss()

    page.on("dialog", answer)
    sign_in(page, url, token)
    page.click("text=New message job")
    page.fill("#new-name", "flood")
    page.fill("#new-expression", "cron(* * * * ? *)")
    page.click("text=Create")
    page.wait_for_selector("#new-error:has-text('about 5,760 messages a day')")
    assert (
        db.execute("SELECT count(*) AS n FROM scheduled_jobs WHERE name = 'flood'").fetchone()["n"]
        == 0
    )
    page.click("text=Create")
    page.wait_for_selector("h2:has-text('flood')")
    assert len(asked) == 2 and "Save it anyway?" in asked[0]
