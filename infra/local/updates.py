"""How Telegram's updates reach the bot on a laptop.

- With the fake Telegram (or a public ``BOT_WEBHOOK_URL``, such as a tunnel to this
  machine): a webhook, set as bot_startup sets it in AWS, and served by ``function_urls``.
- With a real bot token and no public URL: Telegram cannot call this machine, so the
  webhook is deleted and ``UpdatePoller`` long-polls ``getUpdates``, handing each update to
  the same function, as the same HTTP request a webhook would make (secret header
  included), so every update takes the path it takes in AWS.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from job_scheduler.adapters.telegram import TelegramClient
from job_scheduler.bot.webhook import SECRET_HEADER, webhook_secret
from job_scheduler.config import Settings
from job_scheduler.errors import SendError
from job_scheduler.observability import logger

from .function_urls import url_event
from .lambdas import LocalContext

WAIT_SECONDS = 25


class UpdatePoller(threading.Thread):
    def __init__(
        self, settings: Settings, handler: Any, stop: threading.Event, wait: int = WAIT_SECONDS
    ) -> None:
        super().__init__(name="telegram-updates", daemon=True)
        assert settings.telegram_bot_token
        self.wait = wait  # each getUpdates waits this long for an update (Ctrl-C waits it out)
        self.telegram = TelegramClient(settings.telegram_bot_token, settings.telegram_api_url,
                                       read_timeout=wait + 10)  # fmt: skip
        self.handler, self.stop = handler, stop
        self.headers = {SECRET_HEADER: webhook_secret(settings), "Content-Type": "application/json"}
        self.telegram.delete_webhook()

    def run(self) -> None:
        offset: int | None = None
        while not self.stop.is_set():
            try:
                updates = self.telegram.updates(offset, self.wait)
            except SendError as exc:
                logger.warning("getUpdates failed; trying again", extra={"error": str(exc)})
                self.stop.wait(3)
                continue
            for update in updates:
                body = json.dumps(update).encode()
                answer = self.handler(url_event("POST", "/", self.headers, body),
                                      LocalContext("BotWebhookFunction"))  # fmt: skip
                if answer.get("statusCode", 200) >= 500:  # Telegram would send it again
                    self.stop.wait(3)
                    break
                offset = update["update_id"] + 1
