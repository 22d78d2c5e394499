"""Users' linked Rastar accounts: tokens sealed at rest, refusals remembered.

A refused token (``CredentialsRefused``) marks the account ``refused``; the user is told
once to link again (``relink_notified_at``) and is not checked again until they do.
Linking again resets all of that.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import psycopg

from job_scheduler.adapters.db import database_errors
from job_scheduler.errors import InvalidRastarToken, UserNotFound
from job_scheduler.rastar.crypto import SecretBox

MAX_TOKEN_LENGTH = 4096


@dataclass(frozen=True)
class Account:
    user_id: int
    sealed_token: str
    refused: bool
    relink_notified: bool


def check_token(token: str) -> str:
    token = token.strip()
    if not token:
        raise InvalidRastarToken("the Rastar token is empty")
    if len(token) > MAX_TOKEN_LENGTH or any(ch.isspace() for ch in token):
        raise InvalidRastarToken(
            f"a Rastar token is one line without spaces, at most {MAX_TOKEN_LENGTH} characters"
        )
    return token


def link(conn: psycopg.Connection, box: SecretBox, user_id: int, token: str) -> None:
    """Store (or replace) the user's token, sealed; a refused account is linked again."""
    sealed = box.encrypt(check_token(token))
    with database_errors("linking a Rastar account"):
        found = conn.execute("SELECT 1 FROM users WHERE id = %s", (user_id,)).fetchone()
        if found is None:
            raise UserNotFound(f"there is no user with id {user_id}", "user_id")
        conn.execute(
            "INSERT INTO rastar_accounts (user_id, sealed_token) VALUES (%s, %s)"
            " ON CONFLICT (user_id) DO UPDATE SET sealed_token = EXCLUDED.sealed_token,"
            " status = 'linked', refused_at = NULL, refused_reason = NULL,"
            " relink_notified_at = NULL, linked_at = now(), updated_at = now()",
            (user_id, sealed),
        )


def accounts_of(conn: psycopg.Connection, user_ids: Sequence[int]) -> dict[int, Account]:
    """The accounts of these users, by user id (users without one are absent)."""
    with database_errors("reading Rastar accounts"):
        rows = conn.execute(
            "SELECT user_id, sealed_token, status, relink_notified_at FROM rastar_accounts"
            " WHERE user_id = ANY(%s)",
            (list(user_ids),),
        ).fetchall()
    return {
        row["user_id"]: Account(
            row["user_id"],
            row["sealed_token"],
            row["status"] == "refused",
            row["relink_notified_at"] is not None,
        )
        for row in rows
    }


def mark_refused(conn: psycopg.Connection, user_id: int, reason: str, sealed_token: str) -> None:
    """Record that Rastar refused this token; a token linked since then stays linked."""
    with database_errors("recording a refused Rastar token"):
        conn.execute(
            "UPDATE rastar_accounts SET status = 'refused', refused_at = now(),"
            " refused_reason = %s, updated_at = now()"
            " WHERE user_id = %s AND status = 'linked' AND sealed_token = %s",
            (reason, user_id, sealed_token),
        )


def mark_relink_notified(conn: psycopg.Connection, user_ids: Sequence[int]) -> None:
    with database_errors("recording re-link notices"):
        conn.execute(
            "UPDATE rastar_accounts SET relink_notified_at = now(), updated_at = now()"
            " WHERE user_id = ANY(%s) AND status = 'refused'",
            (list(user_ids),),
        )


def reseal_all(conn: psycopg.Connection, box: SecretBox) -> int:
    """Re-encrypt every stored token with the newest key (key rotation); how many."""
    with database_errors("re-encrypting Rastar tokens"), conn.transaction():
        rows = conn.execute(
            "SELECT user_id, sealed_token FROM rastar_accounts ORDER BY user_id FOR UPDATE"
        ).fetchall()
        for row in rows:
            conn.execute(
                "UPDATE rastar_accounts SET sealed_token = %s WHERE user_id = %s",
                (box.rotate(row["sealed_token"]), row["user_id"]),
            )
    return len(rows)
