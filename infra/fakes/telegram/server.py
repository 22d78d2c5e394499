"""A fake Telegram Bot API: a real HTTP server that answers like api.telegram.org, errors included.

Production code reaches it only through its base URL (``TELEGRAM_API_URL``); pyTelegramBotAPI is
pointed at it with ``telebot.apihelper.API_URL = base_url + "/bot{0}/{1}"``. ``make run``, the
tests and the benchmarks use it::

    with FakeTelegram() as fake:                  # or fake.start() ... fake.stop()
        fake.base_url                             # http://127.0.0.1:<port>
        fake.configure(blocked_chat_ids={42})     # change behaviour while it runs
        fake.messages()                           # what was accepted, oldest first

    python -m infra.fakes.telegram --port 8081    # standalone; prints its URL

What it fakes:

- ``/bot<token>/<method>`` over GET and POST, parameters from the query string (which is where
  pyTelegramBotAPI puts them, even for POST), a urlencoded form or a JSON body. Method names are
  case-insensitive. A token not shaped ``<digits>:<20+ of [A-Za-z0-9_-]>`` gets 401, an unknown
  method 404.
- ``getMe`` and ``sendMessage``. sendMessage checks what the real Bot API checks, in its order
  (text present, at most 32 KiB, parse_mode, entities, chat_id, chat state, visible length), and
  parses ``parse_mode=HTML`` with a port of tdlib's own parser (td/telegram/MessageEntity.cpp,
  ``parse_html``), so the ``can't parse entities: ...`` descriptions and byte offsets are the real
  ones. Like Telegram, it keeps unknown entities such as ``&nbsp;`` as literal text, turns control
  characters into spaces, drops carriage returns, trims leading and trailing spaces and newlines,
  and counts the 4096-character limit on the visible text in UTF-16 code units. The answer is a
  Message that ``telebot.types.Message.de_json`` reads, with ``entities``; message ids count per
  chat.
- Failures on demand, through ``Behaviour`` (at construction, ``configure()`` or
  ``POST /_fake/config``): latency, 429 every Nth call or for a period, the real flood limits
  (sliding one-second windows overall and per chat), blocked and deactivated users, chats not
  found or migrated to a supergroup, 502 Bad Gateway every Nth call, and connections reset
  without an answer.
- Inspection: ``GET /_fake/messages`` (``?chat_id=``), ``DELETE /_fake/messages``,
  ``GET /_fake/stats``, ``GET|POST /_fake/config``, ``POST /_fake/reset``, and ``GET /_fake``, a
  self-contained page listing the messages newest first, refreshed every 5 s.

What it does not fake: updates (getUpdates, webhooks), every method but getMe and sendMessage,
files and multipart bodies, reply markup and link previews (accepted, ignored), Markdown parsing
(MarkdownV2 and Markdown are accepted and kept as sent), automatic entities (URLs, mentions,
hashtags), which chats exist (any chat id is a reachable user unless a Behaviour says otherwise),
the URL checks behind ``<a href>`` (approximated), TLS and IPv6. A request line (URL) over 64 KiB
gets http.server's 414, which pyTelegramBotAPI, putting the text in the URL, can reach with heavy
markup; Telegram's own URL limit is not modelled.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import signal
import socket
import string
import struct
import sys
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import islice
from typing import Any, NamedTuple
from urllib.parse import parse_qsl

MAX_TEXT_BYTES = 1 << 15  # the Bot API refuses longer raw text before parsing it
MAX_MESSAGE_LENGTH = 4096  # visible characters, counted in UTF-16 code units
MAX_BODY_BYTES = 1 << 20
PAGE_MESSAGES = 200  # the newest messages shown on /_fake
KEPT_MESSAGES = 200_000  # the newest messages kept (~150 MB); stats count every one
OUTCOMES = ("sent", "400", "401", "403", "404", "429", "5xx", "dropped")
_FAULT_KINDS = ("rate_limit", "server_error", "drop_connection")
_TOKEN = re.compile(r"\d+:[A-Za-z0-9_-]{20,}")


# --------------------------------------------------------------------------------------------
# Behaviour


def _count(value: Any) -> int:
    number = int(value)
    if number < 0:
        raise ValueError(f"must be >= 0, not {value!r}")
    return number


def _positive(value: Any) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(f"must be >= 1, not {value!r}")
    return number


def _seconds(value: Any) -> float:
    number = float(value)
    if not number >= 0:  # also refuses NaN
        raise ValueError(f"must be >= 0, not {value!r}")
    return number


def _instant(value: Any) -> float | None:
    return None if value is None else float(value)


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return _truthy(value)
    if isinstance(value, bool | int):
        return bool(value)
    raise ValueError(f"must be a boolean, not {value!r}")


def _username_id(username: str) -> int:
    """A stable supergroup-shaped id for a ``@username`` chat."""
    return -(1_000_000_000_000 + zlib.crc32(username.lower().encode()))


def _chat_key(value: Any) -> int:
    if isinstance(value, str) and value.startswith("@"):
        return _username_id(value)
    if isinstance(value, bool):
        raise ValueError(f"not a chat id: {value!r}")
    return int(value)


def _chat_ids(value: Any) -> frozenset[int]:
    if isinstance(value, str | int):
        raise ValueError(f"must be a list of chat ids, not {value!r}")
    return frozenset(_chat_key(item) for item in value)


def _chat_map(value: Any) -> dict[int, int]:
    return {_chat_key(old): int(new) for old, new in dict(value).items()}


_COERCE: dict[str, Callable[[Any], Any]] = {
    "latency_ms": _seconds,
    "rate_limit_every": _count,
    "rate_limit_for_seconds": _seconds,
    "rate_limit_started": _instant,
    "retry_after": _count,
    "enforce_limits": _flag,
    "global_per_second": _positive,
    "per_chat_per_second": _positive,
    "blocked_chat_ids": _chat_ids,
    "deactivated_chat_ids": _chat_ids,
    "missing_chat_ids": _chat_ids,
    "migrated_chats": _chat_map,
    "server_error_every": _count,
    "drop_connection_every": _count,
}


@dataclass(frozen=True)
class Behaviour:
    """How the fake misbehaves; every knob is off by default. Chat ids may be ``@usernames``."""

    latency_ms: float = 0.0  # sleep this long before answering sendMessage
    rate_limit_every: int = 0  # every Nth sendMessage answers 429
    rate_limit_for_seconds: float = 0.0  # every sendMessage answers 429 for this long ...
    rate_limit_started: float | None = None  # ... from this time.monotonic() (default: now)
    retry_after: int = 1  # the retry_after of the two 429s above
    enforce_limits: bool = False  # the real flood limits, as 429 with retry_after 1
    global_per_second: int = 30
    per_chat_per_second: int = 1
    blocked_chat_ids: frozenset[int] = frozenset()  # 403 bot was blocked by the user
    deactivated_chat_ids: frozenset[int] = frozenset()  # 403 user is deactivated
    missing_chat_ids: frozenset[int] = frozenset()  # 400 chat not found
    migrated_chats: dict[int, int] = field(default_factory=dict)  # 400 with migrate_to_chat_id
    server_error_every: int = 0  # every Nth sendMessage answers 502 Bad Gateway
    drop_connection_every: int = 0  # every Nth sendMessage resets the connection, no answer

    def __post_init__(self) -> None:
        for name, coerce in _COERCE.items():
            value = getattr(self, name)
            try:
                object.__setattr__(self, name, coerce(value))
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{name}: {exc}") from None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, frozenset):
                value = sorted(value)
            elif isinstance(value, dict):
                value = {str(old): new for old, new in value.items()}
            data[item.name] = value
        return data


_FIELD_NAMES = frozenset(item.name for item in fields(Behaviour))


def _started(behaviour: Behaviour) -> Behaviour:
    if behaviour.rate_limit_for_seconds and behaviour.rate_limit_started is None:
        return replace(behaviour, rate_limit_started=time.monotonic())
    return behaviour


# --------------------------------------------------------------------------------------------
# Errors


class ApiError(Exception):
    """An error answer of the Bot API: HTTP status = error_code, description, parameters."""

    def __init__(self, code: int, description: str, parameters: dict[str, Any] | None = None):
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters

    def body(self) -> bytes:
        payload: dict[str, Any] = {
            "ok": False,
            "error_code": self.code,
            "description": self.description,
        }
        if self.parameters:
            payload["parameters"] = self.parameters
        return _dumps(payload)


class HtmlParseError(ValueError):
    """Telegram's reason for refusing a parse_mode=HTML text (after "can't parse entities: ")."""


class _Dropped(Exception):
    """Reset the connection instead of answering."""


def _too_many_requests(retry_after: int) -> ApiError:
    return ApiError(
        429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}
    )


_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _dumps(payload: Any) -> bytes:
    return _encode(payload).encode("utf-8")


# --------------------------------------------------------------------------------------------
# Telegram's HTML: a port of tdlib's parse_html, then the cleaning and trimming of
# fix_formatted_text. tdlib reads a NUL-terminated byte string; here the text gets a "\0"
# sentinel, so s[i] past the end reads "\0" as it does in C.

_SIMPLE_ENTITIES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
}
_TAGS = frozenset({*_SIMPLE_ENTITIES, "a", "tg-emoji", "tg-time", "pre", "code", "blockquote"})
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_SPACE = frozenset(" \t\r\n\0\v")  # td::is_space, NUL included
_BLANK = _SPACE - {"\0"}
_DIGITS = frozenset(string.digits)
_HEX_DIGITS = frozenset(string.hexdigits)
_ALPHA = frozenset(string.ascii_letters)
_NAME_TOKEN = _ALPHA | _DIGITS | {".", "-"}
_ATTRIBUTE_NAME_END = _SPACE | set("=>/\"'")
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_SPECIAL = re.compile(r"[<&]")
# clean_input_string: control characters become spaces, "\r" and a few invisible marks go.
_CLEAN = {code: " " for code in (*range(10), 11, 12, *range(14, 32))}
_CLEAN.update(dict.fromkeys((13, *range(0x2028, 0x202F), 0x30A, 0x333, 0x33F)))
_CLEANED = re.compile(r"[\x00-\x09\x0b-\x1f\u2028-\u202e\u030a\u0333\u033f]")
# tag, attribute -> the prefix of the value that makes it the tag's argument
_ARGUMENTS = {
    ("a", "href"): "",
    ("code", "class"): "language-",
    ("span", "class"): "tg-",
    ("tg-emoji", "emoji-id"): "",
    ("tg-time", "format"): "",
}
_USER_LINK = re.compile(r"tg://user\?id=(\d{1,18})", re.IGNORECASE)
_URL_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_DATE_FORMATS = set("tTdDwW")


class _Open(NamedTuple):
    tag: str
    argument: str
    date: int
    offset: int  # UTF-16 offset in the visible text
    chunk: int  # index into the output chunks where the tag's text begins


def _utf16_len(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-16-le")) // 2


def _decode_entity(s: str, pos: int) -> tuple[str, int]:
    """tdlib's decode_html_entity at s[pos] == "&": (character, end) or ("", pos)."""
    end = pos + 1
    if s[end] == "#":
        end += 1
        digits, base = _DIGITS, 10
        if s[end] == "x":
            end += 1
            digits, base = _HEX_DIGITS, 16
        start = end
        while s[end] in digits:
            end += 1
        if end - pos >= 10 or end == start:
            return "", pos
        code = int(s[start:end], base)
        if code == 0 or code >= 0x10FFFF:
            return "", pos
        character = chr(code)
    else:
        while s[end] in _ALPHA:
            end += 1
        character = _NAMED_ENTITIES.get(s[pos + 1 : end], "")
        if not character:
            return "", pos
    if s[end] == ";":
        end += 1
    return character, end


def _to_int32(value: str) -> int:
    """td::to_integer<int32>: an optional minus and the leading digits, wrapping around."""
    match = re.match(r"-?\d*", value)
    digits = match.group() if match else ""
    if digits in ("", "-"):
        return 0
    number = int(digits) & 0xFFFFFFFF
    return number - (1 << 32) if number >= 1 << 31 else number


def _custom_emoji_id(argument: str) -> str:
    """td::to_integer_safe<int64>: the canonical spelling of a non-zero int64, or an error."""
    try:
        number = int(argument)
    except ValueError:
        number = 0
    if number == 0 or str(number) != argument or not -(1 << 63) <= number < 1 << 63:
        raise HtmlParseError("Invalid custom emoji identifier specified")
    return argument


def _date_format(argument: str) -> str:
    """FormattedDate::get_date_flags, written back the way the Bot API spells it."""
    if argument in ("r", "R"):
        return "r"
    if not set(argument) <= _DATE_FORMATS:
        raise HtmlParseError("Invalid date format used")
    day = "D" if "D" in argument else "d" if "d" in argument else ""
    clock = "T" if "T" in argument else "t" if "t" in argument else ""
    week = "w" if set(argument) & {"w", "W"} else ""
    return week + day + clock


def _checked_link(url: str) -> str:
    """An approximation of LinkManager::get_checked_link: "" drops the link, as Telegram does."""
    url = url.strip()
    if not url or any(character in _BLANK for character in url):
        return ""
    scheme = _URL_SCHEME.match(url)
    if scheme is None:
        if "." not in url:
            return ""
        url, scheme_name = "http://" + url, "http"
    else:
        scheme_name = scheme.group(1).lower()
    if scheme_name in ("http", "https"):
        rest = url.split("://", 1)[1] if "://" in url else ""
        if not rest.split("/", 1)[0]:
            return ""
        return url if "/" in rest else url + "/"
    return url if scheme_name in ("tg", "ton", "tonsite", "mailto") else ""


class _HtmlParser:
    """One parse of one text; ``parse()`` returns the visible text and the entities."""

    def __init__(self, text: str):
        self.text = text
        self.s = text + "\0"
        self.chunks: list[str] = []
        self.utf16 = 0
        self.stack: list[_Open] = []
        self.entities: list[dict[str, Any]] = []
        self.surrogates = False

    def parse(self) -> tuple[str, list[dict[str, Any]]]:
        s, n, i = self.s, len(self.text), 0
        search = _SPECIAL.search
        while i < n:
            found = search(s, i)
            j = found.start() if found is not None and found.start() < n else n
            if j > i:
                self._append(s[i:j])
            if j >= n:
                break
            i = self._ampersand(j) if s[j] == "&" else self._tag(j)
        if self.stack:
            raise HtmlParseError(
                f'Can\'t find end tag corresponding to start tag "{self.stack[-1].tag}"'
            )
        if self.surrogates:
            raise HtmlParseError(
                "Text contains invalid Unicode characters after decoding HTML entities, check for"
                " unmatched surrogate code units"
            )
        for entity in self.entities:
            if entity["type"] == "code":
                entity.pop("language", None)
        self.entities.sort(key=lambda entity: (entity["offset"], -entity["length"]))
        return "".join(self.chunks), self.entities

    def _error(self, head: str, pos: int, tail: str = "") -> HtmlParseError:
        """``<head> at byte offset <pos in UTF-8 bytes><tail>``, as tdlib words them all."""
        offset = len(self.text[:pos].encode("utf-8", "surrogatepass"))
        return HtmlParseError(f"{head} at byte offset {offset}{tail}")

    def _append(self, chunk: str) -> None:
        chunk = chunk.translate(_CLEAN) if _CLEANED.search(chunk) else chunk
        if chunk:
            self.chunks.append(chunk)
            self.utf16 += _utf16_len(chunk)

    def _ampersand(self, pos: int) -> int:
        character, end = _decode_entity(self.s, pos)
        if not character:
            self._append("&")
            return pos + 1
        if 0xD800 <= ord(character) <= 0xDFFF:  # half a pair: refused once parsing ends
            self.surrogates = True
            self.utf16 += 1
        else:
            self._append(character)
        return end

    def _tag(self, begin: int) -> int:
        return self._end_tag(begin) if self.s[begin + 1] == "/" else self._start_tag(begin)

    def _start_tag(self, begin: int) -> int:
        s, i = self.s, begin + 1
        while s[i] not in _SPACE and s[i] != ">":
            i += 1
        if s[i] == "\0":
            raise self._error("Unclosed start tag", begin)
        tag = s[begin + 1 : i].translate(_ASCII_LOWER)
        if tag not in _TAGS:
            raise self._error(f'Unsupported start tag "{tag}"', begin)
        argument, date, i = self._attributes(tag, begin, i)
        if tag == "span" and argument != "spoiler":
            raise self._error('Tag "span" must have class "tg-spoiler"', begin)
        self.stack.append(_Open(tag, argument, date, self.utf16, len(self.chunks)))
        return i + 1

    def _attributes(self, tag: str, begin: int, i: int) -> tuple[str, int, int]:
        s, argument, date = self.s, "", 0
        while s[i] != ">":
            while s[i] in _BLANK:
                i += 1
            if s[i] == ">":
                break
            name, value, i = self._attribute(tag, begin, i)
            if value is None:
                if tag == "blockquote" and name == "expandable":
                    argument = "1"
                continue
            if tag == "tg-time" and name == "unix":
                date = _to_int32(value)
            elif tag == "blockquote" and name == "expandable":
                argument = "1"
            else:
                prefix = _ARGUMENTS.get((tag, name))
                if prefix is not None and value.startswith(prefix):
                    argument = value[len(prefix) :]
        return argument, date, i

    def _attribute(self, tag: str, begin: int, i: int) -> tuple[str, str | None, int]:
        """One attribute from s[i]: its name, its value (None when it has no "=") and the end."""
        s, start = self.s, i
        while s[i] not in _ATTRIBUTE_NAME_END:
            i += 1
        name = s[start:i]
        if not name:
            raise self._error(f'Empty attribute name in the tag "{tag}"', begin)
        while s[i] in _BLANK:
            i += 1
        if s[i] != "=":
            if s[i] == "\0":
                raise self._error(f'Unclosed start tag "{tag}"', begin)
            return name, None, i
        i += 1
        while s[i] in _BLANK:
            i += 1
        if s[i] == "\0":
            raise self._error(f'Unclosed start tag "{tag}"', begin)
        value, i = self._attribute_value(i)
        if s[i] == "\0":
            raise self._error("Unclosed start tag", begin)
        return name, value, i

    def _attribute_value(self, i: int) -> tuple[str, int]:
        s, quote = self.s, self.s[i]
        if quote not in ("'", '"'):
            start = i
            while s[i] in _NAME_TOKEN:
                i += 1
            if s[i] not in _SPACE and s[i] != ">":
                raise self._error("Unexpected end of name token", start)
            return s[start:i].translate(_ASCII_LOWER), i
        i += 1
        parts: list[str] = []
        while s[i] != quote and s[i] != "\0":
            character, end = _decode_entity(s, i) if s[i] == "&" else ("", i)
            if character:
                parts.append(character)
                i = end
            else:
                parts.append(s[i])
                i += 1
        if s[i] == quote:
            i += 1
        return "".join(parts), i

    def _end_tag(self, begin: int) -> int:
        if not self.stack:
            raise self._error("Unexpected end tag", begin)
        s, i = self.s, begin + 2
        while s[i] not in _SPACE and s[i] != ">":
            i += 1
        name = s[begin + 2 : i].translate(_ASCII_LOWER)
        while s[i] in _BLANK:
            i += 1
        if s[i] != ">":
            raise self._error("Unclosed end tag", begin)
        opened = self.stack[-1]
        if name and name != opened.tag:
            raise self._error(
                "Unmatched end tag", begin, f', expected "</{opened.tag}>", found "</{name}>"'
            )
        if self.utf16 > opened.offset:
            self._close(opened, {"offset": opened.offset, "length": self.utf16 - opened.offset})
        self.stack.pop()
        return i + 1

    def _close(self, opened: _Open, entity: dict[str, Any]) -> None:
        simple = _SIMPLE_ENTITIES.get(opened.tag)
        if simple is not None:
            self.entities.append({"type": simple, **entity})
        elif opened.tag in ("pre", "code"):
            self._close_code(opened, entity)
        elif opened.tag == "a":
            self._close_link(opened, entity)
        elif opened.tag == "blockquote":
            kind = "expandable_blockquote" if opened.argument else "blockquote"
            self.entities.append({"type": kind, **entity})
        elif opened.tag == "tg-emoji":
            emoji_id = _custom_emoji_id(opened.argument)
            self.entities.append({"type": "custom_emoji", **entity, "custom_emoji_id": emoji_id})
        else:  # tg-time
            formatted = _date_format(opened.argument)
            if opened.date > 0:
                self.entities.append(
                    {
                        "type": "date_time",
                        **entity,
                        "unix_time": opened.date,
                        "date_time_format": formatted,
                    }
                )

    def _close_code(self, opened: _Open, entity: dict[str, Any]) -> None:
        """<pre><code class="language-x"> (either nesting) makes one pre with a language."""
        last = self.entities[-1] if self.entities else {}
        same = last.get("offset") == entity["offset"] and last.get("length") == entity["length"]
        if opened.tag == "pre" and same and last["type"] == "code" and last.get("language"):
            last["type"] = "pre"
        elif opened.tag == "pre":
            self.entities.append({"type": "pre", **entity})
        elif same and last["type"] == "pre" and "language" not in last and opened.argument:
            last["language"] = opened.argument
        else:
            self.entities.append({"type": "code", **entity, "language": opened.argument})

    def _close_link(self, opened: _Open, entity: dict[str, Any]) -> None:
        url = opened.argument or "".join(self.chunks[opened.chunk :])
        user = _USER_LINK.fullmatch(url)
        if user is not None:
            mentioned = {"id": int(user.group(1)), "is_bot": False, "first_name": "User"}
            self.entities.append({"type": "text_mention", **entity, "user": mentioned})
            return
        url = _checked_link(url)
        if url:
            self.entities.append({"type": "text_link", **entity, "url": url})


def parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Telegram's parse_mode=HTML: the visible text and its entities, or HtmlParseError."""
    return _HtmlParser(text).parse()


def _trim(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """fix_formatted_text: trailing spaces and newlines go, leading ones up to the first entity."""
    stripped = text.rstrip(" \n")
    if entities and len(stripped) < len(text):
        limit = _utf16_len(stripped)
        entities = [
            {**entity, "length": min(entity["length"], limit - entity["offset"])}
            for entity in entities
            if entity["offset"] < limit
        ]
    head = stripped[: entities[0]["offset"]] if entities else stripped
    lead = len(head) - len(head.lstrip(" \n"))
    if lead:
        stripped = stripped[lead:]
        entities = [{**entity, "offset": entity["offset"] - lead} for entity in entities]
    return stripped, entities


def visible_text(text: str, parse_mode: str | None) -> tuple[str, list[dict[str, Any]]]:
    """What the user sees of ``text`` sent with ``parse_mode``, or ApiError as sendMessage says."""
    mode = (parse_mode or "").lower()
    if mode == "html":
        try:
            text, entities = parse_html(text)
        except HtmlParseError as exc:
            raise ApiError(400, f"Bad Request: can't parse entities: {exc}") from None
    elif mode in ("", "none", "markdown", "markdownv2"):
        text = text.translate(_CLEAN) if _CLEANED.search(text) else text
        entities = []
    else:
        raise ApiError(400, "Bad Request: unsupported parse_mode")
    return _trim(text, entities)


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

    def admit(self, chat_id: int, now: float, overall: int, per_chat: int) -> bool:
        horizon = now - 1.0
        _prune(self._all, horizon)
        if len(self._all) >= overall:
            return False
        chat = self._chats.get(chat_id)
        if chat is None:
            chat = self._chats[chat_id] = deque()
        _prune(chat, horizon)
        if len(chat) >= per_chat:
            return False
        self._all.append(now)
        chat.append(now)
        if now - self._swept > 1.0:
            self._swept = now
            for stale in [key for key, sent in self._chats.items() if sent[-1] <= horizon]:
                del self._chats[stale]
        return True


def _prune(sent: deque[float], horizon: float) -> None:
    while sent and sent[0] <= horizon:
        sent.popleft()


def _truthy(value: str) -> bool:
    """The Bot API's to_bool: true, yes and 1, in any case, are true."""
    return value.strip().lower() in ("true", "yes", "1")


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


def _outcome(code: int) -> str:
    return "5xx" if code >= 500 else str(code)


class FakeTelegram:
    """The fake Bot API server; see the module docstring. Thread-safe."""

    def __init__(self, behaviour: Behaviour | None = None):
        self._initial = behaviour or Behaviour()
        self._behaviour = _started(self._initial)
        self._lock = threading.Lock()
        self._messages: deque[dict[str, Any]] = deque(maxlen=KEPT_MESSAGES)
        self._last_ids: dict[int, int] = {}
        self._stats = dict.fromkeys(OUTCOMES, 0)
        self._counters = dict.fromkeys(_FAULT_KINDS, 0)
        self._window = _SlidingWindow()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self.base_url: str | None = None

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
            if changes.keys() & {"enforce_limits", "global_per_second", "per_chat_per_second"}:
                self._window.clear()
        return behaviour

    def reset(self) -> None:
        """Forget messages, stats and counters; back to the behaviour given at construction."""
        with self._lock:
            self._behaviour = _started(self._initial)
            self._messages.clear()
            self._last_ids.clear()
            self._stats = dict.fromkeys(OUTCOMES, 0)
            self._counters = dict.fromkeys(_FAULT_KINDS, 0)
            self._window.clear()

    def clear_messages(self) -> None:
        with self._lock:
            self._messages.clear()

    def messages(self, chat_id: int | str | None = None) -> list[dict[str, Any]]:
        """The accepted messages, oldest first (the newest KEPT_MESSAGES of them): chat_id,
        text (as sent), parse_mode, disable_notification, message_id, time (ISO 8601 UTC),
        visible_text (what the user sees) and entities."""
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
        """Answers by outcome: sent, 400, 401, 403, 404, 429, 5xx, dropped; and messages kept."""
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
        return _dumps({"ok": True, "result": self._send_message(bot_id, params)})

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
        if chat_id in behaviour.blocked_chat_ids:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        now = time.time()
        record = {
            "chat_id": chat_id,
            "text": text,
            "parse_mode": parse_mode,
            "disable_notification": _truthy(params.get("disable_notification", "")),
            "message_id": 0,
            "time": datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds"),
            "visible_text": shown,
            "entities": entities,
        }
        message_id = self._record(behaviour, record)
        result = {
            "message_id": message_id,
            "from": _bot_user(bot_id),
            "chat": _chat(chat_id, username),
            "date": int(now),
            "text": shown,
        }
        if entities:
            result["entities"] = entities
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
        chat_id = record["chat_id"]
        with self._lock:
            if behaviour.enforce_limits and not self._window.admit(
                chat_id,
                time.monotonic(),
                behaviour.global_per_second,
                behaviour.per_chat_per_second,
            ):
                limited = True
            else:
                limited = False
                message_id = record["message_id"] = self._last_ids.get(chat_id, 0) + 1
                self._last_ids[chat_id] = message_id
                self._messages.append(record)
                self._stats["sent"] += 1
        if limited:
            raise _too_many_requests(1)
        return message_id

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
_API_METHODS = frozenset({"getme", "sendmessage"})


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
    page = render_page(fake._newest(PAGE_MESSAGES), fake.stats())
    return 200, page.encode("utf-8"), b"text/html; charset=utf-8"


_Route = Callable[[FakeTelegram, str, bytes], tuple[int, bytes, bytes]]
_CONTROL_ROUTES: dict[tuple[str, str], _Route] = {
    ("GET", "/_fake"): _page,
    ("GET", "/_fake/messages"): _list_messages,
    ("DELETE", "/_fake/messages"): _clear_messages,
    ("GET", "/_fake/stats"): _show_stats,
    ("GET", "/_fake/config"): _show_config,
    ("POST", "/_fake/config"): _change_config,
    ("POST", "/_fake/reset"): _reset,
}


# --------------------------------------------------------------------------------------------
# The /_fake page. Every character of a message is escaped; the only tags are the page's own,
# chosen from the message's entities, so it shows formatting without trusting the text.

_ENTITY_TAGS = {
    "bold": ("<b>", "</b>"),
    "italic": ("<i>", "</i>"),
    "underline": ("<u>", "</u>"),
    "strikethrough": ("<s>", "</s>"),
    "spoiler": ('<span class="spoiler">', "</span>"),
    "code": ("<code>", "</code>"),
    "pre": ("<pre>", "</pre>"),
    "blockquote": ("<blockquote>", "</blockquote>"),
    "expandable_blockquote": ("<blockquote>", "</blockquote>"),
    "text_mention": ('<span class="link">', "</span>"),
}
_PAGE_STYLE = """
body{font:16px/1.4 system-ui,sans-serif;margin:0 auto;max-width:42rem;padding:.75rem;
background:#e7ebf0;color:#111}
h1{font-size:1.2rem;margin:.2rem 0}.stats{color:#555;font-size:.85rem}
ol{list-style:none;padding:0}li{background:#fff;border-radius:.6rem;margin:.5rem 0;
padding:.5rem .75rem;box-shadow:0 1px 2px #0002}.meta{color:#667;font-size:.8rem}
.text{white-space:pre-wrap;overflow-wrap:anywhere}.spoiler{background:#999;color:transparent}
.spoiler:hover{color:inherit}.link{color:#2a7ab0}pre,code{font-family:ui-monospace,monospace;
background:#f1f3f5;white-space:pre-wrap}blockquote{border-left:3px solid #2a7ab0;margin:.2rem 0;
padding-left:.5rem}
@media (prefers-color-scheme:dark){body{background:#0e1621;color:#eee}li{background:#182533}
.meta,.stats{color:#8a9aa9}pre,code{background:#0e1621}}
"""


def _entity_tags(entity: dict[str, Any]) -> tuple[str, str]:
    if entity["type"] == "text_link":
        url = entity["url"]
        if url.startswith(("http://", "https://")):
            href = html.escape(url, quote=True)
            return f'<a href="{href}" rel="noopener noreferrer nofollow">', "</a>"
        return '<span class="link">', "</span>"
    return _ENTITY_TAGS.get(entity["type"], ("", ""))


def render_text(text: str, entities: Iterable[dict[str, Any]]) -> str:
    """The visible text as escaped HTML, with the page's own tags for the entities."""
    units = text.encode("utf-16-le")

    def piece(start: int, end: int) -> str:
        return html.escape(units[2 * start : 2 * max(start, end)].decode("utf-16-le", "replace"))

    out: list[str] = []
    open_ends: list[tuple[int, str]] = []
    pos = 0
    for entity in sorted(entities, key=lambda item: (item["offset"], -item["length"])):
        start = entity["offset"]
        while open_ends and open_ends[-1][0] <= start:
            end, closing = open_ends.pop()
            out += [piece(pos, end), closing]
            pos = max(pos, end)
        out.append(piece(pos, start))
        pos = max(pos, start)
        opening, closing = _entity_tags(entity)
        out.append(opening)
        open_ends.append((start + entity["length"], closing))
    while open_ends:
        end, closing = open_ends.pop()
        out += [piece(pos, end), closing]
        pos = max(pos, end)
    out.append(piece(pos, len(units) // 2))
    return "".join(out)


def _render_message(message: dict[str, Any]) -> str:
    silent = "🔕 silent" if message["disable_notification"] else "🔔"
    meta = " · ".join(
        html.escape(str(part))
        for part in (
            f"chat {message['chat_id']}",
            f"#{message['message_id']}",
            message["time"].replace("T", " ")[:23] + " UTC",
            message["parse_mode"] or "plain",
            silent,
        )
    )
    text = render_text(message["visible_text"], message["entities"])
    return f'<li><div class="meta">{meta}</div><div class="text">{text}</div></li>'


def render_page(messages: list[dict[str, Any]], stats: Mapping[str, int]) -> str:
    """The /_fake page: messages newest first, refreshed every 5 s, nothing loaded from outside."""
    items = "".join(_render_message(message) for message in reversed(messages))
    counts = " · ".join(f"{html.escape(name)} {count}" for name, count in stats.items())
    empty = "" if messages else "<p>No messages yet.</p>"
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta http-equiv="refresh" content="5"><title>Fake Telegram</title>'
        f"<style>{_PAGE_STYLE}</style></head><body><h1>Fake Telegram</h1>"
        f'<p class="stats">{counts}</p>{empty}<ol>{items}</ol></body></html>'
    )


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


if __name__ == "__main__":
    sys.exit(main())
