"""Redis clients that fail fast: one per URL per warm Lambda.

Redis is optional here (firing locks, the shared Telegram rate limit); when it is down the
callers carry on without it. redis-py's defaults would make every call to a dead Redis cost
seconds (5 s timeouts, retries with backoff), so these clients use short timeouts and no
retries. Nothing is translated here: each caller decides what a Redis failure means to it.
"""

from __future__ import annotations

from functools import lru_cache

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

TIMEOUT_SECONDS = 0.25
# What a call to a dead, slow or misbehaving Redis can raise (OSError: a socket failure that
# redis-py did not wrap).
REDIS_ERRORS: tuple[type[Exception], ...] = (redis.RedisError, OSError)


def new_redis_client(url: str) -> redis.Redis:
    """A fresh fail-fast client (tests and tools that must not share the cached one)."""
    return redis.Redis.from_url(
        url,
        socket_timeout=TIMEOUT_SECONDS,
        socket_connect_timeout=TIMEOUT_SECONDS,
        retry=Retry(NoBackoff(), 0),
        retry_on_timeout=False,
        health_check_interval=0,
    )


@lru_cache(maxsize=8)
def _cached_client(url: str) -> redis.Redis:
    return new_redis_client(url)


def redis_from_url(url: str | None) -> redis.Redis | None:
    """The process-wide client for ``url``, or None when no Redis is configured.

    Connecting is lazy: building the client never touches the network, so a dead Redis
    costs nothing until it is used.
    """
    if not url:
        return None
    return _cached_client(url)


__all__ = ["REDIS_ERRORS", "TIMEOUT_SECONDS", "new_redis_client", "redis_from_url"]
