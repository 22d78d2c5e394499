"""One run of the unselected-food reminder (``job.py`` declares the job): people
who have not picked tomorrow's food in Rastar get one message with tomorrow's menu, a
suggestion and a link to pick.

Per run: tomorrow is the next day in Asia/Tehran. The job's targeting gives the users;
those without a linked Rastar account are skipped. Tomorrow's menu is read once (with the
first linked user's token that Rastar accepts); no food tomorrow (Friday, a holiday) means
the run sends nothing and says so in the execution's note. Each linked user's picks of the
last ``HISTORY_DAYS`` days and tomorrow are read on ``RASTAR_CONCURRENCY`` threads:

- a pick for tomorrow: nothing to remind;
- no pick: the reminder, with a suggestion (``suggestions.py``) when there is one;
- the token refused: the account is marked ``refused`` and the user is told once to link
  again (refused accounts are not checked again until they are linked anew);
- Rastar unavailable for that user after retries: skipped and counted, not guessed.

A re-link notice is recorded as given when the job hands it to the fan-out (which writes
and queues it): a crash between the two loses that one notice rather than repeating it
every night. When tomorrow has no food, notices wait for the next run that sends.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import islice

from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from job_scheduler.errors import (
    CredentialsRefused,
    CredentialUnreadable,
    JobSchedulerError,
    RastarUnavailable,
)
from job_scheduler.jobs.bounded import map_bounded
from job_scheduler.jobs.food_reminder.suggestions import Suggester
from job_scheduler.messages.telegram_html import check_message_text
from job_scheduler.model import JobContext, JobRun, OutgoingMessage, Recipient
from job_scheduler.observability import logger
from job_scheduler.rastar import accounts
from job_scheduler.rastar.client import RastarClient
from job_scheduler.rastar.crypto import SecretBox
from job_scheduler.rastar.protocol import Food, Reservation, pick_link
from job_scheduler.schedule.zoned import load_zone

RASTAR_ZONE = "Asia/Tehran"  # Rastar's days are Tehran days
HISTORY_DAYS = 60
PAGE = 500  # recipients whose accounts are read in one query

_ENV = SandboxedEnvironment(autoescape=True, undefined=StrictUndefined, trim_blocks=True)
REMINDER = {
    "fa": _ENV.from_string(
        "<b>{{ name }}، غذای فردا ({{ day }}) را هنوز انتخاب نکرده‌ای.</b>\n"
        "منوی فردا:\n"
        "{% for food in menu %}• {{ food.name }}\n{% endfor %}"
        "{% if suggestion %}پیشنهاد ما: <b>{{ suggestion.name }}</b>\n{% endif %}"
        '<a href="{{ link }}">انتخاب غذای فردا</a>'
    ),
    "en": _ENV.from_string(
        "<b>{{ name }}, you have not picked tomorrow's food ({{ day }}) yet.</b>\n"
        "Tomorrow's menu:\n"
        "{% for food in menu %}• {{ food.name }}\n{% endfor %}"
        "{% if suggestion %}Our suggestion: <b>{{ suggestion.name }}</b>\n{% endif %}"
        '<a href="{{ link }}">Pick tomorrow\'s food</a>'
    ),
}
RELINK = {
    "fa": "اتصال حساب رستار شما دیگر پذیرفته نمی‌شود. برای دریافت یادآوری غذا، حساب را دوباره"
    " وصل کنید.",
    "en": "Rastar no longer accepts your linked account. Link it again to keep getting"
    " food reminders.",
}
FRIEND = {"fa": "دوست عزیز", "en": "Hi"}


@dataclass
class _Tally:
    reminded: int = 0
    picked: int = 0
    unlinked: int = 0
    refused: int = 0
    relink_notices: int = 0
    unchecked: int = 0
    suggested: int = 0

    def summary(self, day: date) -> str:
        return (
            f"{day.isoformat()}: {self.reminded} reminded ({self.suggested} with a suggestion),"
            f" {self.picked} had picked, {self.unlinked} not linked, {self.refused} refused"
            f" ({self.relink_notices} told to link again), {self.unchecked} could not be checked"
        )


@dataclass(frozen=True)
class _Check:
    recipient: Recipient
    past: tuple[Reservation, ...] = ()
    picked: bool = False
    refused: str | None = None
    unavailable: bool = False
    suggestion: Food | None = None
    sealed: str = ""


@dataclass
class _Linked:
    recipient: Recipient
    token: str
    sealed: str  # as stored: a refusal is recorded against this token, not a newer one


@dataclass
class _Run:
    """One run's clients and what it found so far."""

    context: JobContext
    day: date
    box: SecretBox
    rastar: RastarClient
    suggester: Suggester
    tally: _Tally = field(default_factory=_Tally)
    menu: tuple[Food, ...] | None = None


class Reminding:
    """The run's steps; ``messages`` is what the job yields."""

    def __init__(self, context: JobContext | None) -> None:
        self.context = context

    def messages(self, run: JobRun, recipients: Iterable[Recipient]) -> Iterator[OutgoingMessage]:
        if self.context is None:
            raise JobSchedulerError("the food reminder needs a JobContext (settings, database)")
        settings = self.context.settings
        state = _Run(
            self.context,
            tomorrow(run),
            SecretBox.from_settings(settings),
            RastarClient.from_settings(settings),
            Suggester.from_settings(settings),
        )
        try:
            yield from self._messages(state, iter(recipients))
        finally:
            state.rastar.close()
            state.suggester.close()
        if state.menu:
            run.note(state.tally.summary(state.day))
        elif state.menu is None:
            run.note(
                f"{state.day.isoformat()}: no linked account could read tomorrow's menu;"
                f" nothing to remind ({state.tally.summary(state.day)})"
            )
        else:
            run.note(f"{state.day.isoformat()}: no food is served tomorrow; nothing to remind")
        logger.info("food reminder", extra={"tally": state.tally.__dict__})

    def _messages(self, state: _Run, recipients: Iterator[Recipient]) -> Iterator[OutgoingMessage]:
        workers = state.context.settings.rastar_concurrency
        while page := list(islice(recipients, PAGE)):
            linked, notices = self._sort_page(state, page)
            if state.menu is None:
                linked, refused = self._read_menu(state, linked)
                notices += refused
            if state.menu is not None and not state.menu:
                return  # no food tomorrow: nothing at all is sent
            yield from self._hand_over(state, notices)
            for check in map_bounded(lambda one: self._check(state, one), linked, workers):
                yield from self._outcome(state, check)

    def _sort_page(
        self, state: _Run, page: list[Recipient]
    ) -> tuple[list[_Linked], list[OutgoingMessage]]:
        """Linked users to check, and re-link notices owed to refused ones."""
        found = accounts.accounts_of(state.context.conn, [r.user_id for r in page])
        linked: list[_Linked] = []
        owed: list[Recipient] = []
        for recipient in page:
            account = found.get(recipient.user_id)
            if account is None:
                state.tally.unlinked += 1
            elif account.refused:
                state.tally.refused += 1
                if not account.relink_notified:
                    owed.append(recipient)
            else:
                try:
                    token = state.box.decrypt(account.sealed_token)
                except CredentialUnreadable:
                    state.tally.unchecked += 1
                else:
                    linked.append(_Linked(recipient, token, account.sealed_token))
        return linked, [self._relink_notice(recipient) for recipient in owed]

    def _read_menu(
        self, state: _Run, linked: list[_Linked]
    ) -> tuple[list[_Linked], list[OutgoingMessage]]:
        """Read tomorrow's menu with the first token Rastar accepts. Returns the users still
        to check and the re-link notices of those whose tokens it refused on the way."""
        notices: list[OutgoingMessage] = []
        for position, candidate in enumerate(linked):
            try:
                state.menu = state.rastar.menu(candidate.token, state.day)
            except CredentialsRefused as exc:
                state.tally.refused += 1
                accounts.mark_refused(state.context.conn, candidate.recipient.user_id, str(exc),
                                      candidate.sealed)  # fmt: skip
                notices.append(self._relink_notice(candidate.recipient))
                continue
            return linked[position:], notices
        return [], notices

    def _check(self, state: _Run, one: _Linked) -> _Check:
        """On a worker thread: the user's picks, and a suggestion if they need a reminder."""
        first = state.day - timedelta(days=HISTORY_DAYS)
        try:
            picks = state.rastar.reservations(one.token, first, state.day)
        except CredentialsRefused as exc:
            return _Check(one.recipient, refused=str(exc), sealed=one.sealed)
        except RastarUnavailable:
            return _Check(one.recipient, unavailable=True)
        if any(pick.date == state.day for pick in picks):
            return _Check(one.recipient, picked=True)
        past = tuple(sorted((p for p in picks if p.date < state.day), key=lambda p: p.date))
        return _Check(one.recipient, past, suggestion=state.suggester.suggest(state.menu, past))

    def _outcome(self, state: _Run, check: _Check) -> Iterator[OutgoingMessage]:
        if check.picked:
            state.tally.picked += 1
        elif check.unavailable:
            state.tally.unchecked += 1
        elif check.refused is not None:
            state.tally.refused += 1
            user_id = check.recipient.user_id
            accounts.mark_refused(state.context.conn, user_id, check.refused, check.sealed)
            yield from self._hand_over(state, [self._relink_notice(check.recipient)])
        else:
            state.tally.reminded += 1
            state.tally.suggested += check.suggestion is not None
            yield reminder(state, check.recipient, check.suggestion)

    def _hand_over(self, state: _Run, notices: list[OutgoingMessage]) -> Iterator[OutgoingMessage]:
        """Yield re-link notices, recording each as given as it is handed over."""
        for notice in notices:
            accounts.mark_relink_notified(state.context.conn, [notice.user_id])
            state.tally.relink_notices += 1
            yield notice

    @staticmethod
    def _relink_notice(recipient: Recipient) -> OutgoingMessage:
        text = RELINK[language(recipient)]
        return OutgoingMessage(recipient.user_id, recipient.chat_id, text, parse_mode=None)


def tomorrow(run: JobRun) -> date:
    """The day after the firing's date in Tehran."""
    return run.scheduled_for.astimezone(load_zone(RASTAR_ZONE)).date() + timedelta(days=1)


def language(recipient: Recipient) -> str:
    return "en" if (recipient.language_code or "").lower().startswith("en") else "fa"


def reminder(state: _Run, recipient: Recipient, suggestion: Food | None) -> OutgoingMessage:
    settings = state.context.settings
    lang = language(recipient)
    base = settings.rastar_pick_url or settings.rastar_api_url or ""
    text = REMINDER[lang].render(
        name=recipient.first_name or FRIEND[lang],
        day=state.day.isoformat(),
        menu=state.menu,
        suggestion=suggestion,
        link=pick_link(base, state.day),
    )
    check_message_text(text, "HTML")
    return OutgoingMessage(recipient.user_id, recipient.chat_id, text, parse_mode="HTML")
