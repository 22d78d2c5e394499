"""What bot_startup does, callable from the Lambda, the CLI and the local runtime."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from job_scheduler import observability
from job_scheduler.adapters.db import get_connection, migrate
from job_scheduler.adapters.lambda_entry import ColdStart
from job_scheduler.config import Settings
from job_scheduler.jobs.catalog import register_all_jobs
from job_scheduler.jobs.registry import JobRegistry
from job_scheduler.observability import metrics
from job_scheduler.sync import custom_resource
from job_scheduler.sync.converge import SyncSummary, sync_jobs_and_rules
from job_scheduler.sync.rules import RuleStore


def run_startup(settings: Settings, registry: JobRegistry | None = None) -> SyncSummary:
    """Migrate the database, register the coded jobs, sync jobs and rules."""
    migrate(settings.database_url)
    registry = registry if registry is not None else register_all_jobs()
    summary = sync_jobs_and_rules(
        get_connection(settings.database_url), registry, RuleStore(settings)
    )
    metrics.add_metric(name="RulesChanged", unit="Count", value=_rule_changes(summary))
    return summary


def remove_all_rules(settings: Settings) -> list[str]:
    """Delete this deployment's rules (the stack is being deleted; job history stays)."""
    store = RuleStore(settings)
    names = sorted(store.managed())
    for name in names:
        store.delete(name)
    return names


def _rule_changes(summary: SyncSummary) -> int:
    return len(summary.rules_created) + len(summary.rules_updated) + len(summary.rules_deleted)


@dataclass(frozen=True)
class StartupHandler:
    """The bot_startup Lambda's handler object: a CloudFormation custom resource at every
    deploy (Delete removes our rules), or a direct invoke that returns the sync summary."""

    settings: Settings

    @classmethod
    def from_settings(cls, settings: Settings) -> StartupHandler:
        observability.configure(settings)
        return cls(settings)

    def __call__(self, event: dict[str, Any], context: object) -> dict[str, Any]:
        def sync() -> dict[str, Any]:
            summary = run_startup(self.settings).as_dict()
            url = _webhook_url(event) or self.settings.bot_webhook_url
            if url:  # a flat string: CloudFormation's Data is a map of strings
                summary["bot_webhook"] = set_up_bot(self.settings, url)["webhook_url"]
            return summary

        def remove() -> dict[str, Any]:
            return {"rules_deleted": remove_all_rules(self.settings)}

        if custom_resource.is_custom_resource_event(event):
            prefix = self.settings.rule_prefix
            return custom_resource.handle(event, context, sync, remove, prefix)
        return sync()


def _webhook_url(event: dict[str, Any]) -> str | None:
    """The bot webhook's URL as the stack hands it to the custom resource (its function URL)."""
    return (event.get("ResourceProperties") or {}).get("BotWebhookUrl") or None


def set_up_bot(settings: Settings, url: str) -> dict[str, Any]:
    """Point Telegram at the webhook (the bot package only when there is one to set)."""
    from job_scheduler.adapters.telegram import TelegramClient
    from job_scheduler.bot.setup import set_up
    from job_scheduler.errors import ConfigError

    if not settings.telegram_bot_token:
        raise ConfigError("TELEGRAM_BOT_TOKEN is not set: the webhook cannot be registered")
    telegram = TelegramClient(settings.telegram_bot_token, settings.telegram_api_url,
                              settings.telegram_timeout_seconds)  # fmt: skip
    return set_up(settings, telegram, url)


def startup(entry: ColdStart[StartupHandler], event: dict[str, Any], context: object) -> Any:
    """bot_startup's entry: the handler object built (settings, secrets) inside the answer
    to CloudFormation, so a setting that cannot be read (a deleted secret, a bad value)
    answers FAILED with the reason at once instead of leaving the stack waiting."""
    try:
        handler = entry.get()
    except Exception as exc:
        if not custom_resource.is_custom_resource_event(event):
            raise
        failure = exc

        def cannot_start() -> dict[str, Any]:
            raise failure

        prefix = (event.get("ResourceProperties") or {}).get("RulePrefix") or "telegram-jobs"
        return custom_resource.handle(event, context, cannot_start, cannot_start, prefix)
    return handler(event, context)
