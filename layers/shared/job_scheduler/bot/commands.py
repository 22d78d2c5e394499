"""What each command a person sends does, and what the bot answers.

A command is ``/name`` (or ``/name@botname``, as Telegram sends it in a menu) and an
optional argument; anything else, an unknown command included, gets the help.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from job_scheduler.adapters.db import Conn
from job_scheduler.bot import packs, people
from job_scheduler.bot.people import Person
from job_scheduler.bot.texts import plain, say
from job_scheduler.errors import ConfigError, CredentialUnreadable
from job_scheduler.messages.languages import Language
from job_scheduler.rastar import accounts, linking

if TYPE_CHECKING:
    from job_scheduler.adapters.telegram import TelegramClient
    from job_scheduler.config import Settings
    from job_scheduler.rastar.crypto import SecretBox
    from job_scheduler.rastar.sessions import Sessions


class Bot(Protocol):
    """What a command or a tap may use (``conversation.Bot`` is the one there is)."""

    settings: Settings
    telegram: TelegramClient

    @property
    def conn(self) -> Conn: ...

    @property
    def box(self) -> SecretBox: ...

    @property
    def sessions(self) -> Sessions: ...


@dataclass(frozen=True)
class Reply:
    text: str  # HTML
    keyboard: dict[str, Any] | None = None


Command = Callable[[Bot, Person, str], Reply]


def parse(text: str | None) -> tuple[str | None, str]:
    """(command without its slash and @bot, argument) of a message; (None, "") if it is
    not a command."""
    if not text or not text.startswith("/"):
        return None, ""
    head, _, argument = text.partition(" ")
    return head[1:].split("@", 1)[0].lower(), argument.strip()


def start(bot: Bot, person: Person, payload: str) -> Reply:
    lang = person.language
    name = person.first_name or ""
    lines = [say("welcome" if person.created else "welcome_back", lang, name=name)]
    if payload.startswith(packs.START_PREFIX):
        lines.append(_join_by_link(bot, person, payload.removeprefix(packs.START_PREFIX)))
    if person.opted_out:
        lines.append(say("still_stopped", lang))
    return Reply("\n\n".join(lines))


def _join_by_link(bot: Bot, person: Person, slug: str) -> str:
    pack = packs.find(bot.conn, person.user_id, slug=slug)
    if pack is None:
        return say("pack_unknown", person.language)
    if pack.member:
        return say("already_in", person.language, pack=pack.name)
    if not packs.join(bot.conn, person.user_id, pack):
        return say("pack_closed", person.language, pack=pack.name)
    return say("joined", person.language, pack=pack.name)


def stop(bot: Bot, person: Person, _: str) -> Reply:
    changed = people.opt_out(bot.conn, person.user_id)
    return Reply(say("stopped" if changed else "already_stopped", person.language))


def resume(bot: Bot, person: Person, _: str) -> Reply:
    changed = people.opt_in(bot.conn, person.user_id)
    return Reply(say("resumed" if changed else "already_resumed", person.language))


def language(bot: Bot, person: Person, _: str) -> Reply:
    return Reply(say("language_prompt", person.language), language_keyboard(person.language))


def language_keyboard(lang: Language) -> dict[str, Any]:
    return {"inline_keyboard": [[
        {"text": "فارسی", "callback_data": "lang:fa"},
        {"text": "English", "callback_data": "lang:en"},
        {"text": plain("language_telegram", lang), "callback_data": "lang:tg"},
    ]]}  # fmt: skip


def packs_menu(bot: Bot, person: Person, _: str) -> Reply:
    found = packs.packs_of(bot.conn, person.user_id)
    if not found:
        return Reply(say("no_packs", person.language))
    return Reply(say("packs_prompt", person.language), packs_keyboard(found))


def packs_keyboard(found: list[packs.Pack]) -> dict[str, Any]:
    """A toggle per pack: ticked when the person is in it."""
    return {"inline_keyboard": [
        [{"text": ("✅ " if pack.member else "") + pack.name, "callback_data": f"pack:{pack.id}"}]
        for pack in found
    ]}  # fmt: skip


def link(bot: Bot, person: Person, _: str) -> Reply:
    lang = person.language
    try:
        url = linking.create_link(bot.conn, bot.settings, person.user_id)
    except ConfigError:
        return Reply(say("link_unavailable", lang))
    minutes = bot.settings.link_ttl_seconds // 60
    lines = [say("link_prompt", lang, minutes=minutes)]
    email = _linked_email(bot, person)
    if email:
        lines.append(say("link_relink", lang, email=email))
    button = {"text": plain("link_button", lang), "url": url}
    return Reply("\n\n".join(lines), {"inline_keyboard": [[button]]})


def unlink(bot: Bot, person: Person, _: str) -> Reply:
    changed = accounts.unlink(bot.conn, person.user_id)
    return Reply(say("unlinked" if changed else "not_linked", person.language))


def status(bot: Bot, person: Person, _: str) -> Reply:
    lang = person.language
    account = accounts.accounts_of(bot.conn, [person.user_id]).get(person.user_id)
    if account is None:
        rastar = plain("status_unlinked", lang)
    elif account.refused:
        rastar = plain("status_refused", lang)
    else:
        rastar = plain("status_linked", lang, email=_linked_email(bot, person) or "…")
    joined = [pack.name for pack in packs.packs_of(bot.conn, person.user_id) if pack.member]
    spoken = plain(f"language_{lang}", lang)
    if person.chosen_language is None:
        spoken += plain("language_follows", lang)
    return Reply(say(
        "status", lang, rastar=rastar,
        messages=plain("status_off" if person.opted_out else "status_on", lang),
        packs="، ".join(joined) if lang == "fa" and joined else ", ".join(joined)
        or plain("status_no_packs", lang),
        language=spoken,
    ))  # fmt: skip


def help_text(bot: Bot, person: Person, _: str) -> Reply:
    return Reply(say("help", person.language))


def _linked_email(bot: Bot, person: Person) -> str | None:
    try:
        return accounts.linked_as(bot.conn, bot.box, person.user_id)
    except (ConfigError, CredentialUnreadable):  # no key here that opens the account
        return None


COMMANDS: dict[str, Command] = {
    "start": start,
    "stop": stop,
    "resume": resume,
    "language": language,
    "packs": packs_menu,
    "link": link,
    "unlink": unlink,
    "status": status,
    "help": help_text,
}
