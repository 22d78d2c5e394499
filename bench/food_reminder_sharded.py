"""The food reminder for 100,000 linked people, Rastar answering each call after 50 ms, split
into shards and run by parallel executor invocations as template.yaml bounds them: against
the floor, people x Rastar calls per person x latency / total concurrency.

    .venv/bin/python -m bench.food_reminder_sharded [--users 100000] [--latency-ms 50]
        [--workers 4] [--rastar-concurrency 8]

``--workers`` defaults to the jobs queue mapping's MaximumConcurrency and
``--rastar-concurrency`` to the executor's RASTAR_CONCURRENCY (4 and 8: a total of 32
Rastar calls at once, whatever the audience). Set-up (``bench.food_reminder``'s): the users,
an account each in the fake Supabase (its own process; every third person has picked
tomorrow), every one signed in and its session sealed into ``rastar_accounts``, the access
tokens living 2 s so that by the first run every one has expired.

Measured, in this order, each from the firing (``Executor.execute`` plans the shards of
``UnselectedFoodReminder.shard_size`` people and queues their tasks) to the execution
``succeeded``, W worker processes taking shard tasks off the jobs queue as job_executor
invocations would (``bench.sharded_fanout.worker``):

- expired: every session refreshed first (GoTrue's refresh grant under the account's row
  lock), then the picks read: two Rastar calls a person;
- fresh: the same people again, their sessions now fresh: one call a person.

Each run is checked: every linked person a recipient, the reminders exactly those without a
pick for tomorrow, no refresh refused. Printed per run: seconds, the floor, the ratio, the
longest shard (against the executor's 60 s timeout), the most Rastar calls the fake saw at
once (against the total concurrency), and the workers' peak RSS. The last line is the
ratios. About 12 minutes with the defaults, set-up included. Nothing asserts on time.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import httpx

from bench import sharded_fanout
from bench.food_reminder import (
    configure,
    load_people,
    next_evening_with_food,
    services,
    sign_in_all,
)
from bench.harness import (
    bench_settings,
    footer,
    header,
    make_queue,
    quiet,
    ratio,
    sqs_client,
    table,
)
from infra.fakes.supabase import DEFAULT_ANON_KEY
from infra.local.template import load_template, sqs_sources
from job_scheduler.adapters.db import connect, drop_connection
from job_scheduler.execution.firing import Firing
from job_scheduler.jobs.food_reminder.job import UnselectedFoodReminder
from job_scheduler.jobs.food_reminder.run import tomorrow
from job_scheduler.model import JobRun, Trigger
from job_scheduler.rastar.crypto import SecretBox
from job_scheduler.sync.startup import run_startup

JOB = UnselectedFoodReminder.name


def template_concurrency() -> tuple[int, int]:
    """The jobs mapping's MaximumConcurrency and the executor's RASTAR_CONCURRENCY."""
    template = load_template()
    jobs = next(s for s in sqs_sources(template) if s.function == "JobExecutorFunction")
    variables = template["Resources"]["JobExecutorFunction"]["Properties"]["Environment"]
    return jobs.concurrency, int(variables["Variables"]["RASTAR_CONCURRENCY"])


def main() -> None:
    workers, rastar = template_concurrency()
    parser = argparse.ArgumentParser(prog="python -m bench.food_reminder_sharded")
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--workers", type=int, default=workers)
    parser.add_argument("--rastar-concurrency", type=int, default=rastar)
    args = parser.parse_args()
    quiet("ERROR")  # a shard waiting for another's lease warns: expected here
    total = args.workers * args.rastar_concurrency
    header("food reminder, sharded", users=args.users, latency_ms=args.latency_ms,
           workers=args.workers, rastar_concurrency=args.rastar_concurrency,
           total_concurrency=total, shard_size=UnselectedFoodReminder.shard_size)  # fmt: skip
    evening = next_evening_with_food()
    day = tomorrow(JobRun(JOB, evening, "schedule"))
    key = SecretBox.new_key()
    rows, ratios = [], []
    with services() as (database_url, aws_url, url):
        sqs = sqs_client(aws_url)
        settings = replace(
            bench_settings(database_url, aws_url, make_queue(sqs, "notifications"), "http://x"),
            jobs_queue_url=make_queue(sqs, "jobs", 360),
            rastar_supabase_url=url,
            rastar_supabase_anon_key=DEFAULT_ANON_KEY,
            rastar_encryption_keys=key,
            rastar_concurrency=args.rastar_concurrency,
        )
        conn = connect(database_url)
        run_startup(settings)  # the coded jobs, the food reminder among them
        drop_connection(settings.database_url)
        ids = load_people(conn, url, args.users, day)
        sign_in_all(conn, url, SecretBox([key]), ids, total)
        configure(url, latency_ms=args.latency_ms)
        bench = SimpleNamespace(job=UnselectedFoodReminder, users=args.users, conn=conn, sqs=sqs)
        reminders = sum(1 for position in range(args.users) if position % 3)
        for minute, name in enumerate(("expired sessions", "fresh sessions")):
            httpx.post(f"{url}/_fake/stats/reset", timeout=10).raise_for_status()
            firing = Firing(JOB, evening + timedelta(minutes=minute), Trigger.MANUAL,
                            requested_by="bench")  # fmt: skip
            observed: dict[str, Any] = {}

            def check(bench: Any, execution_id: int, observed: dict[str, Any] = observed) -> None:
                observed.update(_checked(bench.conn, execution_id, args.users, reminders))

            seconds, worked, shards = sharded_fanout.sharded(bench, settings, args.workers,
                                                            check, firing)  # fmt: skip
            stats = httpx.get(f"{url}/_fake/stats", timeout=10).json()
            if stats["refresh_refused"]:
                raise RuntimeError(f"Rastar refused {stats['refresh_refused']} refreshes")
            calls = sum(stats["calls"].values()) / args.users
            floor = args.users * calls * args.latency_ms / 1000 / total
            rows.append((name, shards, seconds, f"{calls:.2f}", round(floor, 1),
                         ratio(seconds, floor),
                         round(max(w.longest_shard_seconds for w in worked), 1),
                         f"{stats['max_in_flight']}/{total}",
                         f"{max(w.rss_mb for w in worked):.0f}",
                         observed["reminders"]))  # fmt: skip
            ratios.append(f"{name} {seconds / floor:.2f}x")
        configure(url, latency_ms=0)
    table(("run", "shards", "seconds", "Rastar calls/person", "floor s", "vs floor",
           "longest shard s", "most at once", "peak RSS MB", "reminders"), rows)  # fmt: skip
    footer()
    print("sharded food reminder vs its floor: " + ", ".join(ratios))


def _checked(conn: Any, execution_id: int, people: int, reminders: int) -> dict[str, Any]:
    """Every linked person a recipient, a reminder for exactly those without tomorrow's
    pick."""
    row = conn.execute(
        "SELECT recipients_count, queued_count FROM job_executions WHERE id = %s",
        (execution_id,),
    ).fetchone()
    if (row["recipients_count"], row["queued_count"]) != (people, reminders):
        raise RuntimeError(f"the sharded reminder is wrong: {dict(row)}; expected"
                           f" {people} recipients and {reminders} reminders")  # fmt: skip
    return {"reminders": row["queued_count"]}


if __name__ == "__main__":
    main()
