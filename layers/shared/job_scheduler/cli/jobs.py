"""``jobsctl sync|fire|jobs|executions|job …``: jobs and their history.

Creating, editing, enabling, disabling and deleting a job go through ``admin.edits``, as
the admin API's do: the same checks, the rules changed in the same transaction, the same
audit row (the actor is ``cli:<os user>``).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from job_scheduler.admin import edits, queries
from job_scheduler.admin.specs import CustomJobSpec
from job_scheduler.admin.volume import VolumeGuard
from job_scheduler.cli.options import actor, connection, count, environment, ids, instant
from job_scheduler.config import Settings
from job_scheduler.errors import InvalidField
from job_scheduler.execution.manual_run import queue_manual_firing
from job_scheduler.model import ExecutionStatus, Job, JobOverview, OverlapPolicy
from job_scheduler.schedule.describe import describe
from job_scheduler.schedule.lifetime import Lifetime
from job_scheduler.schedule.zoned import Schedule
from job_scheduler.sync.rules import RuleStore
from job_scheduler.sync.startup import run_startup


def add_commands(commands: Any) -> None:
    sync = commands.add_parser("sync", help="run the startup sync against this environment")
    sync.set_defaults(run=_sync)

    fire = commands.add_parser("fire", help="queue a firing of a job, as 'run now' does")
    fire.add_argument("job")
    fire.add_argument("--at", type=instant, help="the firing's time (default: this minute)")
    fire.set_defaults(run=_fire)

    listing = commands.add_parser("jobs", help="list jobs with their next run and last status")
    listing.set_defaults(run=_jobs)

    history = commands.add_parser(
        "executions", help="a job's execution history (or every job's), newest first"
    )
    history.add_argument("job", nargs="?", help="one job's (default: every job's)")
    history.add_argument("-n", type=count, default=20, help="how many (default 20)")
    history.add_argument("--status", choices=[status.value for status in ExecutionStatus])
    history.add_argument("--since", type=instant, help="scheduled at or after (ISO 8601)")
    history.add_argument("--until", type=instant, help="scheduled before (ISO 8601)")
    history.set_defaults(run=_executions)

    job = commands.add_parser("job", help="create, edit, enable, disable or delete a job")
    actions = job.add_subparsers(required=True, metavar="ACTION")
    create = actions.add_parser("create", help="create a custom-message job")
    create.add_argument("name")
    create.add_argument(
        "--cron", required=True, help='e.g. "cron(0 9 ? * MON *)"; once: "at(2026-12-04T09:30)"'
    )
    create.add_argument("--text", required=True, help="the message, a Jinja template")
    _job_options(create)
    create.add_argument("--disabled", action="store_true", help="create it disabled")
    create.set_defaults(run=_create_job)

    edit = actions.add_parser("edit", help="change a job's fields (only those given)")
    edit.add_argument("name")
    edit.add_argument("--cron", help='e.g. "cron(0 9 ? * MON *)"; once: "at(2026-12-04T09:30)"')
    edit.add_argument("--text", help="the message, a Jinja template")
    edit.add_argument("--plain", action="store_true", help="the text is plain, not HTML")
    edit.add_argument("--loud", action="store_true", help="deliver with a sound")
    edit.add_argument("--free-broadcast", action="store_true",
                      help="no longer a paid broadcast: back to 30 a second, no Stars")  # fmt: skip
    _job_options(edit)
    edit.set_defaults(run=_edit_job)

    for name, enabled in (("enable", True), ("disable", False)):
        toggle = actions.add_parser(name, help=f"{name} a job and its rules")
        toggle.add_argument("name")
        toggle.set_defaults(run=_set_enabled, enabled=enabled, confirm_audience=False)
        if enabled:
            _confirm_option(toggle)

    delete = actions.add_parser("delete", help="delete a custom-message job and its history")
    delete.add_argument("name")
    delete.set_defaults(run=_delete_job)


def _confirm_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--confirm-audience",
        action="store_true",
        help="save it even if it would send more than the bot's daily budget allows",
    )


def _guard(settings: Settings) -> VolumeGuard:
    return VolumeGuard(settings.telegram_rate_per_second, settings.job_send_budget_hours,
                       settings.telegram_paid_rate_per_second)  # fmt: skip


def _job_options(parser: argparse.ArgumentParser) -> None:
    _confirm_option(parser)
    parser.add_argument("--tz", default=None, help="IANA timezone (default DEFAULT_TIMEZONE)")
    parser.add_argument("--html", action="store_true", help="the text is Telegram HTML")
    parser.add_argument("--silent", action="store_true", help="deliver without a sound")
    parser.add_argument(
        "--paid-broadcast",
        action="store_true",
        help="a paid broadcast (COSTS TELEGRAM STARS): up to 1,000 messages a second, 0.1"
        " Stars for each over the free 30 a second",
    )
    parser.add_argument("--include", type=ids, help="user ids, comma-separated")
    parser.add_argument("--exclude", type=ids, help="user ids, comma-separated")
    parser.add_argument("--packs", type=ids, help="character pack ids")
    parser.add_argument("--description")
    parser.add_argument("--grace", type=int, help="misfire grace in seconds")
    parser.add_argument("--overlap", choices=[policy.value for policy in OverlapPolicy])
    for name, what in (("starts", "from"), ("ends", "until")):
        parser.add_argument(
            f"--{name}",
            metavar="WHEN",
            help=f"a repeating job fires {what} then (inclusive): 2026-12-04T09:00 in its"
            " timezone, or with an offset; '' clears it",
        )


def _targeting_and_policies(args: argparse.Namespace) -> dict[str, Any]:
    """The API fields given on the command line (None: not given)."""
    given = {
        "timezone": args.tz,
        "include_user_ids": args.include,
        "exclude_user_ids": args.exclude,
        "pack_ids": args.packs,
        "description": args.description,
        "misfire_grace_seconds": args.grace,
        "overlap_policy": args.overlap,
        "starts_at": args.starts,
        "ends_at": args.ends,
    }
    return {field: value for field, value in given.items() if value is not None}


def _sync(args: argparse.Namespace) -> int:
    print(json.dumps(run_startup(environment()).as_dict(), indent=2))
    return 0


def _fire(args: argparse.Namespace) -> int:
    settings = environment()
    job = queries.get_job(connection(settings), args.job)
    firing = queue_manual_firing(settings, job.name, actor(), args.at)
    print(f"queued {job.name} for {firing.scheduled_for.isoformat()} (manual)")
    return 0


def _jobs(args: argparse.Namespace) -> int:
    settings = environment()
    now = datetime.now(UTC)
    for overview in queries.list_jobs(connection(settings)):
        print(*_job_lines(overview, now), sep="\n")
    return 0


def _job_lines(overview: JobOverview, now: datetime) -> tuple[str, str]:
    job, last = overview.job, overview.last
    schedule = Schedule.parse(job.cron_expression, job.timezone)
    upcoming = next(iter(Lifetime.of(job, schedule).next_runs(now, 1)), None)
    ending = Lifetime.of(job, schedule).ending(now)
    state = "orphaned" if job.is_orphaned else "enabled" if job.enabled else "disabled"
    state += f", {ending.state}: {ending.says}" if ending else ""
    ran = f"{last.status} {last.scheduled_for:%Y-%m-%d %H:%M}Z" if last else "never run"
    next_run = upcoming.astimezone(schedule.zone).isoformat() if upcoming else "none"
    return (
        f"{job.name}  [{job.kind}, {state}]  {describe(schedule)}",
        f"    next {next_run}   last {ran}",
    )


def _executions(args: argparse.Namespace) -> int:
    settings = environment()
    if args.job and (args.since or args.until):
        raise InvalidField("--since and --until search every job: leave the job out", "job")
    if args.job:
        rows = [(row, args.job) for row in
                queries.list_executions(connection(settings), args.job, args.status, None,
                                        args.n)]  # fmt: skip
    else:
        rows = queries.search_executions(connection(settings), args.status, args.since,
                                         args.until, None, args.n)  # fmt: skip
    print(
        "id  job                  scheduled_for (UTC)  trigger   status     lock"
        "               recipients queued sent failed maybe  error or detail"
    )
    for row, job in rows:
        print(
            f"{row.id:<3} {job[:20]:<20} {row.scheduled_for:%Y-%m-%d %H:%M}     {row.trigger:<9} "
            f"{row.status:<10} {row.lock_mode or '-':<18} {row.recipients_count:>10} "
            f"{row.queued_count:>6} {row.sent_count:>4} {row.failed_count:>6} "
            f"{row.uncertain_count:>5}  {(row.error or row.detail or '')[:120]}"
        )
    print(
        "(maybe: sent, but no answer came back: it may have arrived, and is not sent again)",
        file=sys.stderr,
    )
    return 0


def _create_job(args: argparse.Namespace) -> int:
    settings = environment()
    message = {"text": args.text, "parse_mode": "HTML" if args.html else None,
               "silent": args.silent, "paid_broadcast": args.paid_broadcast}  # fmt: skip
    body = {"name": args.name, "expression": args.cron, "message": message,
            "enabled": not args.disabled, **_targeting_and_policies(args)}  # fmt: skip
    spec = CustomJobSpec.from_fields(body, settings.default_timezone)
    job = edits.create_job(connection(settings), RuleStore(settings), spec, actor(),
                           _guard(settings), args.confirm_audience)  # fmt: skip
    print(f"created {job.name}; rules: {', '.join(job.rule_names) or 'none'}")
    return 0


def _edit_job(args: argparse.Namespace) -> int:
    settings = environment()
    conn = connection(settings)
    job = queries.get_job(conn, args.name)
    body: dict[str, Any] = {"version": job.version, **_targeting_and_policies(args)}
    if args.cron is not None:
        body["expression"] = args.cron
    message = _edited_message(job, args)
    if message is not None:
        body["message"] = message
    confirmed = args.confirm_audience
    changed = edits.edit_job(conn, RuleStore(settings), job.name, body, actor(),
                             guard=_guard(settings), confirm_audience=confirmed)  # fmt: skip
    print(f"edited {changed.name} (version {changed.version})")
    return 0


def _edited_message(job: Job, args: argparse.Namespace) -> dict[str, Any] | None:
    """The job's message with the options given applied, or None if none was given."""
    parts: dict[str, Any] = {}
    if args.text is not None:
        parts["text"] = args.text
    if args.html or args.plain:
        parts["parse_mode"] = "HTML" if args.html else None
    if args.silent or args.loud:
        parts["silent"] = args.silent
    if args.paid_broadcast or args.free_broadcast:
        parts["paid_broadcast"] = args.paid_broadcast
    return {**job.message_config, **parts} if parts else None


def _set_enabled(args: argparse.Namespace) -> int:
    settings = environment()
    conn = connection(settings)
    job = queries.get_job(conn, args.name)
    rules = RuleStore(settings)
    changed = edits.set_enabled(conn, rules, job.name, args.enabled, job.version, actor(),
                                _guard(settings), args.confirm_audience)  # fmt: skip
    print(f"{changed.name} is {'enabled' if changed.enabled else 'disabled'}")
    return 0


def _delete_job(args: argparse.Namespace) -> int:
    settings = environment()
    conn = connection(settings)
    job = queries.get_job(conn, args.name)
    edits.delete_job(conn, RuleStore(settings), job.name, job.version, actor())
    print(f"deleted {job.name} (the audit log keeps it)")
    return 0
