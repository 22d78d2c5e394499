"""The runtime of ``kind = 'custom_message'`` jobs: the admin's message, rendered per user.

``scheduled_jobs.message_config`` holds ``{"text": ..., "parse_mode": "HTML" | null,
"silent": bool}``. ``MessageConfig.from_json`` is the one place that reads it: the admin API
calls it before saving (InvalidMessage names the field), the executor once per run.

A recipient whose message cannot be rendered (their long name pushes it past 4096, say) is
skipped without stopping the others. The caller hears about each skip through an ``on_skip``
callback with the recipient and the reason: a callback rather than a result object because
the messages are a stream over 100k users, and the caller decides what a skip costs (a log
line, a counter, a delivery row). Without one, the first skips of a run are logged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from job_scheduler.errors import InvalidMessage
from job_scheduler.jobs.registry import JobRun, OutgoingMessage, Recipient
from job_scheduler.messages.telegram_html import HTML, PARSE_MODES
from job_scheduler.messages.templates import MessageTemplate, TemplateContext
from job_scheduler.observability import logger

FIELD = "message_config"
KEYS = ("text", "parse_mode", "silent")
LOGGED_SKIPS_PER_RUN = 20


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


@dataclass(frozen=True)
class SkippedRecipient:
    """A recipient who gets no message this run, and what was wrong with their message."""

    user_id: int
    chat_id: int
    reason: str


SkipHandler = Callable[[SkippedRecipient], None]


def custom_message_job_messages(
    job_row: dict[str, Any],
    run: JobRun,
    recipients: Iterable[Recipient],
    on_skip: SkipHandler | None = None,
) -> Iterator[OutgoingMessage]:
    """One message per recipient; a recipient whose rendering fails is reported and skipped.

    ``job_row`` needs name, description, timezone and message_config. The config and the
    timezone are checked here, before the first message (InvalidMessage / UnknownTimezone):
    a broken job fails as a whole, visibly, instead of skipping every user.
    """
    config = MessageConfig.from_json(job_row["message_config"])
    base = TemplateContext.build(
        Recipient(user_id=0, chat_id=0),
        job_name=job_row["name"],
        job_description=job_row.get("description") or "",
        scheduled_for=run.scheduled_for,
        timezone=job_row["timezone"],
        now=datetime.now(UTC),
    )
    return _render_each(config, base, recipients, on_skip or _SkipLog(run.job_name))


def _render_each(
    config: MessageConfig,
    base: TemplateContext,
    recipients: Iterable[Recipient],
    on_skip: SkipHandler,
) -> Iterator[OutgoingMessage]:
    template = config.template
    for recipient in recipients:
        try:
            text = template.render(base.with_recipient(recipient))
        except InvalidMessage as exc:
            on_skip(SkippedRecipient(recipient.user_id, recipient.chat_id, str(exc)))
            continue
        yield OutgoingMessage(
            recipient.user_id, recipient.chat_id, text, config.parse_mode, config.silent
        )


class _SkipLog:
    """The default ``on_skip``: a warning for each of the first skips of a run, then quiet."""

    def __init__(self, job_name: str) -> None:
        self.job_name = job_name
        self.count = 0

    def __call__(self, skipped: SkippedRecipient) -> None:
        self.count += 1
        if self.count <= LOGGED_SKIPS_PER_RUN:
            logger.warning(
                "recipient skipped: their message could not be rendered",
                extra={"job": self.job_name, "user_id": skipped.user_id, "reason": skipped.reason},
            )
