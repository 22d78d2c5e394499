"""The food reminder over 10,000 linked people, Rastar (the fake Supabase, in its own
process) answering each call after 50 ms: with every access token expired, as on a real
night, against the same people with fresh tokens.

    .venv/bin/python -m bench.food_reminder [--users 10000] [--latency-ms 50]
        [--concurrency 32]

Set-up: ``--users`` users loaded with COPY; an account for each in the fake (five past
picks; every third has picked tomorrow), signed in through ``RastarClient.sign_in`` as the
link page signs in, the sessions sealed with Fernet into ``rastar_accounts``. The sign-ins
are made with the fake's access tokens living 2 s, and the benchmark waits them out.

Measured, for each ``RASTAR_CONCURRENCY``, in this order:

- expired: ``UnselectedFoodReminder.messages`` drained as the executor drains it, every
  session refreshed first (GoTrue's refresh grant, the new pair sealed and stored under the
  account's row lock) and then the picks read;
- fresh: the same again, now that every session is fresh (the expired run refreshed them);
- baseline: bare ``httpx`` GETs of the same picks with the fresh tokens, on as many
  threads, nothing else (no database, no sealing, no rendering);
- Rastar calls per person in each run, and the most calls the fake saw at once.

The floor of a run is people x calls per person x latency / (concurrency x stages). Nothing
here asserts on time.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from bench.harness import (
    bench_settings,
    copy_users,
    fake_process,
    footer,
    header,
    moto_server,
    quiet,
    scratch_database,
    table,
    timed,
)
from infra.fakes.supabase import DEFAULT_ANON_KEY, FakeSupabase
from job_scheduler.adapters.db import connect
from job_scheduler.execution.targeting import Targeting, iter_recipients
from job_scheduler.jobs.food_reminder.job import UnselectedFoodReminder
from job_scheduler.jobs.food_reminder.run import HISTORY_DAYS, tomorrow
from job_scheduler.model import JobContext, JobRun
from job_scheduler.rastar import accounts, protocol
from job_scheduler.rastar.client import RastarClient
from job_scheduler.rastar.crypto import SecretBox

JOB = UnselectedFoodReminder.name
PASSWORD = "bench-password"  # the fake's accounts'
SHORT_TTL_SECONDS = 2


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.food_reminder")
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--concurrency", default="32")
    args = parser.parse_args()
    levels = [int(value) for value in args.concurrency.split(",")]
    quiet("WARNING")
    header("food reminder", users=args.users, latency_ms=args.latency_ms, concurrency=levels)
    evening = next_evening_with_food()
    day = tomorrow(JobRun(JOB, evening, "schedule"))
    key = SecretBox.new_key()
    rows = []
    with services() as (database_url, aws_url, url):
        conn = connect(database_url)
        settings = replace(
            bench_settings(database_url, aws_url, "http://unused.invalid/queue", "http://x"),
            rastar_supabase_url=url,
            rastar_supabase_anon_key=DEFAULT_ANON_KEY,
            rastar_encryption_keys=key,
        )
        ids = load_people(conn, url, args.users, day)
        for level in levels:
            level_settings = replace(settings, rastar_concurrency=level)
            sign_in_all(conn, url, SecretBox([key]), ids, level)
            configure(url, latency_ms=args.latency_ms)
            expired, expired_calls, expired_most, reminded = _job(level_settings, conn, url,
                                                                 evening)  # fmt: skip
            fresh, fresh_calls, fresh_most, again = _job(level_settings, conn, url, evening)
            if reminded != again:
                raise RuntimeError(f"the runs differ: {reminded} and {again} reminders")
            baseline = _bare_loop(url, conn, SecretBox([key]), day, level)
            configure(url, latency_ms=0)
            people = args.users
            rows.append((level, baseline, fresh, expired, f"{expired / fresh:.2f}x",
                         f"{fresh / baseline:.2f}x", f"{fresh_calls / people:.2f}",
                         f"{expired_calls / people:.2f}", f"{fresh_most}/{expired_most}",
                         reminded))  # fmt: skip
    table(
        ("concurrency", "bare httpx s", "fresh s", "expired s", "expired vs fresh",
         "fresh vs bare", "calls/person fresh", "calls/person expired", "most at once",
         "reminders"),
        rows,
    )  # fmt: skip
    footer()


@contextlib.contextmanager
def services() -> Iterator[tuple[str, str, str]]:
    """A scratch database, moto's server and the fake Supabase in its own process: their
    URLs."""
    with (
        scratch_database() as database_url,
        moto_server() as aws_url,
        fake_process("infra.fakes.supabase", "--latency-ms", "0") as (_, url),
    ):
        yield database_url, aws_url, url


def next_evening_with_food() -> datetime:
    """22:00 Tehran (18:30 UTC) on the next day whose tomorrow has a menu (not Thursday)."""
    fake = FakeSupabase()  # not served: its menu is computed from the date
    evening = datetime.now(UTC).replace(hour=18, minute=30, second=0, microsecond=0)
    while not fake.menu(tomorrow(JobRun(JOB, evening, "schedule"))):
        evening += timedelta(days=1)
    return evening


def configure(url: str, **knobs: Any) -> None:
    httpx.post(f"{url}/_fake/config", json=knobs, timeout=10).raise_for_status()


def load_people(conn: Any, url: str, users: int, day: date) -> list[int]:
    """Users in Postgres, and an account each in the fake with five past picks (every
    third has picked tomorrow too)."""
    copy_users(conn, users)
    ids = [row["id"] for row in conn.execute("SELECT id FROM users ORDER BY id").fetchall()]
    fake = FakeSupabase()
    past = [d for d in (day - timedelta(days=n) for n in range(2, 20)) if fake.menu(d)][:5]
    made = []
    for position, user_id in enumerate(ids):
        picks = {d.isoformat(): (position + n) % 4 for n, d in enumerate(past)}
        if position % 3 == 0:
            picks[day.isoformat()] = 0
        made.append({"email": f"user{user_id}@bench.test", "password": PASSWORD, "picks": picks})
    with timed() as took:
        for start in range(0, len(made), 1000):
            chunk = made[start : start + 1000]
            httpx.post(f"{url}/_fake/accounts", json=chunk, timeout=120).raise_for_status()
    print(f"   set-up: {users:,} accounts in the fake in {took[0]:.1f} s")
    return ids


def sign_in_all(conn: Any, url: str, box: SecretBox, ids: list[int], threads: int) -> None:
    """Everyone signed in with access tokens living ``SHORT_TTL_SECONDS``, stored sealed; then
    the wait that expires them all."""
    configure(url, latency_ms=0, access_token_ttl_seconds=SHORT_TTL_SECONDS,
               jwt_clock_skew_seconds=0)  # fmt: skip
    client = RastarClient(url, DEFAULT_ANON_KEY)
    with timed() as took, ThreadPoolExecutor(max_workers=threads) as pool:
        sessions = list(
            pool.map(lambda user_id: client.sign_in(f"user{user_id}@bench.test", PASSWORD), ids)
        )
    client.close()
    conn.execute("DELETE FROM rastar_accounts")
    conn.execute(
        "INSERT INTO rastar_accounts (user_id, sealed_session, access_expires_at)"
        " SELECT unnest(%s::bigint[]), unnest(%s::text[]), unnest(%s::timestamptz[])",
        (ids, [accounts.seal(box, s) for s in sessions], [s.expires_at for s in sessions]),
    )
    conn.execute("ANALYZE rastar_accounts")
    configure(url, access_token_ttl_seconds=3600)
    time.sleep(SHORT_TTL_SECONDS + 1)
    print(f"   set-up: {len(ids):,} sign-ins, sealed and stored, in {took[0]:.1f} s", flush=True)


def _job(settings: Any, conn: Any, url: str, evening: datetime) -> tuple[float, int, int, int]:
    """One run of the job, drained: seconds, Rastar calls, the most at once, reminders."""
    httpx.post(f"{url}/_fake/stats/reset", timeout=10).raise_for_status()
    run = JobRun(JOB, evening, "manual")
    job = UnselectedFoodReminder(JobContext(settings, conn))
    with timed() as took:
        count = sum(1 for _ in job.messages(run, iter_recipients(conn, Targeting())))
    stats = httpx.get(f"{url}/_fake/stats", timeout=10).json()
    if stats["refresh_refused"]:
        raise RuntimeError(f"Rastar refused {stats['refresh_refused']} refreshes: {run.notes}")
    return took[0], sum(stats["calls"].values()), stats["max_in_flight"], count


def _bare_loop(url: str, conn: Any, box: SecretBox, day: date, threads: int) -> float:
    """The picks of everyone, read with bare httpx and the stored (fresh) tokens."""
    rows = conn.execute("SELECT sealed_session FROM rastar_accounts").fetchall()
    sessions = [accounts.unseal(box, row["sealed_session"]) for row in rows]
    path = protocol.REST_PATH + "user_menu_selections"
    first = day - timedelta(days=HISTORY_DAYS)
    limits = httpx.Limits(max_connections=threads, max_keepalive_connections=threads)
    with httpx.Client(base_url=url, limits=limits) as client:

        def call(session: Any) -> None:
            params = protocol.selections_params("menu_schedule", session.user_id, first, day)
            headers = protocol.person_headers(DEFAULT_ANON_KEY, session.access_token)
            client.get(path, params=params, headers=headers).raise_for_status()

        with timed() as took, ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(call, sessions))
    return took[0]


if __name__ == "__main__":
    main()
