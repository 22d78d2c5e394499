"""``make run``: the system on this machine, with nothing configured and no Docker.

See ``runtime.py`` for what starts; this prints where to look and stops on Ctrl-C.
"""

from __future__ import annotations

import signal
import sys
from datetime import UTC, datetime

from job_scheduler.adapters.db import get_connection
from job_scheduler.admin.queries import list_jobs
from job_scheduler.errors import JobSchedulerError
from job_scheduler.schedule.describe import describe
from job_scheduler.schedule.lifetime import Lifetime
from job_scheduler.schedule.zoned import Schedule

from .runtime import LocalRuntime


def main() -> int:
    runtime = LocalRuntime()
    try:
        runtime.start()
    except JobSchedulerError as exc:
        print(f"make run: {exc}", file=sys.stderr)
        runtime.stop()
        return 1
    signal.signal(signal.SIGINT, lambda *_: runtime.stop_event.set())
    signal.signal(signal.SIGTERM, lambda *_: runtime.stop_event.set())
    _banner(runtime)
    runtime.stop_event.wait()
    print("\nstopping ...")
    runtime.stop()
    print("stopped")
    return 0


def _banner(runtime: LocalRuntime) -> None:
    settings = runtime.settings
    assert settings is not None and runtime.services is not None
    print("\n" + "=" * 72)
    print("Telegram scheduled jobs: running locally")
    print("=" * 72)
    for note in runtime.services.notes:
        print(f"  {note}")
    where = "LocalStack/AWS" if runtime.on_localstack else "moto's server"
    print(f"  AWS: {where} at {runtime.endpoint}")
    ticking = "the local rule ticker" if runtime.ticker else "the endpoint itself"
    print(f"  Rules fire through {ticking}; {len(runtime.pollers)} SQS pollers run the handlers")
    if runtime.recovered is not None and runtime.recovered.summary() != "nothing stranded":
        print(f"  Recovered what the last run left: {runtime.recovered.summary()}")
    if runtime.seeded:
        print("  Demo data created: 36 users, 2 packs, a custom job every minute")
    _rastar_banner(runtime)
    print("\nJobs:")
    now = datetime.now(UTC)
    for overview in list_jobs(get_connection(settings.database_url)):
        job = overview.job
        schedule = Schedule.parse(job.cron_expression, job.timezone)
        lifetime = Lifetime.of(job, schedule)
        upcoming = next(iter(lifetime.next_runs(now, 1)), None)
        ending = lifetime.ending(now)
        state = ending.state if ending else "enabled" if job.enabled else "disabled"
        when = upcoming.astimezone(schedule.zone).strftime("%Y-%m-%d %H:%M %Z") if upcoming else "-"
        print(f"  {job.name:<28} {describe(schedule)} [{state}], next {when}")
    if runtime.webhook is not None:
        how = "long-polling getUpdates" if runtime.update_poller else "webhook set"
        print(f"\nBot webhook: {runtime.webhook.url}  ({how})")
    if runtime.admin is not None:
        print(f"\nAdmin site: {runtime.admin.url}  (token, new this run: {runtime.admin.token})")
    print("\nIn another terminal:")
    print("  . .local/run.env && .venv/bin/jobsctl jobs")
    print("  . .local/run.env && .venv/bin/jobsctl fire unselected-food-reminder")
    unlinked = [account for account in runtime.demo_accounts if not account.linked]
    if unlinked:
        print(f"  . .local/run.env && .venv/bin/jobsctl user link-rastar {unlinked[0].user_id}"
              "   # prints a one-time link page")  # fmt: skip
    if runtime.services.telegram_api_url.startswith("http://127.0.0.1"):
        print(
            f"\nChats (act as a person, see what the bot sends): "
            f"{runtime.services.telegram_api_url}/_fake"
        )
    print("Ctrl-C stops everything.\n")


def _rastar_banner(runtime: LocalRuntime) -> None:
    """The fake Rastar's demo accounts: whom the reminder will check, and some to link."""
    demo = runtime.demo_accounts
    if not demo:
        return
    linked = sum(account.linked for account in demo)
    print(f"  Rastar demo accounts: {len(demo)} in the fake, {linked} linked; not linked yet:")
    for account in [account for account in demo if not account.linked][:4]:
        print(f"    user {account.user_id:<3} {account.first_name:<10} sign in as"
              f" {account.email} / {account.password}")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
