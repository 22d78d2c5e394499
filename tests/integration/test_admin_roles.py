"""Viewer tokens read and change nothing: every route of the OpenAPI document that changes
something answers a viewer 403 (with nothing changed, and an admin's token still works),
reads answer 200; the site shows a viewer no control that changes anything (Chromium)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from admin_helpers import admin_settings, load_admin_app, serve_admin
from chalice.test import Client
from pipeline import add_custom_job, add_users, make_queues

from job_scheduler.admin import tokens as admin_tokens


@pytest.fixture
def client(db, database_url, aws):
    with Client(load_admin_app(admin_settings(database_url, aws, make_queues(aws)))) as test:
        yield test


def call(client, method: str, path: str, token: str, body=None):
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    answer = client.http.request(
        method, path, headers=headers, body=json.dumps(body if body is not None else {})
    )
    return answer.status_code, json.loads(answer.body or b"null")


def changing_operations() -> list[tuple[str, str]]:
    from chalicelib.openapi import document

    return [
        (method.upper(), path)
        for path, operations in document()["paths"].items()
        for method in operations
        if method in ("post", "patch", "delete") and not path.endswith("/preview")
    ]


def test_every_route_that_changes_something_refuses_a_viewer(db, client):
    viewer = admin_tokens.create(db, "vera", "test", role="viewer")
    job = add_custom_job(db)
    add_users(db, 1)
    pack = db.execute(
        "INSERT INTO character_packs (slug, name) VALUES ('p', 'P') RETURNING id"
    ).fetchone()["id"]
    before = db.execute("SELECT count(*) AS n FROM audit_log").fetchone()["n"]
    operations = changing_operations()
    assert len(operations) >= 12
    for method, path in operations:
        concrete = (
            path.replace("{name}", job["name"])
            .replace("{pack_id}", str(pack))
            .replace("{user_id}", "1")
            .replace("{execution_id}", "1")
        )
        status, body = call(client, method, concrete, viewer)
        assert (status, body["error"]["code"]) == (403, "forbidden"), (method, path, body)
    assert db.execute("SELECT count(*) AS n FROM audit_log").fetchone()["n"] == before
    assert db.execute("SELECT enabled FROM scheduled_jobs").fetchone()["enabled"]


def test_a_viewer_reads_and_previews_and_an_admin_changes(db, client):
    viewer = admin_tokens.create(db, "vera", "test", role="viewer")
    admin = admin_tokens.create(db, "sara", "test")
    add_custom_job(db)
    assert call(client, "GET", "/api/jobs", viewer)[0] == 200
    assert call(client, "GET", "/api/me", viewer)[1] == {"name": "vera", "role": "viewer"}
    assert call(client, "POST", "/api/jobs/promo/preview", viewer, {})[0] == 200
    status, _ = call(client, "POST", "/api/character-packs", admin, {"slug": "s", "name": "S"})
    assert status == 201
    assert call(client, "GET", "/api/me", admin)[1] == {"name": "sara", "role": "admin"}
    actors = [
        r["actor"]
        for r in db.execute("SELECT actor FROM audit_log WHERE entity_type = 'pack'").fetchall()
    ]
    assert actors == ["admin:sara"]  # the audit names the token


def test_jobsctl_makes_a_viewer_token(db, database_url):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "job_scheduler",
            "admin-token",
            "create",
            "vera",
            "--role",
            "viewer",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "DATABASE_URL": database_url},
    )
    assert done.returncode == 0, done.stderr
    assert admin_tokens.authenticate(db, done.stdout.strip()).role == "viewer"
    assert "the viewer token 'vera'" in done.stderr


@pytest.fixture
def site(db, database_url, aws):
    with serve_admin(database_url, aws) as (url, _):
        yield url, admin_tokens.create(db, "vera", "test", role="viewer")


def test_a_viewer_sees_nothing_that_changes_anything(page, site, db, shots):
    url, token = site
    add_custom_job(db)
    db.execute("INSERT INTO character_packs (slug, name) VALUES ('p', 'P')")
    page.goto(url)
    page.fill("#token", token)
    page.click("button:has-text('Sign in')")
    page.wait_for_selector("table.jobs")
    page.wait_for_selector("#who:has-text('vera (viewer)')")
    assert not page.is_visible("a:has-text('New message job')")
    page.click("text=promo")
    page.wait_for_selector("#history")
    for control in ("#toggle", "#run-now", "#delete", "#save-schedule", "#save-message"):
        assert not page.is_visible(control), control
    assert page.is_disabled("#text") and page.is_disabled("#expression")  # shown, read-only
    assert not page.is_visible("#add-button-row")
    page.screenshot(path=str(shots / "viewer-job.png"), full_page=True)
    page.click("nav >> text=Packs")
    page.wait_for_selector("table.packs")
    assert not page.is_visible("#create-pack")


# -- "Send me a test" -----------------------------------------------------------------------------


@pytest.fixture
def telegram_client(db, database_url, aws, telegram):
    from dataclasses import replace

    settings = replace(
        admin_settings(database_url, aws, make_queues(aws)),
        telegram_bot_token="424242:bot-token-for-the-fake-telegram-0001",
        telegram_api_url=telegram.base_url,
    )
    with Client(load_admin_app(settings)) as test:
        yield test


def test_a_test_goes_to_the_admin_s_own_chat_only_and_is_not_an_execution(
    db, telegram_client, telegram
):
    add_users(db, 3)
    add_custom_job(db, text="<b>Hi {{ user.first_name }}</b>")
    db.execute("UPDATE users SET first_name = 'Sara' WHERE telegram_chat_id = 5001")
    mine = admin_tokens.create(db, "sara", "test", telegram_user_id=5001)

    status, body = call(telegram_client, "POST", "/api/jobs/promo/test", mine)

    assert status == 200 and body["chat_id"] == 5001
    (sent,) = telegram.messages()
    assert (sent["chat_id"], sent["text"]) == (5001, "<b>Hi Sara</b>")
    assert db.execute("SELECT count(*) AS n FROM job_executions").fetchone()["n"] == 0
    actions = db.execute("SELECT action FROM audit_log WHERE entity_type = 'job'").fetchall()
    assert actions == [{"action": "test_send"}]


def test_a_test_needs_a_token_with_a_telegram_id_and_a_message_job(db, telegram_client):
    add_custom_job(db)
    plain = admin_tokens.create(db, "sara", "test")
    status, body = call(telegram_client, "POST", "/api/jobs/promo/test", plain)
    assert status == 422 and "--telegram-user" in body["error"]["message"]
    db.execute(
        "INSERT INTO scheduled_jobs (name, kind, cron_expression, timezone, created_by,"
        " updated_by) VALUES ('coded-one', 'coded', 'cron(0 9 * * ? *)', 'UTC', 'a', 'a')"
    )
    mine = admin_tokens.create(db, "nima", "test", telegram_user_id=42)
    status, body = call(telegram_client, "POST", "/api/jobs/coded-one/test", mine)
    assert status == 422 and "coded job" in body["error"]["message"]
    viewer = admin_tokens.create(db, "vera", "test", role="viewer", telegram_user_id=43)
    assert call(telegram_client, "POST", "/api/jobs/promo/test", viewer)[0] == 403


def test_the_site_s_send_me_a_test_button(browser, db, database_url, aws, telegram):
    add_custom_job(db, text="<b>Hello</b> from the site")
    token = admin_tokens.create(db, "sara", "test", telegram_user_id=777)
    with serve_admin(
        database_url,
        aws,
        telegram_bot_token="424242:bot-token-for-the-fake-telegram-0001",
        telegram_api_url=telegram.base_url,
    ) as (url, _):
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto(url)
        page.fill("#token", token)
        page.click("button:has-text('Sign in')")
        page.click("text=promo")
        page.click("#send-test")
        page.wait_for_selector("#toast:has-text('Sent a test to your chat (777)')")
        context.close()
    assert [m["text"] for m in telegram.messages(777)] == ["<b>Hello</b> from the site"]
