"""What a tap on one of the bot's inline buttons does.

Every tap is answered (Telegram shows a spinner until it is), with a short toast that says
what happened or why nothing did. Button data: ``lang:fa|en|tg`` (the language menu),
``pack:<id>`` (a pack toggle), and the food reminder's ``p:``/``d:`` buttons
(``rastar.picking``). A tap that cannot be honoured changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from job_scheduler.bot import commands, packs, people
from job_scheduler.bot.commands import Bot
from job_scheduler.bot.people import Person
from job_scheduler.bot.texts import plain, say
from job_scheduler.errors import (
    ConfigError,
    CredentialsRefused,
    PickFailed,
    PickRefused,
    RastarUnavailable,
    SendError,
)
from job_scheduler.messages.languages import Language
from job_scheduler.observability import logger
from job_scheduler.rastar import picking


@dataclass(frozen=True)
class Tap:
    """One tap: who, on which message, with what data."""

    callback_id: str
    data: str
    message_id: int | None  # None: the message is too old for Telegram to say


def handle(bot: Bot, person: Person, tap: Tap) -> None:
    kind = tap.data.split(":", 1)[0]
    if kind == "lang":
        _language(bot, person, tap)
    elif kind == "pack":
        _pack(bot, person, tap)
    elif kind in (picking.PICK, picking.DAY):
        _food(bot, person, tap)
    else:
        bot.telegram.answer_callback(tap.callback_id, plain("pick_not_ours", person.language))


def _language(bot: Bot, person: Person, tap: Tap) -> None:
    choice = tap.data.removeprefix("lang:")
    chosen: Language | None = choice if choice in ("fa", "en") else None  # type: ignore[assignment]
    lang = people.choose_language(bot.conn, person.user_id, chosen)
    _edit(bot, person, tap, say("language_set", lang), commands.language_keyboard(lang))
    bot.telegram.answer_callback(tap.callback_id, plain("language_set", lang))


def _pack(bot: Bot, person: Person, tap: Tap) -> None:
    lang = person.language
    try:
        pack_id = int(tap.data.removeprefix("pack:"))
    except ValueError:
        pack_id = 0
    pack = packs.find(bot.conn, person.user_id, pack_id=pack_id)
    if pack is None:
        toast = plain("pack_unknown", lang)
    elif pack.member:
        packs.leave(bot.conn, person.user_id, pack)
        toast = plain("left", lang, pack=pack.name)
    elif packs.join(bot.conn, person.user_id, pack):
        toast = plain("joined", lang, pack=pack.name)
    else:
        toast = plain("pack_closed", lang, pack=pack.name)
    found = packs.packs_of(bot.conn, person.user_id)
    text = say("packs_prompt" if found else "no_packs", lang)
    _edit(bot, person, tap, text, commands.packs_keyboard(found) if found else None)
    bot.telegram.answer_callback(tap.callback_id, toast)


def _food(bot: Bot, person: Person, tap: Tap) -> None:
    # Jinja and the Jalali calendar (the reminder's texts) load at the first tap on a dish:
    # the webhook's cold start (every /start, /stop, ...) does not pay for them.
    from job_scheduler.jobs.food_reminder.texts import day_label, keyboard

    lang, site = person.language, bot.settings.rastar_pick_url
    try:
        kind, token, day, dish = picking.parse_callback(tap.data)
        offer = picking.load_offer(bot.conn, token, person.chat_id)
        if kind == picking.DAY:
            if not 0 <= day < len(offer.days):
                raise PickRefused("this button does not match its reminder", "mismatch")
            label = day_label(offer.days[day].date, lang)
            _edit(bot, person, tap, say("day_prompt", lang, day=label),
                  keyboard(offer, day, lang, site))  # fmt: skip
            bot.telegram.answer_callback(tap.callback_id, label)
            return
        picked = picking.pick(bot.conn, bot.sessions, offer, day, dish or 0)
    except PickRefused as exc:
        toast = plain(f"pick_{exc.reason}", lang)
    except PickFailed as exc:
        toast = _failed(exc, lang)
    except CredentialsRefused:
        toast = plain("pick_relink", lang)
    except RastarUnavailable:
        toast = plain("pick_down", lang)
    except ConfigError:
        toast = plain("pick_unavailable", lang)
    else:
        label = day_label(picked.date, lang)
        text = say("picked", lang, dish=picked.food.name, day=label)
        _edit(bot, person, tap, text, keyboard(offer, day, lang, site, picked=dish))
        toast = plain("picked_toast", lang, dish=picked.food.name)
    bot.telegram.answer_callback(tap.callback_id, toast)


def _failed(exc: PickFailed, lang: Language) -> str:
    if exc.lost:
        return plain("pick_lost", lang)
    if exc.kept:
        return plain("pick_kept", lang, dish=exc.kept)
    return plain("pick_failed", lang)


def _edit(bot: Bot, person: Person, tap: Tap, text: str, markup: dict[str, Any] | None) -> None:
    """Change the tapped message; what was done stands even if Telegram refuses the edit."""
    if tap.message_id is None:
        return
    try:
        bot.telegram.edit(person.chat_id, tap.message_id, text, markup)
    except SendError as exc:
        logger.warning("could not edit the tapped message",
                       extra={"user_id": person.user_id, "error": str(exc)})  # fmt: skip
