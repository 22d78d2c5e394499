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
    assert len(operations) >= 8
    for method, path in operations:
        concrete = (
            path.replace("{name}", job["name"])
            .replace("{pack_id}", str(pack))
            .replace("{user_id}", "1")
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


def test_a_viewer_sees_nothing_that_changes_anything(page, site, db):
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
    page.click("nav >> text=Packs")
    page.wait_for_selector("table.packs")
    assert not page.is_visible("#create-pack")
