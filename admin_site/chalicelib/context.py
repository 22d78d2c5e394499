"""What the admin app's routes share, built from ``Settings`` once: in Lambda from the
environment at the first request (one read per cold start); when ``make run`` or the tests
serve the app, from the Settings they hand to ``current.configure``."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from job_scheduler import observability
from job_scheduler.adapters.db import get_connection
from job_scheduler.adapters.lambda_entry import ColdStart
from job_scheduler.admin.volume import VolumeGuard
from job_scheduler.config import Settings
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

    def guard(self) -> VolumeGuard:
        settings = self.settings
        return VolumeGuard(settings.telegram_rate_per_second, settings.job_send_budget_hours)


current = ColdStart(AdminContext.from_settings)
