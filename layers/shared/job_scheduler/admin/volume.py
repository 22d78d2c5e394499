"""How much a job would send, checked before it is saved: schedule × audience against the
bot's rate.

Telegram lets a bot send about 30 messages a second, shared by every job. A job that fires
every minute for 100,000 people needs 56 minutes of sending per firing: its firings pile up
and every other job's messages wait behind them. So creating or enabling a job, or changing
its schedule or audience, is refused with the numbers when it would send more a day than
``JOB_SEND_BUDGET_HOURS`` of the bot's sending, or when one firing takes longer to send
than the gap to the next, unless the request confirms it (``confirm_audience``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg

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

    @property
    def budget_per_day(self) -> int:
        return self.per_second * 3600 * self.budget_hours

    def check(
        self,
        conn: psycopg.Connection,
        schedule: Schedule,
        targeting: Targeting,
        confirmed: bool,
        now: datetime,
    ) -> bool:
        """Whether the job needed confirming; InvalidJob (field ``confirm_audience``) with
        the numbers if it is over the budget or piles up and the caller did not confirm."""
        volume = volume_of(conn, schedule, targeting, self.per_second, now)
        over = volume.per_day > self.budget_per_day
        needed = over or volume.piles_up()
        if needed and not confirmed:
            raise InvalidJob(self._explain(volume, over), CONFIRM_FIELD)
        return needed

    def _explain(self, volume: Volume, over: bool) -> str:
        hours = volume.per_day / self.per_second / 3600
        said = (
            f"This job would send about {volume.per_day:,} messages a day"
            f" ({volume.audience:,} people × {volume.firings_per_day:,.1f} firings),"
            f" {hours:,.1f} hours of the bot's sending at {self.per_second} a second"
        )
        if volume.piles_up() and volume.shortest_gap is not None:
            said += (
                f"; one firing takes {_duration(volume.seconds_per_firing)} to send but the"
                f" next comes {_duration(volume.shortest_gap.total_seconds())} later, so its"
                " messages pile up and other jobs' wait behind them"
            )
        limit = (
            f" Unconfirmed, a job may send {self.budget_per_day:,} a day"
            f" ({self.budget_hours} hours of sending)"
            if over
            else ""
        )
        return (
            f"{said}.{limit}. Narrow who it reaches or fire it less often, or confirm it"
            f" ({CONFIRM_FIELD}: true; jobsctl --confirm-audience)."
        )


def volume_of(
    conn: psycopg.Connection,
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
