"""``jobsctl user|admin-token|rastar …``: people's Rastar links, admin tokens, sealing keys."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from job_scheduler.admin import tokens
from job_scheduler.cli.options import actor, connection, environment
from job_scheduler.rastar import accounts
from job_scheduler.rastar.crypto import SecretBox


def add_commands(commands: Any) -> None:
    user = commands.add_parser("user", help="manage users")
    user_actions = user.add_subparsers(required=True, metavar="ACTION")
    link = user_actions.add_parser(
        "link-rastar",
        help="link a user's Rastar account (the token is read from stdin or a prompt, never"
        " from the command line, where shell history would keep it)",
    )
    link.add_argument("user_id", type=int)
    link.set_defaults(run=_link_rastar)

    admin_token = commands.add_parser("admin-token", help="tokens for the admin API")
    token_actions = admin_token.add_subparsers(required=True, metavar="ACTION")
    make = token_actions.add_parser("create", help="make a token and print it, once")
    make.add_argument("name", help="who or what uses it, e.g. sara or ci-deploy")
    make.set_defaults(run=_create_admin_token)
    drop = token_actions.add_parser("revoke", help="stop a token from working")
    drop.add_argument("name")
    drop.set_defaults(run=_revoke_admin_token)

    rastar = commands.add_parser("rastar", help="the Rastar tokens' encryption keys")
    key_actions = rastar.add_subparsers(required=True, metavar="ACTION")
    key_actions.add_parser(
        "new-key", help="print a new key for RASTAR_ENCRYPTION_KEYS"
    ).set_defaults(run=_new_key)
    key_actions.add_parser(
        "rotate-keys",
        help="re-encrypt every stored token with the first key of RASTAR_ENCRYPTION_KEYS",
    ).set_defaults(run=_rotate_keys)


def _link_rastar(args: argparse.Namespace) -> int:
    settings = environment()
    box = SecretBox.from_settings(settings)  # before asking: no key, no point
    if sys.stdin.isatty():
        token = getpass.getpass(f"Rastar token for user {args.user_id}: ")
    else:
        token = sys.stdin.readline()
    accounts.link(connection(settings), box, args.user_id, token)
    print(f"linked user {args.user_id} to Rastar (token stored encrypted)")
    return 0


def _new_key(args: argparse.Namespace) -> int:
    print(SecretBox.new_key())
    return 0


def _rotate_keys(args: argparse.Namespace) -> int:
    settings = environment()
    count = accounts.reseal_all(connection(settings), SecretBox.from_settings(settings))
    print(f"re-encrypted {count} Rastar token(s) with the first key")
    return 0


def _create_admin_token(args: argparse.Namespace) -> int:
    token = tokens.create(connection(environment()), args.name, actor())
    print(token)
    print(f"(the admin token {args.name!r}; it is not shown again)", file=sys.stderr)
    return 0


def _revoke_admin_token(args: argparse.Namespace) -> int:
    tokens.revoke(connection(environment()), args.name, actor())
    print(f"revoked the admin token {args.name!r}")
    return 0
