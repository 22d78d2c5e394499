"""People's linked Rastar accounts: their sessions sealed at rest, refusals remembered.

An account holds a sealed ``Session`` (``protocol.Session``: both tokens, the expiry, the
Rastar user id and email) and, in the clear, when its access token expires. A refused
session (``CredentialsRefused``: the refresh token was spent or revoked) marks the account
``refused``; the person is told once to link again (``relink_notified_at``) and is not
checked again until they do. Linking again resets all of that.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from job_scheduler.adapters.db import Conn, database_errors
from job_scheduler.errors import UserNotFound
from job_scheduler.rastar.crypto import SecretBox
from job_scheduler.rastar.protocol import Session


@dataclass(frozen=True)
class Account:
    user_id: int
    sealed_session: str | None
    access_expires_at: datetime | None
    refused: bool
    relink_notified: bool
    refused_reason: str | None = None


def seal(box: SecretBox, session: Session) -> str:
    return box.encrypt(json.dumps(session.to_json()))


def unseal(box: SecretBox, sealed: str) -> Session:
    return Session.from_json(json.loads(box.decrypt(sealed)))


def link(conn: Conn, box: SecretBox, user_id: int, session: Session) -> None:
    """Store (or replace) the person's session, sealed; a refused account is linked again."""
    with database_errors("linking a Rastar account"):
        found = conn.execute("SELECT 1 FROM users WHERE id = %s", (user_id,)).fetchone()
        if found is None:
            raise UserNotFound(f"there is no user with id {user_id}", "user_id")
        store_session(conn, box, user_id, session, fresh_link=True)


def store_session(
    conn: Conn, box: SecretBox, user_id: int, session: Session, fresh_link: bool
) -> None:
    """Write the session (a link, or a refresh's new pair: stored before it is used)."""
    relinked = (
        ", status = 'linked', refused_at = NULL, refused_reason = NULL,"
        " relink_notified_at = NULL, linked_at = now()"
    )
    conn.execute(
        "INSERT INTO rastar_accounts (user_id, sealed_session, access_expires_at)"
        " VALUES (%s, %s, %s)"
        " ON CONFLICT (user_id) DO UPDATE SET sealed_session = EXCLUDED.sealed_session,"
        " access_expires_at = EXCLUDED.access_expires_at, updated_at = now()"
        + (relinked if fresh_link else ""),
        (user_id, seal(box, session), session.expires_at),
    )


def unlink(conn: Conn, user_id: int) -> bool:
    """Forget the person's account; whether there was one."""
    with database_errors("unlinking a Rastar account"):
        row = conn.execute(
            "DELETE FROM rastar_accounts WHERE user_id = %s RETURNING user_id", (user_id,)
        ).fetchone()
    return row is not None


def accounts_of(conn: Conn, user_ids: Sequence[int]) -> dict[int, Account]:
    """The accounts of these people, by user id (people without one are absent)."""
    with database_errors("reading Rastar accounts"):
        rows = conn.execute(
            "SELECT user_id, sealed_session, access_expires_at, status, relink_notified_at,"
            " refused_reason FROM rastar_accounts WHERE user_id = ANY(%s)",
            (list(user_ids),),
        ).fetchall()
    return {
        row["user_id"]: Account(
            row["user_id"],
            row["sealed_session"],
            row["access_expires_at"],
            row["status"] == "refused",
            row["relink_notified_at"] is not None,
            row["refused_reason"],
        )
        for row in rows
    }


def linked_as(conn: Conn, box: SecretBox, user_id: int) -> str | None:
    """The email the person is linked as, or None (not linked, or to link again)."""
    account = accounts_of(conn, [user_id]).get(user_id)
    if account is None or account.refused or account.sealed_session is None:
        return None
    return unseal(box, account.sealed_session).email


def mark_refused(conn: Conn, user_id: int, reason: str, sealed_session: str | None = None) -> None:
    """Record that Rastar refused this session; one linked since then stays linked."""
    with database_errors("recording a refused Rastar session"):
        conn.execute(
            "UPDATE rastar_accounts SET status = 'refused', refused_at = now(),"
            " refused_reason = %s, updated_at = now()"
            " WHERE user_id = %s AND status = 'linked'"
            " AND (%s::text IS NULL OR sealed_session = %s)",
            (reason, user_id, sealed_session, sealed_session),
        )


def mark_relink_notified(conn: Conn, user_ids: Sequence[int]) -> None:
    with database_errors("recording re-link notices"):
        conn.execute(
            "UPDATE rastar_accounts SET relink_notified_at = now(), updated_at = now()"
            " WHERE user_id = ANY(%s) AND status = 'refused'",
            (list(user_ids),),
        )


def reseal_all(conn: Conn, box: SecretBox) -> int:
    """Re-encrypt every stored session with the newest key (key rotation); how many."""
    with database_errors("re-encrypting Rastar sessions"), conn.transaction():
        rows = conn.execute(
            "SELECT user_id, sealed_session FROM rastar_accounts"
            " WHERE sealed_session IS NOT NULL ORDER BY user_id FOR UPDATE"
        ).fetchall()
        for row in rows:
            conn.execute(
                "UPDATE rastar_accounts SET sealed_session = %s WHERE user_id = %s",
                (box.rotate(row["sealed_session"]), row["user_id"]),
            )
    return len(rows)
