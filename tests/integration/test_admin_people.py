"""The admin API's people and packs (Chalice's test client, in process, real Postgres):
states and since when, search, pack create/rename/slug/open, members, the deep link, and
the audit row of every change."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from admin_helpers import admin_settings, load_admin_app
from chalice.test import Client
from pipeline import add_users, make_queues

from infra.fakes.telegram import FakeTelegram
from job_scheduler.admin import tokens as admin_tokens

TOKEN = "424242:bot-token-for-the-fake-telegram-0001"


@pytest.fixture
def client(db, database_url, aws, telegram_server):
    _, url = telegram_server
    settings = replace(
        admin_settings(database_url, aws, make_queues(aws)),
        telegram_bot_token=TOKEN,
        telegram_api_url=url,
    )
    with Client(load_admin_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def token(db) -> str:
    return admin_tokens.create(db, "tester", "test")


def call(client, method: str, path: str, token: str, body=None):
    headers = {"Authorization": f"Bearer {token}"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    response = client.http.request(
        method, path, headers=headers, body=json.dumps(body) if body is not None else b""
    )
    return response.status_code, json.loads(response.body or b"null")


def audit(db) -> list[tuple[str, str, str]]:
    rows = db.execute(
        "SELECT action, entity_type, entity_name FROM audit_log"
        " WHERE entity_type = 'pack' ORDER BY id"
    )
    return [(r["action"], r["entity_type"], r["entity_name"]) for r in rows.fetchall()]


def test_people_show_their_state_since_when_language_packs_and_rastar(db, client, token):
    active, blocked, stopped = add_users(db, 3)
    db.execute(
        "UPDATE users SET is_active = false, inactive_reason = 'blocked',"
        " inactive_since = now() WHERE id = %s",
        (blocked,),
    )
    db.execute("UPDATE users SET opted_out_at = now(), language = 'en' WHERE id = %s", (stopped,))
    db.execute("INSERT INTO rastar_accounts (user_id, sealed_session) VALUES (%s, 's')", (active,))
    pack = db.execute(
        "INSERT INTO character_packs (slug, name) VALUES ('owls', 'Night Owls') RETURNING id"
    ).fetchone()["id"]
    db.execute(
        "INSERT INTO user_character_packs (pack_id, user_id) VALUES (%s, %s)", (pack, active)
    )

    status, body = call(client, "GET", "/api/people", token)

    assert status == 200
    assert body["counts"] == {"active": 1, "blocked": 1, "opted_out": 1}
    first, second, third = body["people"]
    assert (first["state"], first["rastar"], first["packs"]) == ("active", "linked", ["Night Owls"])
    assert (second["state"], second["inactive_reason"]) == ("blocked", "blocked")
    assert (third["state"], third["language"], third["rastar"]) == ("opted_out", "en", "not_linked")
    assert third["since"] is not None
    _, only = call(client, "GET", "/api/people?state=opted_out", token)
    assert [p["id"] for p in only["people"]] == [stopped]
    _, found = call(client, "GET", "/api/people?q=user1", token)
    assert [p["id"] for p in found["people"]] == [blocked]
    _, page = call(client, "GET", f"/api/people?after={active}&limit=1", token)
    assert [p["id"] for p in page["people"]] == [blocked]


@pytest.mark.parametrize("query", ["state=gone", "limit=0", f"q={'x' * 101}"])
def test_a_bad_people_query_says_what_to_fix(db, client, token, query):
    status, body = call(client, "GET", f"/api/people?{query}", token)
    assert status == 400 and body["error"]["field"] in ("state", "limit", "q")


def test_a_pack_is_created_renamed_opened_and_its_deep_link_follows_the_slug(db, client, token):
    status, pack = call(
        client, "POST", "/api/character-packs", token, {"slug": "sunrise", "name": " Sunrise Crew "}
    )
    assert status == 201
    assert (pack["name"], pack["open_to_join"], pack["members"]) == ("Sunrise Crew", False, 0)
    assert pack["deep_link"] == "https://t.me/fake_bot?start=pack_sunrise"

    status, changed = call(
        client,
        "PATCH",
        f"/api/character-packs/{pack['id']}",
        token,
        {"slug": "early-birds", "open_to_join": True},
    )
    assert status == 200 and changed["deep_link"].endswith("?start=pack_early-birds")
    assert changed["open_to_join"] and changed["name"] == "Sunrise Crew"
    assert audit(db) == [("create", "pack", "sunrise"), ("update", "pack", "sunrise")]
    _, listed = call(client, "GET", "/api/character-packs", token)
    assert [p["slug"] for p in listed["packs"]] == ["early-birds"]


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"name": "No slug"}, 422, "slug"),
        ({"slug": "Bad Slug", "name": "x"}, 422, "slug"),
        ({"slug": "ok", "name": ""}, 422, "name"),
        ({"slug": "ok", "name": "x", "open_to_join": "yes"}, 422, "open_to_join"),
        ({"slug": "ok", "name": "x", "colour": "red"}, 422, "colour"),
        ({"slug": "taken", "name": "again"}, 409, "slug"),
    ],
)
def test_a_bad_pack_is_refused_with_the_field_and_nothing_changes(
    db, client, token, body, status, field
):
    call(client, "POST", "/api/character-packs", token, {"slug": "taken", "name": "Taken"})
    answer, error = call(client, "POST", "/api/character-packs", token, body)
    assert (answer, error["error"]["field"]) == (status, field)
    assert db.execute("SELECT count(*) AS n FROM character_packs").fetchone()["n"] == 1
    assert len(audit(db)) == 1


def test_members_are_added_and_removed_all_or_nothing_and_audited(db, client, token):
    a, b = add_users(db, 2)
    _, pack = call(client, "POST", "/api/character-packs", token, {"slug": "p", "name": "P"})
    path = f"/api/character-packs/{pack['id']}/members"

    status, error = call(client, "POST", path, token, {"user_ids": [a, 999]})
    assert (status, error["error"]["field"]) == (404, "user_ids")
    assert call(client, "GET", path, token)[1]["members"] == []

    status, added = call(client, "POST", path, token, {"user_ids": [a, b, a]})
    assert (status, added["members"]) == (200, 2)
    assert [m["id"] for m in call(client, "GET", path, token)[1]["members"]] == [a, b]
    status, removed = call(client, "DELETE", f"{path}/{a}", token)
    assert (status, removed["members"]) == (200, 1)
    assert call(client, "DELETE", f"{path}/{a}", token)[0] == 404
    assert audit(db)[1:] == [("add_members", "pack", "p"), ("remove_member", "pack", "p")]
    assert call(client, "PATCH", "/api/character-packs/999", token, {"name": "x"})[0] == 404


def test_without_a_reachable_telegram_the_deep_link_is_null(db, database_url, aws, token):
    settings = admin_settings(database_url, aws, make_queues(aws))  # no bot token
    with Client(load_admin_app(settings)) as client:
        _, pack = call(client, "POST", "/api/character-packs", token, {"slug": "p", "name": "P"})
    assert pack["deep_link"] is None


def test_the_fake_answers_getme_with_its_username():
    with FakeTelegram() as fake:
        from job_scheduler.adapters.telegram import TelegramClient

        assert TelegramClient(TOKEN, fake.base_url).username() == "fake_bot"


def test_what_a_person_was_sent_newest_first_with_why(db, client, token):
    from pipeline import add_custom_job

    (user,) = add_users(db, 1)
    job = add_custom_job(db)["id"]
    ids = []
    for minute, status, error in ((0, "sent", None), (1, "failed", "403: blocked")):
        execution = db.execute(
            "INSERT INTO job_executions (job_id, scheduled_for, trigger, status) VALUES"
            " (%s, now() - make_interval(mins => %s), 'schedule', 'succeeded') RETURNING id",
            (job, 10 - minute),
        ).fetchone()["id"]
        ids.append(
            db.execute(
                "INSERT INTO notification_deliveries (execution_id, user_id, status, last_error)"
                " VALUES (%s, %s, %s, %s) RETURNING id",
                (execution, user, status, error),
            ).fetchone()["id"]
        )

    status, body = call(client, "GET", f"/api/people/{user}", token)

    assert status == 200 and body["person"]["id"] == user
    assert [(d["status"], d["job_name"], d["last_error"]) for d in body["deliveries"]] == [
        ("failed", "promo", "403: blocked"),
        ("sent", "promo", None),
    ]
    _, older = call(client, "GET", f"/api/people/{user}?before={ids[1]}", token)
    assert [d["id"] for d in older["deliveries"]] == [ids[0]]
    assert call(client, "GET", "/api/people/999", token)[0] == 404
