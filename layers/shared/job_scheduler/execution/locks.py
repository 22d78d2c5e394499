"""The firing lock the job executor takes before running a job, and the dedup key.

The lock is a fast first line against a firing delivered twice: ``SET key token NX EX ttl``.
It is not the guarantee: the Postgres unique key on (job, scheduled_for, trigger) is. So
when Redis is not configured, or does not answer, the lock is skipped (the job runs) and
the skip is logged and counted, rather than failing or delaying the firing.

``dedup_key`` is the single builder of a firing's idempotency key (job name + scheduled UTC
instant); the Redis lock's key is made from it (``firing_key``, plus the trigger). The
executions row carries the same identity as columns, under its unique key.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis

from job_scheduler.adapters.redis_client import REDIS_ERRORS
from job_scheduler.model import LockMode
from job_scheduler.observability import MetricUnit, logger, metrics

FIRING_PREFIX = "jobs:firing"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)
# Delete only while the key still holds our token: after a TTL expiry another executor may
# own it, and a plain DEL would release their lock.
_COMPARE_AND_DELETE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


def unix_ms(instant: datetime) -> int:
    """Milliseconds since the epoch, exact (no float); naive datetimes are refused."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"a dedup key needs an aware datetime, got naive {instant!r}")
    return (instant - _EPOCH) // _MILLISECOND


def dedup_key(job_name: str, scheduled_for: datetime) -> str:
    """The idempotency key of one firing: the same instant gives the same key in any zone."""
    return f"{job_name}:{unix_ms(scheduled_for)}"


def firing_key(job_name: str, scheduled_for: datetime) -> str:
    """The Redis key of the firing lock for one firing."""
    return f"{FIRING_PREFIX}:{dedup_key(job_name, scheduled_for)}"


@dataclass(frozen=True)
class LockResult:
    """What ``acquire`` decided; ``acquired`` is False only when another holder has it."""

    key: str
    mode: LockMode
    acquired: bool
    token: str | None = None


class FiringLock:
    """``SET NX EX`` lock that fails open: no Redis or a failing Redis means run anyway."""

    def __init__(self, client: redis.Redis | None, ttl_seconds: int) -> None:
        if ttl_seconds < 1:
            raise ValueError(f"ttl_seconds must be at least 1, not {ttl_seconds}")
        self._client = client
        self._ttl = ttl_seconds
        self._release = client.register_script(_COMPARE_AND_DELETE) if client else None

    def acquire(self, key: str) -> LockResult:
        """Take the lock for ``key``; never raises for a Redis failure."""
        if self._client is None:
            return LockResult(key=key, mode=LockMode.NONE, acquired=True)
        token = secrets.token_hex(16)
        try:
            taken = self._client.set(key, token, nx=True, ex=self._ttl)
        except REDIS_ERRORS as exc:
            _warn_unavailable("acquiring", key, exc)
            metrics.add_metric(name="RedisLockUnavailable", unit=MetricUnit.Count, value=1)
            return LockResult(key=key, mode=LockMode.REDIS_UNAVAILABLE, acquired=True)
        return LockResult(key=key, mode=LockMode.REDIS, acquired=bool(taken), token=token)

    def release(self, result: LockResult) -> None:
        """Give back a lock this holder took; a lock held by someone else is left alone."""
        if result.mode != LockMode.REDIS or not result.acquired or self._release is None:
            return
        try:
            self._release(keys=[result.key], args=[result.token])
        except REDIS_ERRORS as exc:
            # The TTL frees it anyway; the run itself already happened.
            _warn_unavailable("releasing", result.key, exc)


def _warn_unavailable(action: str, key: str, exc: Exception) -> None:
    # The error class only: a redis error message can carry the host, never needed here.
    logger.warning(
        f"Redis unavailable while {action} the firing lock; the Postgres unique key still holds",
        extra={"lock_key": key, "error": type(exc).__name__},
    )


__all__ = [
    "FIRING_PREFIX",
    "FiringLock",
    "LockResult",
    "dedup_key",
    "firing_key",
    "unix_ms",
]
