"""The admin site's job page in headless Chromium: nothing stray where a coded job has no
message, and the targeting pickers naming the people already chosen; with the API's
``GET /api/users?ids=`` that the pickers read those names from.

Served and driven as in tests/test_admin_site.py (Debian's ``chromium`` through
Playwright, the admin app as ``chalice local`` serves it, the real Postgres and moto).
Screenshots go to a temporary directory, or to PICKER_SCREENSHOTS when it is set.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from admin_helpers import admin_settings, load_admin_app, serve_admin, served_settings, sign_in
from chalice.test import Client
from pipeline import add_custom_job, add_users, make_queues

from job_scheduler.admin import tokens as admin_tokens
from job_scheduler.sync.startup import run_startup


@pytest.fixture
def site(db, database_url, aws):
    with serve_admin(database_url, aws) as (url, _):
        run_startup(served_settings())  # the coded jobs and their rules, as at deploy
        yield url, admin_tokens.create(db, "sara", "test")


@pytest.fixture
def shots(tmp_path) -> Path:
    target = Path(os.environ.get("PICKER_SCREENSHOTS") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    return target


def chips(page, picker: str) -> list[str]:
    """The chosen people's labels in one picker, without the remove button's ×."""
    texts = page.locator(f"#{picker}-chips .chip").all_inner_texts()
    return [text.replace("×", "").strip() for text in texts]


def test_a_coded_job_page_shows_no_stray_null(page, site, shots):
    url, token = site
    sign_in(page, url, token)
    page.click("text=unselected-food-reminder")
    page.wait_for_selector("#history")
    page.wait_for_selector("#schedule-check .ok")
    page.screenshot(path=str(shots / "coded-job.png"), full_page=True)

    text = page.inner_text("main")
    assert "Who it reaches" in text and "Executions" in text
    assert page.locator("#text").count() == 0  # a coded job has no message editor
    assert "null" not in text
    assert "undefined" not in text


def test_the_pickers_name_the_people_already_chosen(page, site, db, shots):
    url, token = site
    users = add_users(db, 4)
    add_custom_job(db, "weekly-hello", include_user_ids=users[1:3], exclude_user_ids=[users[3]])
    sign_in(page, url, token)
    page.click("text=weekly-hello")
    page.wait_for_selector("#include-chips .chip:has-text('User1')")
    page.wait_for_selector("#exclude-chips .chip:has-text('User3')")
    page.screenshot(path=str(shots / "pickers.png"), full_page=True)

    assert chips(page, "include") == [f"User1 @user1 #{users[1]}", f"User2 @user2 #{users[2]}"]
    assert chips(page, "exclude") == [f"User3 @user3 #{users[3]}"]
    assert "null" not in page.inner_text("main")


def test_a_chosen_id_nobody_has_says_so_and_the_rest_still_save(page, site, db):
    url, token = site
    users = add_users(db, 2)
    add_custom_job(db, "weekly-hello", include_user_ids=[users[0], 999])
    sign_in(page, url, token)
    page.click("text=weekly-hello")
    page.wait_for_selector("#include-chips .chip:has-text('User0')")
    assert chips(page, "include") == [f"User0 @user0 #{users[0]}", "#999 (not found)"]

    page.click("#include-chips .chip:has-text('#999') button")
    page.wait_for_selector("#save-targeting:not([disabled])")
    page.click("#save-targeting")
    page.wait_for_selector("#toast:has-text('Targeting saved')")
    row = db.execute("SELECT include_user_ids FROM scheduled_jobs WHERE name = 'weekly-hello'")
    assert row.fetchone()["include_user_ids"] == [users[0]]
    page.wait_for_selector("#include-chips .chip:has-text('User0')")  # named after the reload


def test_a_job_made_on_the_site_names_its_people_when_opened(page, site, db):
    url, token = site
    add_users(db, 3)
    sign_in(page, url, token)
    page.click("text=New message job")
    page.fill("#new-name", "weekly-hello")
    for name in ("User1", "User2"):
        page.fill("#include", name)
        page.click(f".results div:has-text('{name}')")
    page.click("text=Create")
    page.wait_for_selector("h2:has-text('weekly-hello')")
    page.wait_for_selector("#include-chips .chip:has-text('User2')")

    labels = chips(page, "include")
    assert [label.split()[0] for label in labels] == ["User1", "User2"]
    assert not any(re.fullmatch(r"#[0-9]+", label) for label in labels)


# --- the API the pickers read names from ----------------------------------------------------


@pytest.fixture
def client(db, database_url, aws):
    settings = admin_settings(database_url, aws, make_queues(aws))
    with Client(load_admin_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def token(db) -> str:
    return admin_tokens.create(db, "tester", "test")


def get(client, path: str, token: str) -> tuple[int, dict]:
    response = client.http.get(path, headers={"Authorization": f"Bearer {token}"})
    return response.status_code, json.loads(response.body)


def test_users_by_id(client, db, token):
    users = add_users(db, 3)
    status, body = get(client, f"/api/users?ids={users[2]},{users[0]},999", token)

    assert status == 200
    assert [(user["id"], user["first_name"]) for user in body["users"]] == [
        (users[0], "User0"),
        (users[2], "User2"),
    ]
    assert set(body["users"][0]) == {
        "id",
        "telegram_chat_id",
        "first_name",
        "last_name",
        "username",
        "is_active",
    }
    assert get(client, f"/api/users?ids={users[1]}&q=", token)[1]["users"][0]["id"] == users[1]
    many = ",".join(str(n) for n in range(1, 201))
    assert get(client, f"/api/users?ids={many}", token)[0] == 200
    assert get(client, f"/api/users?ids={'9' * 18}", token) == (200, {"users": []})


@pytest.mark.parametrize(
    "ids",
    ["", "0", "-1", "a", "1,,2", "1,", "1.5", "1%2C%202", "9" * 19, ",".join(["1"] * 201)],
)
def test_bad_user_ids_are_a_400_naming_ids(client, db, token, ids):
    status, body = get(client, f"/api/users?ids={ids}", token)

    assert status == 400
    assert body["error"]["code"] == "bad_request"
    assert body["error"]["field"] == "ids"
    assert "comma-separated" in body["error"]["message"]


def test_user_ids_need_a_token(client, db):
    assert client.http.get("/api/users?ids=1").status_code == 401
