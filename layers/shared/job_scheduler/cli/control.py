"""``jobsctl execution cancel|retry-failed``, ``jobsctl pause|resume`` and ``jobsctl dlq
show|redrive``: stopping a send, sending again what failed, and the dead-letter queues."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from job_scheduler.cli.options import actor, connection, environment
from job_scheduler.config import Settings
from job_scheduler.delivery.outbox import Outbox
from job_scheduler.delivery.window import Window


def add_commands(commands: Any) -> None:
    execution = commands.add_parser("execution", help="cancel an execution or retry its failures")
    actions = execution.add_subparsers(required=True, metavar="ACTION")
    cancel = actions.add_parser("cancel", help="cancel what is not sent yet (in flight finishes)")
    cancel.add_argument("id", type=int)
    cancel.set_defaults(run=_cancel)
    retry = actions.add_parser(
        "retry-failed", help="send again, once, what failed for Telegram's or the network's reason"
    )
    retry.add_argument("id", type=int)
    retry.set_defaults(run=_retry)

    paused = commands.add_parser("pause", help="pause all sending (firings are skipped)")
    paused.add_argument("--reason", default="", help="shown on every admin page while paused")
    paused.set_defaults(run=_pause)
    resumed = commands.add_parser("resume", help="resume sending what the pause held")
    resumed.set_defaults(run=_resume)

    dlq = commands.add_parser("dlq", help="the dead-letter queues: show or redrive")
    dlq_actions = dlq.add_subparsers(required=True, metavar="ACTION")
    dlq_commands = (
        ("show", _dlq_show, "list what is in a dead-letter queue"),
        ("redrive", _dlq_redrive, "move it back; reset its deliveries"),
    )
    for name, run, text in dlq_commands:
        action = dlq_actions.add_parser(name, help=text)
        action.add_argument("queue", choices=("jobs", "notifications"))
        action.set_defaults(run=run)


def _window(settings: Settings) -> Window:
    from job_scheduler.adapters.aws import client

    outbox = Outbox(client(settings, "sqs"), settings.notifications_queue_url)
    return Window.of(outbox, settings)


def _cancel(args: argparse.Namespace) -> int:
    from job_scheduler.execution.cancellation import cancel_execution

    settings = environment()
    done = cancel_execution(connection(settings), args.id, actor(), datetime.now(UTC))
    print(f"execution {done.execution_id} of {done.job} cancelled (was {done.was}):"
          f" {done.cancelled} deliveries will not be sent; {done.in_flight} were in flight"
          " and finish")  # fmt: skip
    return 0


def _retry(args: argparse.Namespace) -> int:
    from job_scheduler.delivery.retry import retry_failed

    settings = environment()
    done = retry_failed(connection(settings), _window(settings), args.id, actor(),
                        datetime.now(UTC))  # fmt: skip
    print(f"execution {done.execution_id} of {done.job}: {done.retried} failed deliveries"
          f" queued again; {done.not_retried} left failed (the person's reason, or a message"
          " Telegram refused)")  # fmt: skip
    return 0


def _pause(args: argparse.Namespace) -> int:
    from job_scheduler.delivery import pause

    settings = environment()
    made = pause.pause(connection(settings), actor(), args.reason, datetime.now(UTC))
    print(f"{made.describe()}; `jobsctl resume` sends what it holds")
    return 0


def _resume(args: argparse.Namespace) -> int:
    from job_scheduler.delivery import pause

    settings = environment()
    done = pause.resume_and_top_up(connection(settings), _window(settings).top_up, actor(),
                                   settings.pause_max_delay_seconds, datetime.now(UTC))  # fmt: skip
    dropped = (f"; {done.dropped} deliveries dropped as missed (paused longer than"
               f" {settings.pause_max_delay_seconds} s)" if done.dropped else "")  # fmt: skip
    print(f"resumed after {done.paused_seconds} s: {done.executions} executions sending"
          f" again{dropped}")  # fmt: skip
    return 0


def _dlq_show(args: argparse.Namespace) -> int:
    from job_scheduler.ops.dead_letters import DeadLetters

    letters = DeadLetters(environment(), args.queue)
    found = letters.show()
    print(f"{len(found)} message(s) in the {args.queue} dead-letter queue")
    for letter in found:
        print(f"  {letter.message_id}  sent {letter.sent_at:%Y-%m-%d %H:%M:%S} UTC,"
              f" received {letter.receives}x  {letter.summary}")  # fmt: skip
    return 0


def _dlq_redrive(args: argparse.Namespace) -> int:
    from job_scheduler.ops.dead_letters import DeadLetters

    settings = environment()
    done = DeadLetters(settings, args.queue).redrive(connection(settings))
    reset = f"; {done.deliveries_reset} deliveries reset to send" if args.queue != "jobs" else ""
    print(f"{done.messages} message(s) moved back to the {args.queue} queue{reset}")
    return 0
