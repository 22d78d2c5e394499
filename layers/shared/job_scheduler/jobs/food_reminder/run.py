"""One run of a food reminder (``job.py`` declares the jobs): people who have not picked
their food for the coming days in Rastar get one message listing those days' dishes, with
a suggestion and a button per dish to pick it there.

Per run: the days are the ``days_ahead`` days after the firing's date in Asia/Tehran; a day
without a menu does not count. The job's targeting gives the people; those without a
linked Rastar account are skipped. The menu of those days is read once (with the first
linked session Rastar accepts); no food on any of them (a Friday, holidays) means the run
sends nothing and says so in the execution's note. Each linked person's session is made live
(``rastar/sessions.py``: refreshed when it is about to expire) and their picks of the last
``HISTORY_DAYS`` days and the coming days read, in two stages of ``RASTAR_CONCURRENCY``
threads each (``_messages``):

- fewer than ``min_unselected_days`` unpicked days: nothing to remind;
- otherwise the reminder, with a suggestion (``suggestions.py``) for the first unpicked day;
- the session refused (its refresh token spent or revoked): the account is marked to be
  linked again and the person told once (refused accounts are not checked again until
  they link anew);
- Rastar unavailable for that person after retries: skipped and counted, not guessed.

A re-link notice is recorded as given when the job hands it to the fan-out (which writes
and queues it): a crash between the two loses that one notice rather than repeating it
every night. When no day has food, notices wait for the next run that sends.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from itertools import islice

from job_scheduler.adapters.db import ConnectionPool
from job_scheduler.errors import (
    CredentialsRefused,
    CredentialUnreadable,
    RastarUnavailable,
    RegistryError,
)
from job_scheduler.jobs.bounded import map_bounded
from job_scheduler.jobs.food_reminder import texts
from job_scheduler.jobs.food_reminder.suggestions import Suggester
from job_scheduler.messages.telegram_html import check_message_text
from job_scheduler.model import JobContext, JobRun, OutgoingMessage, Recipient
from job_scheduler.observability import logger
from job_scheduler.rastar import accounts
from job_scheduler.rastar.client import RastarClient
from job_scheduler.rastar.crypto import SecretBox
from job_scheduler.rastar.picking import OfferedDay, make_offer
from job_scheduler.rastar.protocol import Food, Offering, Selection, Session
from job_scheduler.rastar.sessions import Sessions
from job_scheduler.schedule.zoned import load_zone

RASTAR_ZONE = "Asia/Tehran"  # Rastar's days are Tehran days
HISTORY_DAYS = 60
PAGE = 500  # recipients whose accounts are read in one query


@dataclass
class _Tally:
    reminded: int = 0
    picked: int = 0
    unlinked: int = 0
    refused: int = 0
    relink_notices: int = 0
    unchecked: int = 0
    suggested: int = 0

    def summary(self, days: list[date]) -> str:
        span = days[0].isoformat() if len(days) == 1 else f"{days[0]}..{days[-1]}"
        return (
            f"{span}: {self.reminded} reminded ({self.suggested} with a suggestion),"
            f" {self.picked} had picked, {self.unlinked} not linked, {self.refused} refused"
            f" ({self.relink_notices} told to link again), {self.unchecked} could not be checked"
        )


@dataclass(frozen=True)
class _Linked:
    recipient: Recipient
    sealed: str  # the session as read: a refusal is recorded against this one, not a newer
    session: Session | None = None  # once made live (refreshed if it was about to expire)


@dataclass(frozen=True)
class _Notice:
    recipient: Recipient


@dataclass(frozen=True)
class _Check:
    recipient: Recipient
    unpicked: tuple[date, ...] = ()
    refused: str | None = None
    unavailable: bool = False
    suggestion: Food | None = None
    sealed: str = ""


@dataclass
class _Run:
    """One run's clients and what it found so far."""

    context: JobContext
    days: list[date]
    min_unpicked: int
    box: SecretBox
    client: RastarClient
    sessions: Sessions
    suggester: Suggester
    tally: _Tally = field(default_factory=_Tally)
    menu: dict[date, tuple[Offering, ...]] | None = None  # None: not read yet

    @property
    def food_days(self) -> list[date]:
        return [day for day in self.days if (self.menu or {}).get(day)]


class Reminding:
    """The run's steps; ``messages`` is what the job yields."""

    def __init__(self, context: JobContext | None, days_ahead: int = 1, min_unpicked: int = 1):
        self.context, self.days_ahead, self.min_unpicked = context, days_ahead, min_unpicked

    def messages(self, run: JobRun, recipients: Iterable[Recipient]) -> Iterator[OutgoingMessage]:
        if self.context is None:
            raise RegistryError("the food reminder needs a JobContext (settings, database)")
        state = self._start(run)
        try:
            yield from self._messages(state, iter(recipients))
        finally:
            state.client.close()
            state.suggester.close()
            state.sessions.close()
        run.note(_note(state))
        logger.info("food reminder", extra={"tally": state.tally.__dict__})

    def _start(self, run: JobRun) -> _Run:
        assert self.context is not None
        settings = self.context.settings
        box = SecretBox.from_settings(settings)
        client = RastarClient.from_settings(settings)
        first = tomorrow(run)
        days = [first + timedelta(days=offset) for offset in range(self.days_ahead)]
        # The threads' refreshes share RASTAR_CONCURRENCY connections, closed with the run
        # (docs/connections.md): not one per thread, kept after it.
        pool = ConnectionPool(settings.database_url, settings.rastar_concurrency)
        sessions = Sessions(settings.database_url, box, client, pool=pool)
        return _Run(self.context, days, self.min_unpicked, box, client, sessions,
                    Suggester.from_settings(settings))  # fmt: skip

    def _messages(self, state: _Run, recipients: Iterator[Recipient]) -> Iterator[OutgoingMessage]:
        """Two stages, each on ``RASTAR_CONCURRENCY`` threads: sessions made live (a refresh,
        at GoTrue, for nearly everyone: access tokens last an hour and the last run was a day
        ago), then picks read (at PostgREST). Each of Rastar's two services sees at most that
        many calls at once, and a night of expired tokens takes about as long as a night of
        fresh ones rather than twice as long (``bench/food_reminder.py``)."""
        workers = state.context.settings.rastar_concurrency
        work = self._work(state, recipients)
        live = map_bounded(lambda item: self._live(state, item), work, workers, "rastar-auth")
        for done in map_bounded(lambda item: self._check(state, item), live, workers, "rastar"):
            yield from self._outcome(state, done)

    def _work(self, state: _Run, recipients: Iterator[Recipient]) -> Iterator[_Linked | _Notice]:
        """Linked people to check and re-link notices owed, a page of accounts at a time;
        the menu is read (on this thread) before the first check."""
        while page := list(islice(recipients, PAGE)):
            linked, owed = self._sort_page(state, page)
            if state.menu is None:
                linked, refused = self._read_menu(state, linked)
                owed += refused
            if state.menu is not None and not state.food_days:
                return  # no food on any of the days: nothing at all is sent
            yield from owed
            yield from linked

    def _sort_page(self, state: _Run, page: list[Recipient]) -> tuple[list[_Linked], list[_Notice]]:
        found = accounts.accounts_of(state.context.conn, [r.user_id for r in page])
        linked: list[_Linked] = []
        owed: list[_Notice] = []
        for recipient in page:
            account = found.get(recipient.user_id)
            if account is None:
                state.tally.unlinked += 1
            elif account.refused or account.sealed_session is None:
                state.tally.refused += 1
                if not account.relink_notified:
                    owed.append(_Notice(recipient))
            else:
                linked.append(_Linked(recipient, account.sealed_session))
        return linked, owed

    def _read_menu(self, state: _Run, linked: list[_Linked]) -> tuple[list[_Linked], list[_Notice]]:
        """The coming days' menu, read with the first session Rastar accepts. Returns the
        people still to check and the notices owed to those whose sessions it refused."""
        owed: list[_Notice] = []
        first, last = state.days[0], state.days[-1]
        for position, candidate in enumerate(linked):
            user_id = candidate.recipient.user_id
            try:
                offered = state.sessions.call(user_id, candidate.sealed,
                    lambda s: state.client.menu(s.access_token, first, last))  # fmt: skip
            except CredentialsRefused as exc:
                state.tally.refused += 1
                accounts.mark_refused(state.context.conn, user_id, str(exc), candidate.sealed)
                owed.append(_Notice(candidate.recipient))
                continue
            except CredentialUnreadable:
                state.tally.unchecked += 1  # a key dropped too soon: see docs/food-reminder.md
                continue
            menu: dict[date, list[Offering]] = {day: [] for day in state.days}
            for offering in offered:
                menu.setdefault(offering.date, []).append(offering)
            state.menu = {day: tuple(items) for day, items in menu.items()}
            return linked[position:], owed
        return [], owed

    def _live(self, state: _Run, item: _Linked | _Notice) -> _Linked | _Check | _Notice:
        """On a worker thread: the person's session, refreshed if it is about to expire."""
        if isinstance(item, _Notice):
            return item
        try:
            session = state.sessions.live(item.recipient.user_id, item.sealed)
        except CredentialsRefused as exc:
            return _Check(item.recipient, refused=str(exc), sealed=item.sealed)
        except (RastarUnavailable, CredentialUnreadable):
            return _Check(item.recipient, unavailable=True)
        return replace(item, session=session)

    def _check(self, state: _Run, item: _Linked | _Check | _Notice) -> _Check | _Notice:
        """On a worker thread: the person's picks, and a suggestion if they need a reminder."""
        if not isinstance(item, _Linked):
            return item
        first = state.days[0] - timedelta(days=HISTORY_DAYS)
        try:
            picks = state.sessions.call(item.recipient.user_id, item.session or item.sealed,
                lambda s: state.client.selections(s.access_token, s.user_id, first,
                                                  state.days[-1]))  # fmt: skip
        except CredentialsRefused as exc:
            return _Check(item.recipient, refused=str(exc), sealed=item.sealed)
        except RastarUnavailable:
            return _Check(item.recipient, unavailable=True)
        picked = {pick.date for pick in picks}
        unpicked = tuple(day for day in state.food_days if day not in picked)
        if len(unpicked) < state.min_unpicked:
            return _Check(item.recipient)
        foods = [offering.food for offering in (state.menu or {})[unpicked[0]]]
        past = _past(picks, state.days[0])
        return _Check(item.recipient, unpicked, suggestion=state.suggester.suggest(foods, past))

    def _outcome(self, state: _Run, done: _Check | _Notice) -> Iterator[OutgoingMessage]:
        if isinstance(done, _Notice):
            yield from self._hand_over(state, done.recipient)
        elif done.unavailable:
            state.tally.unchecked += 1
        elif done.refused is not None:
            state.tally.refused += 1
            user_id = done.recipient.user_id
            accounts.mark_refused(state.context.conn, user_id, done.refused, done.sealed)
            yield from self._hand_over(state, done.recipient)
        elif not done.unpicked:
            state.tally.picked += 1
        else:
            state.tally.reminded += 1
            state.tally.suggested += done.suggestion is not None
            yield reminder(state, done.recipient, done.unpicked, done.suggestion)

    def _hand_over(self, state: _Run, recipient: Recipient) -> Iterator[OutgoingMessage]:
        """A re-link notice, recorded as given as it is handed over."""
        accounts.mark_relink_notified(state.context.conn, [recipient.user_id])
        state.tally.relink_notices += 1
        text = texts.RELINK[texts.language(recipient)]
        yield OutgoingMessage(recipient.user_id, recipient.chat_id, text, parse_mode=None)


def tomorrow(run: JobRun) -> date:
    """The day after the firing's date in Tehran: the first day a reminder is about."""
    return run.scheduled_for.astimezone(load_zone(RASTAR_ZONE)).date() + timedelta(days=1)


def reminder(
    state: _Run, recipient: Recipient, unpicked: tuple[date, ...], suggestion: Food | None
) -> OutgoingMessage:
    menu = state.menu or {}
    days = [OfferedDay(day, menu[day]) for day in unpicked]
    offer = make_offer(state.context.conn, recipient.user_id, days)
    lang = texts.language(recipient)
    text = texts.reminder_text(recipient, days, suggestion, lang)
    check_message_text(text, "HTML")
    markup = texts.keyboard(offer, 0, lang, state.context.settings.rastar_pick_url)
    return OutgoingMessage(recipient.user_id, recipient.chat_id, text, "HTML", False, markup)


def _past(picks: tuple[Selection, ...], before: date) -> tuple[Selection, ...]:
    return tuple(sorted((p for p in picks if p.date < before), key=lambda p: p.date))


def _note(state: _Run) -> str:
    if state.menu is None:
        return (
            f"{state.days[0].isoformat()}: no linked account could read the menu; nothing to"
            f" remind ({state.tally.summary(state.days)})"
        )
    if not state.food_days:
        when = "tomorrow" if len(state.days) == 1 else f"on the coming {len(state.days)} days"
        return f"{state.days[0].isoformat()}: no food is served {when}; nothing to remind"
    return state.tally.summary(state.food_days)
