"""Custom messages with a photo, URL buttons, no link preview or protected content, against
the real services: saved and previewed through the admin API (Chalice's test client,
Postgres, moto), run by the executor, sent by the notifier and read back where a person
would see them, in the fake Telegram over HTTP."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from admin_helpers import admin_settings, load_admin_app
from chalice.test import Client
from execution_fixtures import *  # noqa: F403 - the fixtures
from execution_fixtures import deliver, now_minute
from pipeline import add_custom_job, add_users, execution_rows, firing, make_queues
from psycopg.types.json import Jsonb

from job_scheduler.admin import tokens as admin_tokens

PHOTO = "https://cdn.example.com/menu/week-12.jpg"
MENU = {"text": "Menu", "url": "https://rastar.example/menu"}
BOT = {"text": "Open the bot", "url": "tg://resolve?domain=food_bot"}
KEYBOARD = {"inline_keyboard": [[MENU, BOT]]}


def add_rich_job(db, **message):
    config = {"text": "<b>{{ user.first_name }}</b>, this week's menu", "parse_mode": "HTML",
              "silent": False, **message}  # fmt: skip
    return add_custom_job(db, message_config=Jsonb(config))


def deliveries(db) -> list[dict]:
    return db.execute(
        "SELECT status, payload, last_error FROM notification_deliveries ORDER BY user_id"
    ).fetchall()


# --- through the executor and the notifier ----------------------------------------------------


def test_a_photo_with_a_caption_and_buttons_reaches_everyone_protected(
    db, executor, notifier, queues, telegram
):
    add_users(db, 3)
    add_rich_job(db, photo=PHOTO, buttons=[[MENU, BOT]], protect_content=True)

    outcome = executor.execute(firing("promo", now_minute()))
    deliver(queues, notifier)

    assert outcome.status == "ran"
    sent = telegram.messages()
    assert sorted(message["chat_id"] for message in sent) == [5000, 5001, 5002]
    first = next(message for message in sent if message["chat_id"] == 5001)
    assert (first["photo"], first["visible_text"]) == (PHOTO, "User1, this week's menu")
    assert first["entities"] == [{"type": "bold", "offset": 0, "length": 5}]
    assert (first["reply_markup"], first["protect_content"]) == (KEYBOARD, True)
    assert first["photo_file_id"].startswith("AgAC")
    rows = deliveries(db)
    assert {row["status"] for row in rows} == {"sent"}
    assert rows[0]["payload"] == {
        "text": "<b>User0</b>, this week's menu", "parse_mode": "HTML", "silent": False,
        "reply_markup": KEYBOARD, "photo": PHOTO, "protect_content": True,
    }  # fmt: skip
    assert execution_rows(db)[0]["sent_count"] == 3


def test_a_text_message_goes_without_its_link_preview_and_with_buttons(
    db, executor, notifier, queues, telegram
):
    add_users(db, 2)
    add_rich_job(db, text="See https://rastar.example/menu", parse_mode=None,
                 buttons=[[MENU]], link_preview=False)  # fmt: skip

    executor.execute(firing("promo", now_minute()))
    deliver(queues, notifier)

    sent = telegram.messages()
    assert [message["photo"] for message in sent] == [None, None]
    assert {message["link_preview"] for message in sent} == {False}
    assert {json.dumps(message["reply_markup"]) for message in sent} == {
        json.dumps({"inline_keyboard": [[MENU]]})
    }
    assert deliveries(db)[0]["payload"]["link_preview"] is False


def test_a_photo_telegram_cannot_fetch_fails_each_delivery_in_its_words(
    db, executor, notifier, queues, telegram
):
    add_users(db, 2)
    add_rich_job(db, photo="https://gone.invalid/menu.jpg")

    executor.execute(firing("promo", now_minute()))
    deliver(queues, notifier)

    assert telegram.messages() == []
    rows = deliveries(db)
    assert {row["status"] for row in rows} == {"failed"}
    assert "400: Bad Request: failed to get HTTP URL content" in rows[0]["last_error"]
    active = db.execute("SELECT bool_and(is_active) AS all_active FROM users").fetchone()
    assert active["all_active"] is True  # the message was wrong, not the people
    assert execution_rows(db)[0]["failed_count"] == 2


def test_a_caption_one_name_pushes_past_1024_skips_only_that_person(
    db, executor, notifier, queues, telegram
):
    users = add_users(db, 2)
    db.execute("UPDATE users SET first_name = %s WHERE id = %s", ("Abigail", users[1]))
    add_rich_job(db, text="x" * 1018 + "{{ user.first_name }}", parse_mode=None, photo=PHOTO)

    outcome = executor.execute(firing("promo", now_minute()))
    deliver(queues, notifier)

    assert outcome.result.skipped == 1
    [sent] = telegram.messages()
    assert sent["chat_id"] == 5000 and len(sent["visible_text"]) == 1023


# --- through the admin API --------------------------------------------------------------------


@pytest.fixture
def api(db, database_url, aws, telegram):
    queues = make_queues(aws)
    settings = replace(
        admin_settings(database_url, aws, queues),
        telegram_bot_token="424242:bot-token-for-the-fake-telegram-0001",
        telegram_api_url=telegram.base_url,
        jobs_queue_arn=queues.jobs["arn"],
        rule_prefix="rich-test",
    )
    with Client(load_admin_app(settings)) as client:
        yield client


def call(client, method: str, path: str, token: str, body=None):
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    answer = client.http.request(method, path, headers=headers,
                                 body=json.dumps(body if body is not None else {}))  # fmt: skip
    return answer.status_code, json.loads(answer.body or b"null")


RICH = {
    "text": "<b>{{ user.first_name }}</b>, lunch is ready",
    "photo": PHOTO,
    "buttons": [[MENU], [BOT]],
    "protect_content": True,
}


def test_a_rich_message_is_saved_previewed_and_sent_as_a_test(db, api, telegram):
    add_users(db, 2)
    db.execute("UPDATE users SET first_name = 'Sara' WHERE telegram_chat_id = 5001")
    token = admin_tokens.create(db, "sara", "test", telegram_user_id=5001)
    body = {"name": "lunch", "expression": "cron(0 9 ? * MON *)", "message": RICH}

    status, created = call(api, "POST", "/api/jobs", token, body)
    assert status == 201, created
    assert created["message"] == {**RICH, "parse_mode": "HTML", "silent": False}

    status, preview = call(api, "POST", "/api/jobs/lunch/preview", token)
    assert status == 200
    assert preview["sample"] == {
        "user_id": preview["sample"]["user_id"], "first_name": "User0",
        "text": "<b>User0</b>, lunch is ready", "parse_mode": "HTML", "silent": False,
        "photo": PHOTO, "reply_markup": {"inline_keyboard": [[MENU], [BOT]]},
        "link_preview": True, "protect_content": True, "paid_broadcast": False,
    }  # fmt: skip

    status, answer = call(api, "POST", "/api/jobs/lunch/test", token)
    assert status == 200, answer
    [sent] = telegram.messages()
    assert (sent["chat_id"], sent["photo"], sent["visible_text"]) == (
        5001, PHOTO, "Sara, lunch is ready")  # fmt: skip
    assert sent["reply_markup"] == {"inline_keyboard": [[MENU], [BOT]]}
    assert sent["protect_content"] is True


@pytest.mark.parametrize(
    ("message", "field", "says"),
    [
        ({**RICH, "buttons": [[MENU, {"text": "Map", "url": "geo:35.7,51.4"}]]},
         "message.buttons[0][1].url", "Row 1, button 2: a button opens http://, https:// and"),
        ({**RICH, "photo": "http://127.0.0.1:9000/menu.jpg"}, "message.photo",
         "local or private address"),
        ({**RICH, "text": "x" * 1100}, "message.text", "The photo's caption is 1100 characters"),
        ({**RICH, "buttons": [[MENU] * 9]}, "message.buttons[0]", "at most 8 in a row"),
    ],
)  # fmt: skip
def test_a_bad_photo_or_button_is_refused_at_preview_and_save(db, api, message, field, says):
    token = admin_tokens.create(db, "sara", "test")
    add_custom_job(db)

    previewed = call(api, "POST", "/api/jobs/promo/preview", token, {"message": message})
    body = {"name": "lunch", "expression": "cron(0 9 ? * MON *)", "message": message}
    created = call(api, "POST", "/api/jobs", token, body)

    for status, answer in (previewed, created):
        assert (status, answer["error"]["field"]) == (422, field)
        assert says in answer["error"]["message"]
    assert (
        db.execute("SELECT count(*) AS n FROM scheduled_jobs WHERE name = 'lunch'").fetchone()["n"]
        == 0
    )
