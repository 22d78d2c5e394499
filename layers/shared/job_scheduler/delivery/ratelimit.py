"""Telegram's send limits: ``per_second`` overall and ``per_chat_per_second`` for each chat.

Both limiters enforce a sliding-window log: in any one-second window at most ``per_second``
sends overall and at most ``per_chat_per_second`` to one chat, and a 429's ``retry_after``
(``penalise``) pauses everyone sharing the limiter. A refused caller sleeps until the oldest
send in its way leaves the window, so nothing spins.

A paid broadcast's send (``acquire(..., paid=True)``: Telegram's ``allow_paid_broadcast``)
is counted in the same overall window, but may go while it holds fewer than
``paid_per_second`` sends (Telegram: up to 1000); a free send only while it holds fewer than
``per_second``. That is Telegram's rule as the fake models it: every message counts towards
the free 30 a second, and only a paid one may go past them (and is billed 0.1 Stars). So
while a paid broadcast fills the window, free sends wait: sent, they would earn a 429 whose
retry_after pauses the paid broadcast too. The per-chat window and the penalty are shared.

A send is counted from when it *finished* (``settle``), not from when it was granted:
Telegram counts a message when it arrives, somewhere between the grant and the answer, and
by a different delay each time; counted from the grant, the 31st send of a second could
arrive less than a second after the 1st and earn a 429 that pauses every sender
(bench/rate_limit.py: about one 429 per second of sending at a 1.0 s window). While a send
is in flight its slot is held with a stamp ``IN_FLIGHT_SECONDS`` ahead, so a grant that is
never settled (its process died) frees itself in the end.

``RedisRateLimiter`` shares the limit across processes (every notifier Lambda): one Lua
script checks the penalty, the global and the chat window and records the grant atomically,
timed by Redis ``TIME`` so hosts with skewed clocks agree. If Redis fails it falls back to
a ``LocalRateLimiter`` (one warning, not one per message), and goes back to the shared limit
once Redis answers a ping again (tried every ``RECHECK_SECONDS``): several notifiers each
limiting themselves could pass Telegram's limit together.

Why not a library: ``limits`` and ``pyrate-limiter`` both time-stamp with the caller's clock
(pyrate-limiter avoids Redis TIME on purpose), check one key per call (a chat refusal would
still spend a global slot), have no shared penalty for retry_after, and raise when Redis is
down instead of failing open.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import redis

from job_scheduler.adapters.redis_client import REDIS_ERRORS
from job_scheduler.observability import MetricUnit, logger, metrics

WINDOW_SECONDS = 1.0
# Longer than any send can take (adapters/telegram.py: 3 s to connect, 10 s to read, 3 tries).
IN_FLIGHT_SECONDS = 60.0
TELEGRAM_PER_SECOND = 30
TELEGRAM_PER_CHAT_PER_SECOND = 1
TELEGRAM_PAID_PER_SECOND = 1000  # a paid broadcast (allow_paid_broadcast), billed in Stars
DEFAULT_PREFIX = "tg:ratelimit"
RECHECK_SECONDS = 15.0  # after a Redis failure, how often to see whether it answers again
_MIN_SLEEP = 0.001  # a wait rounded to nothing would turn the retry loop into a spin
_PRUNE_EVERY = 1024  # local: drop idle chats' windows every so many grants

# KEYS: global window, chat window, penalty.  ARGV: global limit (the free or the paid one,
# as the caller's send is), chat limit, window (us), in-flight hold (us), member.  Returns 0
# when granted, else microseconds to wait.  Numbers go to Redis as '%.0f' strings: Lua's
# default formatting (%.14g) would round microsecond timestamps.  A send in flight is stamped
# ``hold`` ahead, so the wait it causes is capped at one window: by then it has settled, and
# the next try sees its real stamp.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local penalty = tonumber(redis.call('GET', KEYS[3]) or '0')
if penalty > now then
    return penalty - now
end
local window = tonumber(ARGV[3])
local wait = 0
for i = 1, 2 do
    local limit = tonumber(ARGV[i])
    redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', string.format('%.0f', now - window))
    local count = redis.call('ZCARD', KEYS[i])
    if count >= limit then
        local blocking = redis.call('ZRANGE', KEYS[i], count - limit, count - limit, 'WITHSCORES')
        wait = math.max(wait, math.min(tonumber(blocking[2]) + window - now, window))
    end
end
if wait > 0 then
    return wait
end
local hold = tonumber(ARGV[4])
local ttl_ms = math.ceil((hold + window) / 1000) + 1000
for i = 1, 2 do
    redis.call('ZADD', KEYS[i], string.format('%.0f', now + hold), ARGV[5])
    redis.call('PEXPIRE', KEYS[i], ttl_ms)
end
return 0
"""
# KEYS: global window, then each send's chat window.  ARGV: each send's member.  The sends
# are over: count them from now.  XX: a grant that already left the window is not revived.
_SETTLE = """
local t = redis.call('TIME')
local now = string.format('%.0f', tonumber(t[1]) * 1000000 + tonumber(t[2]))
for i = 1, #ARGV do
    redis.call('ZADD', KEYS[1], 'XX', now, ARGV[i])
    redis.call('ZADD', KEYS[i + 1], 'XX', now, ARGV[i])
end
return 0
"""
# KEYS: penalty.  ARGV: seconds (microseconds).  Only ever extends the pause.
_PENALISE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local pause = tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if now + pause > current then
    local ttl_ms = math.ceil(pause / 1000) + 1000
    redis.call('SET', KEYS[1], string.format('%.0f', now + pause), 'PX', ttl_ms)
end
return 0
"""


@dataclass(frozen=True)
class Grant:
    """Leave to send one message to ``chat_id``; hand it to ``settle`` when the send is over,
    whatever its outcome (a request that failed may still have reached Telegram). Settling
    several at once costs one round trip on the shared limiter."""

    chat_id: int
    token: Any  # the limiter's own handle on the stamps it holds for this send


class RateLimiter(Protocol):
    """What the notifier needs: wait for a send slot; count the send when it is over; pause
    everyone after a 429."""

    def acquire(
        self, chat_id: int, deadline: float | None = None, paid: bool = False
    ) -> Grant | None:
        """Block until a message to ``chat_id`` may be sent, and hold its slot.

        With a ``deadline`` (a ``time.monotonic()`` value), give up and return None rather
        than wait past it: a Lambda near its timeout should re-queue, not sleep. ``paid``: a
        paid broadcast's message, held to the paid overall limit instead of the free one.
        """

    def settle(self, grants: Sequence[Grant]) -> None:
        """The sends these grants allowed are over: count them from now."""

    def penalise(self, seconds: float) -> None:
        """Make every user of this limiter wait ``seconds`` (Telegram's retry_after)."""


def _past(deadline: float | None, wait: float) -> bool:
    return deadline is not None and time.monotonic() + wait > deadline


def _check_limits(per_second: int, per_chat_per_second: int) -> None:
    if per_second < 1 or per_chat_per_second < 1:
        raise ValueError(
            f"rate limits must be at least 1/s, not {per_second} and {per_chat_per_second}"
        )


_Stamp = list[float]  # one element, mutable: settling a send re-stamps it in place


class LocalRateLimiter:
    """In-process, thread-safe limiter: right for one process, too generous for many.

    A paid send is never held to less than a free one: ``paid_per_second`` below
    ``per_second`` counts as ``per_second``."""

    def __init__(
        self,
        per_second: int = TELEGRAM_PER_SECOND,
        per_chat_per_second: int = TELEGRAM_PER_CHAT_PER_SECOND,
        paid_per_second: int = TELEGRAM_PAID_PER_SECOND,
    ) -> None:
        _check_limits(per_second, per_chat_per_second)
        self._per_second = per_second
        self._paid_per_second = max(per_second, paid_per_second)
        self._per_chat = per_chat_per_second
        self._lock = threading.Lock()
        self._global: deque[_Stamp] = deque()
        self._chats: dict[int, deque[_Stamp]] = {}
        self._penalty_until = 0.0
        self._grants = 0

    def acquire(
        self, chat_id: int, deadline: float | None = None, paid: bool = False
    ) -> Grant | None:
        while isinstance(outcome := self._try_acquire(chat_id, paid), float):
            if _past(deadline, outcome):
                return None
            time.sleep(max(outcome, _MIN_SLEEP))
        return outcome

    def settle(self, grants: Sequence[Grant]) -> None:
        with self._lock:
            now = time.monotonic()
            for grant in grants:
                for stamp in grant.token:
                    stamp[0] = min(stamp[0], now)

    def penalise(self, seconds: float) -> None:
        with self._lock:
            self._penalty_until = max(self._penalty_until, time.monotonic() + seconds)

    def _try_acquire(self, chat_id: int, paid: bool) -> Grant | float:
        """A grant, or how long the caller must wait."""
        overall = self._paid_per_second if paid else self._per_second
        with self._lock:
            now = time.monotonic()
            if self._penalty_until > now:
                return self._penalty_until - now
            chat = self._chats.setdefault(chat_id, deque())
            wait = max(
                _window_wait(self._global, overall, now),
                _window_wait(chat, self._per_chat, now),
            )
            if wait > 0:
                return wait
            stamps = ([now + IN_FLIGHT_SECONDS], [now + IN_FLIGHT_SECONDS])
            self._global.append(stamps[0])
            chat.append(stamps[1])
            self._grants += 1
            if self._grants % _PRUNE_EVERY == 0:
                self._prune(now)
            return Grant(chat_id, stamps)

    def _prune(self, now: float) -> None:
        idle = [
            chat
            for chat, stamps in self._chats.items()
            if all(stamp[0] <= now - WINDOW_SECONDS for stamp in stamps)  # or empty: refused
        ]
        for chat in idle:
            del self._chats[chat]


def _window_wait(stamps: deque[_Stamp], limit: int, now: float) -> float:
    """Drop sends that left the window; the wait until one more fits (0 if it fits now).

    Settling re-stamps in place, so the log is only roughly in order: the cheap trim from the
    left covers the usual case, and a full window is filtered and sorted (``limit`` entries).
    """
    cutoff = now - WINDOW_SECONDS
    while stamps and stamps[0][0] <= cutoff:
        stamps.popleft()
    if len(stamps) < limit:
        return 0.0
    live = [stamp for stamp in stamps if stamp[0] > cutoff]
    if len(live) < len(stamps):
        stamps.clear()
        stamps.extend(live)
        if len(live) < limit:
            return 0.0
    blocking = sorted(stamp[0] for stamp in live)[len(live) - limit]
    return min(blocking + WINDOW_SECONDS - now, WINDOW_SECONDS)  # in flight: a window at least


class RedisRateLimiter:
    """The limit shared by every process using the same Redis and ``prefix`` (a paid send is
    never held to less than a free one, as in ``LocalRateLimiter``)."""

    def __init__(
        self,
        client: redis.Redis,
        per_second: int = TELEGRAM_PER_SECOND,
        per_chat_per_second: int = TELEGRAM_PER_CHAT_PER_SECOND,
        prefix: str = DEFAULT_PREFIX,
        paid_per_second: int = TELEGRAM_PAID_PER_SECOND,
    ) -> None:
        _check_limits(per_second, per_chat_per_second)
        self._limits = (per_second, per_chat_per_second)
        self._paid_per_second = max(per_second, paid_per_second)
        # One hash tag: the script's keys must share a slot on a Redis cluster.
        self._prefix = f"{{{prefix}}}"
        self._acquire = client.register_script(_ACQUIRE)
        self._settle = client.register_script(_SETTLE)
        self._penalise = client.register_script(_PENALISE)
        # Window members must be unique; next() on itertools.count is atomic under the GIL.
        self._instance = uuid.uuid4().hex[:12]
        self._counter = itertools.count()
        self._client = client
        self._switch = threading.Lock()
        self._fallback: LocalRateLimiter | None = None
        self._fell_back_at = 0.0

    @property
    def degraded(self) -> bool:
        """True once Redis failed and this limiter went local for good."""
        return self._fallback is not None

    def acquire(
        self, chat_id: int, deadline: float | None = None, paid: bool = False
    ) -> Grant | None:
        self._maybe_back_to_redis()
        while (fallback := self._fallback) is None:
            member = f"{self._instance}:{next(self._counter)}"
            try:
                wait = self._try_acquire(chat_id, member, paid)
            except REDIS_ERRORS as exc:
                self._fall_back(exc)
                continue
            if wait <= 0:
                return Grant(chat_id, member)
            if _past(deadline, wait):
                return None
            time.sleep(max(wait, _MIN_SLEEP))
        return fallback.acquire(chat_id, deadline, paid)

    def settle(self, grants: Sequence[Grant]) -> None:
        shared = [grant for grant in grants if isinstance(grant.token, str)]
        if self._fallback is not None:
            # Grants from Redis expire there on their own; the fallback's are settled here.
            self._fallback.settle([g for g in grants if not isinstance(g.token, str)])
            return
        if not shared:
            return
        keys = [f"{self._prefix}:global"] + [self._window_keys(g.chat_id)[1] for g in shared]
        try:
            self._settle(keys=keys, args=[grant.token for grant in shared])
        except REDIS_ERRORS as exc:
            self._fall_back(exc)

    def penalise(self, seconds: float) -> None:
        if seconds <= 0:
            return
        fallback = self._fallback
        if fallback is None:
            try:
                self._penalise(keys=[f"{self._prefix}:penalty"], args=[round(seconds * 1e6)])
                return
            except REDIS_ERRORS as exc:
                fallback = self._fall_back(exc)
        fallback.penalise(seconds)

    def _window_keys(self, chat_id: int) -> list[str]:
        return [f"{self._prefix}:global", f"{self._prefix}:chat:{chat_id}"]

    def _try_acquire(self, chat_id: int, member: str, paid: bool) -> float:
        """0 when granted, else how long the caller must wait (seconds)."""
        keys = [*self._window_keys(chat_id), f"{self._prefix}:penalty"]
        per_second, per_chat = self._limits
        args = [
            self._paid_per_second if paid else per_second,
            per_chat,
            round(WINDOW_SECONDS * 1e6),
            round(IN_FLIGHT_SECONDS * 1e6),
            member,
        ]
        return int(self._acquire(keys=keys, args=args)) / 1e6

    def _maybe_back_to_redis(self) -> None:
        if self._fallback is None or time.monotonic() - self._fell_back_at < RECHECK_SECONDS:
            return
        with self._switch:
            if self._fallback is None or time.monotonic() - self._fell_back_at < RECHECK_SECONDS:
                return
            self._fell_back_at = time.monotonic()  # one ping per period, whatever it says
            try:
                self._client.ping()
            except REDIS_ERRORS:
                return
            self._fallback = None
        logger.info("Redis answers again; the Telegram rate limit is shared again")

    def _fall_back(self, exc: Exception) -> LocalRateLimiter:
        with self._switch:
            if self._fallback is not None:
                return self._fallback  # another thread switched first, and warned
            self._fallback = LocalRateLimiter(*self._limits, self._paid_per_second)
            self._fell_back_at = time.monotonic()
        logger.warning(
            "Redis failed under the shared Telegram rate limiter; this process limits itself"
            " locally from now on",
            extra={"error": type(exc).__name__},
        )
        metrics.add_metric(name="RedisRateLimiterUnavailable", unit=MetricUnit.Count, value=1)
        return self._fallback


def rate_limiter(
    client: redis.Redis | None,
    per_second: int = TELEGRAM_PER_SECOND,
    per_chat_per_second: int = TELEGRAM_PER_CHAT_PER_SECOND,
    paid_per_second: int = TELEGRAM_PAID_PER_SECOND,
) -> RateLimiter:
    """The shared limiter when Redis answers, else a local one (with a warning: several
    processes limiting themselves separately can together pass Telegram's limit)."""
    reason = "no Redis configured"
    if client is not None:
        try:
            client.ping()
        except REDIS_ERRORS as exc:
            reason = f"Redis did not answer ({type(exc).__name__})"
        else:
            return RedisRateLimiter(
                client, per_second, per_chat_per_second, paid_per_second=paid_per_second
            )
    logger.warning(
        f"Telegram rate limit is per process: {reason}", extra={"per_second": per_second}
    )
    return LocalRateLimiter(per_second, per_chat_per_second, paid_per_second)


__all__ = [
    "TELEGRAM_PAID_PER_SECOND",
    "TELEGRAM_PER_CHAT_PER_SECOND",
    "TELEGRAM_PER_SECOND",
    "Grant",
    "LocalRateLimiter",
    "RateLimiter",
    "RedisRateLimiter",
    "rate_limiter",
]
