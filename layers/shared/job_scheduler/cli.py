"""``jobsctl``: schedules from the command line, and the startup sync on demand.

Exit codes: 0 done, 2 the input was wrong (the message says what to fix), 1 anything else.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

from job_scheduler import observability
from job_scheduler.adapters.db import get_connection
from job_scheduler.admin import tokens as admin_tokens
from job_scheduler.admin.queries import get_job, list_executions, list_jobs
from job_scheduler.admin.specs import CustomJobSpec, create_custom_job
from job_scheduler.config import Settings, get_settings
from job_scheduler.errors import InvalidJob, JobSchedulerError, ScheduleError
from job_scheduler.execution.manual_run import queue_manual_firing
from job_scheduler.messages.rendering import MessageConfig
from job_scheduler.rastar import accounts
from job_scheduler.rastar.crypto import SecretBox
from job_scheduler.schedule import Schedule, describe, utc_rule_expressions
from job_scheduler.sync.startup import run_startup

EXIT_BAD_INPUT = 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (ScheduleError, InvalidJob) as exc:
        where = f" ({exc.field})" if getattr(exc, "field", None) else ""
        print(f"jobsctl: {exc}{where}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except JobSchedulerError as exc:
        print(f"jobsctl: {exc}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jobsctl", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    validate = commands.add_parser("validate", help="check an expression and describe it")
    validate.add_argument("expression", help='e.g. "cron(0 22 * * ? *)" or "rate(5 minutes)"')
    validate.add_argument("--tz", default="UTC", help="IANA timezone (default UTC)")
    validate.set_defaults(run=_validate)

    upcoming = commands.add_parser("next", help="the next fire instants in a timezone")
    upcoming.add_argument("expression")
    upcoming.add_argument("--tz", required=True, help="IANA timezone, e.g. Asia/Tehran")
    upcoming.add_argument("--after", type=_instant, help="ISO 8601 instant (default now)")
    upcoming.add_argument("-n", type=_count, default=5, help="how many (default 5)")
    upcoming.set_defaults(run=_next)

    rules = commands.add_parser("rules", help="the UTC EventBridge expression(s) to install")
    rules.add_argument("expression")
    rules.add_argument("--tz", required=True)
    rules.set_defaults(run=_rules)

    sync = commands.add_parser("sync", help="run the startup sync against this environment")
    sync.set_defaults(run=_sync)

    fire = commands.add_parser("fire", help="queue a firing of a job, as 'run now' does")
    fire.add_argument("job")
    fire.add_argument("--at", type=_instant, help="the firing's time (default: this minute)")
    fire.set_defaults(run=_fire)

    jobs = commands.add_parser("jobs", help="list jobs with their next run and last status")
    jobs.set_defaults(run=_jobs)

    history = commands.add_parser("executions", help="a job's execution history, newest first")
    history.add_argument("job")
    history.add_argument("-n", type=_count, default=20, help="how many (default 20)")
    history.add_argument("--status", choices=EXECUTION_STATUSES)
    history.set_defaults(run=_executions)

    job = commands.add_parser("job", help="manage custom-message jobs")
    job_commands = job.add_subparsers(required=True, metavar="ACTION")
    create = job_commands.add_parser("create", help="create a custom-message job")
    create.add_argument("name")
    create.add_argument("--cron", required=True, help='e.g. "cron(0 9 ? * MON *)"')
    create.add_argument("--tz", default=None, help="IANA timezone (default DEFAULT_TIMEZONE)")
    create.add_argument("--text", required=True, help="the message, a Jinja template")
    create.add_argument("--html", action="store_true", help="the text is Telegram HTML")
    create.add_argument("--silent", action="store_true", help="deliver without a sound")
    create.add_argument("--include", type=_ids, default=(), help="user ids, comma-separated")
    create.add_argument("--exclude", type=_ids, default=(), help="user ids, comma-separated")
    create.add_argument("--packs", type=_ids, default=(), help="character pack ids")
    create.add_argument("--description", default="")
    create.add_argument("--disabled", action="store_true", help="create it disabled")
    create.set_defaults(run=_create_job)

    user = commands.add_parser("user", help="manage users")
    user_commands = user.add_subparsers(required=True, metavar="ACTION")
    link = user_commands.add_parser(
        "link-rastar",
        help="link a user's Rastar account (the token is read from stdin or a prompt, never"
        " from the command line, where shell history would keep it)",
    )
    link.add_argument("user_id", type=int)
    link.set_defaults(run=_link_rastar)

    admin_token = commands.add_parser("admin-token", help="tokens for the admin API")
    admin_commands = admin_token.add_subparsers(required=True, metavar="ACTION")
    make = admin_commands.add_parser("create", help="make a token and print it, once")
    make.add_argument("name", help="who or what uses it, e.g. sara or ci-deploy")
    make.set_defaults(run=_create_admin_token)
    drop = admin_commands.add_parser("revoke", help="stop a token from working")
    drop.add_argument("name")
    drop.set_defaults(run=_revoke_admin_token)

    rastar = commands.add_parser("rastar", help="the Rastar tokens' encryption keys")
    rastar_commands = rastar.add_subparsers(required=True, metavar="ACTION")
    rastar_commands.add_parser(
        "new-key", help="print a new key for RASTAR_ENCRYPTION_KEYS"
    ).set_defaults(run=_new_key)
    rastar_commands.add_parser(
        "rotate-keys",
        help="re-encrypt every stored token with the first key of RASTAR_ENCRYPTION_KEYS",
    ).set_defaults(run=_rotate_keys)
    return parser


EXECUTION_STATUSES = ("running", "succeeded", "failed", "skipped", "missed")


def _ids(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: write ids as whole numbers separated by commas, e.g. 3,7,12"
        ) from None


def _instant(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not ISO 8601; write e.g. 2027-03-27T00:00:00Z"
        ) from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no offset; add Z or e.g. +03:30")
    return moment


def _count(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 1000:
        raise argparse.ArgumentTypeError(f"-n takes a whole number from 1 to 1000, not {text!r}")
    return int(text)


def _validate(args: argparse.Namespace) -> int:
    print(describe(Schedule.parse(args.expression, args.tz)))
    return 0


def _next(args: argparse.Namespace) -> int:
    schedule = Schedule.parse(args.expression, args.tz)
    for instant in schedule.next_runs(args.after or datetime.now(UTC), args.n):
        print(instant.astimezone(schedule.zone).isoformat())
    return 0


def _rules(args: argparse.Namespace) -> int:
    for expression in utc_rule_expressions(Schedule.parse(args.expression, args.tz)):
        print(expression)
    return 0


def _environment() -> Settings:
    """Settings and logging for commands that talk to the services (logs go to stderr)."""
    settings = get_settings()
    observability.configure(settings, stream=sys.stderr)
    return settings


def _sync(args: argparse.Namespace) -> int:
    print(json.dumps(run_startup(_environment()).as_dict(), indent=2))
    return 0


def _fire(args: argparse.Namespace) -> int:
    settings = _environment()
    job = get_job(get_connection(settings.database_url), args.job)
    firing = queue_manual_firing(settings, job["name"], f"jobsctl:{getpass.getuser()}", args.at)
    print(f"queued {job['name']} for {firing.scheduled_for.isoformat()} (manual)")
    return 0


def _jobs(args: argparse.Namespace) -> int:
    settings = _environment()
    now = datetime.now(UTC)
    for job in list_jobs(get_connection(settings.database_url)):
        schedule = Schedule.parse(job["cron_expression"], job["timezone"])
        upcoming = schedule.next_after(now)
        state = "orphaned" if job["orphaned_at"] else "enabled" if job["enabled"] else "disabled"
        last = (
            f"{job['last_status']} {job['last_scheduled_for']:%Y-%m-%d %H:%M}Z"
            if job["last_status"]
            else "never run"
        )
        print(f"{job['name']}  [{job['kind']}, {state}]  {describe(schedule)}")
        next_run = upcoming.astimezone(schedule.zone).isoformat() if upcoming else "none"
        print(f"    next {next_run}   last {last}")
    return 0


def _executions(args: argparse.Namespace) -> int:
    settings = _environment()
    rows = list_executions(
        get_connection(settings.database_url), args.job, args.status, None, args.n
    )
    print(
        "id  scheduled_for (UTC)  trigger   status     lock               recipients queued"
        " sent failed  error or detail"
    )
    for row in rows:
        print(
            f"{row['id']:<3} {row['scheduled_for']:%Y-%m-%d %H:%M}     {row['trigger']:<9} "
            f"{row['status']:<10} {row['lock_mode'] or '-':<18} {row['recipients_count']:>10} "
            f"{row['queued_count']:>6} {row['sent_count']:>4} {row['failed_count']:>6}  "
            f"{(row['error'] or row['detail'] or '')[:120]}"
        )
    return 0


def _create_job(args: argparse.Namespace) -> int:
    settings = _environment()
    spec = CustomJobSpec(
        name=args.name,
        cron_expression=args.cron,
        timezone=args.tz or settings.default_timezone,
        message=MessageConfig.from_json(
            {"text": args.text, "parse_mode": "HTML" if args.html else None, "silent": args.silent}
        ),
        description=args.description,
        enabled=not args.disabled,
        include_user_ids=args.include,
        exclude_user_ids=args.exclude,
        pack_ids=args.packs,
    )
    conn = get_connection(settings.database_url)
    create_custom_job(conn, spec, actor=f"jobsctl:{getpass.getuser()}")
    summary = run_startup(settings)
    print(f"created {args.name}; rules: {summary.rules_created or 'unchanged'}")
    return 0


def _link_rastar(args: argparse.Namespace) -> int:
    settings = _environment()
    box = SecretBox.from_settings(settings)  # before asking: no key, no point
    if sys.stdin.isatty():
        token = getpass.getpass(f"Rastar token for user {args.user_id}: ")
    else:
        token = sys.stdin.readline()
    try:
        accounts.link(get_connection(settings.database_url), box, args.user_id, token)
    except accounts.InvalidRastarToken as exc:
        print(f"jobsctl: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"linked user {args.user_id} to Rastar (token stored encrypted)")
    return 0


def _new_key(args: argparse.Namespace) -> int:
    print(SecretBox.new_key())
    return 0


def _rotate_keys(args: argparse.Namespace) -> int:
    settings = _environment()
    count = accounts.reseal_all(
        get_connection(settings.database_url), SecretBox.from_settings(settings)
    )
    print(f"re-encrypted {count} Rastar token(s) with the first key")
    return 0


def _create_admin_token(args: argparse.Namespace) -> int:
    settings = _environment()
    try:
        token = admin_tokens.create(
            get_connection(settings.database_url), args.name, f"jobsctl:{getpass.getuser()}"
        )
    except admin_tokens.InvalidTokenName as exc:
        print(f"jobsctl: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(token)
    print(f"(the admin token {args.name!r}; it is not shown again)", file=sys.stderr)
    return 0


def _revoke_admin_token(args: argparse.Namespace) -> int:
    settings = _environment()
    try:
        admin_tokens.revoke(
            get_connection(settings.database_url), args.name, f"jobsctl:{getpass.getuser()}"
        )
    except admin_tokens.InvalidTokenName as exc:
        print(f"jobsctl: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"revoked the admin token {args.name!r}")
    return 0
