"""The bot: one Telegram update in, its effect applied once, the person answered.

Updates handled: ``message`` (commands, in a private chat), ``callback_query`` (taps on
the bot's buttons) and ``my_chat_member`` (the person blocked or unblocked the bot). Each
is claimed in the ledger first; one already claimed is a redelivery and is dropped. A
handler that fails is logged with the update id and the person gets a short apology; the
update stays claimed, so Telegram's redelivery does not repeat it for ever. The bot needs
Postgres and Telegram only: never Redis.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from telebot import types

from job_scheduler.adapters.db import Conn, get_connection
from job_scheduler.adapters.telegram import TelegramClient
from job_scheduler.bot import buttons, commands, ledger, people
from job_scheduler.bot.people import Person, TelegramPerson
from job_scheduler.bot.texts import plain, say
from job_scheduler.config import Settings
from job_scheduler.errors import ConfigError, SendError
from job_scheduler.messages.languages import language_of
from job_scheduler.observability import logger

if TYPE_CHECKING:  # made at first use: most updates never reach Rastar (httpx, Fernet)
    from job_scheduler.rastar.crypto import SecretBox
    from job_scheduler.rastar.sessions import Sessions

HANDLED = ("message", "callback_query", "my_chat_member")  # setWebhook's allowed_updates
GONE = ("kicked", "left")  # a private chat's member status once the person blocked the bot


class Bot:
    """The bot's dependencies, made once per container; thread-safe (each thread has its
    own Postgres connection, pyTelegramBotAPI its own HTTP session)."""

    def __init__(self, settings: Settings, telegram: TelegramClient) -> None:
        self.settings = settings
        self.telegram = telegram

    @classmethod
    def from_settings(cls, settings: Settings) -> Bot:
        if not settings.telegram_bot_token:
            raise ConfigError("TELEGRAM_BOT_TOKEN is not set: the bot cannot answer anyone")
        telegram = TelegramClient(settings.telegram_bot_token, settings.telegram_api_url,
                                  settings.telegram_timeout_seconds)  # fmt: skip
        return cls(settings, telegram)

    @property
    def conn(self) -> Conn:
        return get_connection(self.settings.database_url)

    @cached_property
    def box(self) -> SecretBox:
        from job_scheduler.rastar.crypto import SecretBox

        return SecretBox.from_settings(self.settings)

    @cached_property
    def sessions(self) -> Sessions:
        """Made at the first tap on a dish (ConfigError if Rastar is not configured)."""
        from job_scheduler.rastar.client import RastarClient
        from job_scheduler.rastar.sessions import Sessions

        client = RastarClient.from_settings(self.settings)
        return Sessions(self.settings.database_url, self.box, client)

    def apply(self, update: dict[str, Any]) -> str:
        """Apply one update (Telegram's JSON) at most once; what became of it: applied,
        failed, ignored or duplicate. Raises only if Postgres cannot record the update, so
        that the webhook answers 5xx and Telegram delivers it again later."""
        update_id = int(update["update_id"])
        kind = next((name for name in HANDLED if name in update), None)
        if kind is None:
            return "ignored"
        if not ledger.claim(self.conn, update_id, kind):
            logger.info("update already applied; dropped", extra={"update_id": update_id})
            return "duplicate"
        parsed = None
        try:
            parsed = types.Update.de_json(update)
            outcome = getattr(self, f"_on_{kind}")(getattr(parsed, kind))
        except Exception:
            logger.exception("update failed", extra={"update_id": update_id, "kind": kind})
            if parsed is not None:
                self._apologize(parsed, kind)
            outcome = "failed"
        try:
            ledger.finish(self.conn, update_id, outcome)
        except Exception:  # the update is claimed: it will not be applied again either way
            logger.warning("could not record the update's outcome", extra={"update_id": update_id})
        return outcome

    def _on_message(self, message: types.Message) -> str:
        if message.chat.type != "private" or message.from_user is None:
            return "ignored"
        person = people.register(self.conn, TelegramPerson.of(message.chat.id, message.from_user))
        name, argument = commands.parse(message.text)
        reply = commands.COMMANDS.get(name or "", commands.help_text)(self, person, argument)
        self._say(person, reply.text, reply.keyboard)
        return "applied"

    def _on_callback_query(self, query: types.CallbackQuery) -> str:
        message = query.message
        chat_id = message.chat.id if message is not None else query.from_user.id
        person = people.register(self.conn, TelegramPerson.of(chat_id, query.from_user))
        message_id = getattr(message, "message_id", None) if message is not None else None
        buttons.handle(self, person, buttons.Tap(query.id, query.data or "", message_id))
        return "applied"

    def _on_my_chat_member(self, change: types.ChatMemberUpdated) -> str:
        if change.chat.type != "private":
            return "ignored"
        if change.new_chat_member.status in GONE:
            people.mark_blocked(self.conn, change.chat.id)
        else:  # unblocked (or started): reachable again
            people.register(self.conn, TelegramPerson.of(change.chat.id, change.from_user))
        return "applied"

    def _say(self, person: Person, text: str, keyboard: dict[str, Any] | None = None) -> None:
        try:
            self.telegram.send(person.chat_id, text, "HTML", silent=False, reply_markup=keyboard)
        except SendError as exc:
            logger.warning("could not answer", extra={"user_id": person.user_id, "error": str(exc)})

    def _apologize(self, update: types.Update, kind: str) -> None:
        """Best effort: the person is told it did not work (a toast for a tap)."""
        try:
            if kind == "callback_query":
                query = update.callback_query
                lang = language_of(query.from_user.language_code)
                self.telegram.answer_callback(query.id, plain("apology", lang), alert=True)
            elif kind == "message" and update.message.chat.type == "private":
                lang = language_of(update.message.from_user.language_code)
                self.telegram.send(update.message.chat.id, say("apology", lang), "HTML", False)
        except Exception as exc:
            logger.warning("could not apologize", extra={"error": f"{type(exc).__name__}: {exc}"})
