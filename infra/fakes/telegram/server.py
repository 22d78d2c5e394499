"""The fake Bot API server: ``FakeTelegram``, its HTTP handler and the ``/_fake`` routes.

What it serves:

- ``/bot<token>/<method>`` over GET and POST, parameters from the query string (which is where
  pyTelegramBotAPI puts them, even for POST), a urlencoded form or a JSON body. Method names are
  case-insensitive. A token not shaped ``<digits>:<20+ of [A-Za-z0-9_-]>`` gets 401, an unknown
  method 404.
- ``getMe``, ``sendMessage`` and ``sendPhoto``. sendMessage checks what the real Bot API
  checks, in its order (text present, at most 32 KiB, parse_mode, entities, chat_id, chat
  state, visible length, an inline keyboard's buttons: ``keyboard``, link_preview_options);
  sendPhoto the same of its caption (at most 1024 visible characters, may be empty), and its
  photo, a URL or a file_id (``photos``: nothing is downloaded);
  parsing ``parse_mode=HTML`` with the port of tdlib's parser in ``html_parser``, and counts the
  4096-character limit on the visible text in UTF-16 code units. The answer is a Message that
  ``telebot.types.Message.de_json`` reads, with ``entities``; message ids count per chat.
- The failures a ``Behaviour`` asks for, the real flood limits included (sliding one-second
  windows overall and per chat, answered with 429 and retry_after 1). A message sent with
  ``allow_paid_broadcast=true`` counts in the same overall window but may go while it holds
  fewer than ``paid_per_second`` (1000), and, arriving once it holds ``global_per_second``
  (30), is billed 0.1 Stars from ``stars_balance``; one the balance cannot pay for answers
  400 ``Bad Request: BALANCE_TOO_LOW``. Each message records ``paid_broadcast``; the stats
  count paid messages and billed ones.
- Inspection: ``GET /_fake/messages`` (``?chat_id=``), ``DELETE /_fake/messages``,
  ``GET /_fake/stats``, ``GET|POST /_fake/config``, ``POST /_fake/reset``, and ``GET /_fake``, the
  page rendered by ``page``.

The handler reads HTTP/1.0 and 1.1 with keep-alive, Content-Length or chunked bodies up to 1 MiB.
A request line (URL) over 64 KiB gets http.server's 414, which pyTelegramBotAPI, putting the text
in the URL, can reach with heavy markup; Telegram's own URL limit is not modelled.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import socket
import struct
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import replace
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import islice
from typing import Any
from urllib.parse import parse_qsl

from infra.fakes.telegram.behaviour import (
    _FAULT_KINDS,
    _FIELD_NAMES,
    MAX_MESSAGE_LENGTH,
    MAX_TEXT_BYTES,
    OUTCOMES,
    ApiError,
    Behaviour,
    _chat_key,
    _dumps,
    _encode,
    _started,
    _truthy,
    _username_id,
)
from infra.fakes.telegram.chats import Chats
from infra.fakes.telegram.html_parser import _utf16_len, visible_text
from infra.fakes.telegram.keyboard import parse_markup
from infra.fakes.telegram.page import PAGE_MESSAGES, render_chat, render_page
from infra.fakes.telegram.photos import MAX_CAPTION_LENGTH, photo_sizes

MAX_BODY_BYTES = 1 << 20
KEPT_MESSAGES = 200_000  # the newest messages kept (~150 MB); stats count every one
_TOKEN = re.compile(r"\d+:[A-Za-z0-9_-]{20,}")


class _Dropped(Exception):
    """Reset the connection instead of answering."""


def _too_many_requests(retry_after: int) -> ApiError:
    return ApiError(
        429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}
    )


# --------------------------------------------------------------------------------------------
# State


class _SlidingWindow:
    """Sends in the last second, overall and per chat."""

    def __init__(self) -> None:
        self._all: deque[float] = deque()
        self._chats: dict[int, deque[float]] = {}
        self._swept = 0.0

    def clear(self) -> None:
        self._all.clear()
        self._chats.clear()

    def loads(self, chat_id: int, now: float) -> tuple[int, int]:
        """Sends in the second before ``now``: overall, and to ``chat_id``."""
        horizon = now - 1.0
        _prune(self._all, horizon)
        chat = self._chats.get(chat_id)
        if chat is not None:
            _prune(chat, horizon)
        return len(self._all), len(chat) if chat is not None else 0

    def add(self, chat_id: int, now: float) -> None:
        horizon = now - 1.0
        self._all.append(now)
        chat = self._chats.get(chat_id)
        if chat is None:
            chat = self._chats[chat_id] = deque()
        chat.append(now)
        if now - self._swept > 1.0:
            self._swept = now
            for stale in [key for key, sent in self._chats.items() if sent[-1] <= horizon]:
                del self._chats[stale]


def _prune(sent: deque[float], horizon: float) -> None:
    while sent and sent[0] <= horizon:
        sent.popleft()


def _bot_user(bot_id: int) -> dict[str, Any]:
    return {"id": bot_id, "is_bot": True, "first_name": "Fake Bot", "username": "fake_bot"}


def _chat(chat_id: int, username: str | None) -> dict[str, Any]:
    if username:
        return {"id": chat_id, "title": username, "username": username, "type": "channel"}
    if chat_id > 0:
        return {"id": chat_id, "first_name": "User", "type": "private"}
    if chat_id < -1_000_000_000_000:
        return {"id": chat_id, "title": "Supergroup", "type": "supergroup"}
    return {"id": chat_id, "title": "Group", "type": "group"}


def _chat_id(value: str) -> tuple[int, str | None]:
    """sendMessage's chat_id: (id, username or None); ApiError as the Bot API words it."""
    if not value:
        raise ApiError(400, "Bad Request: chat_id is empty")
    if value.startswith("@"):
        if len(value) < 2:
            raise ApiError(400, "Bad Request: chat not found")
        return _username_id(value), value[1:]
    try:
        chat_id = int(value)
    except ValueError:
        chat_id = 0
    if chat_id == 0:
        raise ApiError(400, "Bad Request: chat not found")
    return chat_id, None


def _check_chat(behaviour: Behaviour, chat_id: int) -> None:
    if chat_id in behaviour.missing_chat_ids:
        raise ApiError(400, "Bad Request: chat not found")
    new_id = behaviour.migrated_chats.get(chat_id)
    if new_id is not None:
        raise ApiError(
            400,
            "Bad Request: group chat was upgraded to a supergroup chat",
            {"migrate_to_chat_id": new_id},
        )
    if chat_id in behaviour.deactivated_chat_ids:
        raise ApiError(403, "Forbidden: user is deactivated")


def _link_preview(params: Mapping[str, str]) -> bool:
    """Whether the link preview is on: link_preview_options.is_disabled, or the older
    disable_web_page_preview (what is shown in a preview is not modelled)."""
    raw = params.get("link_preview_options")
    if not raw:
        return not _truthy(params.get("disable_web_page_preview", ""))
    try:
        options = json.loads(raw)
    except ValueError:
        options = None
    if not isinstance(options, dict):
        raise ApiError(400, "Bad Request: can't parse link preview options JSON object")
    return not options.get("is_disabled")


def _new_record(
    chat_id: int,
    text: str,
    parse_mode: str | None,
    params: Mapping[str, str],
    shown: str,
    entities: list[dict[str, Any]],
    markup: dict[str, Any] | None,
) -> dict[str, Any]:
    """A message as ``messages()`` lists it; a photo's adds photo and photo_file_id, and
    ``text`` is its caption."""
    return {
        "chat_id": chat_id,
        "text": text,
        "parse_mode": parse_mode,
        "disable_notification": _truthy(params.get("disable_notification", "")),
        "protect_content": _truthy(params.get("protect_content", "")),
        "paid_broadcast": _truthy(params.get("allow_paid_broadcast", "")),
        "link_preview": False,
        "photo": None,
        "message_id": 0,
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "visible_text": shown,
        "entities": entities,
        "reply_markup": markup,
    }


def _sent(
    bot_id: int, record: dict[str, Any], message_id: int, username: str | None
) -> dict[str, Any]:
    """The Message an accepted send answers with, but its text or photo."""
    result = {
        "message_id": message_id,
        "from": _bot_user(bot_id),
        "chat": _chat(record["chat_id"], username),
        "date": int(time.time()),
    }
    if record["protect_content"]:
        result["has_protected_content"] = True
    markup = record["reply_markup"]
    if markup is not None and "inline_keyboard" in markup:
        result["reply_markup"] = markup  # Telegram echoes an inline keyboard only
    return result


def _outcome(code: int) -> str:
    return "5xx" if code >= 500 else str(code)


def _no_stats() -> dict[str, int]:
    """Answers by outcome, and of the sent: paid broadcasts' and the billed ones of those."""
    return dict.fromkeys((*OUTCOMES, "paid", "billed"), 0)


def _tenths(stars: float | None) -> int | None:
    """A Stars balance in tenths of a Star (a paid message costs one), None for unlimited."""
    return None if stars is None else int(round(stars * 10, 6))


class FakeTelegram:
    """The fake Bot API server; see the module docstring. Thread-safe."""

    def __init__(self, behaviour: Behaviour | None = None):
        self._initial = behaviour or Behaviour()
        self._behaviour = _started(self._initial)
        self._lock = threading.Lock()
        self._messages: deque[dict[str, Any]] = deque(maxlen=KEPT_MESSAGES)
        self._last_ids: dict[int, int] = {}
        self._stats = _no_stats()
        self._counters = dict.fromkeys(_FAULT_KINDS, 0)
        self._window = _SlidingWindow()
        self._stars = _tenths(self._initial.stars_balance)  # tenths of a Star left
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self.base_url: str | None = None
        self.chats = Chats(self)

    # lifecycle -------------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on host:port (0 picks a free port) in a daemon thread; returns the base URL."""
        if self._server is not None:
            raise RuntimeError(f"already serving on {self.base_url}")
        server = _Server((host, port), _Handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-telegram",
            daemon=True,
        )
        self._thread.start()
        bound_host, bound_port = server.server_address[:2]
        self.base_url = f"http://{bound_host}:{bound_port}"
        return self.base_url

    def stop(self) -> None:
        """Stop serving and close the connections clients keep alive. Recorded state stays."""
        server, thread, self._server, self._thread = self._server, self._thread, None, None
        self.chats.stop()
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> FakeTelegram:
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # inspection and control ------------------------------------------------------------------

    @property
    def behaviour(self) -> Behaviour:
        return self._behaviour

    def configure(self, **changes: Any) -> Behaviour:
        """Change Behaviour fields while serving; ValueError names an unknown field or bad value.

        Setting ``rate_limit_for_seconds`` starts its period now; setting an ``*_every`` knob
        restarts its count, so the Nth sendMessage from now is the one that fails.
        """
        unknown = sorted(set(changes) - _FIELD_NAMES)
        if unknown:
            raise ValueError(f"unknown behaviour field(s): {', '.join(unknown)}")
        if "rate_limit_for_seconds" in changes and "rate_limit_started" not in changes:
            changes["rate_limit_started"] = time.monotonic()
        with self._lock:
            behaviour = replace(self._behaviour, **changes)
            self._behaviour = behaviour
            for kind in _FAULT_KINDS:
                if f"{kind}_every" in changes:
                    self._counters[kind] = 0
            if changes.keys() & {"enforce_limits", "global_per_second", "per_chat_per_second",
                                 "paid_per_second", "stars_balance"}:  # fmt: skip
                self._window.clear()
            if "stars_balance" in changes:
                self._stars = _tenths(behaviour.stars_balance)
        return behaviour

    def reset(self) -> None:
        """Forget messages, stats and counters; back to the behaviour given at construction."""
        with self._lock:
            self._behaviour = _started(self._initial)
            self._messages.clear()
            self._last_ids.clear()
            self._stats = _no_stats()
            self._counters = dict.fromkeys(_FAULT_KINDS, 0)
            self._window.clear()
            self._stars = _tenths(self._initial.stars_balance)
            self.chats.reset()

    def clear_messages(self) -> None:
        with self._lock:
            self._messages.clear()

    def messages(self, chat_id: int | str | None = None) -> list[dict[str, Any]]:
        """The accepted messages, oldest first (the newest KEPT_MESSAGES of them): chat_id,
        text (as sent; a photo's caption), parse_mode, disable_notification, protect_content,
        link_preview (False when disabled, and for a photo), photo (as sent, None for text)
        and photo_file_id, message_id, time (ISO 8601 UTC), visible_text (what the user
        sees), entities, reply_markup and paid_broadcast (sent with allow_paid_broadcast)."""
        with self._lock:
            snapshot = list(self._messages)
        if chat_id is not None:
            wanted = _chat_key(chat_id)
            snapshot = [message for message in snapshot if message["chat_id"] == wanted]
        return [dict(message) for message in snapshot]

    def _newest(self, count: int) -> list[dict[str, Any]]:
        with self._lock:
            newest = list(islice(reversed(self._messages), count))
        return newest[::-1]

    def stats(self) -> dict[str, int]:
        """Answers by outcome: sent, 400, 401, 403, 404, 429, 5xx, dropped; of the sent, paid
        (with allow_paid_broadcast) and billed (paid past the free overall limit, 0.1 Stars
        each); and messages kept."""
        with self._lock:
            counts = dict(self._stats)
            counts["messages"] = len(self._messages)
        return counts

    # the API ---------------------------------------------------------------------------------

    def _call(self, method: str, bot_id: int, params: Mapping[str, str]) -> bytes:
        """Answer one API call (method lower-cased) as a JSON body, or raise ApiError/_Dropped."""
        if method == "getme":
            bot = {
                **_bot_user(bot_id),
                "can_join_groups": True,
                "can_read_all_group_messages": False,
                "supports_inline_queries": False,
            }
            return _dumps({"ok": True, "result": bot})
        if method == "sendmessage":
            return _dumps({"ok": True, "result": self._send_message(bot_id, params)})
        if method == "sendphoto":
            return _dumps({"ok": True, "result": self._send_photo(bot_id, params)})
        return _dumps({"ok": True, "result": self._bot_side(method, params)})

    def _bot_side(self, method: str, params: Mapping[str, str]) -> Any:
        """The methods of a bot's conversation and set-up (``chats``)."""
        chats = self.chats
        if method == "answercallbackquery":
            return chats.answer_callback(params)
        if method == "editmessagetext":
            return chats.edit_text(params)
        if method == "setmycommands":
            return chats.set_commands(params)
        if method == "getmycommands":
            return chats.get_commands(params)
        if method == "setwebhook":
            return chats.set_webhook(params)
        if method == "deletewebhook":
            return chats.delete_webhook(params)
        if method == "getwebhookinfo":
            return chats.webhook_info()
        return chats.get_updates(params)  # getupdates: the last of _API_METHODS

    def _count(self, outcome: str) -> None:
        with self._lock:
            self._stats[outcome] += 1

    def _send_message(self, bot_id: int, params: Mapping[str, str]) -> dict[str, Any]:
        behaviour = self._behaviour
        if behaviour.latency_ms:
            time.sleep(behaviour.latency_ms / 1000)
        self._inject_faults(behaviour)
        text = params.get("text", "")
        if not text:
            raise ApiError(400, "Bad Request: message text is empty")
        if len(text) * 4 > MAX_TEXT_BYTES and len(text.encode("utf-8", "replace")) > MAX_TEXT_BYTES:
            raise ApiError(400, "Bad Request: text is too long")
        parse_mode = params.get("parse_mode") or None
        shown, entities = visible_text(text, parse_mode)
        chat_id, username = _chat_id(params.get("chat_id", ""))
        _check_chat(behaviour, chat_id)
        if not shown:
            raise ApiError(400, "Bad Request: text must be non-empty")
        if len(shown) > MAX_MESSAGE_LENGTH // 2 and _utf16_len(shown) > MAX_MESSAGE_LENGTH:
            raise ApiError(400, "Bad Request: message is too long")
        markup = parse_markup(params.get("reply_markup"))
        preview = _link_preview(params)
        if chat_id in behaviour.blocked_chat_ids:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        record = _new_record(chat_id, text, parse_mode, params, shown, entities, markup)
        record["link_preview"] = preview
        message_id = self._record(behaviour, record)
        result = _sent(bot_id, record, message_id, username)
        result["text"] = shown
        if entities:
            result["entities"] = entities
        return result

    def _send_photo(self, bot_id: int, params: Mapping[str, str]) -> dict[str, Any]:
        """sendPhoto: a photo by URL or file_id (``photos``), and a caption of at most 1024
        characters as Telegram counts them (a caption may be empty)."""
        behaviour = self._behaviour
        if behaviour.latency_ms:
            time.sleep(behaviour.latency_ms / 1000)
        self._inject_faults(behaviour)
        caption = params.get("caption", "")
        if (
            len(caption) * 4 > MAX_TEXT_BYTES
            and len(caption.encode("utf-8", "replace")) > MAX_TEXT_BYTES
        ):
            raise ApiError(400, "Bad Request: message caption is too long")
        parse_mode = params.get("parse_mode") or None
        shown, entities = visible_text(caption, parse_mode) if caption else ("", [])
        chat_id, username = _chat_id(params.get("chat_id", ""))
        _check_chat(behaviour, chat_id)
        if _utf16_len(shown) > MAX_CAPTION_LENGTH:
            raise ApiError(400, "Bad Request: message caption is too long")
        sizes = photo_sizes(params.get("photo", ""))
        markup = parse_markup(params.get("reply_markup"))
        if chat_id in behaviour.blocked_chat_ids:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        record = _new_record(chat_id, caption, parse_mode, params, shown, entities, markup)
        record.update(photo=params["photo"], photo_file_id=sizes[-1]["file_id"])
        message_id = self._record(behaviour, record)
        result = _sent(bot_id, record, message_id, username)
        result["photo"] = sizes
        if shown:
            result["caption"] = shown
        if entities:
            result["caption_entities"] = entities
        return result

    def _inject_faults(self, behaviour: Behaviour) -> None:
        if not (
            behaviour.drop_connection_every
            or behaviour.server_error_every
            or behaviour.rate_limit_every
            or behaviour.rate_limit_for_seconds
        ):
            return
        with self._lock:
            drop = self._tick("drop_connection", behaviour.drop_connection_every)
            bad_gateway = self._tick("server_error", behaviour.server_error_every)
            limited = self._tick("rate_limit", behaviour.rate_limit_every)
        if drop:
            raise _Dropped
        if bad_gateway:
            raise ApiError(502, "Bad Gateway")
        started = behaviour.rate_limit_started or 0.0
        if limited or time.monotonic() - started < behaviour.rate_limit_for_seconds:
            raise _too_many_requests(behaviour.retry_after)

    def _tick(self, kind: str, every: int) -> bool:
        if not every:
            return False
        count = self._counters[kind] + 1
        self._counters[kind] = count
        return count % every == 0

    def _record(self, behaviour: Behaviour, record: dict[str, Any]) -> int:
        chat_id, paid = record["chat_id"], record["paid_broadcast"]
        with self._lock:
            refused = self._admit(behaviour, chat_id, paid)
            if refused is None:
                message_id = record["message_id"] = self._next_message_id(chat_id)
                self._messages.append(record)
                self._stats["sent"] += 1
                self._stats["paid"] += paid
        if refused is not None:
            raise refused
        return message_id

    def _admit(self, behaviour: Behaviour, chat_id: int, paid: bool) -> ApiError | None:
        """The flood limits and the Stars a paid message costs; None when it may go (the
        caller holds the lock). The window is kept while limits are enforced or Stars billed."""
        if not behaviour.enforce_limits and behaviour.stars_balance is None:
            return None
        now = time.monotonic()
        overall, to_chat = self._window.loads(chat_id, now)
        free = behaviour.global_per_second
        if behaviour.enforce_limits:
            limit = max(free, behaviour.paid_per_second) if paid else free
            if overall >= limit or to_chat >= behaviour.per_chat_per_second:
                return _too_many_requests(1)
        billed = paid and overall >= free
        if billed and self._stars is not None:
            if self._stars < 1:
                return ApiError(400, "Bad Request: BALANCE_TOO_LOW")
            self._stars -= 1
        self._window.add(chat_id, now)
        self._stats["billed"] += billed
        return None

    # the chat's messages, for ``chats`` (the caller holds the lock) ---------------------------

    def _next_message_id(self, chat_id: int) -> int:
        """Message ids count per chat, the person's and the bot's messages alike."""
        message_id = self._last_ids[chat_id] = self._last_ids.get(chat_id, 0) + 1
        return message_id

    def _find(self, chat_id: int, message_id: int) -> dict[str, Any] | None:
        for record in reversed(self._messages):
            if record["chat_id"] == chat_id and record["message_id"] == message_id:
                return record
        return None

    # plumbing for the handler ----------------------------------------------------------------

    def _track(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.add(connection)

    def _untrack(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.discard(connection)


# --------------------------------------------------------------------------------------------
# HTTP


def _json_params(body: bytes) -> dict[str, str]:
    """A JSON object's fields as the Bot API reads them: strings, everything else as JSON."""
    try:
        data = json.loads(body)
    except ValueError:
        raise ApiError(400, "Bad Request: can't parse JSON object") from None
    if not isinstance(data, dict):
        raise ApiError(400, "Bad Request: JSON object expected")
    params = {}
    for key, value in data.items():
        if isinstance(value, str):
            if not value.isascii():
                _check_utf8(value)
            params[key] = value
        elif isinstance(value, bool):
            params[key] = "true" if value else "false"
        elif isinstance(value, int):
            params[key] = str(value)
        elif value is not None:
            params[key] = _encode(value)
    return params


def _check_utf8(value: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError(400, "Bad Request: strings must be encoded in UTF-8") from None


def _form(data: str) -> dict[str, str]:
    try:
        return dict(parse_qsl(data, keep_blank_values=True, errors="strict"))
    except UnicodeDecodeError:
        raise ApiError(400, "Bad Request: strings must be encoded in UTF-8") from None


def request_params(query: str, body: bytes, content_type: str | None) -> dict[str, str]:
    """The call's parameters: the query string, then a form or JSON body over it."""
    params = _form(query) if query else {}
    if body:
        kind = (content_type or "").partition(";")[0].strip().lower()
        if kind == "application/json":
            params.update(_json_params(body))
        elif kind == "application/x-www-form-urlencoded":
            try:
                params.update(_form(body.decode("utf-8")))
            except UnicodeDecodeError:
                raise ApiError(400, "Bad Request: strings must be encoded in UTF-8") from None
    return params


_REASONS = {status.value: status.phrase.encode() for status in HTTPStatus}
_JSON = b"application/json"
_UNAUTHORIZED = ApiError(401, "Unauthorized").body()
_NOT_FOUND = ApiError(404, "Not Found").body()
_API_METHODS = frozenset({
    "getme", "sendmessage", "sendphoto", "answercallbackquery", "editmessagetext", "setmycommands",
    "getmycommands", "setwebhook", "deletewebhook", "getwebhookinfo", "getupdates",
})  # fmt: skip


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128
    fake: FakeTelegram


class _Headers(dict[str, str]):
    """Request headers by lower-case name; what the handler reads of http.client's HTTPMessage."""

    def get(self, name: str, default: Any = None) -> Any:
        return super().get(name.lower(), default)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Without it every keep-alive answer waits ~40 ms: Nagle's algorithm meets delayed ACK.
    disable_nagle_algorithm = True
    server: _Server

    def parse_request(self) -> bool:
        """http.server's parse_request for HTTP/1.0 and 1.1 without its email-package header
        parser, which alone costs ~60 us a request; headers become a ``_Headers``."""
        self.command = None
        self.close_connection = True
        self.requestline = self.raw_requestline.decode("iso-8859-1").rstrip("\r\n")
        words = self.requestline.split()
        if len(words) != 3 or words[2] not in ("HTTP/1.0", "HTTP/1.1"):
            self.request_version = self.default_request_version
            self.send_error(HTTPStatus.BAD_REQUEST, f"Bad request line {self.requestline!r}")
            return False
        self.command, self.path, self.request_version = words
        headers = self._read_headers()
        if headers is None:
            return False
        self.headers = headers
        connection = headers.get("connection", "").lower()
        keep_alive = self.request_version == "HTTP/1.1" or connection == "keep-alive"
        self.close_connection = connection == "close" or not keep_alive
        if headers.get("expect", "").lower() == "100-continue":
            return self.handle_expect_100()
        return True

    def _read_headers(self) -> _Headers | None:
        headers = _Headers()
        for _ in range(100):
            line = self.rfile.readline(65537)
            if len(line) > 65536:
                self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Header line too long")
                return None
            if line in (b"\r\n", b"\n", b""):
                return headers
            name, colon, value = line.decode("iso-8859-1").partition(":")
            if not colon:
                self.send_error(HTTPStatus.BAD_REQUEST, f"Bad header line {line[:80]!r}")
                return None
            headers[name.strip().lower()] = value.strip()
        self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Too many headers")
        return None

    def setup(self) -> None:
        super().setup()
        self.server.fake._track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fake._untrack(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: one line per request would cost more than the request."""

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_DELETE(self) -> None:
        self._route("DELETE")

    def _route(self, verb: str) -> None:
        path, _, query = self.path.partition("?")
        body = self._read_body()
        if body is None:
            return
        if path.startswith("/bot"):
            self._api(path, query, body)
        elif path == "/_fake" or path.startswith("/_fake/"):
            self._control(verb, path.rstrip("/"), query, body)
        else:
            self._send(404, _NOT_FOUND)

    def _read_body(self) -> bytes | None:
        length = self.headers.get("Content-Length")
        if length is None:
            chunked = "chunked" in (self.headers.get("Transfer-Encoding") or "").lower()
            return self._read_chunked() if chunked else b""
        try:
            size = int(length)
        except ValueError:
            size = -1
        if not 0 <= size <= MAX_BODY_BYTES:
            self._refuse_body(size > 0)
            return None
        return self.rfile.read(size) if size else b""

    def _refuse_body(self, too_large: bool) -> None:
        self.close_connection = True
        error = (
            ApiError(413, "Request Entity Too Large")
            if too_large
            else ApiError(400, "Bad Request: invalid Content-Length or chunked body")
        )
        self._send(error.code, error.body())

    def _read_chunked(self) -> bytes | None:
        parts: list[bytes] = []
        total = 0
        while True:
            size = int(self.rfile.readline(1024).split(b";", 1)[0].strip() or b"0", 16)
            total += size
            if total > MAX_BODY_BYTES:
                self._refuse_body(True)
                return None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _api(self, path: str, query: str, body: bytes) -> None:
        fake = self.server.fake
        token, _, method = path[4:].partition("/")
        if _TOKEN.fullmatch(token) is None:
            fake._count("401")
            self._send(401, _UNAUTHORIZED)
            return
        method = method.lower()
        if method not in _API_METHODS:
            fake._count("404")
            self._send(404, _NOT_FOUND)
            return
        try:
            params = request_params(query, body, self.headers.get("Content-Type"))
            answer = fake._call(method, int(token.partition(":")[0]), params)
        except ApiError as error:
            fake._count(_outcome(error.code))
            self._send(error.code, error.body())
        except _Dropped:
            fake._count("dropped")
            self._drop()
        else:
            self._send(200, answer)

    def _control(self, verb: str, path: str, query: str, body: bytes) -> None:
        route = _CONTROL_ROUTES.get((verb, path))
        person = _PERSON_ROUTE.fullmatch(path)
        if route is None and verb == "POST" and person and person["action"] in _PERSON_ACTIONS:
            action, user_id = _PERSON_ACTIONS[person["action"]], int(person["id"])
            route = lambda fake, query, body: _act(fake, action, user_id, body)  # noqa: E731
        if route is None:
            self._send(404, _NOT_FOUND)
            return
        try:
            status, answer, kind = route(self.server.fake, query, body)
        except ValueError as exc:
            status, answer, kind = 400, ApiError(400, f"Bad Request: {exc}").body(), _JSON
        self._send(status, answer, kind)

    def _send(self, status: int, body: bytes, content_type: bytes = _JSON) -> None:
        closing = b"Connection: close\r\n" if self.close_connection else b""
        self.wfile.write(
            b"HTTP/1.1 %d %s\r\nServer: fake-telegram\r\nContent-Type: %s\r\n"
            b"Content-Length: %d\r\n%s\r\n%s"
            % (status, _REASONS[status], content_type, len(body), closing, body)
        )

    def _drop(self) -> None:
        """Close with SO_LINGER 0: the client gets a connection reset instead of an answer."""
        self.close_connection = True
        with suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()  # the descriptor closes, with a RST, when finish() closes rfile


# --------------------------------------------------------------------------------------------
# /_fake routes: (fake, query, body) -> (status, body, content type); ValueError answers 400.


def _json_answer(payload: Any) -> tuple[int, bytes, bytes]:
    return 200, _dumps(payload), _JSON


def _list_messages(fake: FakeTelegram, query: str, body: bytes) -> tuple[int, bytes, bytes]:
    chat_id = dict(parse_qsl(query)).get("chat_id")
    try:
        return _json_answer(fake.messages(chat_id if chat_id else None))
    except ValueError:
        raise ValueError("chat_id must be an integer or an @username") from None


def _clear_messages(fake: FakeTelegram, query: str, body: bytes) -> tuple[int, bytes, bytes]:
    fake.clear_messages()
    return _json_answer({"ok": True})


def _show_stats(fake: FakeTelegram, query: str, body: bytes) -> tuple[int, bytes, bytes]:
    return _json_answer(fake.stats())


def _show_config(fake: FakeTelegram, query: str, body: bytes) -> tuple[int, bytes, bytes]:
    return _json_answer(fake.behaviour.to_json())


def _change_config(fake: FakeTelegram, query: str, body: bytes) -> tuple[int, bytes, bytes]:
    try:
        changes = json.loads(body or b"{}")
    except ValueError:
        raise ValueError("the body must be a JSON object of Behaviour fields") from None
    if not isinstance(changes, dict):
        raise ValueError("the body must be a JSON object of Behaviour fields")
    return _json_answer(fake.configure(**changes).to_json())


def _reset(fake: FakeTelegram, query: str, body: bytes) -> tuple[int, bytes, bytes]:
    fake.reset()
    return _json_answer({"ok": True})


def _page(fake: FakeTelegram, query: str, body: bytes) -> tuple[int, bytes, bytes]:
    chat = dict(parse_qsl(query)).get("chat")
    if chat:
        try:
            chat_id = int(chat)
        except ValueError:
            raise ValueError("chat: a person's id, an integer") from None
        found = {**fake.chats.chat(chat_id), "messages": fake.messages(chat_id)}
        page = render_chat(found, fake.chats.people_list(), chat_id)
    else:
        page = render_page(fake._newest(PAGE_MESSAGES), fake.stats(), fake.chats.people_list())
    return 200, page.encode("utf-8"), b"text/html; charset=utf-8"


def _act(fake: FakeTelegram, action: str, user_id: int, body: bytes) -> tuple[int, bytes, bytes]:
    """A person writes, taps, blocks or unblocks (``chats``)."""
    try:
        params = json.loads(body or b"{}")
    except ValueError:
        raise ValueError("the body must be a JSON object") from None
    if not isinstance(params, dict):
        raise ValueError("the body must be a JSON object")
    done = getattr(fake.chats, action)(user_id, params)
    return _json_answer({"ok": True, **done})


def _show_chat(fake: FakeTelegram, query: str, body: bytes) -> tuple[int, bytes, bytes]:
    """``?user_id=``: the person, the bot's messages and theirs, the toasts of their taps."""
    try:
        user_id = int(dict(parse_qsl(query))["user_id"])
    except (KeyError, ValueError):
        raise ValueError("user_id: the person's id, an integer") from None
    return _json_answer({**fake.chats.chat(user_id), "messages": fake.messages(user_id)})


def _list_people(fake: FakeTelegram, query: str, body: bytes) -> tuple[int, bytes, bytes]:
    return _json_answer(fake.chats.people_list())


_PERSON_ROUTE = re.compile(r"/_fake/users/(?P<id>[0-9]{1,15})/(?P<action>[a-z]+)")
_PERSON_ACTIONS = {"messages": "write", "press": "press", "block": "block", "unblock": "unblock"}
_Route = Callable[[FakeTelegram, str, bytes], tuple[int, bytes, bytes]]
_CONTROL_ROUTES: dict[tuple[str, str], _Route] = {
    ("GET", "/_fake"): _page,
    ("GET", "/_fake/messages"): _list_messages,
    ("DELETE", "/_fake/messages"): _clear_messages,
    ("GET", "/_fake/stats"): _show_stats,
    ("GET", "/_fake/config"): _show_config,
    ("POST", "/_fake/config"): _change_config,
    ("POST", "/_fake/reset"): _reset,
    ("GET", "/_fake/chat"): _show_chat,
    ("GET", "/_fake/users"): _list_people,
}


# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.fakes.telegram", description="A fake Telegram Bot API."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081, help="0 picks a free port")
    args = parser.parse_args(argv)
    fake = FakeTelegram()
    url = fake.start(args.host, args.port)
    print(url, flush=True)
    print(f"messages: {url}/_fake (Ctrl-C stops)", file=sys.stderr, flush=True)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        while not stopping.wait(1):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()
    return 0
