"""The firing lock against the real Redis: one winner, owner-only release, and failing open
fast (no retry storm) when Redis is missing, refusing or silent."""

from __future__ import annotations

import io
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import redis

from job_scheduler.adapters.redis_client import new_redis_client, redis_from_url
from job_scheduler.execution.locks import FiringLock, LockResult, dedup_key, firing_key, unix_ms
from job_scheduler.observability import metrics

PASSWORD = "s3cret-lock-pass"
INSTANT = datetime(2027, 3, 26, 18, 30, tzinfo=UTC)  # 22:00 in Asia/Tehran
INSTANT_MS = 1_806_085_800_000  # int(INSTANT.timestamp() * 1000)


def records(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


@pytest.fixture
def key(redis_client: redis.Redis) -> Iterator[str]:
    name = f"jobs:firing:test-{uuid.uuid4().hex[:8]}"
    yield name
    redis_client.delete(name)


@pytest.fixture
def lock(redis_client: redis.Redis) -> FiringLock:
    return FiringLock(redis_client, ttl_seconds=30)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield server.getsockname()[1]


@pytest.mark.parametrize(
    "scheduled_for",
    [
        INSTANT,
        INSTANT.astimezone(ZoneInfo("Asia/Tehran")),
        INSTANT.astimezone(ZoneInfo("America/New_York")),
        INSTANT.astimezone(timezone(timedelta(hours=-3, minutes=-30))),
        INSTANT + timedelta(microseconds=999),  # sub-millisecond parts do not split a firing
    ],
)
def test_one_instant_gives_one_key_in_any_zone(scheduled_for):
    assert unix_ms(scheduled_for) == INSTANT_MS
    assert dedup_key("food-reminder", scheduled_for) == f"food-reminder:{INSTANT_MS}"
    assert firing_key("food-reminder", scheduled_for) == f"jobs:firing:food-reminder:{INSTANT_MS}"


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (INSTANT, INSTANT + timedelta(milliseconds=1)),
        (INSTANT, INSTANT + timedelta(days=1)),
        (datetime(1969, 12, 31, 23, 59, 59, 999000, tzinfo=UTC), datetime(1970, 1, 1, tzinfo=UTC)),
    ],
)
def test_different_instants_give_different_keys(first, second):
    assert dedup_key("job", first) != dedup_key("job", second)


def test_a_naive_datetime_is_refused():
    with pytest.raises(ValueError, match="aware"):
        dedup_key("job", datetime(2027, 3, 26, 18, 30))


def test_clients_are_cached_per_url_and_fail_fast():
    url = "redis://127.0.0.1:6379/15"
    client = redis_from_url(url)
    assert client is redis_from_url(url)
    assert client is not redis_from_url("redis://127.0.0.1:6379/14")
    assert redis_from_url(None) is None and redis_from_url("") is None
    kwargs = client.connection_pool.connection_kwargs
    assert kwargs["socket_timeout"] <= 0.25 and kwargs["socket_connect_timeout"] <= 0.25
    assert kwargs["health_check_interval"] == 0
    assert kwargs["retry"].get_retries() == 0


def test_only_one_of_twenty_concurrent_executors_gets_the_lock(lock, key):
    start = threading.Barrier(20)
    results: list[LockResult] = []

    def take() -> None:
        start.wait()
        results.append(lock.acquire(key))

    threads = [threading.Thread(target=take) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(results) == 20
    assert {result.mode for result in results} == {"redis"}
    assert sum(result.acquired for result in results) == 1


def test_different_firings_lock_independently(lock, redis_client):
    keys = [firing_key("job-a", INSTANT), firing_key("job-b", INSTANT)]
    keys.append(firing_key("job-a", INSTANT + timedelta(minutes=1)))
    redis_client.delete(*keys)
    try:
        assert all(lock.acquire(name).acquired for name in keys)
        assert not any(lock.acquire(name).acquired for name in keys)
    finally:
        redis_client.delete(*keys)


def test_the_lock_expires_with_its_ttl(redis_client, key):
    result = FiringLock(redis_client, ttl_seconds=45).acquire(key)
    assert result.acquired
    assert 40 <= redis_client.ttl(key) <= 45
    assert redis_client.get(key).decode() == result.token


def test_only_the_owner_releases(lock, key, redis_client):
    owner = lock.acquire(key)
    rival = lock.acquire(key)
    assert owner.acquired and not rival.acquired
    lock.release(rival)  # not acquired: nothing to give back
    lock.release(LockResult(key=key, mode="redis", acquired=True, token="forged"))
    assert redis_client.get(key).decode() == owner.token
    lock.release(owner)
    assert redis_client.exists(key) == 0
    assert lock.acquire(key).acquired  # free again


def test_a_late_release_leaves_the_next_owners_lock(lock, key, redis_client):
    first = lock.acquire(key)
    redis_client.delete(key)  # as if the TTL ran out while the first run was slow
    second = lock.acquire(key)
    lock.release(first)
    assert second.acquired and redis_client.get(key).decode() == second.token


def test_without_redis_the_lock_is_skipped():
    lock = FiringLock(None, ttl_seconds=30)
    result = lock.acquire("jobs:firing:any:1")
    assert (result.mode, result.acquired, result.token) == ("none", True, None)
    lock.release(result)


@pytest.mark.parametrize(
    ("where", "error"),
    [
        ("refused", "ConnectionError"),  # nothing listens on port 1
        ("silent", "TimeoutError"),  # accepts, never answers
    ],
)
def test_a_failing_redis_lets_the_job_run_and_says_so(where, error, silent_port, log_lines):
    port = 1 if where == "refused" else silent_port
    client = new_redis_client(f"redis://:{PASSWORD}@127.0.0.1:{port}/0")
    metrics.clear_metrics()
    result = FiringLock(client, ttl_seconds=30).acquire("jobs:firing:food-reminder:1")
    assert (result.mode, result.acquired) == ("redis-unavailable", True)
    warning = next(line for line in records(log_lines) if line["level"] == "WARNING")
    assert warning["lock_key"] == "jobs:firing:food-reminder:1"

    assert warning["error"] == error
    assert PASSWORD not in log_lines.getvalue()
    assert metrics.metric_set["RedisLockUnavailable"]["Value"] == [1.0]
    metrics.clear_metrics()


def test_a_release_against_a_dead_redis_only_warns(lock, key, log_lines):
    result = lock.acquire(key)
    dead = FiringLock(new_redis_client(f"redis://:{PASSWORD}@127.0.0.1:1/0"), ttl_seconds=30)
    started = time.monotonic()
    dead.release(result)
    assert time.monotonic() - started < 2
    (warning,) = [line for line in records(log_lines) if line["level"] == "WARNING"]
    assert warning["lock_key"] == key and PASSWORD not in log_lines.getvalue()


def test_redis_down_is_cheap_by_construction():
    """No retry storm: short timeouts and no client retries (redis-py 8 retries by default)."""
    kwargs = new_redis_client("redis://127.0.0.1:1/0").connection_pool.connection_kwargs
    assert kwargs["socket_timeout"] <= 0.25 and kwargs["socket_connect_timeout"] <= 0.25
    assert kwargs["retry"].get_retries() == 0
