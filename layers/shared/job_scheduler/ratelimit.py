"""Telegram's send limits: ``per_second`` overall and ``per_chat_per_second`` for each chat.

Both limiters enforce a sliding-window log: in any one-second window at most ``per_second``
grants overall and at most ``per_chat_per_second`` to one chat, and a 429's ``retry_after``
(``penalise``) pauses everyone sharing the limiter. A refused caller sleeps exactly until the
oldest grant in its way leaves the window, so nothing spins.

``RedisRateLimiter`` shares the limit across processes (every notifier Lambda): one Lua
script checks the penalty, the global and the chat window and records the grant atomically,
timed by Redis ``TIME`` so hosts with skewed clocks agree. If Redis fails it falls back, for
the rest of its life, to a ``LocalRateLimiter`` (one warning, not one per message).

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
from typing import Protocol

import redis

from .observability import MetricUnit, logger, metrics
from .redis_client import REDIS_ERRORS

# A grant is counted from when it is given, but Telegram counts a message from when it
# arrives, a few milliseconds later and not always the same few: with an exact 1.0 s window
# the 31st message of a second can land inside Telegram's second and earn a 429 (and a pause
# for every sender). 1.05 s leaves that margin (bench/rate_limit.py: ~95 429s per 100 s at
# 1.0, 0-2 at 1.05, for 0.90-0.93 of the nominal rate). See docs/performance.md.
WINDOW_SECONDS = 1.05
TELEGRAM_PER_SECOND = 30
TELEGRAM_PER_CHAT_PER_SECOND = 1
DEFAULT_PREFIX = "tg:ratelimit"
_MIN_SLEEP = 0.001  # a wait rounded to nothing would turn the retry loop into a spin
_PRUNE_EVERY = 1024  # local: drop idle chats' windows every so many grants

# KEYS: global window, chat window, penalty.  ARGV: global limit, chat limit, window (us),
# member.  Returns 0 when granted, else microseconds to wait.  Numbers go to Redis as
# '%.0f' strings: Lua's default formatting (%.14g) would round microsecond timestamps.
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
        wait = math.max(wait, tonumber(blocking[2]) + window - now)
    end
end
if wait > 0 then
    return wait
end
local ttl_ms = math.ceil(window / 1000) + 1000
for i = 1, 2 do
    redis.call('ZADD', KEYS[i], string.format('%.0f', now), ARGV[4])
    redis.call('PEXPIRE', KEYS[i], ttl_ms)
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


class RateLimiter(Protocol):
    """What the notifier needs: wait for a send slot; pause everyone after a 429."""

    def acquire(self, chat_id: int, deadline: float | None = None) -> bool:
        """Block until a message to ``chat_id`` may be sent, and count it.

        With a ``deadline`` (a ``time.monotonic()`` value), give up and return False rather
        than wait past it: a Lambda near its timeout should re-queue, not sleep.
        """

    def penalise(self, seconds: float) -> None:
        """Make every user of this limiter wait ``seconds`` (Telegram's retry_after)."""


def _past(deadline: float | None, wait: float) -> bool:
    return deadline is not None and time.monotonic() + wait > deadline


def _check_limits(per_second: int, per_chat_per_second: int) -> None:
    if per_second < 1 or per_chat_per_second < 1:
        raise ValueError(
            f"rate limits must be at least 1/s, not {per_second} and {per_chat_per_second}"
        )


class LocalRateLimiter:
    """In-process, thread-safe limiter: right for one process, too generous for many."""

    def __init__(
        self,
        per_second: int = TELEGRAM_PER_SECOND,
        per_chat_per_second: int = TELEGRAM_PER_CHAT_PER_SECOND,
    ) -> None:
        _check_limits(per_second, per_chat_per_second)
        self._per_second = per_second
        self._per_chat = per_chat_per_second
        self._lock = threading.Lock()
        self._global: deque[float] = deque()
        self._chats: dict[int, deque[float]] = {}
        self._penalty_until = 0.0
        self._grants = 0

    def acquire(self, chat_id: int, deadline: float | None = None) -> bool:
        while (wait := self._try_acquire(chat_id)) > 0:
            if _past(deadline, wait):
                return False
            time.sleep(max(wait, _MIN_SLEEP))
        return True

    def penalise(self, seconds: float) -> None:
        with self._lock:
            self._penalty_until = max(self._penalty_until, time.monotonic() + seconds)

    def _try_acquire(self, chat_id: int) -> float:
        """Grant and return 0, or return how long the caller must wait."""
        with self._lock:
            now = time.monotonic()
            if self._penalty_until > now:
                return self._penalty_until - now
            chat = self._chats.setdefault(chat_id, deque())
            wait = max(
                _window_wait(self._global, self._per_second, now),
                _window_wait(chat, self._per_chat, now),
            )
            if wait > 0:
                return wait
            self._global.append(now)
            chat.append(now)
            self._grants += 1
            if self._grants % _PRUNE_EVERY == 0:
                self._prune(now)
            return 0.0

    def _prune(self, now: float) -> None:
        idle = [
            chat
            for chat, grants in self._chats.items()
            if not grants or grants[-1] <= now - WINDOW_SECONDS  # empty: refused, never granted
        ]
        for chat in idle:
            del self._chats[chat]


def _window_wait(grants: deque[float], limit: int, now: float) -> float:
    """Drop grants that left the window; the wait until one more fits (0 if it fits now)."""
    while grants and grants[0] <= now - WINDOW_SECONDS:
        grants.popleft()
    if len(grants) < limit:
        return 0.0
    return grants[len(grants) - limit] + WINDOW_SECONDS - now


class RedisRateLimiter:
    """The limit shared by every process using the same Redis and ``prefix``."""

    def __init__(
        self,
        client: redis.Redis,
        per_second: int = TELEGRAM_PER_SECOND,
        per_chat_per_second: int = TELEGRAM_PER_CHAT_PER_SECOND,
        prefix: str = DEFAULT_PREFIX,
    ) -> None:
        _check_limits(per_second, per_chat_per_second)
        self._limits = (per_second, per_chat_per_second)
        # One hash tag: the script's keys must share a slot on a Redis cluster.
        self._prefix = f"{{{prefix}}}"
        self._acquire = client.register_script(_ACQUIRE)
        self._penalise = client.register_script(_PENALISE)
        # Window members must be unique; next() on itertools.count is atomic under the GIL.
        self._instance = uuid.uuid4().hex[:12]
        self._counter = itertools.count()
        self._switch = threading.Lock()
        self._fallback: LocalRateLimiter | None = None

    @property
    def degraded(self) -> bool:
        """True once Redis failed and this limiter went local for good."""
        return self._fallback is not None

    def acquire(self, chat_id: int, deadline: float | None = None) -> bool:
        while (fallback := self._fallback) is None:
            try:
                wait = self._try_acquire(chat_id)
            except REDIS_ERRORS as exc:
                self._fall_back(exc)
                continue
            if wait <= 0:
                return True
            if _past(deadline, wait):
                return False
            time.sleep(max(wait, _MIN_SLEEP))
        return fallback.acquire(chat_id, deadline)

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

    def _try_acquire(self, chat_id: int) -> float:
        """Grant and return 0, or return how long the caller must wait (seconds)."""
        keys = [f"{self._prefix}:{name}" for name in ("global", f"chat:{chat_id}", "penalty")]
        member = f"{self._instance}:{next(self._counter)}"
        args = [*self._limits, round(WINDOW_SECONDS * 1e6), member]
        return int(self._acquire(keys=keys, args=args)) / 1e6

    def _fall_back(self, exc: Exception) -> LocalRateLimiter:
        with self._switch:
            if self._fallback is not None:
                return self._fallback  # another thread switched first, and warned
            self._fallback = LocalRateLimiter(*self._limits)
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
            return RedisRateLimiter(client, per_second, per_chat_per_second)
    logger.warning(
        f"Telegram rate limit is per process: {reason}", extra={"per_second": per_second}
    )
    return LocalRateLimiter(per_second, per_chat_per_second)


__all__ = [
    "TELEGRAM_PER_CHAT_PER_SECOND",
    "TELEGRAM_PER_SECOND",
    "LocalRateLimiter",
    "RateLimiter",
    "RedisRateLimiter",
    "rate_limiter",
]
