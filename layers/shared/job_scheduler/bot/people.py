"""The people who talk to the bot, as the bot changes them.

Whoever writes to the bot is registered (or their row refreshed: names, username,
Telegram's language code, last seen), and is active again: Telegram only delivers messages
from someone who has not blocked the bot. Opting out (/stop) and blocking are separate
states: ``opted_out_at`` is the person's choice and only /resume undoes it; ``is_active``
is whether Telegram lets the bot reach them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from job_scheduler.adapters.db import Conn, database_errors
from job_scheduler.messages.languages import LANGUAGE, Language, language_of

BLOCKED = "blocked"  # inactive_reason when Telegram says the person blocked the bot


@dataclass(frozen=True)
class TelegramPerson:
    """Who an update comes from, as Telegram describes them."""

    chat_id: int
    first_name: str | None = None
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None

    @classmethod
    def of(cls, chat_id: int, user: Any) -> TelegramPerson:
        """From pyTelegramBotAPI's ``User`` (``from_user`` of a message or a tap)."""
        return cls(chat_id, user.first_name, user.last_name, user.username, user.language_code)


@dataclass(frozen=True)
class Person:
    user_id: int
    chat_id: int
    first_name: str | None
    language: Language  # the one they are spoken to in
    chosen_language: str | None  # their own choice in the bot; None: Telegram's
    opted_out_at: datetime | None
    created: bool = False  # registered by this update

    @property
    def opted_out(self) -> bool:
        return self.opted_out_at is not None


_COLUMNS = (
    "u.id, u.telegram_chat_id, u.first_name, u.language AS chosen, u.opted_out_at, "
    + LANGUAGE
    + " AS spoken"
)


def _person(row: dict[str, Any], created: bool = False) -> Person:
    return Person(row["id"], row["telegram_chat_id"], row["first_name"],
                  language_of(row["spoken"]), row["chosen"], row["opted_out_at"],
                  created)  # fmt: skip


def register(conn: Conn, who: TelegramPerson) -> Person:
    """The person this update is from, registered now if new, their details refreshed and
    marked active (they are writing to the bot, so it can reach them)."""
    with database_errors("registering a person"):
        row = conn.execute(
            "INSERT INTO users AS u (telegram_chat_id, first_name, last_name, username,"
            " language_code, last_seen_at) VALUES (%s, %s, %s, %s, %s, now())"
            " ON CONFLICT (telegram_chat_id) DO UPDATE SET first_name = EXCLUDED.first_name,"
            " last_name = EXCLUDED.last_name, username = EXCLUDED.username,"
            " language_code = EXCLUDED.language_code, last_seen_at = now(),"
            " is_active = true, inactive_reason = NULL, inactive_since = NULL,"
            " updated_at = now()"
            f" RETURNING {_COLUMNS}, (xmax = 0) AS created",
            (who.chat_id, who.first_name, who.last_name, who.username, who.language_code),
        ).fetchone()
    return _person(row, row["created"])


def opt_out(conn: Conn, user_id: int) -> bool:
    """/stop: no scheduled message reaches them until /resume; False if already out."""
    return _changed(
        conn,
        "UPDATE users SET opted_out_at = now(), updated_at = now()"
        " WHERE id = %s AND opted_out_at IS NULL",
        user_id,
    )


def opt_in(conn: Conn, user_id: int) -> bool:
    """/resume; False if they were not opted out."""
    return _changed(
        conn,
        "UPDATE users SET opted_out_at = NULL, updated_at = now()"
        " WHERE id = %s AND opted_out_at IS NOT NULL",
        user_id,
    )


def choose_language(conn: Conn, user_id: int, language: Language | None) -> Language:
    """Their own choice (None: follow Telegram's); the language they are now spoken to in."""
    with database_errors("choosing a language"):
        row = conn.execute(
            "UPDATE users AS u SET language = %s, updated_at = now() WHERE id = %s"
            f" RETURNING {LANGUAGE} AS spoken",
            (language, user_id),
        ).fetchone()
    return language_of(row["spoken"] if row else None)


def mark_blocked(conn: Conn, chat_id: int) -> bool:
    """Telegram says the person blocked the bot: inactive, reason "blocked"."""
    with database_errors("marking a person blocked"):
        row = conn.execute(
            "UPDATE users SET is_active = false, inactive_reason = %s, inactive_since = now(),"
            " updated_at = now() WHERE telegram_chat_id = %s AND is_active RETURNING id",
            (BLOCKED, chat_id),
        ).fetchone()
    return row is not None


def _changed(conn: Conn, statement: str, user_id: int) -> bool:
    with database_errors("changing a person"):
        return conn.execute(statement, (user_id,)).rowcount > 0
