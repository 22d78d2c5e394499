"""The food reminder over 10,000 linked users, Rastar answering each call after 50 ms.

    .venv/bin/python -m bench.food_reminder [--users 10000] [--latency-ms 50]
        [--concurrency 8,32,64]

Set-up: ``--users`` users loaded with COPY, every one linked to Rastar (tokens sealed with
Fernet, as ``jobsctl user link-rastar`` does); the fake Rastar in its own process with
``--latency-ms`` on every answer; each user has five past picks and every third one has
already picked tomorrow. No LLM: suggestions are the deterministic kind.

Measured, for each ``RASTAR_CONCURRENCY``:

- baseline: bare ``httpx`` GETs of the same reservations, on the same number of threads,
  nothing else (no database, no decryption, no rendering);
- the job: ``UnselectedFoodReminder.messages`` drained, as the executor drains it: wall
  time, users/s, the ratio to the baseline, and the most calls the fake saw at once;
- ``Executor.execute`` of one firing with the notifications queue answered in-process:
  the whole run, fan-out included (the reminders written as ``ready`` rows with their
  payloads, the execution's first window queued; nothing is sent to Telegram).

The floor for any of them is users x latency / concurrency. Nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from bench.harness import (
    bench_settings,
    clear_metrics,
    copy_users,
    fake_process,
    footer,
    header,
    moto_server,
    quiet,
    scratch_database,
    stubbed_sqs,
    table,
    timed,
)
from infra.fakes.rastar import default_menu
from job_scheduler.adapters.db import connect
from job_scheduler.delivery.outbox import Outbox
from job_scheduler.execution.executor import Executor
from job_scheduler.execution.firing import Firing
from job_scheduler.execution.locks import FiringLock
from job_scheduler.execution.targeting import Targeting, iter_recipients
from job_scheduler.jobs.catalog import register_all_jobs
from job_scheduler.jobs.food_reminder.job import UnselectedFoodReminder
from job_scheduler.jobs.food_reminder.run import HISTORY_DAYS, tomorrow
from job_scheduler.model import JobContext, JobRun
from job_scheduler.rastar import protocol
from job_scheduler.rastar.crypto import SecretBox
from job_scheduler.sync.startup import run_startup

JOB = UnselectedFoodReminder.name


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.food_reminder")
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--concurrency", default="8,32,64")
    args = parser.parse_args()
    levels = [int(value) for value in args.concurrency.split(",")]
    quiet("WARNING")
    header("food reminder", users=args.users, latency_ms=args.latency_ms, concurrency=levels)
    evening = _next_evening_with_food()
    day = tomorrow(JobRun(JOB, evening, "schedule"))
    key = SecretBox.new_key()
    rows = []
    with (
        scratch_database() as database_url,
        moto_server() as aws_url,
        fake_process("infra.fakes.rastar", "--latency-ms", str(args.latency_ms)) as (_, url),
    ):
        conn = connect(database_url)
        tokens = _load(conn, url, key, args.users, day)
        settings = replace(
            bench_settings(database_url, aws_url, "http://unused.invalid/queue", "http://x"),
            rastar_api_url=url,
            rastar_encryption_keys=key,
            jobs_queue_arn="arn:aws:sqs:us-east-1:123456789012:jobs",
        )
        run_startup(settings)
        floor_note = []
        for level in levels:
            level_settings = replace(settings, rastar_concurrency=level)
            baseline = _bare_loop(url, tokens, day, level)
            _reset_in_flight(url)
            job_seconds, messages = _job_alone(level_settings, conn, evening)
            most = _max_in_flight(url)
            whole = _whole_run(level_settings, aws_url, evening, messages)
            floor = args.users * args.latency_ms / 1000 / level
            floor_note.append(f"{level}: {floor:.1f} s")
            rows.append(
                (
                    level,
                    baseline,
                    job_seconds,
                    f"{job_seconds / baseline:.2f}x",
                    args.users / job_seconds,
                    most,
                    messages,
                    whole,
                )
            )
    print(f"   floor (users x latency / concurrency): {', '.join(floor_note)}")
    table(
        (
            "concurrency",
            "bare httpx s",
            "job s",
            "job vs bare",
            "users/s",
            "most at once",
            "reminders",
            "whole run s",
        ),
        rows,
    )
    footer()


def _next_evening_with_food() -> datetime:
    """22:00 Tehran (18:30 UTC) on the next day whose tomorrow has a menu (not Thursday)."""
    evening = datetime.now(UTC).replace(hour=18, minute=30, second=0, microsecond=0)
    while not default_menu(tomorrow(JobRun(JOB, evening, "schedule"))):
        evening += timedelta(days=1)
    return evening


def _load(conn: Any, url: str, key: str, users: int, day: date) -> list[str]:
    """Users, their sealed tokens in Postgres, and the same tokens with picks in the fake."""
    copy_users(conn, users)
    ids = [row["id"] for row in conn.execute("SELECT id FROM users ORDER BY id").fetchall()]
    box = SecretBox([key])
    tokens = [f"bench-token-{user_id}" for user_id in ids]
    with timed() as took:
        conn.execute(
            "INSERT INTO rastar_accounts (user_id, sealed_token)"
            " SELECT unnest(%s::bigint[]), unnest(%s::text[])",
            (ids, [box.encrypt(token) for token in tokens]),
        )
    menu = [food["id"] for food in default_menu(day)]
    fake_users = []
    for position, token in enumerate(tokens):
        picks = {
            (day - timedelta(days=offset)).isoformat(): menu[(position + offset) % len(menu)]
            for offset in range(2, 12, 2)
        }
        if position % 3 == 0:
            picks[day.isoformat()] = menu[0]
        fake_users.append({"token": token, "picks": picks})
    httpx.post(f"{url}/_fake/users", json=fake_users, timeout=60).raise_for_status()
    print(f"   set-up: {users:,} users linked (sealed in {took[0]:.2f} s)\n")
    return tokens


def _bare_loop(url: str, tokens: list[str], day: date, threads: int) -> float:
    params = protocol.reservations_params(day - timedelta(days=HISTORY_DAYS), day)
    with httpx.Client(base_url=url, limits=httpx.Limits(max_connections=threads)) as client:

        def call(token: str) -> None:
            answer = client.get(
                protocol.RESERVATIONS_PATH, params=params, headers=protocol.auth_headers(token)
            )
            answer.raise_for_status()

        with timed() as took, ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(call, tokens))
    return took[0]


def _job_alone(settings: Any, conn: Any, evening: datetime) -> tuple[float, int]:
    run = JobRun(JOB, evening, "manual")
    job = UnselectedFoodReminder(JobContext(settings, conn))
    with timed() as took:
        count = sum(1 for _ in job.messages(run, iter_recipients(conn, Targeting())))
    conn.execute("UPDATE rastar_accounts SET relink_notified_at = NULL")
    return took[0], count


def _whole_run(settings: Any, aws_url: str, evening: datetime, reminders: int) -> float:
    executor = Executor(
        settings=settings,
        registry=register_all_jobs(),
        lock=FiringLock(None, 120),
        outbox=Outbox(stubbed_sqs(aws_url), "http://unused.invalid/queue"),
    )
    # A new minute each time: each level is its own manual execution.
    at = evening + timedelta(minutes=settings.rastar_concurrency)
    with timed() as took:
        outcome = executor.execute(Firing(job_name=JOB, scheduled_for=at, trigger="manual"))
    clear_metrics()
    if outcome.status != "ran" or outcome.result.messages != reminders:
        raise RuntimeError(f"the run did not write {reminders} reminders: {outcome}")
    return took[0]


def _reset_in_flight(url: str) -> None:
    httpx.post(f"{url}/_fake/stats/reset", timeout=10).raise_for_status()


def _max_in_flight(url: str) -> int:
    return json.loads(httpx.get(f"{url}/_fake/stats", timeout=10).text)["max_in_flight"]


if __name__ == "__main__":
    main()
