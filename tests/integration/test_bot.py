"""The bot, as Telegram reaches it: the fake Telegram delivers each update to the webhook
function over HTTP (served as ``make run`` serves it), with the secret header and
redelivery, against the real Postgres; people act through the fake's ``/_fake/users``
routes, and food is picked in the fake Rastar."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from rastar_helpers import dish_names, email_of, link_account

from infra.local.function_urls import FunctionUrl
from infra.local.template import load_template, url_functions
from job_scheduler.adapters.telegram import TelegramClient
from job_scheduler.bot import ledger
from job_scheduler.bot.webhook import SECRET_HEADER, webhook_secret
from job_scheduler.config import Settings
from job_scheduler.execution.targeting import Targeting, count_recipients, iter_recipients
from job_scheduler.jobs.food_reminder.texts import keyboard
from job_scheduler.rastar import picking
from job_scheduler.rastar.picking import OfferedDay
from job_scheduler.schedule.zoned import load_zone
from job_scheduler.sync.startup import set_up_bot

TOKEN = "424242:bot-token-for-the-fake-telegram-0001"
PERSON = 7001


@pytest.fixture
def bot_settings(database_url, telegram_server, rastar, sealing_key) -> Settings:
    _, url = telegram_server
    return Settings(
        database_url=database_url,
        telegram_bot_token=TOKEN,
        telegram_api_url=url,
        rastar_supabase_url=rastar.base_url,
        rastar_supabase_anon_key=rastar.anon_key,
        rastar_encryption_keys=sealing_key,
        link_page_url="http://127.0.0.1:9/link",
    )


@pytest.fixture
def webhook(bot_settings, telegram, db, monkeypatch) -> Any:
    """The webhook function served over HTTP, and Telegram pointed at it (as at deploy)."""
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")  # no EMF lines on stdout
    (function,) = [f for f in url_functions(load_template()) if f.function == "BotWebhookFunction"]
    served = FunctionUrl(function, bot_settings).start()
    set_up_bot(bot_settings, served.url)
    yield served
    telegram.chats.delete_webhook({})
    served.stop()


def write(telegram, text: str, person: int = PERSON, **about: str) -> dict[str, Any]:
    """The person writes; the bot's answer to it, once it came."""
    before = len(telegram.messages(person))
    done = httpx.post(
        f"{telegram.base_url}/_fake/users/{person}/messages", json={"text": text, **about}
    ).json()
    assert done["ok"], done
    return wait_for(lambda: telegram.messages(person)[before:] or None)[-1]


def press(telegram, message: dict[str, Any], button: str, person: int = PERSON) -> dict[str, Any]:
    """The person taps; the tap (answered, its toast) once the bot answered it."""
    done = httpx.post(
        f"{telegram.base_url}/_fake/users/{person}/press",
        json={"message_id": message["message_id"], "button": button},
    ).json()
    assert done["ok"], done
    tap_id = done["callback_query_id"]
    return wait_for(
        lambda: telegram.chats.taps[tap_id] if telegram.chats.taps[tap_id]["answered"] else None
    )


def wait_for(found: Any, timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = found()
        if value or time.monotonic() > deadline:
            assert value, "nothing came within the timeout"
            return value
        time.sleep(0.05)


def settled(telegram) -> None:
    wait_for(lambda: not telegram.chats.pending or None)


def users(db) -> list[dict[str, Any]]:
    return db.execute("SELECT * FROM users ORDER BY id").fetchall()


def post_update(webhook, update: dict[str, Any], secret: str | None) -> httpx.Response:
    headers = {SECRET_HEADER: secret} if secret is not None else {}
    return httpx.post(webhook.url, content=json.dumps(update), headers=headers)


def start_update(update_id: int, text: str = "/start", person: int = PERSON) -> dict[str, Any]:
    who = {"id": person, "is_bot": False, "first_name": "Nima", "language_code": "en"}
    return {
        "update_id": update_id,
        "message": {
            "message_id": 1,
            "from": who,
            "chat": {"id": person, "type": "private", "first_name": "Nima"},
            "date": int(time.time()),
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}],
        },
    }


# -- joining ------------------------------------------------------------------------------------


def test_start_twice_is_one_person_welcomed_then_welcomed_back(db, telegram, webhook):
    first = write(telegram, "/start", first_name="Nima", language_code="en", username="nima")
    again = write(telegram, "/start")
    (person,) = users(db)
    assert (person["telegram_chat_id"], person["first_name"], person["username"]) == (
        PERSON,
        "Nima",
        "nima",
    )
    assert person["language_code"] == "en" and person["last_seen_at"] is not None
    assert first["visible_text"].startswith("Hi Nima!")
    assert again["visible_text"].startswith("Welcome back, Nima!")


def test_persian_is_spoken_unless_telegram_or_the_person_says_english(db, telegram, webhook):
    welcome = write(telegram, "/start", first_name="سارا", language_code="fa")
    assert welcome["visible_text"].startswith("سلام سارا!")
    assert write(telegram, "/help", person=7002, language_code="de")["visible_text"].startswith(
        "دستورها"
    )
    menu = write(telegram, "/language")
    tap = press(telegram, menu, "English")
    assert tap["toast"] == "I will speak English with you from now on."
    assert write(telegram, "/help")["visible_text"].startswith("Commands")
    assert users(db)[0]["language"] == "en"
    press(telegram, telegram.messages(PERSON)[-2], "Telegram's language")  # back to fa
    assert users(db)[0]["language"] is None
    assert write(telegram, "/help")["visible_text"].startswith("دستورها")


def test_an_unknown_command_or_plain_text_gets_the_help(db, telegram, webhook):
    assert write(telegram, "/frobnicate", language_code="en")["visible_text"].startswith("Commands")
    assert write(telegram, "hello there")["visible_text"].startswith("Commands")


def test_the_command_menu_is_set_per_language_with_the_webhook(telegram, webhook, bot_settings):
    hook = telegram.chats.webhook_info()
    assert hook["url"] == webhook.url
    assert hook["allowed_updates"] == ["message", "callback_query", "my_chat_member"]
    assert telegram.chats.webhook["secret_token"] == webhook_secret(bot_settings)
    english = [c["command"] for c in telegram.chats.get_commands({"language_code": "en"})]
    assert english == [
        "start",
        "packs",
        "language",
        "link",
        "unlink",
        "status",
        "stop",
        "resume",
        "help",
    ]
    assert telegram.chats.get_commands({})[0]["description"] == "شروع"  # the default: Persian
    set_up_bot(bot_settings, webhook.url)  # again: the same state, nothing added
    assert len(telegram.chats.get_commands({"language_code": "fa"})) == 9


# -- at most once, and only from Telegram ---------------------------------------------------------


def test_a_redelivered_update_is_applied_once(db, telegram, webhook, bot_settings):
    secret = webhook_secret(bot_settings)
    first = post_update(webhook, start_update(5, "/stop"), secret)
    again = post_update(webhook, start_update(5, "/stop"), secret)
    assert (first.status_code, first.json()["outcome"]) == (200, "applied")
    assert (again.status_code, again.json()["outcome"]) == (200, "duplicate")
    assert len(telegram.messages(PERSON)) == 1  # one answer
    assert db.execute("SELECT outcome FROM bot_updates").fetchall() == [{"outcome": "applied"}]


def test_the_fake_sends_again_until_the_webhook_answers_2xx(db, telegram, webhook, bot_settings):
    webhook.stop()
    httpx.post(f"{telegram.base_url}/_fake/users/{PERSON}/messages", json={"text": "/start"})
    error = wait_for(lambda: telegram.chats.webhook_info().get("last_error_message"))
    assert (
        "Connection failed" in error and telegram.chats.webhook_info()["pending_update_count"] == 1
    )
    assert users(db) == []
    again = FunctionUrl(webhook_function(), bot_settings, port=port_of(webhook)).start()
    try:
        wait_for(lambda: telegram.messages(PERSON) or None, timeout=20)
        assert len(users(db)) == 1
    finally:
        again.stop()


def webhook_function() -> Any:
    return next(f for f in url_functions(load_template()) if f.function == "BotWebhookFunction")


def port_of(webhook) -> int:
    return int(webhook.url.rstrip("/").rsplit(":", 1)[1])


@pytest.mark.parametrize("secret", [None, "", "wrong-secret"])
def test_a_call_without_the_secret_is_refused_and_changes_nothing(db, webhook, secret):
    answer = post_update(webhook, start_update(9), secret)
    assert answer.status_code == 401
    assert users(db) == [] and db.execute("SELECT * FROM bot_updates").fetchall() == []


def test_a_body_that_is_not_an_update_is_400(db, webhook, bot_settings):
    answer = httpx.post(
        webhook.url, content=b"[1, 2]", headers={SECRET_HEADER: webhook_secret(bot_settings)}
    )
    assert answer.status_code == 400 and users(db) == []


def test_the_bot_answers_with_redis_unreachable(db, telegram, bot_settings):
    """The webhook function never needs Redis: configured with one nobody answers, it
    still registers and answers."""
    from dataclasses import replace

    unreachable = replace(bot_settings, redis_url="redis://127.0.0.1:1/0")
    served = FunctionUrl(webhook_function(), unreachable).start()
    try:
        set_up_bot(unreachable, served.url)
        assert write(telegram, "/start", language_code="en")["visible_text"].startswith("Hi ")
        assert len(users(db)) == 1
    finally:
        telegram.chats.delete_webhook({})
        served.stop()


def test_a_failing_handler_apologizes_once_and_is_not_redelivered(
    db, telegram, webhook, monkeypatch
):
    from job_scheduler.bot import commands

    def broken(bot, person, argument):
        raise RuntimeError("a bug")

    monkeypatch.setitem(commands.COMMANDS, "status", broken)
    answer = write(telegram, "/status", language_code="en")
    assert answer["visible_text"].startswith("Sorry, something went wrong")
    settled(telegram)
    assert telegram.chats.webhook_info().get("last_error_message") is None  # a 200
    assert db.execute("SELECT outcome FROM bot_updates").fetchall() == [{"outcome": "failed"}]


def test_the_ledger_forgets_updates_after_a_week(db):
    ledger.claim(db, 1, "message")
    db.execute("UPDATE bot_updates SET received_at = now() - interval '8 days'")
    ledger.claim(db, 2, "message")
    assert ledger.prune(db) == 1
    assert [row["update_id"] for row in db.execute("SELECT update_id FROM bot_updates")] == [2]


# -- stop, resume, blocked ------------------------------------------------------------------------


def reached(db) -> list[int]:
    return [r.chat_id for r in iter_recipients(db, Targeting())]


def test_stop_leaves_a_person_out_of_every_job_until_resume(db, telegram, webhook):
    write(telegram, "/start", person=7002)
    answer = write(telegram, "/stop", language_code="en")
    assert answer["visible_text"].startswith("Scheduled messages are stopped")
    assert reached(db) == [7002]
    assert count_recipients(db, Targeting(include_user_ids=[users(db)[1]["id"]])) == 0
    assert write(telegram, "/stop")["visible_text"].startswith("Messages were already stopped")
    assert "stopped (/resume)" in write(telegram, "/status")["visible_text"]
    assert write(telegram, "/resume")["visible_text"] == "You will get scheduled messages again."
    assert sorted(reached(db)) == [PERSON, 7002]


def test_blocking_makes_a_person_inactive_and_unblocking_active_again(db, telegram, webhook):
    write(telegram, "/start")
    httpx.post(f"{telegram.base_url}/_fake/users/{PERSON}/block")
    settled(telegram)
    (person,) = users(db)
    assert (person["is_active"], person["inactive_reason"]) == (False, "blocked")
    assert reached(db) == []
    with pytest.raises(Exception, match="blocked"):  # the notifier's way to learn it
        TelegramClient(TOKEN, telegram.base_url).send(PERSON, "hi", None, False)
    httpx.post(f"{telegram.base_url}/_fake/users/{PERSON}/unblock")
    settled(telegram)
    assert users(db)[0]["is_active"] and reached(db) == [PERSON]


# -- packs -----------------------------------------------------------------------------------------


def add_pack(db, slug: str, name: str, open_to_join: bool = True) -> int:
    return db.execute(
        "INSERT INTO character_packs (slug, name, open_to_join) VALUES (%s, %s, %s) RETURNING id",
        (slug, name, open_to_join),
    ).fetchone()["id"]


def members(db, pack_id: int) -> list[int]:
    rows = db.execute(
        "SELECT u.telegram_chat_id FROM user_character_packs m JOIN users u ON u.id = m.user_id"
        " WHERE m.pack_id = %s",
        (pack_id,),
    ).fetchall()
    return [row["telegram_chat_id"] for row in rows]


def test_a_deep_link_joins_an_open_pack_and_not_a_closed_one(db, telegram, webhook):
    sunrise, secret = add_pack(db, "sunrise", "Sunrise Crew"), add_pack(db, "vip", "VIP", False)
    answer = write(telegram, "/start pack_sunrise", language_code="en")
    assert "You joined “Sunrise Crew”." in answer["visible_text"]
    assert members(db, sunrise) == [PERSON]
    assert "“VIP” is not open to join" in write(telegram, "/start pack_vip")["visible_text"]
    assert "not found" in write(telegram, "/start pack_nope")["visible_text"]
    assert members(db, secret) == []


def test_pack_buttons_toggle_membership(db, telegram, webhook):
    owls = add_pack(db, "owls", "Night Owls")
    add_pack(db, "vip", "VIP", False)
    menu = write(telegram, "/packs", language_code="en")
    assert [b["text"] for row in menu["reply_markup"]["inline_keyboard"] for b in row] == [
        "Night Owls"
    ]
    assert press(telegram, menu, "Night Owls")["toast"] == "You joined “Night Owls”."
    assert members(db, owls) == [PERSON]
    edited = telegram.messages(PERSON)[-1]
    assert edited["reply_markup"]["inline_keyboard"][0][0]["text"] == "✅ Night Owls"
    assert press(telegram, edited, "✅ Night Owls")["toast"] == "You left “Night Owls”."
    assert members(db, owls) == []


# -- Rastar ----------------------------------------------------------------------------------------


def test_link_sends_a_one_time_link_button_and_unlink_forgets(db, telegram, webhook, rastar):
    write(telegram, "/start", language_code="en")
    answer = write(telegram, "/link")
    (button,) = answer["reply_markup"]["inline_keyboard"][0]
    assert button["text"] == "Link Rastar" and button["url"].startswith(
        "http://127.0.0.1:9/link?state="
    )
    assert "not linked" in write(telegram, "/status")["visible_text"]
    assert write(telegram, "/unlink")["visible_text"].startswith("No Rastar account is linked")


def next_food_day(rastar):
    day = datetime.now(load_zone("Asia/Tehran")).date() + timedelta(days=1)
    while not dish_names(rastar, day):
        day += timedelta(days=1)
    return day


def linked_with_an_offer(db, rastar, rastar_client, box, user: int):
    """The person linked in the fake Rastar, and an offer of the next food day's dishes
    (what a reminder's buttons stand for); (day, offer)."""
    link_account(db, box, rastar_client, rastar, user)
    day = next_food_day(rastar)
    session = rastar_client.sign_in(email_of(user), "correct horse battery")
    menu = rastar_client.menu(session.access_token, day, day)
    return day, picking.make_offer(db, user, [OfferedDay(day, menu)])


def test_a_tap_on_a_reminder_picks_the_dish_in_rastar(
    db, telegram, webhook, rastar, rastar_client, box, bot_settings
):
    write(telegram, "/start", language_code="en")
    user = users(db)[0]["id"]
    day, offer = linked_with_an_offer(db, rastar, rastar_client, box, user)
    sender = TelegramClient(TOKEN, telegram.base_url)
    sender.send(PERSON, "Pick tomorrow's food:", "HTML", True, keyboard(offer, 0, "en", None))
    reminder = telegram.messages(PERSON)[-1]
    dish = dish_names(rastar, day)[1]
    tap = press(telegram, reminder, dish)
    assert tap["toast"] == f"✅ Picked: {dish}"
    picked = [r["menu_schedule"]["menu_item"]["name"] for r in rastar.selections(email_of(user))]
    assert picked == [dish]
    edited = telegram.messages(PERSON)[-1]
    assert edited["message_id"] == reminder["message_id"]
    assert edited["visible_text"].startswith(f"✅ Picked {dish} for")
    labels = [b["text"] for row in edited["reply_markup"]["inline_keyboard"] for b in row]
    assert f"✅ {dish}" in labels  # and the others, to change it
    other = dish_names(rastar, day)[0]
    assert press(telegram, edited, other)["toast"] == f"✅ Picked: {other}"
    picked = [r["menu_schedule"]["menu_item"]["name"] for r in rastar.selections(email_of(user))]
    assert picked == [other]


def test_someone_else_s_or_a_forged_button_changes_nothing(
    db, telegram, webhook, rastar, rastar_client, box
):
    write(telegram, "/start", language_code="en")
    write(telegram, "/start", person=7002, language_code="en")
    owner = users(db)[0]["id"]
    day, offer = linked_with_an_offer(db, rastar, rastar_client, box, owner)
    sender = TelegramClient(TOKEN, telegram.base_url)
    markup = keyboard(offer, 0, "en", None)
    sender.send(7002, "someone else's buttons", None, True, markup)
    tap = press(telegram, telegram.messages(7002)[-1], dish_names(rastar, day)[0], person=7002)
    assert tap["toast"] == "This button is not yours, or no longer exists."
    forged = {"inline_keyboard": [[{"text": "forged", "callback_data": "p:AAAAAAAAAAAAAAAA:0:0"}]]}
    sender.send(PERSON, "forged", None, True, forged)
    assert press(telegram, telegram.messages(PERSON)[-1], "forged")["toast"] == (
        "This button is not yours, or no longer exists."
    )
    assert rastar.selections(email_of(owner)) == []


def test_rastar_not_answering_is_a_toast_and_nothing_changes(
    db, telegram, webhook, rastar, rastar_client, box
):
    write(telegram, "/start", language_code="en")
    user = users(db)[0]["id"]
    day, offer = linked_with_an_offer(db, rastar, rastar_client, box, user)
    TelegramClient(TOKEN, telegram.base_url).send(
        PERSON, "pick", None, True, keyboard(offer, 0, "en", None)
    )
    reminder = telegram.messages(PERSON)[-1]
    rastar.configure(server_error_until=time.time() + 60)
    tap = press(telegram, reminder, dish_names(rastar, day)[0])
    rastar.configure(server_error_until=0.0)
    assert tap["toast"] == "Rastar is not answering; nothing changed. Try again in a minute."
    assert telegram.messages(PERSON)[-1]["visible_text"] == "pick"  # not edited
    assert rastar.selections(email_of(user)) == []


# -- the fake's chat view, in Chromium ------------------------------------------------------------


def test_the_chat_view_is_clicked_through_in_chromium(db, telegram, webhook, browser):
    add_pack(db, "owls", "Night Owls")
    page = browser.new_page()
    page.goto(f"{telegram.base_url}/_fake")
    page.get_by_role("link", name="A new person ▸").click()
    page.get_by_label("Telegram id").fill(str(PERSON))
    page.get_by_label("First name").fill("Sara")
    page.get_by_role("button", name="Start the bot").click()  # writes /start as them
    page.get_by_text("سلام Sara!").wait_for(timeout=10_000)
    page.get_by_placeholder("Write to the bot").fill("/packs")
    page.get_by_role("button", name="Send").click()
    page.get_by_role("button", name="Night Owls").click()
    page.get_by_text("به «Night Owls» پیوستی.").wait_for(timeout=10_000)
    assert members(db, add_pack_id(db, "owls")) == [PERSON]
    page.get_by_role("button", name="Block the bot").click()
    page.get_by_text("blocked the bot").wait_for(timeout=10_000)
    settled(telegram)
    assert users(db)[0]["inactive_reason"] == "blocked"
    page.close()


def add_pack_id(db, slug: str) -> int:
    return db.execute("SELECT id FROM character_packs WHERE slug = %s", (slug,)).fetchone()["id"]


# -- jobsctl bot ---------------------------------------------------------------------------------


def jobsctl(*args: str, **env: str):
    """jobsctl in its own process, as a person runs it."""
    import os
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "job_scheduler", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )


def test_jobsctl_bot_set_up_and_status_show_the_webhook_as_telegram_sees_it(
    telegram, webhook, bot_settings
):
    env = {
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": telegram.base_url,
        "DATABASE_URL": bot_settings.database_url,
    }
    assert jobsctl("bot", "set-up", "--url", webhook.url, **env).returncode == 0
    webhook.stop()  # Telegram can no longer deliver
    httpx.post(f"{telegram.base_url}/_fake/users/{PERSON}/messages", json={"text": "/start"})
    wait_for(lambda: telegram.chats.webhook_info().get("last_error_message"))
    done = jobsctl("bot", "status", **env)
    assert done.returncode == 0, done.stderr
    assert f"webhook          {webhook.url}" in done.stdout
    assert "pending updates  1" in done.stdout and "Connection failed" in done.stdout
    assert "message, callback_query, my_chat_member" in done.stdout


def test_jobsctl_bot_without_a_token_says_what_to_set(database_url):
    done = jobsctl("bot", "status", TELEGRAM_BOT_TOKEN="", DATABASE_URL=database_url)
    assert done.returncode == 1 and "TELEGRAM_BOT_TOKEN is not set" in done.stderr


# -- a real bot on a laptop: long polling ------------------------------------------------------


def test_without_a_webhook_make_run_long_polls_and_feeds_the_same_function(
    db, telegram, bot_settings, monkeypatch
):
    """What ``make run`` does with a real token and no public URL (``infra/local/updates``):
    deleteWebhook, then getUpdates, each update handed to the webhook function as the
    request Telegram would make (secret header included), confirmed by the next offset."""
    import threading

    from infra.local.lambdas import load_function
    from infra.local.updates import UpdatePoller

    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    telegram.chats.set_webhook({"url": "http://127.0.0.1:9/nowhere"})  # left from a deploy
    function = webhook_function()
    handler = load_function(function.code_uri, function.handler, bot_settings)
    stop = threading.Event()
    poller = UpdatePoller(bot_settings, handler, stop, wait=1)
    poller.start()
    try:
        assert telegram.chats.webhook is None  # deleted first
        assert write(telegram, "/start", language_code="en")["visible_text"].startswith("Hi ")
        assert write(telegram, "/stop")["visible_text"].startswith("Scheduled messages are stopped")
        assert users(db)[0]["opted_out_at"] is not None
        wait_for(lambda: not telegram.chats.get_updates({"offset": "0"}) or None)
    finally:
        stop.set()
        poller.join(timeout=10)
    assert not poller.is_alive()


def test_an_update_pytelegrambotapi_cannot_read_is_recorded_failed_not_redelivered(
    db, webhook, bot_settings
):
    broken = {"update_id": 77, "message": {"message_id": "not a number", "chat": "nope"}}
    answer = post_update(webhook, broken, webhook_secret(bot_settings))
    assert (answer.status_code, answer.json()["outcome"]) == (200, "failed")
    assert db.execute("SELECT outcome FROM bot_updates").fetchall() == [{"outcome": "failed"}]
