"""What the admin app's routes share, built from ``Settings`` once: in Lambda from the
environment at the first request (one read per cold start); when ``make run`` or the tests
serve the app, from the Settings they hand to ``current.configure``."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import psycopg

from job_scheduler import observability
from job_scheduler.adapters.aws import client
from job_scheduler.adapters.db import get_connection
from job_scheduler.adapters.lambda_entry import ColdStart
from job_scheduler.adapters.telegram import TelegramClient
from job_scheduler.admin.volume import VolumeGuard
from job_scheduler.bot.packs import deep_link
from job_scheduler.config import Settings
from job_scheduler.delivery.outbox import Outbox
from job_scheduler.delivery.window import Window
from job_scheduler.errors import ConfigError, SendError
from job_scheduler.rastar.client import RastarClient
from job_scheduler.rastar.crypto import SecretBox
from job_scheduler.sync.rules import RuleStore


@dataclass(frozen=True)
class AdminContext:
    settings: Settings

    @classmethod
    def from_settings(cls, settings: Settings) -> AdminContext:
        observability.configure(settings)
        return cls(settings)

    def connection(self) -> psycopg.Connection:
        """This thread's connection (a thread per request under ``chalice local``)."""
        return get_connection(self.settings.database_url)

    def rules(self) -> RuleStore:
        return RuleStore(self.settings)

    def window(self) -> Window:
        """Where a retry or a resume puts the deliveries it lets go (the notifier's queue)."""
        settings = self.settings
        outbox = Outbox(client(settings, "sqs"), settings.notifications_queue_url)
        return Window.of(outbox, settings)

    def guard(self) -> VolumeGuard:
        settings = self.settings
        return VolumeGuard(
            settings.telegram_rate_per_second,
            settings.job_send_budget_hours,
            settings.telegram_paid_rate_per_second,
        )

    # The link page's clients: made at its first use, kept while the container is warm
    # (cached_property fills the instance's __dict__, which a frozen dataclass still has).

    @cached_property
    def rastar(self) -> RastarClient:
        return RastarClient.from_settings(self.settings)

    @cached_property
    def box(self) -> SecretBox:
        return SecretBox.from_settings(self.settings)

    @cached_property
    def telegram(self) -> TelegramClient:
        settings = self.settings
        if not settings.telegram_bot_token:
            raise ConfigError("TELEGRAM_BOT_TOKEN is not set: the link page tells people there")
        return TelegramClient(
            settings.telegram_bot_token, settings.telegram_api_url,
            settings.telegram_timeout_seconds,
        )  # fmt: skip

    def deep_link(self, slug: str) -> str | None:
        """A pack's t.me link, once the bot's @username is known (getMe, asked once and
        kept; None while Telegram cannot say)."""
        username = self.__dict__.get("bot_username")
        if username is None:
            try:
                username = self.__dict__["bot_username"] = self.telegram.username()
            except (ConfigError, SendError):
                return None
        return deep_link(username, slug)


current = ColdStart(AdminContext.from_settings)
