"""Telegram's send limits, local and shared through the real Redis.

A send counts from when it is settled (its answer came back), and Telegram counts it at
some unknown moment between grant and settle. The property that makes any such moments
keep the limits: when a send is granted, fewer than ``limit`` earlier sends are still in
flight or settled less than a window ago. Grant times are taken when ``acquire`` returns (a
little late) and settle times just before ``settle`` (a little early), so the window is
shortened by EPSILON to absorb that lag.
"""

from __future__ import annotations

import io
import json
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator

import pytest
import redis

from job_scheduler.adapters.redis_client import new_redis_client
from job_scheduler.delivery.ratelimit import (
    LocalRateLimiter,
    RateLimiter,
    RedisRateLimiter,
    rate_limiter,
)
from job_scheduler.observability import metrics

EPSILON = 0.05
HOT_CHATS = [101, 102, 103, 104, 105]
DEAD = "redis://:s3cret-rl-pass@127.0.0.1:1/0"  # nothing listens on port 1
FALLBACK_MESSAGE = (
    "Redis failed under the shared Telegram rate limiter; this process limits itself"
    " locally from now on"
)


def warnings_in(stream: io.StringIO) -> list[dict]:
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    return [line for line in lines if line["level"] == "WARNING"]


@pytest.fixture
def redis_url(redis_client: redis.Redis) -> str:
    """The test Redis as a URL, so each limiter can get a client (a pool) of its own."""
    kwargs = redis_client.connection_pool.connection_kwargs
    auth = f":{kwargs['password']}@" if kwargs.get("password") else ""
    return f"redis://{auth}{kwargs['host']}:{kwargs['port']}/{kwargs.get('db', 0)}"


@pytest.fixture
def prefix(redis_client: redis.Redis) -> Iterator[str]:
    name = f"test-rl-{uuid.uuid4().hex[:8]}"
    yield name
    for key in redis_client.scan_iter(match=f"{{{name}}}:*"):
        redis_client.delete(key)


def local_limiters(redis_url: str, prefix: str, count: int, **limits: int) -> list[RateLimiter]:
    return [LocalRateLimiter(**limits)]  # one process: one limiter, shared by its threads


def redis_limiters(redis_url: str, prefix: str, count: int, **limits: int) -> list[RateLimiter]:
    """``count`` limiters with their own clients, as separate Lambdas would have."""
    return [
        RedisRateLimiter(new_redis_client(redis_url), prefix=prefix, **limits) for _ in range(count)
    ]


MAKERS = [pytest.param(local_limiters, id="local"), pytest.param(redis_limiters, id="redis")]
Maker = Callable[..., list[RateLimiter]]


def run_threads(work: list[Callable[[], None]], timeout: float = 20) -> None:
    threads = [threading.Thread(target=job) for job in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    assert not any(thread.is_alive() for thread in threads), "an acquire hung"


def most_in_a_window(times: list[float], width: float) -> int:
    """The largest number of the times that fit in one half-open window of ``width``."""
    times = sorted(times)
    most, start = 0, 0
    for end, moment in enumerate(times):
        while times[start] <= moment - width:
            start += 1
        most = max(most, end - start + 1)
    return most


def workload() -> list[int]:
    """90 sends: three rounds to five hot chats first (the per-chat limit binds), then 75
    single sends to other chats (the overall limit binds: 90 > 2 x 30)."""
    return HOT_CHATS * 3 + list(range(1000, 1075))


Send = tuple[float, float, int]  # granted at, settled at, chat


def most_at_a_grant(sends: list[Send], width: float) -> int:
    """The largest number of sends that can reach Telegram in one window: at each grant,
    that send plus the earlier ones in flight or settled less than ``width`` before it."""
    return max(
        1 + sum(1 for g, s, _ in sends if g < granted and s > granted - width)
        for granted, _, _ in sends
    )


def send_through(limiter: RateLimiter, chats: list[int], sends: list[Send], busy: float) -> None:
    """Send to each chat in turn, each send taking ``busy`` seconds, as a notifier thread does."""
    for chat in chats:
        grant = limiter.acquire(chat)
        assert grant is not None
        granted = time.monotonic()
        time.sleep(busy)
        sends.append((granted, time.monotonic(), chat))
        limiter.settle([grant])


@pytest.mark.parametrize("make", MAKERS)
def test_sends_never_pass_telegrams_limits(make: Maker, redis_url, prefix):
    limiters = make(redis_url, prefix, 2, per_second=30, per_chat_per_second=1)
    workers = [limiter for limiter in limiters for _ in range(3)]  # three threads each
    chats = workload()
    sends: list[Send] = []
    run_threads(
        [
            lambda n=n, lim=lim: send_through(lim, chats[n :: len(workers)], sends, 0.01 * (n % 3))
            for n, lim in enumerate(workers)
        ]
    )
    assert sorted(chat for _, _, chat in sends) == sorted(chats)
    width = 1.0 - EPSILON
    assert most_at_a_grant(sends, width) <= 30
    by_chat: dict[int, list[Send]] = defaultdict(list)
    for send in sends:
        by_chat[send[2]].append(send)
    assert max(most_at_a_grant(each, width) for each in by_chat.values()) == 1


def test_the_window_check_catches_an_excess():
    """The property above is able to fail: 31 sends inside one second are caught, and so is
    a send granted while an earlier one is still in flight."""
    assert most_at_a_grant([(i / 40, i / 40, i) for i in range(31)], 1.0 - EPSILON) == 31
    assert most_at_a_grant([(0.0, 0.0, 1), (1.0, 1.0, 1), (2.0, 2.0, 1)], 1.0 - EPSILON) == 1
    assert most_at_a_grant([(0.0, 5.0, 1), (3.0, 3.1, 1)], 1.0 - EPSILON) == 2


@pytest.mark.parametrize("make", MAKERS)
def test_a_send_holds_its_slot_until_settled_then_a_window(make: Maker, redis_url, prefix):
    (limiter,) = make(redis_url, prefix, 1, per_second=1, per_chat_per_second=1)
    grant = limiter.acquire(1)
    assert grant is not None
    time.sleep(1.1)  # counted from the grant, the slot would be free by now
    assert limiter.acquire(2, deadline=time.monotonic() + 0.5) is None
    limiter.settle([grant])
    settled = time.monotonic()
    assert limiter.acquire(2) is not None
    assert time.monotonic() - settled >= 1.0 - EPSILON


@pytest.mark.parametrize("make", MAKERS)
def test_a_penalty_makes_every_sender_wait(make: Maker, redis_url, prefix):
    limiters = make(redis_url, prefix, 2, per_second=30, per_chat_per_second=1)
    limiters[0].settle([limiters[0].acquire(1)])
    started = time.monotonic()
    limiters[0].penalise(0.5)
    limiters[0].penalise(0.1)  # a shorter penalty never cuts a longer one short
    waited: list[float] = []

    def send(limiter: RateLimiter, chat: int) -> None:
        limiter.settle([limiter.acquire(chat)])
        waited.append(time.monotonic() - started)

    run_threads([lambda i=i: send(limiters[i % len(limiters)], 10 + i) for i in range(4)])
    assert len(waited) == 4
    assert min(waited) >= 0.49, waited


@pytest.mark.parametrize(
    ("where", "expected", "warning"),
    [
        ("healthy", RedisRateLimiter, None),
        ("none", LocalRateLimiter, "no Redis configured"),
        ("refused", LocalRateLimiter, "Redis did not answer (ConnectionError)"),
    ],
)
def test_the_factory_uses_redis_only_when_it_answers(
    where, expected, warning, redis_url, log_lines
):
    client = {
        "healthy": new_redis_client(redis_url),
        "none": None,
        "refused": new_redis_client(DEAD),
    }[where]
    started = time.monotonic()
    limiter = rate_limiter(client, per_second=30, per_chat_per_second=1)
    assert time.monotonic() - started < 2
    assert type(limiter) is expected
    messages = [line["message"] for line in warnings_in(log_lines)]
    assert messages == (
        [] if warning is None else [f"Telegram rate limit is per process: {warning}"]
    )
    assert "s3cret-rl-pass" not in log_lines.getvalue()


def test_redis_dying_mid_run_falls_back_once(redis_url, prefix, redis_client, log_lines):
    client = new_redis_client(redis_url)
    limiter = RedisRateLimiter(client, per_second=200, per_chat_per_second=1, prefix=prefix)
    metrics.clear_metrics()

    def send(first_chat: int) -> None:
        for chat in range(first_chat, first_chat + 10):
            limiter.settle([limiter.acquire(chat)])

    run_threads([lambda n=n: send(n * 100) for n in range(3)])
    assert redis_client.zcard(f"{{{prefix}}}:global") == 30 and not limiter.degraded
    # Redis goes away: the open connections drop and new ones are refused.
    alive, client.connection_pool = client.connection_pool, new_redis_client(DEAD).connection_pool
    alive.disconnect()
    run_threads([lambda n=n: send(1000 + n * 100) for n in range(3)])
    limiter.penalise(0.01)  # goes to the local limiter, no second warning
    limiter.settle([limiter.acquire(1)])
    assert limiter.degraded
    assert [line["message"] for line in warnings_in(log_lines)] == [FALLBACK_MESSAGE]
    assert metrics.metric_set["RedisRateLimiterUnavailable"]["Value"] == [1.0]
    metrics.clear_metrics()


def test_pruning_survives_chats_that_were_refused_before_any_grant():
    """A chat refused by the global window leaves an empty window; pruning must cope."""
    from job_scheduler.delivery.ratelimit import _PRUNE_EVERY, LocalRateLimiter

    limiter = LocalRateLimiter(per_second=_PRUNE_EVERY - 1, per_chat_per_second=1)
    for chat in range(_PRUNE_EVERY - 1):
        limiter.settle([limiter.acquire(chat)])
    assert limiter.acquire(10_000_000, deadline=0.0) is None  # refused: the window is full
    assert limiter.acquire(10_000_001)  # waits out the window, then prunes with an empty deque


def test_the_limiter_goes_back_to_redis_once_it_answers_again(
    redis_url, prefix, redis_client, monkeypatch
):
    from job_scheduler.delivery import ratelimit

    client = new_redis_client(redis_url)
    limiter = RedisRateLimiter(client, per_second=200, per_chat_per_second=1, prefix=prefix)
    alive, client.connection_pool = client.connection_pool, new_redis_client(DEAD).connection_pool
    limiter.settle([limiter.acquire(1)])
    assert limiter.degraded

    monkeypatch.setattr(ratelimit, "RECHECK_SECONDS", 0.0)
    limiter.settle([limiter.acquire(2)])  # still dead: still local
    assert limiter.degraded
    client.connection_pool = alive  # Redis is back
    limiter.settle([limiter.acquire(3)])

    assert not limiter.degraded
    assert redis_client.zcard(f"{{{prefix}}}:chat:3") == 1  # counted in the shared window


# --- paid broadcasts: the same window, a higher limit for paid sends --------------------------


def paid_and_free_through(limiters: list[RateLimiter], seconds: float) -> dict[bool, list[Send]]:
    """Two threads per limiter send paid broadcasts and one sends free messages, each to chats
    of its own, for ``seconds``; what each kind sent."""
    sends: dict[bool, list[Send]] = {True: [], False: []}
    stop = time.monotonic() + seconds

    def work(limiter: RateLimiter, paid: bool, first_chat: int) -> None:
        chat = first_chat
        while (grant := limiter.acquire(chat, deadline=stop, paid=paid)) is not None:
            granted = time.monotonic()
            sends[paid].append((granted, time.monotonic(), chat))
            limiter.settle([grant])
            chat += 1

    run_threads(
        [
            lambda n=n, lim=lim, paid=paid: work(lim, paid, 100_000 * (n + 1))
            for n, (lim, paid) in enumerate(
                (lim, paid) for lim in limiters for paid in (True, True, False)
            )
        ]
    )
    return sends


@pytest.mark.parametrize("make", MAKERS)
def test_paid_sends_go_at_the_paid_rate_and_free_ones_wait_behind_them(
    make: Maker, redis_url, prefix
):
    limiters = make(redis_url, prefix, 2, per_second=3, per_chat_per_second=1, paid_per_second=60)

    sends = paid_and_free_through(limiters, 1.6)

    everything = sends[True] + sends[False]
    assert most_at_a_grant(everything, 1.0 - EPSILON) <= 60  # one window for both kinds
    assert len(sends[True]) >= 2 * 60 - 3 - len(sends[False])  # two windows' worth, less free
    assert len(sends[True]) <= 2 * 60
    # A free send goes only while the window holds fewer than 3: never once paid ones fill it.
    for granted, _, _ in sends[False]:
        assert sum(1 for g, s, _ in everything if g < granted and s > granted - 1.0) < 3


@pytest.mark.parametrize("make", MAKERS)
def test_free_sends_alone_still_go_at_the_free_rate(make: Maker, redis_url, prefix):
    limiters = make(redis_url, prefix, 2, per_second=5, per_chat_per_second=1, paid_per_second=60)
    stop = time.monotonic() + 1.5
    sends: list[Send] = []

    def work(limiter: RateLimiter, first_chat: int) -> None:
        chat = first_chat
        while (grant := limiter.acquire(chat, deadline=stop)) is not None:
            sends.append((time.monotonic(), time.monotonic(), chat))
            limiter.settle([grant])
            chat += 1

    run_threads([lambda n=n: work(limiters[n % len(limiters)], 1000 * (n + 1)) for n in range(4)])
    assert most_at_a_grant(sends, 1.0 - EPSILON) <= 5
    assert len(sends) == 10  # a window at once, the next a second later


def test_the_shared_limiter_keeps_the_paid_limit_when_it_falls_back(redis_url, prefix):
    client = new_redis_client(redis_url)
    limiter = RedisRateLimiter(client, 3, 1, prefix=prefix, paid_per_second=8)
    client.connection_pool = new_redis_client(DEAD).connection_pool  # Redis goes away
    granted = [
        limiter.acquire(chat, deadline=time.monotonic(), paid=True) is not None
        for chat in range(10)
    ]
    assert limiter.degraded
    assert granted == [True] * 8 + [False, False]


def test_the_factory_passes_the_paid_limit_on(redis_url):
    shared = rate_limiter(new_redis_client(redis_url), 3, 1, paid_per_second=7)
    local = rate_limiter(None, 3, 1, paid_per_second=7)
    assert isinstance(shared, RedisRateLimiter) and shared._paid_per_second == 7
    granted = [local.acquire(chat, deadline=time.monotonic(), paid=True) for chat in range(8)]
    assert [grant is not None for grant in granted] == [True] * 7 + [False]
