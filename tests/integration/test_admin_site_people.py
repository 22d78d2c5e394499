"""The admin site's people and packs pages in headless Chromium (served and driven as in
test_admin_site.py): the states and filters, a pack created, opened, renamed and its
members added and removed, each change in the audit log, and a phone layout without
sideways scrolling."""

from __future__ import annotations

import pytest
from admin_helpers import serve_admin, sign_in
from pipeline import add_users

from job_scheduler.admin import tokens as admin_tokens


@pytest.fixture
def site(db, database_url, aws):
    with serve_admin(database_url, aws) as (url, _):
        yield url, admin_tokens.create(db, "sara", "test")


def test_people_show_who_is_blocked_or_opted_out_and_filter_by_it(page, site, db, tmp_path):
    url, token = site
    ids = add_users(db, 3)
    db.execute("UPDATE users SET opted_out_at = now() WHERE id = %s", (ids[1],))
    db.execute(
        "UPDATE users SET is_active = false, inactive_reason = 'blocked',"
        " inactive_since = now() WHERE id = %s",
        (ids[2],),
    )
    sign_in(page, url, token)
    page.click("nav >> text=People")
    page.wait_for_selector("#people-counts:has-text('1 active · 1 blocked · 1 opted out')")
    assert page.locator("table.people tbody tr").count() == 3
    page.select_option("#people-state", "opted_out")
    page.wait_for_selector("table.people tbody tr:nth-child(1)")
    page.wait_for_selector("table.people tbody tr:nth-child(2)", state="detached")
    assert "User1" in page.inner_text("table.people") and "opted out" in page.inner_text(
        "table.people"
    )
    page.select_option("#people-state", "")
    page.fill("#people-q", "user2")
    page.wait_for_selector("table.people .badge.blocked")
    page.set_viewport_size({"width": 390, "height": 800})
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the people page scrolls sideways on a phone ({width}px)"


def test_a_pack_is_made_opened_renamed_and_its_members_managed(page, site, db):
    url, token = site
    add_users(db, 2)
    sign_in(page, url, token)
    page.click("nav >> text=Packs")
    page.fill("#pack-name", "Sunrise Crew")
    page.fill("#pack-slug", "Bad Slug")
    page.click("#create-pack")
    page.wait_for_selector("#pack-error:has-text('slug must be')")
    page.fill("#pack-slug", "sunrise")
    page.check("#pack-open")
    page.click("#create-pack")
    page.wait_for_selector("h2:has-text('Sunrise Crew')")
    page.fill("#add-members", "User1")
    page.click(".results div:has-text('User1')")
    page.click("#add-members-button")
    page.wait_for_selector("table.people td:has-text('User1')")
    page.fill("#edit-pack-name", "Early Birds")
    page.click("#save-pack")
    page.wait_for_selector("h2:has-text('Early Birds')")
    page.click("table.people button:has-text('Remove')")
    page.wait_for_selector("text=Nobody is in this pack yet.")

    pack = db.execute("SELECT name, slug, open_to_join FROM character_packs").fetchone()
    assert pack == {"name": "Early Birds", "slug": "sunrise", "open_to_join": True}
    actions = [
        r["action"]
        for r in db.execute(
            "SELECT action FROM audit_log WHERE entity_type = 'pack' ORDER BY id"
        ).fetchall()
    ]
    assert actions == ["create", "add_members", "update", "remove_member"]


def test_a_person_s_page_shows_what_they_were_sent(page, site, db):
    from pipeline import add_custom_job

    url, token = site
    (user,) = add_users(db, 1)
    job = add_custom_job(db)["id"]
    execution = db.execute(
        "INSERT INTO job_executions (job_id, scheduled_for, trigger, status)"
        " VALUES (%s, now(), 'manual', 'succeeded') RETURNING id",
        (job,),
    ).fetchone()["id"]
    db.execute(
        "INSERT INTO notification_deliveries (execution_id, user_id, status, last_error)"
        " VALUES (%s, %s, 'failed', '403: Forbidden: bot was blocked by the user')",
        (execution, user),
    )
    sign_in(page, url, token)
    page.click("nav >> text=People")
    page.click("table.people a:has-text('User0')")
    page.wait_for_selector("#person-deliveries")
    text = page.inner_text("#person-deliveries")
    assert "promo" in text and "failed" in text and "bot was blocked" in text
