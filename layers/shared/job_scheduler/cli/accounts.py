"""``jobsctl user|admin-token|rastar …``: people's Rastar links, admin tokens, sealing keys."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from job_scheduler.admin import tokens
from job_scheduler.cli.options import actor, connection, environment
from job_scheduler.rastar import accounts, linking
from job_scheduler.rastar.crypto import SecretBox


def add_commands(commands: Any) -> None:
    user = commands.add_parser("user", help="manage users")
    user_actions = user.add_subparsers(required=True, metavar="ACTION")
    link = user_actions.add_parser(
        "link-rastar",
        help="print a one-time link (ten minutes, single use) where the user signs in to"
        " Rastar themselves; their password never passes through here",
    )
    link.add_argument("user_id", type=int)
    link.set_defaults(run=_link_rastar)
    unlink = user_actions.add_parser(
        "unlink-rastar", help="forget a user's Rastar account (reminders stop for them)"
    )
    unlink.add_argument("user_id", type=int)
    unlink.set_defaults(run=_unlink_rastar)

    admin_token = commands.add_parser("admin-token", help="tokens for the admin API")
    token_actions = admin_token.add_subparsers(required=True, metavar="ACTION")
    make = token_actions.add_parser("create", help="make a token and print it, once")
    make.add_argument("name", help="who or what uses it, e.g. sara or ci-deploy")
    make.add_argument(
        "--role",
        choices=tokens.ROLES,
        default="admin",
        help="admin changes anything; viewer only reads (default: admin)",
    )
    make.add_argument("--telegram-user", type=int, metavar="ID",
                      help="your Telegram user id, where 'Send me a test' goes")  # fmt: skip
    make.set_defaults(run=_create_admin_token)
    drop = token_actions.add_parser("revoke", help="stop a token from working")
    drop.add_argument("name")
    drop.set_defaults(run=_revoke_admin_token)

    rastar = commands.add_parser("rastar", help="the keys Rastar sessions are sealed with")
    key_actions = rastar.add_subparsers(required=True, metavar="ACTION")
    key_actions.add_parser(
        "new-key", help="print a new key for RASTAR_ENCRYPTION_KEYS"
    ).set_defaults(run=_new_key)
    key_actions.add_parser(
        "rotate-keys",
        help="re-encrypt every stored session with the first key of RASTAR_ENCRYPTION_KEYS",
    ).set_defaults(run=_rotate_keys)


def _link_rastar(args: argparse.Namespace) -> int:
    settings = environment()
    SecretBox.from_settings(settings)  # no key to seal the session with: say so now
    url = linking.create_link(connection(settings), settings, args.user_id)
    print(url)
    minutes = settings.link_ttl_seconds // 60
    print(
        f"(a one-time link for user {args.user_id}: it works once, for {minutes} minutes;"
        " earlier links for them stop working)",
        file=sys.stderr,
    )
    return 0


def _unlink_rastar(args: argparse.Namespace) -> int:
    settings = environment()
    if accounts.unlink(connection(settings), args.user_id):
        print(f"unlinked user {args.user_id} from Rastar (their session is forgotten)")
        return 0
    print(f"user {args.user_id} has no linked Rastar account", file=sys.stderr)
    return 1


def _new_key(args: argparse.Namespace) -> int:
    print(SecretBox.new_key())
    return 0


def _rotate_keys(args: argparse.Namespace) -> int:
    settings = environment()
    count = accounts.reseal_all(connection(settings), SecretBox.from_settings(settings))
    print(f"re-encrypted {count} Rastar session(s) with the first key")
    return 0


def _create_admin_token(args: argparse.Namespace) -> int:
    token = tokens.create(connection(environment()), args.name, actor(), args.role,
                          args.telegram_user)  # fmt: skip
    print(token)
    print(f"(the {args.role} token {args.name!r}; it is not shown again)", file=sys.stderr)
    return 0


def _revoke_admin_token(args: argparse.Namespace) -> int:
    tokens.revoke(connection(environment()), args.name, actor())
    print(f"revoked the admin token {args.name!r}")
    return 0
