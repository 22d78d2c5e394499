"""The runtime of ``kind = 'custom_message'`` jobs: the admin's message, rendered per user.

A recipient whose message cannot be rendered (their long name pushes it past 4096, say) is
skipped without stopping the others. The caller hears about each skip through an ``on_skip``
callback with the recipient and the reason: a callback rather than a result object because
the messages are a stream over 100k users, and the caller decides what a skip costs (a log
line, a counter, a delivery row). Without one, the first skips of a run are logged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from job_scheduler.errors import InvalidMessage
from job_scheduler.messages.message_config import MessageConfig
from job_scheduler.messages.templates import TemplateContext
from job_scheduler.model import Job, JobRun, OutgoingMessage, Recipient, Trigger
from job_scheduler.observability import logger

LOGGED_SKIPS_PER_RUN = 20


@dataclass(frozen=True)
class SkippedRecipient:
    """A recipient who gets no message this run, and what was wrong with their message."""

    user_id: int
    chat_id: int
    reason: str


SkipHandler = Callable[[SkippedRecipient], None]


def custom_message_job_messages(
    job: Job,
    run: JobRun,
    recipients: Iterable[Recipient],
    on_skip: SkipHandler | None = None,
) -> Iterator[OutgoingMessage]:
    """One message per recipient; a recipient whose rendering fails is reported and skipped.

    The job's message config and timezone are checked here, before the first message
    (InvalidMessage / UnknownTimezone): a broken job fails as a whole, visibly, instead of
    skipping every user.
    """
    config = MessageConfig.from_json(dict(job.message_config))
    base = TemplateContext.build(
        Recipient(user_id=0, chat_id=0),
        job_name=job.name,
        job_description=job.description,
        scheduled_for=run.scheduled_for,
        timezone=job.timezone,
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
            recipient.user_id, recipient.chat_id, text, config.parse_mode, config.silent,
            config.reply_markup, config.photo, config.protect_content, config.link_preview,
            config.paid_broadcast,
        )  # fmt: skip


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


def message_for(job: Job, recipient: Recipient, now: datetime) -> OutgoingMessage:
    """One person's message of a custom job, as a "run now" at ``now`` would render it (the
    editor's preview, "Send me a test"); InvalidMessage if it cannot be rendered for them."""
    skipped: list[str] = []
    run = JobRun(job.name, now, Trigger.MANUAL)
    messages = list(
        custom_message_job_messages(job, run, [recipient], lambda skip: skipped.append(skip.reason))
    )
    if not messages:
        raise InvalidMessage(f"the message cannot be rendered: {skipped[0]}", "message")
    return messages[0]
