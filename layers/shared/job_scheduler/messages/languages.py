"""The languages people are spoken to in, and which one a person gets.

A person's language is their choice in the bot (``users.language``), else the
``language_code`` Telegram reports for them, else Persian: the people this bot serves
speak Persian first. Everything that speaks to a person reads it through ``LANGUAGE``
(SQL) and ``language_of`` so the rule lives here only.
"""

from __future__ import annotations

from typing import Literal

Language = Literal["fa", "en"]
LANGUAGES: tuple[Language, ...] = ("fa", "en")
DEFAULT: Language = "fa"

# The stored language of the person row aliased ``u``: their choice, else Telegram's.
LANGUAGE = "COALESCE(u.language, u.language_code)"


def language_of(code: str | None) -> Language:
    """The language to speak to someone whose language (or Telegram code) is ``code``."""
    return "en" if (code or "").strip().lower().startswith("en") else DEFAULT
