"""The in-process limiter's paid broadcasts: a paid send may go while the overall window holds
fewer than the paid limit, a free one fewer than the free limit; every send counts in the
one window, and the per-chat window and the penalty hold for both. (The same through Redis:
tests/integration/test_ratelimit.py.)"""

from __future__ import annotations

import time

import pytest

from job_scheduler.delivery.ratelimit import TELEGRAM_PAID_PER_SECOND, LocalRateLimiter

EPSILON = 0.05


def now_or_never(limiter: LocalRateLimiter, chat: int, paid: bool = False) -> bool:
    """Whether a send to ``chat`` is granted without waiting (held, not settled)."""
    return limiter.acquire(chat, deadline=time.monotonic(), paid=paid) is not None


def test_paid_sends_fill_the_window_to_the_paid_limit_and_free_ones_to_the_free():
    limiter = LocalRateLimiter(per_second=3, per_chat_per_second=1, paid_per_second=10)

    free = [now_or_never(limiter, chat) for chat in range(1, 5)]
    paid = [now_or_never(limiter, chat, paid=True) for chat in range(11, 19)]

    assert free == [True, True, True, False]  # three free a second
    assert paid == [True] * 7 + [False]  # three free + seven paid: ten in the window
    assert not now_or_never(limiter, 30)  # a free send waits while the window is full


def test_the_per_chat_window_and_the_penalty_hold_for_paid_sends_too():
    limiter = LocalRateLimiter(per_second=3, per_chat_per_second=1, paid_per_second=10)
    assert now_or_never(limiter, 1)
    assert not now_or_never(limiter, 1, paid=True)  # one a second to a chat, paid or not

    limiter.penalise(0.3)
    assert not now_or_never(limiter, 2, paid=True)
    assert limiter.acquire(2, paid=True) is not None  # after the 429's retry_after


def test_a_paid_limit_below_the_free_one_counts_as_the_free_one():
    limiter = LocalRateLimiter(per_second=5, per_chat_per_second=1, paid_per_second=2)
    assert [now_or_never(limiter, chat, paid=True) for chat in range(6)] == [True] * 5 + [False]


def test_the_paid_limit_defaults_to_telegrams_thousand():
    assert TELEGRAM_PAID_PER_SECOND == 1000
    limiter = LocalRateLimiter()
    assert sum(now_or_never(limiter, chat, paid=True) for chat in range(1001)) == 1000


def grants_for(limiter: LocalRateLimiter, seconds: float, paid: bool) -> list[float]:
    """Send to a new chat each time for ``seconds`` (each send over at once); grant times."""
    times: list[float] = []
    chat, stop = 0, time.monotonic() + seconds
    while time.monotonic() < stop:
        chat += 1
        grant = limiter.acquire(chat, deadline=stop, paid=paid)
        if grant is None:
            break
        times.append(time.monotonic())
        limiter.settle([grant])
    return times


def most_in_a_window(times: list[float], width: float) -> int:
    most, start = 0, 0
    for end, moment in enumerate(times):
        while times[start] <= moment - width:
            start += 1
        most = max(most, end - start + 1)
    return most


@pytest.mark.parametrize(("paid", "limit"), [(True, 40), (False, 4)], ids=["paid", "free"])
def test_sends_go_at_their_own_limit_a_second_and_no_faster(paid, limit):
    limiter = LocalRateLimiter(per_second=4, per_chat_per_second=1, paid_per_second=40)

    times = grants_for(limiter, 1.5, paid)

    assert most_in_a_window(times, 1.0 - EPSILON) <= limit
    assert len(times) == 2 * limit  # a full window at once, the next a second later
