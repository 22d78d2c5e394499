"""One-time links to the page where a person signs in to Rastar, and what signing in does.

A link carries a random state (32 bytes); only its SHA-256 is stored, with whom it is for,
when it expires (``LINK_TTL_SECONDS``, ten minutes) and how many tries it has had. Opening
the page changes nothing; each sign-in attempt spends a try (at most ``MOST_TRIES``); the
first that Rastar accepts stores the person's session, sealed, and uses the link up. The
password goes to Rastar and nowhere else: it is neither stored nor logged.
"""

from __future__ import annotations

import hashlib
import html
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from job_scheduler.adapters.db import Conn, database_errors
from job_scheduler.config import Settings
from job_scheduler.errors import (
    ConfigError,
    LinkNotFound,
    LinkUnusable,
    RastarUnavailable,
    UserNotFound,
)
from job_scheduler.messages.languages import LANGUAGE, language_of
from job_scheduler.rastar import accounts
from job_scheduler.rastar.crypto import SecretBox

MOST_TRIES = 5
STATE_BYTES = 32

if TYPE_CHECKING:  # the client (httpx) loads only where Rastar is called
    from job_scheduler.rastar.client import RastarClient


@dataclass(frozen=True)
class LinkState:
    user_id: int
    expires_at: datetime
    tries_left: int
    language: str  # the person's language code, for the page


@dataclass(frozen=True)
class Linked:
    """A link completed: whom, in which chat, as which Rastar email."""

    user_id: int
    chat_id: int
    email: str
    language: str


def digest(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def create_link(conn: Conn, settings: Settings, user_id: int) -> str:
    """A new one-time link for the person (earlier unused ones stop working)."""
    if not settings.link_page_url:
        raise ConfigError("LINK_PAGE_URL is not set: where the Rastar link page is served")
    state = secrets.token_urlsafe(STATE_BYTES)
    expires = datetime.now(UTC) + timedelta(seconds=settings.link_ttl_seconds)
    with database_errors("making a link"), conn.transaction():
        if conn.execute("SELECT 1 FROM users WHERE id = %s", (user_id,)).fetchone() is None:
            raise UserNotFound(f"there is no user with id {user_id}", "user_id")
        conn.execute(
            "UPDATE rastar_link_states SET used_at = now() WHERE user_id = %s AND used_at IS NULL",
            (user_id,),
        )
        conn.execute(
            "INSERT INTO rastar_link_states (state_sha256, user_id, expires_at)"
            " VALUES (%s, %s, %s)",
            (digest(state), user_id, expires),
        )
    return f"{settings.link_page_url}?{urlencode({'state': state})}"


def peek(conn: Conn, state: str) -> LinkState:
    """The link's state if it can still be used; LinkNotFound or LinkUnusable says why not.
    Changes nothing (a GET of the page)."""
    with database_errors("reading a link"):
        row = conn.execute(
            "SELECT s.user_id, s.expires_at, s.used_at, s.tries, " + LANGUAGE + " AS language"
            " FROM rastar_link_states s JOIN users u ON u.id = s.user_id"
            " WHERE s.state_sha256 = %s",
            (digest(state),),
        ).fetchone()
    if row is None:
        raise LinkNotFound("this link is not known; ask the bot for a new one with /link")
    _check_usable(row["used_at"], row["expires_at"], row["tries"])
    return LinkState(row["user_id"], row["expires_at"], MOST_TRIES - row["tries"],
                     row["language"] or "")  # fmt: skip


def sign_in(
    conn: Conn,
    box: SecretBox,
    client: RastarClient,
    state: str,
    email: str,
    password: str,
) -> Linked:
    """Spend a try of the link on signing in; on success the session is stored and the link
    used up. CredentialsRefused if Rastar refuses the email or password (the try is spent);
    RastarUnavailable if Rastar does not answer (the try is given back: an outage is not a
    guess); LinkUnusable once the link cannot be used."""
    user_id = _spend_a_try(conn, state)
    try:
        session = client.sign_in(email.strip(), password)
    except RastarUnavailable:
        _give_back_a_try(conn, state)
        raise
    with database_errors("storing the Rastar session"), conn.transaction():
        used = conn.execute(
            "UPDATE rastar_link_states SET used_at = now()"
            " WHERE state_sha256 = %s AND used_at IS NULL RETURNING user_id",
            (digest(state),),
        ).fetchone()
        if used is None:  # another tab finished first
            raise LinkUnusable("this link has just been used; the account is linked", "used")
        accounts.link(conn, box, user_id, session)
        person = conn.execute(
            "SELECT u.telegram_chat_id, " + LANGUAGE + " AS language FROM users u WHERE u.id = %s",
            (user_id,),
        ).fetchone()
    return Linked(user_id, person["telegram_chat_id"], session.email or email.strip(),
                  person["language"] or "")  # fmt: skip


def _spend_a_try(conn: Conn, state: str) -> int:
    with database_errors("using a link"):
        row = conn.execute(
            "UPDATE rastar_link_states SET tries = tries + 1 WHERE state_sha256 = %s"
            " AND used_at IS NULL AND expires_at > now() AND tries < %s RETURNING user_id",
            (digest(state), MOST_TRIES),
        ).fetchone()
    if row is None:
        peek(conn, state)  # raises the reason
        raise LinkUnusable("this link can no longer be used", "tries")
    return row["user_id"]


def _give_back_a_try(conn: Conn, state: str) -> None:
    with database_errors("using a link"):
        conn.execute(
            "UPDATE rastar_link_states SET tries = tries - 1 WHERE state_sha256 = %s AND tries > 0",
            (digest(state),),
        )


def _check_usable(used_at: datetime | None, expires_at: datetime, tries: int) -> None:
    if used_at is not None:
        raise LinkUnusable("this link was already used; ask the bot for a new one with /link",
                           "used")  # fmt: skip
    if expires_at <= datetime.now(UTC):
        raise LinkUnusable("this link has expired; ask the bot for a new one with /link", "expired")
    if tries >= MOST_TRIES:
        raise LinkUnusable(
            f"this link has had its {MOST_TRIES} tries; ask the bot for a new one with /link",
            "tries",
        )


LINKED = {
    "fa": "✅ حساب رستار شما با ایمیل <b>{email}</b> وصل شد. از این پس یادآوری غذا همین‌جا"
    " می‌آید؛ برای قطع اتصال /unlink را بفرستید.",
    "en": "✅ Your Rastar account <b>{email}</b> is linked. Food reminders will come here; send"
    " /unlink to unlink it.",
}


def linked_text(linked: Linked) -> str:
    """The Telegram message that tells the person which account they linked (HTML)."""
    return LINKED[language_of(linked.language)].format(email=html.escape(linked.email))
