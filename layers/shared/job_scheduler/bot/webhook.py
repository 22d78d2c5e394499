"""The webhook Telegram calls: a Lambda function URL event in, an HTTP answer out.

Telegram sends each update as a POST with the secret given to ``setWebhook`` in the
``X-Telegram-Bot-Api-Secret-Token`` header, and sends it again until it gets a 2xx. So:
a missing or wrong secret is 401 (compared in constant time) and changes nothing; a body
that is not an update is 400 (Telegram never sends one, so it is not worth redelivering);
an update whose id Postgres could not record is 503, for Telegram to deliver later;
everything else is 200, a failed handler included (the person was given an apology).

The secret is ``BOT_WEBHOOK_SECRET`` or, unset, derived from the bot token (an HMAC), so a
deployment has no second secret to keep and a new token rotates it too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from aws_lambda_powertools.utilities.data_classes import LambdaFunctionUrlEvent

from job_scheduler.adapters.lambda_entry import ColdStart
from job_scheduler.bot.conversation import Bot
from job_scheduler.config import Settings
from job_scheduler.errors import ConfigError, Unavailable
from job_scheduler.observability import logger, metrics

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header's name)


def webhook_secret(settings: Settings) -> str:
    """The secret Telegram sends with every update (1-256 of A-Za-z0-9_-)."""
    if settings.bot_webhook_secret:
        return settings.bot_webhook_secret
    if not settings.telegram_bot_token:
        raise ConfigError("TELEGRAM_BOT_TOKEN is not set: the webhook secret is derived from it")
    key = settings.telegram_bot_token.encode()
    return hmac.new(key, b"telegram-webhook-secret", hashlib.sha256).hexdigest()


def _answer(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"Content-Type": "application/json"},
            "body": json.dumps(body)}  # fmt: skip


class WebhookHandler:
    def __init__(self, bot: Bot, secret: str) -> None:
        self.bot = bot
        self._secret = secret.encode()

    @classmethod
    def from_settings(cls, settings: Settings) -> WebhookHandler:
        return cls(Bot.from_settings(settings), webhook_secret(settings))

    def __call__(self, event: dict[str, Any], context: object = None) -> dict[str, Any]:
        request = LambdaFunctionUrlEvent(event)
        given = (request.headers.get(SECRET_HEADER) or "").encode()  # case-insensitive
        if not hmac.compare_digest(given, self._secret):
            logger.warning("webhook call without the right secret; refused")
            metrics.add_metric(name="WebhookRefused", unit="Count", value=1)
            return _answer(401, {"ok": False, "error": "wrong or missing secret token"})
        try:
            update = json.loads(request.decoded_body or "")
            update_id = int(update["update_id"])
        except (ValueError, TypeError, KeyError):
            return _answer(400, {"ok": False, "error": "the body is not a Telegram update"})
        try:
            outcome = self.bot.apply(update)
        except Unavailable as exc:
            logger.warning("update not recorded; Telegram will deliver it again",
                           extra={"update_id": update_id, "error": str(exc)})  # fmt: skip
            return _answer(503, {"ok": False, "error": "try again later"})
        metrics.add_metric(name=f"Updates{outcome.title()}", unit="Count", value=1)
        return _answer(200, {"ok": True, "outcome": outcome})


entry = ColdStart(WebhookHandler.from_settings)
