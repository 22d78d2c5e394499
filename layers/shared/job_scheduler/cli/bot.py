"""``jobsctl bot status|set-up``: where Telegram sends the bot's updates, and how that goes."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from job_scheduler.cli.options import environment
from job_scheduler.errors import ConfigError


def add_commands(commands: Any) -> None:
    bot = commands.add_parser("bot", help="the bot's webhook")
    actions = bot.add_subparsers(required=True, metavar="ACTION")
    status = actions.add_parser(
        "status", help="Telegram's getWebhookInfo: the URL, updates waiting, the last error"
    )
    status.set_defaults(run=_status)
    set_up = actions.add_parser(
        "set-up", help="point Telegram at the webhook and set the command menus (as a deploy does)"
    )
    set_up.add_argument("--url", help="the webhook's URL (default: BOT_WEBHOOK_URL)")
    set_up.set_defaults(run=_set_up)


def _telegram(settings: Any) -> Any:
    from job_scheduler.adapters.telegram import TelegramClient

    if not settings.telegram_bot_token:
        raise ConfigError("TELEGRAM_BOT_TOKEN is not set (with make run: . .local/run.env)")
    return TelegramClient(settings.telegram_bot_token, settings.telegram_api_url,
                          settings.telegram_timeout_seconds)  # fmt: skip


def _status(args: argparse.Namespace) -> int:
    from job_scheduler.bot.setup import status

    info = status(_telegram(environment()))
    print(f"webhook          {info.get('url') or '(none: updates wait for getUpdates)'}")
    print(f"pending updates  {info.get('pending_update_count', 0)}")
    allowed = info.get("allowed_updates")
    print(f"allowed updates  {', '.join(allowed) if allowed else '(all but a few, by default)'}")
    if info.get("last_error_date"):
        when = datetime.fromtimestamp(info["last_error_date"], UTC).strftime("%Y-%m-%d %H:%M:%S")
        print(f"last error       {when} UTC: {info.get('last_error_message', '')}")
    else:
        print("last error       none")
    return 0


def _set_up(args: argparse.Namespace) -> int:
    from job_scheduler.sync.startup import set_up_bot

    settings = environment()
    url = args.url or settings.bot_webhook_url
    if not url:
        raise ConfigError("give --url, or set BOT_WEBHOOK_URL: where Telegram should send updates")
    done = set_up_bot(settings, url)
    print(f"webhook set to {done['webhook_url']}; command menus: "
          f"{', '.join(done['command_languages'])}")  # fmt: skip
    return 0
