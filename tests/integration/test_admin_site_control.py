"""Watching and stopping sends in the admin site (headless Chromium, the admin app served
as ``chalice local`` serves it, the real Postgres and moto's server): the live progress bar
and Cancel, Retry failed, the pause banner on every page, the job page's chart of recent
runs, the search across jobs, and a viewer's read-only view of all of it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from admin_helpers import serve_admin, sign_in
from pipeline import add_custom_job, add_users

from job_scheduler.admin import tokens as admin_tokens


@pytest.fixture
def site(db, database_url, aws):
    with serve_admin(database_url, aws) as (url, queues):
        yield url, queues, admin_tokens.create(db, "sara", "test")


def an_execution(db, job_id: int, users: list[int], states: dict[str, int], **columns) -> int:
    """An execution of ``job_id`` with deliveries in the given states, in user order."""
    values = {"status": "succeeded", "scheduled_for": datetime.now(UTC), "trigger": "manual",
              "recipients_count": sum(states.values()), "queued_count": sum(states.values()),
              **columns}  # fmt: skip
    names, marks = ", ".join(values), ", ".join(["%s"] * len(values))
    execution_id = db.execute(
        f"INSERT INTO job_executions (job_id, {names}) VALUES (%s, {marks}) RETURNING id",
        (job_id, *values.values()),
    ).fetchone()["id"]
    people = iter(users)
    for state, count in states.items():
        for _ in range(count):
            db.execute(
                "INSERT INTO notification_deliveries (execution_id, user_id, status, payload,"
                " sent_at, retryable, last_error)"
                " VALUES (%s, %s, %s, '{\"text\": \"hi\"}', %s, %s, %s)",
                (execution_id, next(people), state, datetime.now(UTC) if state == "sent" else None,
                 state == "failed", "502: Bad Gateway" if state == "failed" else None),
            )  # fmt: skip
    db.execute(
        "UPDATE job_executions SET sent_count = %s, failed_count = %s WHERE id = %s",
        (states.get("sent", 0), states.get("failed", 0), execution_id),
    )
    return execution_id


def test_the_progress_bar_moves_and_cancel_stops_the_rest(page, site, db, shots):
    url, _, token = site
    users = add_users(db, 200)
    job = add_custom_job(db)
    execution_id = an_execution(db, job["id"], users, {"sent": 50, "ready": 150})
    sign_in(page, url, token)

    page.goto(f"{url}/#/executions/{execution_id}")
    page.wait_for_selector("#progress-words:has-text('sent 50')")
    words = page.inner_text("#progress-words")
    assert "waiting 150 — of 200" in words and "messages/s" in words and "left" in words
    db.execute("UPDATE notification_deliveries SET status = 'sent', sent_at = now()"
               " WHERE id IN (SELECT id FROM notification_deliveries WHERE status = 'ready'"
               " ORDER BY id LIMIT 50)")  # fmt: skip
    page.wait_for_selector("#progress-words:has-text('sent 100')", timeout=5000)  # it moved
    widths = page.eval_on_selector_all(
        "svg.progress rect", "rects => rects.map(r => [r.dataset.state, r.getAttribute('width')])"
    )
    assert dict(widths)["sent"] == "50%" and dict(widths)["waiting"] == "50%"
    page.screenshot(path=str(shots / "execution-progress.png"), full_page=True)

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#cancel-execution")

    page.wait_for_selector("#toast:has-text('Cancelled: 100 not sent')")
    page.wait_for_selector("#cancelled-note:has-text('Cancelled by admin:sara')")
    assert page.locator("#cancel-execution").count() == 0
    assert "cancelled 100" in page.inner_text("#progress-words")
    page.screenshot(path=str(shots / "execution-cancelled.png"), full_page=True)
    row = db.execute("SELECT status, cancelled_count FROM job_executions").fetchone()
    assert (row["status"], row["cancelled_count"]) == ("cancelled", 100)


def test_retry_failed_from_the_execution_page(page, site, db):
    url, queues, token = site
    users = add_users(db, 5)
    job = add_custom_job(db)
    execution_id = an_execution(db, job["id"], users, {"sent": 2, "failed": 3})
    sign_in(page, url, token)
    page.goto(f"{url}/#/executions/{execution_id}")

    page.click("#retry-failed:has-text('Retry 3 failed')")

    page.wait_for_selector("#toast:has-text('Retrying 3 failed')")
    page.wait_for_selector("#progress-words:has-text('waiting 3')")
    assert queues.depth(queues.notifications) == 1  # one message of 3 (7 per message)


def test_the_pause_banner_shows_on_every_page_until_resumed(page, site, db, shots):
    url, _, token = site
    sign_in(page, url, token)

    page.once("dialog", lambda dialog: dialog.accept("the new promo has a typo"))
    page.click("#pause-button")

    page.wait_for_selector("#pause-banner:has-text('Sending is paused by admin:sara')")
    assert "the new promo has a typo" in page.inner_text("#pause-banner")
    for view in ("#/people", "#/packs", "#/audit", "#/executions"):
        page.goto(f"{url}/{view}")
        page.wait_for_selector("#pause-banner:visible")
    page.goto(f"{url}/#/jobs")
    page.wait_for_selector("#pause-banner:visible")
    page.screenshot(path=str(shots / "paused.png"))
    assert not page.is_visible("#pause-button")

    page.click("#resume")

    page.wait_for_selector("#toast:has-text('Resumed after')")
    page.wait_for_selector("#pause-banner", state="hidden")
    assert page.is_visible("#pause-button")
    actions = [row["action"] for row in db.execute(
        "SELECT action FROM audit_log WHERE entity_type = 'system' ORDER BY id")]  # fmt: skip
    assert actions == ["pause", "resume"]


def test_the_job_page_charts_its_recent_runs(page, site, db, shots):
    url, _, token = site
    users = add_users(db, 40)
    job = add_custom_job(db, name="weekly-hello")
    start = datetime.now(UTC) - timedelta(days=6)
    for day, (sent, failed) in enumerate([(30, 0), (35, 2), (20, 10), (40, 0), (38, 1)]):
        an_execution(db, job["id"], users, {"sent": sent, "failed": failed},
                     scheduled_for=start + timedelta(days=day), trigger="schedule",
                     duration_ms=400 + 300 * day)  # fmt: skip
    sign_in(page, url, token)

    page.click("text=weekly-hello")

    page.wait_for_selector("#runs-chart svg.chart")
    assert page.locator("#runs-chart g.run").count() == 5
    heights = page.eval_on_selector_all(
        "#runs-chart g.run rect[data-state='failed']",
        "rects => rects.map(r => Number(r.getAttribute('height')))",
    )
    assert heights[0] == 0 and heights[2] == max(heights)  # oldest first; the 10 failures
    page.screenshot(path=str(shots / "job-chart.png"), full_page=True)
    page.click("#runs-chart g.run >> nth=2")
    page.wait_for_selector("h2:has-text('Execution')")
    assert "sent 20 · failed 10" in page.inner_text("#progress-words")


def test_executions_are_searchable_by_status_and_date_across_jobs(page, site, db, shots):
    url, _, token = site
    users = add_users(db, 4)
    first, second = add_custom_job(db, name="promo-a"), add_custom_job(db, name="promo-b")
    an_execution(
        db, first["id"], users, {"sent": 2}, scheduled_for=datetime(2026, 11, 2, tzinfo=UTC)
    )
    an_execution(db, second["id"], users, {"failed": 1}, status="failed",
                 scheduled_for=datetime(2026, 11, 20, tzinfo=UTC))  # fmt: skip
    an_execution(db, first["id"], users, {"failed": 2}, status="failed",
                 scheduled_for=datetime(2026, 10, 1, tzinfo=UTC))  # fmt: skip
    sign_in(page, url, token)

    page.click("nav >> text=Executions")
    page.wait_for_selector("#search-results tr.execution")
    assert page.locator("#search-results tr.execution").count() == 3
    page.select_option("#search-status", "failed")
    page.fill("#search-since", "2026-11-01")
    page.click("#search")

    page.wait_for_function(  # a function: the site's CSP refuses a string to evaluate
        "() => document.querySelectorAll('#search-results tr.execution').length === 1"
    )
    assert "promo-b" in page.inner_text("#search-results tr.execution")
    page.screenshot(path=str(shots / "executions-search.png"), full_page=True)


def test_a_viewer_watches_a_send_but_cannot_stop_pause_or_retry_it(page, site, db):
    url, _, _ = site
    viewer = admin_tokens.create(db, "vera", "test", role="viewer")
    users = add_users(db, 6)
    job = add_custom_job(db)
    execution_id = an_execution(db, job["id"], users, {"sent": 1, "failed": 2, "ready": 3})
    paused = '{"by": "admin:sara", "at": "2026-12-01T10:00:00+00:00", "reason": ""}'
    db.execute("INSERT INTO system_config (key, value) VALUES ('pause', %s)", (paused,))
    sign_in(page, url, viewer)
    page.goto(f"{url}/#/executions/{execution_id}")

    page.wait_for_selector("#progress-words:has-text('sent 1')")
    page.wait_for_selector("#pause-banner:visible")
    for control in ("#cancel-execution", "#retry-failed", "#resume", "#pause-button"):
        assert not page.is_visible(control), control
