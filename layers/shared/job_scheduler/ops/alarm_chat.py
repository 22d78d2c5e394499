"""CloudWatch alarms, from the stack's SNS topic, as Telegram messages to the admins' chat
(``ADMIN_CHAT_ID``): someone sees an alarm where they already are, without e-mail.

Each SNS record's message is CloudWatch's alarm JSON; anything else is passed on as it
came (a test publish, another service). A send that fails raises, so SNS retries it.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.data_classes import SNSEvent

from job_scheduler.adapters.telegram import TelegramClient
from job_scheduler.config import Settings
from job_scheduler.errors import ConfigError

STATES = {"ALARM": "🔴", "OK": "✅", "INSUFFICIENT_DATA": "⚪"}


def alarm_text(message: str, subject: str | None = None) -> str:
    """What the admins read (HTML): the state, the alarm, why, and what it watches."""
    try:
        alarm = json.loads(message)
    except ValueError:
        alarm = None
    if not isinstance(alarm, dict) or "AlarmName" not in alarm:
        title = html.escape(subject or "Notification")
        return f"<b>{title}</b>\n{html.escape(message)[:3500]}"
    state = alarm.get("NewStateValue", "?")
    where = " · ".join(html.escape(alarm.get(key) or "") for key in ("Region", "StateChangeTime"))
    lines = [
        f"{STATES.get(state, '❔')} <b>{html.escape(state)}: {html.escape(alarm['AlarmName'])}</b>",
        html.escape(alarm.get("AlarmDescription") or ""),
        html.escape(alarm.get("NewStateReason") or "")[:1500],
        f"<i>{where}</i>",
    ]
    return "\n".join(line for line in lines if line)


@dataclass(frozen=True)
class AlarmChat:
    telegram: TelegramClient
    chat_id: int

    @classmethod
    def from_settings(cls, settings: Settings) -> AlarmChat:
        if not settings.telegram_bot_token or not settings.admin_chat_id:
            raise ConfigError("ADMIN_CHAT_ID and the bot token are needed to post alarms")
        telegram = TelegramClient(settings.telegram_bot_token, settings.telegram_api_url,
                                  settings.telegram_timeout_seconds)  # fmt: skip
        return cls(telegram, settings.admin_chat_id)

    def __call__(self, event: dict[str, Any], context: object = None) -> dict[str, int]:
        posted = 0
        for record in SNSEvent(event).records:
            text = alarm_text(record.sns.message, record.sns.subject)
            self.telegram.send(self.chat_id, text, "HTML", silent=False)
            posted += 1
        return {"posted": posted}
