"""A custom job's message: ``scheduled_jobs.message_config``, read and checked in one place.

It holds ``{"text": ..., "parse_mode": "HTML" | null, "silent": bool}``.
``MessageConfig.from_json`` is the one place that reads it: the admin side calls it before
saving (InvalidMessage names the field), the executor once per run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from job_scheduler.errors import InvalidMessage
from job_scheduler.messages.telegram_html import HTML, PARSE_MODES
from job_scheduler.messages.templates import MessageTemplate

FIELD = "message_config"
KEYS = ("text", "parse_mode", "silent")


@dataclass(frozen=True)
class MessageConfig:
    """A custom job's message, validated and compiled when it is built."""

    text: str
    parse_mode: str | None = HTML
    silent: bool = False  # Telegram's disable_notification: delivered without a sound
    template: MessageTemplate = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_types(self.text, self.parse_mode, self.silent)
        if not self.text.strip():
            raise InvalidMessage("The message text is empty; write what to send.", f"{FIELD}.text")
        try:
            template = MessageTemplate.compile(self.text, self.parse_mode)
        except InvalidMessage as exc:
            raise InvalidMessage(str(exc), f"{FIELD}.text") from exc
        object.__setattr__(self, "template", template)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MessageConfig:
        """The config as stored or posted; every problem is an InvalidMessage naming its field."""
        if not isinstance(data, dict):
            raise InvalidMessage(
                f"{FIELD} must be an object with text, parse_mode and silent, "
                f"not {type(data).__name__}.",
                FIELD,
            )
        unknown = sorted(set(data) - set(KEYS))
        if unknown:
            raise InvalidMessage(
                f"{FIELD} has an unknown key '{unknown[0]}'; allowed: {', '.join(KEYS)}.",
                f"{FIELD}.{unknown[0]}",
            )
        if "text" not in data:
            raise InvalidMessage(f"{FIELD}.text is missing; write what to send.", f"{FIELD}.text")
        return cls(data["text"], data.get("parse_mode", HTML), data.get("silent", False))

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "parse_mode": self.parse_mode, "silent": self.silent}


def _check_types(text: object, parse_mode: object, silent: object) -> None:
    if not isinstance(text, str):
        raise InvalidMessage(
            f"{FIELD}.text must be a string, not {type(text).__name__}.", f"{FIELD}.text"
        )
    if parse_mode not in PARSE_MODES:
        raise InvalidMessage(
            f'{FIELD}.parse_mode must be "HTML" or null (plain text), not {parse_mode!r}.',
            f"{FIELD}.parse_mode",
        )
    if not isinstance(silent, bool):
        raise InvalidMessage(
            f"{FIELD}.silent must be true or false, not {silent!r}.", f"{FIELD}.silent"
        )
