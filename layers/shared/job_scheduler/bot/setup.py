"""Telling Telegram where the bot lives: the webhook (with its secret and the updates the
bot handles) and the command menu per language. Idempotent: run at every deploy."""

from __future__ import annotations

from typing import Any

from job_scheduler.adapters.telegram import TelegramClient
from job_scheduler.bot.conversation import HANDLED
from job_scheduler.bot.texts import COMMANDS
from job_scheduler.bot.webhook import webhook_secret
from job_scheduler.config import Settings
from job_scheduler.messages.languages import DEFAULT, LANGUAGES


def set_up(settings: Settings, telegram: TelegramClient, url: str) -> dict[str, Any]:
    """setWebhook and setMyCommands (Persian for apps in a language the bot does not speak:
    Persian is what its people speak first)."""
    telegram.set_webhook(url, webhook_secret(settings), list(HANDLED))
    for language in LANGUAGES:
        telegram.set_commands(COMMANDS[language], language)
    telegram.set_commands(COMMANDS[DEFAULT], None)
    return {"webhook_url": url, "allowed_updates": list(HANDLED),
            "command_languages": [*LANGUAGES, "default"]}  # fmt: skip


def status(telegram: TelegramClient) -> dict[str, Any]:
    """getWebhookInfo: the URL, updates waiting, and the last delivery error if any."""
    return telegram.webhook_info()
