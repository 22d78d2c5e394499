"""Sending one message through the Telegram Bot API (pyTelegramBotAPI), errors classified.

The API's base URL comes from ``TELEGRAM_API_URL`` (``apihelper.API_URL``), so the same code
talks to Telegram or to the fake server in ``infra/fakes``. Every failure is translated
here, once, into what the notifier should do about it:

    SendError
    ├── RateLimited     429: wait ``retry_after`` seconds (pyTelegramBotAPI's own retry
    │                   engines do not handle 429, so it is read from ``result_json``)
    ├── ChatGone        403 blocked / deactivated / kicked, 400 chat not found: stop
    │                   targeting the user
    ├── ChatMigrated    400 with ``migrate_to_chat_id``: send again to the new chat
    ├── StarsBalanceTooLow  a paid broadcast's message the bot's Stars cannot pay for
    │                   (Telegram's BALANCE_TOO_LOW): not sent; top up, then "retry failed"
    ├── Rejected        any other 400: the message itself is wrong; retrying cannot help
    ├── Transient       5xx, and network errors before the request reached Telegram:
    │                   retry with backoff, then let SQS retry
    └── Uncertain       no answer after the request was sent (read timeout, connection cut):
                        Telegram may have delivered it, so it is not sent again (at most once)
Error texts are scrubbed of the bot token before they are stored or logged (the classes
live in ``errors.py``, each under its fault).

pyTelegramBotAPI is configured through module globals (``apihelper.API_URL``, its timeouts
and its request hook); ``configure_api`` is the one place in the package that sets them.
Every client of one process talks to the same API URL, which is all a deployment has.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol

import requests
import telebot
from telebot import apihelper
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, ProxyError

from job_scheduler.errors import (
    ChatGone,
    ChatMigrated,
    RateLimited,
    Rejected,
    SendError,
    StarsBalanceTooLow,
    Transient,
    Uncertain,
)
from job_scheduler.observability import scrub

_GONE_MARKERS = (
    "bot was blocked by the user",
    "user is deactivated",
    "bot was kicked",
    "chat not found",
    "bot can't initiate conversation",
    "user not found",
)
# What a paid broadcast's refusal for want of Stars says. The Bot API's documentation does
# not word it; Telegram's own name for the error is BALANCE_TOO_LOW (docs/paid-broadcasts.md).
_NO_STARS_MARKERS = ("balance_too_low", "balance too low", "not enough stars")


def configure_api(api_url: str, read_timeout: float = 10) -> None:
    """Point pyTelegramBotAPI at ``api_url`` (Telegram, or the fake server): the one place
    its module globals are set."""
    apihelper.API_URL = f"{api_url.rstrip('/')}/bot{{0}}/{{1}}"
    apihelper.CONNECT_TIMEOUT = 3
    apihelper.READ_TIMEOUT = read_timeout
    apihelper.CUSTOM_REQUEST_SENDER = _request


_sessions = threading.local()
_NO_PREVIEW = telebot.types.LinkPreviewOptions(is_disabled=True)  # read-only: shared


class Sendable(Protocol):
    """What ``TelegramClient.deliver`` sends: a claimed delivery, or a rendered message."""

    @property
    def text(self) -> str: ...  # the message, or the photo's caption ("" for none)
    @property
    def parse_mode(self) -> str | None: ...
    @property
    def silent(self) -> bool: ...
    @property
    def reply_markup(self) -> Mapping[str, Any] | None: ...
    @property
    def photo(self) -> str | None: ...  # a picture's URL or file_id: sendPhoto
    @property
    def protect_content(self) -> bool: ...
    @property
    def link_preview(self) -> bool: ...
    @property
    def paid_broadcast(self) -> bool: ...  # allow_paid_broadcast: billed in Stars


def _request(method: str, url: str, **kwargs: Any) -> requests.Response:
    """pyTelegramBotAPI's request hook: one keep-alive session per thread, for the Lambda's
    life, that reads the environment once.

    A default ``requests`` session looks for ``~/.netrc`` and re-reads the proxy variables
    on every request: about a sixth of a send's CPU time against the local fake
    (bench/notifier_throughput.py). Proxies and the CA bundle still come from the
    environment, read when the session is made.
    """
    session = getattr(_sessions, "session", None)
    if session is None:
        session = _sessions.session = requests.Session()
        found = session.merge_environment_settings(url, {}, None, None, None)
        session.proxies.update(found["proxies"])
        session.verify = found["verify"]
        session.cert = found["cert"]
        session.trust_env = False
    return session.request(method, url, **kwargs)


class TelegramClient:
    """One bot; thread-safe (pyTelegramBotAPI keeps one HTTP session per thread)."""

    def __init__(self, token: str, api_url: str, read_timeout: float = 10) -> None:
        configure_api(api_url, read_timeout)
        self._bot = telebot.TeleBot(token, threaded=False, parse_mode=None)

    def send(
        self,
        chat_id: int,
        text: str,
        parse_mode: str | None,
        silent: bool,
        reply_markup: Mapping[str, Any] | None = None,
    ) -> int:
        """Send and return Telegram's message_id; raise a SendError subclass on failure.
        ``reply_markup`` (an inline keyboard as JSON-ready data) goes as Telegram's JSON."""
        markup = json.dumps(reply_markup, ensure_ascii=False) if reply_markup else None
        with _classified():
            message = self._bot.send_message(
                chat_id, text, parse_mode=parse_mode, disable_notification=silent,
                reply_markup=markup,
            )  # fmt: skip
        return message.message_id

    def deliver(self, chat_id: int, message: Sendable) -> int:
        """Send a job's message (sendPhoto when it has a photo, else sendMessage) and return
        Telegram's message_id; a SendError subclass on failure. What is at its default is not
        sent, so a plain message is the same request as ``send``'s (the notifier's hot path)."""
        markup = message.reply_markup
        markup_json = json.dumps(markup, ensure_ascii=False) if markup else None
        protect = True if message.protect_content else None
        paid = True if message.paid_broadcast else None
        with _classified():
            if message.photo:
                sent = self._bot.send_photo(
                    chat_id, message.photo, caption=message.text or None,
                    parse_mode=message.parse_mode if message.text else None,
                    disable_notification=message.silent, protect_content=protect,
                    reply_markup=markup_json,  # type: ignore[arg-type]  # Telegram's JSON as is
                    allow_paid_broadcast=paid,
                )  # fmt: skip
            else:
                sent = self._bot.send_message(
                    chat_id, message.text, parse_mode=message.parse_mode,
                    disable_notification=message.silent, protect_content=protect,
                    link_preview_options=None if message.link_preview else _NO_PREVIEW,
                    reply_markup=markup_json,  # type: ignore[arg-type]  # Telegram's JSON as is
                    allow_paid_broadcast=paid,
                )  # fmt: skip
        return sent.message_id

    # The bot's side of a conversation, and its set-up: pyTelegramBotAPI's own methods,
    # their failures classified as ``send``'s are.

    def edit(
        self, chat_id: int, message_id: int, text: str, reply_markup: Mapping[str, Any] | None
    ) -> None:
        """Change a message the bot sent (HTML); one that is already so is not an error."""
        markup = json.dumps(reply_markup, ensure_ascii=False) if reply_markup else None
        try:
            with _classified():
                self._bot.edit_message_text(
                    text, chat_id, message_id, parse_mode="HTML", reply_markup=markup
                )
        except Rejected as exc:
            if "message is not modified" not in str(exc):
                raise

    def answer_callback(self, callback_id: str, text: str, alert: bool = False) -> None:
        """The toast a tap on an inline button shows (an alert box with ``alert``)."""
        with _classified():
            self._bot.answer_callback_query(callback_id, text[:200], show_alert=alert)

    def set_webhook(self, url: str, secret: str, allowed_updates: list[str]) -> None:
        with _classified():
            self._bot.set_webhook(url, secret_token=secret, allowed_updates=allowed_updates)

    def delete_webhook(self) -> None:
        with _classified():
            self._bot.delete_webhook()

    def webhook_info(self) -> dict[str, Any]:
        """getWebhookInfo as Telegram words it (url, pending_update_count, last_error_*)."""
        with _classified():
            info = self._bot.get_webhook_info()
        return {name: value for name, value in vars(info).items() if value not in (None, "")}

    def set_commands(self, commands: list[tuple[str, str]], language: str | None) -> None:
        """The command menu shown to people whose app speaks ``language`` (None: the rest)."""
        listed = [telebot.types.BotCommand(name, about) for name, about in commands]
        with _classified():
            self._bot.set_my_commands(listed, language_code=language)

    def updates(self, offset: int | None, wait_seconds: int) -> list[dict[str, Any]]:
        """getUpdates (long polling), each update as Telegram's JSON."""
        with _classified():
            found = apihelper.get_updates(
                self._bot.token, offset=offset, timeout=wait_seconds + 5,
                long_polling_timeout=wait_seconds,
            )  # fmt: skip
        return list(found)

    def username(self) -> str:
        """The bot's @username (without the @), for t.me links."""
        with _classified():
            return self._bot.get_me().username


@contextmanager
def _classified() -> Iterator[None]:
    """pyTelegramBotAPI's exceptions as the package's SendError classes."""
    try:
        yield
    except apihelper.ApiTelegramException as exc:
        raise classify(exc.error_code, exc.description, exc.result_json) from None
    except apihelper.ApiHTTPException as exc:
        raise Transient(scrub(f"HTTP error from Telegram: {exc}")) from None
    except (requests.RequestException, OSError) as exc:
        raise network_error(exc) from None


def network_error(exc: BaseException) -> SendError:
    """Transient if the request never left (connect failed), else Uncertain."""
    text = scrub(f"network error: {type(exc).__name__}: {exc}")
    if isinstance(exc, requests.ConnectTimeout):
        return Transient(text)
    if isinstance(exc, requests.ConnectionError):
        reason = getattr(exc.args[0], "reason", None) if exc.args else None
        if isinstance(reason, ProxyError):  # the proxy itself could not be reached
            reason = reason.original_error
        if isinstance(reason, NewConnectionError | ConnectTimeoutError):
            return Transient(text)
    return Uncertain(f"{text} (Telegram may have delivered it; not sent again)")


def classify(code: int, description: str, body: dict[str, Any] | None) -> SendError:
    """The SendError for an API error answer."""
    parameters = (body or {}).get("parameters") or {}
    text = scrub(f"{code}: {description}")
    if code == 429:
        return RateLimited(float(parameters.get("retry_after", 1)), text)
    if "migrate_to_chat_id" in parameters:
        return ChatMigrated(int(parameters["migrate_to_chat_id"]), text)
    if code in (401, 404):  # the bot token or API URL is wrong: fix the setting, then retry
        return Transient(f"{text} (check TELEGRAM_BOT_TOKEN and TELEGRAM_API_URL)")
    lowered = description.lower()
    if code in (400, 403) and any(marker in lowered for marker in _GONE_MARKERS):
        return ChatGone(text)
    if 400 <= code < 500 and any(marker in lowered for marker in _NO_STARS_MARKERS):
        return StarsBalanceTooLow(
            f"{text} (the bot's Telegram Stars cannot pay for this paid broadcast: top the"
            " balance up, then retry failed)"
        )
    if code == 403 or 400 <= code < 500:
        return Rejected(text)
    return Transient(text)
