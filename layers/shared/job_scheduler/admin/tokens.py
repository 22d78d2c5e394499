"""Admin API tokens: made and shown once, stored as a SHA-256, revoked by name.

A token is 32 random bytes (``secrets.token_urlsafe``), so a fast hash is enough: there is
nothing to guess that a slow hash would protect. The ``tja_`` prefix makes a leaked token
easy to recognise (and to scrub from logs). A token's role is ``admin`` (changes anything)
or ``viewer`` (reads only: the API answers 403 to anything else).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from job_scheduler.adapters.db import Conn, database_errors
from job_scheduler.audit import record_change
from job_scheduler.errors import InvalidTokenName, TokenExists, TokenNotFound

PREFIX = "tja_"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
TOKEN_RE = re.compile(rf"{PREFIX}[A-Za-z0-9_-]{{43}}")
ROLES = ("admin", "viewer")


@dataclass(frozen=True)
class Holder:
    """Whom a token names, and what it may do."""

    name: str
    role: str
    telegram_user_id: int | None = None  # where "Send me a test" goes

    @property
    def can_change(self) -> bool:
        return self.role == "admin"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(
    conn: Conn,
    name: str,
    actor: str,
    role: str = "admin",
    telegram_user_id: int | None = None,
) -> str:
    """A new token named ``name``; the only time it is ever returned."""
    if role not in ROLES:
        raise InvalidTokenName(f"{role!r}: a token's role is admin or viewer", "role")
    if not NAME_RE.fullmatch(name):
        raise InvalidTokenName(
            f"{name!r}: a token name is 1-64 letters, digits or . _ @ -, starting with a"
            " letter or digit",
            "name",
        )
    token = PREFIX + secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    with database_errors("creating an admin token"), conn.transaction():
        taken = conn.execute(
            "SELECT revoked_at FROM admin_tokens WHERE name = %s", (name,)
        ).fetchone()
        if taken is not None and taken["revoked_at"] is None:
            raise TokenExists(f"a token named {name!r} exists; revoke it first", "name")
        conn.execute("DELETE FROM admin_tokens WHERE name = %s", (name,))
        conn.execute(
            "INSERT INTO admin_tokens (name, token_sha256, created_at, role, telegram_user_id)"
            " VALUES (%s, %s, %s, %s, %s)",
            (name, digest(token), now, role, telegram_user_id),
        )
        record_change(conn, actor, "create", "admin_token", name, None,
                      {"name": name, "role": role}, now)  # fmt: skip
    return token


def revoke(conn: Conn, name: str, actor: str) -> None:
    now = datetime.now(UTC)
    with database_errors("revoking an admin token"), conn.transaction():
        row = conn.execute(
            "UPDATE admin_tokens SET revoked_at = %s WHERE name = %s AND revoked_at IS NULL"
            " RETURNING name",
            (now, name),
        ).fetchone()
        if row is None:
            raise TokenNotFound(f"there is no live token named {name!r}", "name")
        record_change(conn, actor, "revoke", "admin_token", name, {"name": name}, None, now)


def authenticate(conn: Conn, token: str) -> Holder | None:
    """Whom the live token ``token`` names, with its role; None if it is not one."""
    if not TOKEN_RE.fullmatch(token):
        return None
    with database_errors("checking an admin token"):
        row = conn.execute(
            "UPDATE admin_tokens SET last_used_at = now()"
            " WHERE token_sha256 = %s AND revoked_at IS NULL"
            " RETURNING name, role, telegram_user_id",
            (digest(token),),
        ).fetchone()
    return None if row is None else Holder(row["name"], row["role"], row["telegram_user_id"])
