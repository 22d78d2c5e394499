"""Telegram's HTML: a port of tdlib's ``parse_html`` (td/telegram/MessageEntity.cpp), then the
cleaning and trimming of ``fix_formatted_text``.

``parse_html`` turns a ``parse_mode=HTML`` text into the visible text and its entities, or
refuses it with ``HtmlParseError``, whose ``can't parse entities: ...`` descriptions and byte
offsets are the real ones. ``visible_text`` is what sendMessage does with any parse mode: like
Telegram, it keeps unknown entities such as ``&nbsp;`` as literal text, turns control characters
into spaces, drops carriage returns and trims leading and trailing spaces and newlines; offsets
and lengths are in UTF-16 code units, which is what the 4096-character limit counts.

Not ported: Markdown parsing (MarkdownV2 and Markdown are accepted and kept as sent), automatic
entities (URLs, mentions, hashtags), and the URL checks behind ``<a href>``, which are
approximated.
"""

from __future__ import annotations

import re
import string
from typing import Any, NamedTuple

from infra.fakes.telegram.behaviour import ApiError


class HtmlParseError(ValueError):
    """Telegram's reason for refusing a parse_mode=HTML text (after "can't parse entities: ")."""


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
