"""alarm_chat against the fake Telegram over HTTP: the alarm topic's event becomes one
message in the admins' chat; a chat Telegram refuses makes the invocation fail (SNS
retries); without ADMIN_CHAT_ID it says what to set."""

from __future__ import annotations

import json

import pytest

from infra.local.events import alarm_chat as sample
from job_scheduler.config import Settings
from job_scheduler.errors import ChatGone, ConfigError
from job_scheduler.ops.alarm_chat import AlarmChat

TOKEN = "424242:bot-token-for-the-fake-telegram-0001"


def settings(url: str, chat: int | None = -100123) -> Settings:
    return Settings(telegram_bot_token=TOKEN, telegram_api_url=url, admin_chat_id=chat)


def test_an_alarm_reaches_the_admins_chat(telegram):
    done = AlarmChat.from_settings(settings(telegram.base_url))(sample())
    (message,) = telegram.messages(-100123)
    assert done == {"posted": 1}
    assert message["visible_text"].startswith(
        "🔴 ALARM: telegram-jobs-NotificationsDeadLetterQueueAlarm"
    )
    assert message["parse_mode"] == "HTML" and not message["disable_notification"]


def test_a_chat_telegram_refuses_fails_the_invocation(telegram):
    telegram.configure(blocked_chat_ids=[4242])
    with pytest.raises(ChatGone):
        AlarmChat.from_settings(settings(telegram.base_url, 4242))(sample())


def test_without_admin_chat_id_it_says_what_to_set(telegram):
    with pytest.raises(ConfigError, match="ADMIN_CHAT_ID"):
        AlarmChat.from_settings(settings(telegram.base_url, None))


def test_admin_chat_id_must_be_a_number():
    with pytest.raises(ConfigError, match="ADMIN_CHAT_ID must be a Telegram chat id"):
        Settings.from_env({"ADMIN_CHAT_ID": "@admins"})
    assert Settings.from_env({"ADMIN_CHAT_ID": "-1001"}).admin_chat_id == -1001
    assert json.loads(json.dumps(sample()))["Records"][0]["EventSource"] == "aws:sns"
