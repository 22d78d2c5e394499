"""How much a job would send, checked before it is saved: schedule × audience against the
bot's rate.

Telegram lets a bot send about 30 messages a second, shared by every job. A job that fires
every minute for 100,000 people needs 56 minutes of sending per firing: its firings pile up
and every other job's messages wait behind them. So creating or enabling a job, or changing
its schedule or audience, is refused with the numbers when it would send more a day than
``JOB_SEND_BUDGET_HOURS`` of the bot's sending, or when one firing takes longer to send
than the gap to the next, unless the request confirms it (``confirm_audience``).

A paid broadcast (``message_config.paid_broadcast``) is measured against the paid rate
(``TELEGRAM_PAID_RATE_PER_SECOND``, 1000 a second): what it may send unconfirmed is what that
many hours of sending at that rate would be. Its cost in Stars is the admin's to weigh.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta

from job_scheduler.adapters.db import Conn
from job_scheduler.errors import InvalidJob
from job_scheduler.execution.targeting import Targeting, count_recipients
from job_scheduler.schedule.zoned import Schedule

SAMPLE_DAYS = 7
MOST_FIRINGS = SAMPLE_DAYS * 24 * 60  # every minute for a week
CONFIRM_FIELD = "confirm_audience"


@dataclass(frozen=True)
class Volume:
    """What one job would send, over a sample week of its schedule."""

    audience: int
    firings_per_day: float
    shortest_gap: timedelta | None  # between two firings; None if it fires at most once
    per_second: int

    @property
    def per_day(self) -> int:
        return round(self.audience * self.firings_per_day)

    @property
    def seconds_per_firing(self) -> float:
        return self.audience / self.per_second

    def piles_up(self) -> bool:
        gap = self.shortest_gap
        return gap is not None and self.seconds_per_firing > gap.total_seconds()


@dataclass(frozen=True)
class VolumeGuard:
    """The bot's rate and how much of it one job may take unconfirmed."""

    per_second: int  # TELEGRAM_RATE_PER_SECOND
    budget_hours: int  # JOB_SEND_BUDGET_HOURS
    paid_per_second: int = 1000  # TELEGRAM_PAID_RATE_PER_SECOND, for paid broadcasts

    def rate(self, paid: bool) -> int:
        """The messages a second a job is sent at: the paid rate for a paid broadcast."""
        return max(self.per_second, self.paid_per_second) if paid else self.per_second

    def budget_per_day(self, paid: bool = False) -> int:
        return self.rate(paid) * 3600 * self.budget_hours

    def check(
        self,
        conn: Conn,
        schedule: Schedule,
        targeting: Targeting,
        confirmed: bool,
        now: datetime,
        paid: bool = False,
    ) -> bool:
        """Whether the job needed confirming; InvalidJob (field ``confirm_audience``) with
        the numbers if it is over the budget or piles up and the caller did not confirm.
        ``paid``: the job is a paid broadcast, sent at the paid rate."""
        volume = volume_of(conn, schedule, targeting, self.rate(paid), now)
        over = volume.per_day > self.budget_per_day(paid)
        needed = over or volume.piles_up()
        if needed and not confirmed:
            raise InvalidJob(self._explain(volume, over, paid), CONFIRM_FIELD)
        return needed

    def _explain(self, volume: Volume, over: bool, paid: bool) -> str:
        hours = volume.per_day / volume.per_second / 3600
        kind = " (a paid broadcast)" if paid else ""
        said = (
            f"This job would send about {volume.per_day:,} messages a day"
            f" ({volume.audience:,} people × {volume.firings_per_day:,.1f} firings),"
            f" {hours:,.1f} hours of the bot's sending at {volume.per_second:,} a second{kind}"
        )
        if volume.piles_up() and volume.shortest_gap is not None:
            said += (
                f"; one firing takes {_duration(volume.seconds_per_firing)} to send but the"
                f" next comes {_duration(volume.shortest_gap.total_seconds())} later, so its"
                " messages pile up and other jobs' wait behind them"
            )
        limit = (
            f" Unconfirmed, a job may send {self.budget_per_day(paid):,} a day"
            f" ({self.budget_hours} hours of sending)"
            if over
            else ""
        )
        return (
            f"{said}.{limit}. Narrow who it reaches or fire it less often, or confirm it"
            f" ({CONFIRM_FIELD}: true; jobsctl --confirm-audience)."
        )


def volume_of(
    conn: Conn,
    schedule: Schedule,
    targeting: Targeting,
    per_second: int,
    now: datetime,
) -> Volume:
    firings = []
    horizon = now + timedelta(days=SAMPLE_DAYS)
    for moment in schedule.iter_after(now):
        if moment > horizon or len(firings) >= MOST_FIRINGS:
            break
        firings.append(moment)
    gaps = [later - earlier for earlier, later in itertools.pairwise(firings)]
    return Volume(
        audience=count_recipients(conn, targeting),
        firings_per_day=len(firings) / SAMPLE_DAYS,
        shortest_gap=min(gaps) if gaps else None,
        per_second=per_second,
    )


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
