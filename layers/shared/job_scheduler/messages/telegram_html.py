"""Telegram's HTML subset (``parse_mode`` HTML): validation, and the length Telegram counts.

Telegram refuses a message it cannot parse, so one bad custom message fails once per
recipient. Admin input is checked here before it is saved, and each rendered message again
before it is queued. The rules are the Bot API's documented ones ("Formatting options"), a
little stricter than Telegram's parser where that parser guesses (a bare ``&``, ``&lt``
without ``;``, ``</>``, nesting it silently undoes): text that passes means what it says.

Positions in messages count characters from 1, or give line and column for multi-line text.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urlsplit

from job_scheduler.errors import InvalidMessage

MAX_MESSAGE_LENGTH = 4096
HTML = "HTML"
PARSE_MODES = (HTML, None)

FORMATTING_TAGS = frozenset(
    {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler"}
)
# Telegram keeps these whole: none may contain another, except <pre><code class="language-…">.
CONTINUOUS_TAGS = frozenset({"a", "code", "pre", "tg-emoji"})
VERBATIM_TAGS = frozenset({"code", "pre"})  # shown as typed: no formatting inside
ALLOWED_TAGS = FORMATTING_TAGS | CONTINUOUS_TAGS | {"blockquote"}
ALLOWED_SUMMARY = (
    "b, i, u, s, a, code, pre, blockquote, tg-spoiler, tg-emoji"
    ' (and strong, em, ins, strike, del, span class="tg-spoiler")'
)
ENTITIES = frozenset({"lt", "gt", "amp", "quot"})
URL_SCHEMES = ("http", "https", "tg", "mailto")
MAX_EMOJI_ID = 2**63 - 1

_HINTS = {
    "br": "; for a line break, start a new line",
    "p": "; separate paragraphs with an empty line",
    "div": "; separate blocks with an empty line",
}
_END_TAG = re.compile(r"</[a-zA-Z][-a-zA-Z0-9]*\s*>")
_LANGUAGE = re.compile(r"language-[\w+#.-]+")
_EMOJI_ID = re.compile(r"[1-9][0-9]{0,18}")
_NEWLINE = re.compile("\n")
_TRAILING_AMPERSAND = re.compile(r"&[a-zA-Z#]\Z")
# For MarkupMemo: a tag spelled so that HTMLParser must end it where this regex does (ASCII
# whitespace, name or name="value" attributes, no quote or angle bracket inside a value), an
# entity Jinja's autoescape writes, or a bare '<' or '&'.
_TOKENS = re.compile(
    r'(</?[a-zA-Z][-a-zA-Z0-9]*(?:[ \t\n\r\f]+[-a-zA-Z]+(?:="[^"<>]*")?)*[ \t\n\r\f]*>'
    r"|&(?:lt|gt|amp|quot|#34|#39);|[<&])"
)

Attributes = dict[str, str | None]


def utf16_length(text: str) -> int:
    """Length in UTF-16 code units, as Telegram counts: an emoji outside the BMP counts 2."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def validate_telegram_html(text: str) -> None:
    """Raise InvalidMessage, saying what to fix and where, if Telegram would refuse ``text``."""
    _Checker(text).run()


def visible_length(text: str, parse_mode: str | None) -> int:
    """UTF-16 units left after entity parsing: what the 4096 limit counts.

    HTML is validated on the way (InvalidMessage if it is not valid). Conservative: it does
    not subtract the leading/trailing whitespace or ``\\r`` Telegram drops before counting.
    """
    return _measure(text, parse_mode)[0]


def check_message_text(
    text: str,
    parse_mode: str | None,
    memo: MarkupMemo | None = None,
    *,
    max_length: int | None = MAX_MESSAGE_LENGTH,
    allow_empty: bool = False,
) -> int:
    """Everything Telegram checks before sending: markup, not empty, within the limit.

    Returns the visible length so a caller can report it. Pass one ``memo`` for all the
    messages rendered from one template, so their HTML is parsed once per distinct structure.
    """
    length, has_text = _measure(text, parse_mode, memo)
    if not has_text and not allow_empty:
        raise InvalidMessage("The message is empty; Telegram refuses to send an empty message.")
    if max_length is not None and length > max_length:
        raise InvalidMessage(
            f"The message is {length} characters long as Telegram counts them (UTF-16 units "
            f"after HTML parsing); the limit is {max_length}, so shorten it by "
            f"{length - max_length}."
        )
    return length


def check_parse_mode(parse_mode: object) -> None:
    """Only HTML and plain text: the validation here knows no other Telegram markup."""
    if parse_mode not in PARSE_MODES:
        raise InvalidMessage(
            f'parse_mode must be "HTML" or null (plain text), not {parse_mode!r}; '
            "other Telegram modes are not supported."
        )


def _measure(text: str, parse_mode: str | None, memo: MarkupMemo | None = None) -> tuple[int, bool]:
    """(visible UTF-16 length, whether anything but whitespace is visible)."""
    check_parse_mode(parse_mode)
    if parse_mode is None:
        return utf16_length(text), bool(text.strip())
    if memo is not None:
        return memo.measure(text)
    checker = _Checker(text).run()
    return checker.length, checker.has_text


class MarkupMemo:
    """Tag sequences already proven valid, for the many messages rendered from one template.

    Why it is safe: when every tag is spelled plainly (see ``_TOKENS``) and every '&' starts
    one of the entities autoescape writes, HTMLParser splits the text exactly where
    ``_TOKENS`` does, and whether it is valid depends on the tags alone (text and those
    entities are valid anywhere). So a text whose tags equal a validated sequence is valid,
    and its length is its own length minus the tags' and the entities' extra characters.
    Anything else takes the full parse.
    """

    def __init__(self, max_entries: int = 256) -> None:
        self._tag_units: dict[tuple[str, ...], int] = {}
        self._max_entries = max_entries

    def measure(self, text: str) -> tuple[int, bool]:
        """(visible UTF-16 length, has visible text); InvalidMessage if the HTML is invalid."""
        parts = _TOKENS.split(text)
        tokens = parts[1::2]
        if "<" in tokens or "&" in tokens:  # a bare character: let the full parse say where
            return self._parse(text, None)
        tags = tuple(token for token in tokens if token[0] == "<")
        tag_units = self._tag_units.get(tags)
        if tag_units is None:
            return self._parse(text, tags)
        entities = len(tokens) - len(tags)
        entity_extra = sum(len(token) for token in tokens if token[0] == "&") - entities
        length = utf16_length(text) - tag_units - entity_extra
        return length, entities > 0 or any(data and not data.isspace() for data in parts[::2])

    def _parse(self, text: str, tags: tuple[str, ...] | None) -> tuple[int, bool]:
        checker = _Checker(text).run()
        if tags is not None and len(self._tag_units) < self._max_entries:
            self._tag_units[tags] = sum(utf16_length(tag) for tag in tags)
        return checker.length, checker.has_text


@dataclass(frozen=True)
class _Open:
    """An open tag, with what encloses it (itself included), so checks need not walk the stack."""

    tag: str
    index: int
    verbatim: str | None = None  # the code/pre it is in
    continuous: str | None = None  # the a/code/pre/tg-emoji it is in
    quoted: bool = False  # inside a blockquote

    def child(self, tag: str, index: int) -> _Open:
        return _Open(
            tag,
            index,
            tag if tag in VERBATIM_TAGS else self.verbatim,
            tag if tag in CONTINUOUS_TAGS and not self.continuous else self.continuous,
            self.quoted or tag == "blockquote",
        )


_TOP = _Open("", -1)


class _Checker(HTMLParser):
    """One pass over the text: raises at the first problem, counts the visible UTF-16 units.

    HTMLParser tokenizes tags and attributes. Where it is lenient in ways Telegram is not, the
    handlers below look at the raw text themselves (each place says why).
    """

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=False)  # keep entities visible to the handlers
        self.text = text
        self.length = 0
        self.has_text = False
        self._open: list[_Open] = []
        self._line_starts = [0, *(match.end() for match in _NEWLINE.finditer(text))]

    def run(self) -> _Checker:
        # HTMLParser drops "</>" without any callback; Telegram reads it as "close the last tag".
        empty_end = self.text.find("</>")
        if empty_end >= 0:
            raise self._error(empty_end, "Empty end tag </> at {where}; name the tag, as in </b>.")
        # At the very end of the input, HTMLParser drops the '&' of "&x" without a callback.
        if _TRAILING_AMPERSAND.search(self.text):
            raise self._bare_ampersand(len(self.text) - 2)
        self.feed(self.text)
        self.close()
        if self._open:
            last = self._open[-1]
            raise self._error(
                last.index, f"<{last.tag}> opened at {{where}} is never closed; add </{last.tag}>."
            )
        return self

    # -- tags ----------------------------------------------------------------------------------

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        index = self._here()
        self._check_supported(tag, index)
        parent = self._open[-1] if self._open else _TOP
        problem = _nesting_problem(tag, parent) or _attribute_problem(tag, attrs, parent.tag)
        if problem:
            raise self._error(index, f"<{tag}> at {{where}} {problem}")
        self._open.append(parent.child(tag, index))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        index = self._here()
        self._check_supported(tag, index)
        raise self._error(index, f"Self-closing <{tag}/> at {{where}}; write <{tag}></{tag}>.")

    def handle_endtag(self, tag: str) -> None:
        index = self._here()
        # HTMLParser accepts "</b junk>" and "</b/>" as </b>; Telegram refuses them.
        raw = self.text[index : self.text.find(">", index) + 1]
        if not _END_TAG.fullmatch(raw):
            raise self._error(index, f"Malformed end tag {raw!r} at {{where}}; write </{tag}>.")
        self._check_supported(tag, index, closing=True)
        if not self._open:
            raise self._error(index, f"</{tag}> at {{where}} closes no open tag; remove it.")
        opened = self._open.pop()
        if opened.tag != tag:
            raise self._error(
                index,
                f"</{tag}> at {{where}} does not match <{opened.tag}> opened at "
                f"{self._where(opened.index)}; close <{opened.tag}> first.",
            )

    def _check_supported(self, tag: str, index: int, closing: bool = False) -> None:
        if tag not in ALLOWED_TAGS:
            slash = "/" if closing else ""
            raise self._error(
                index,
                f"Unsupported tag <{slash}{tag}> at {{where}}; allowed: {ALLOWED_SUMMARY}"
                f"{_HINTS.get(tag, '')}.",
            )

    # -- text and entities ---------------------------------------------------------------------

    def handle_data(self, data: str) -> None:
        # HTMLParser passes a '<' that starts no tag, and a '&' that starts no entity, on as
        # text; Telegram refuses the first and its documentation forbids the second.
        if "<" in data or "&" in data:
            self._bare_character(data)
        self.length += utf16_length(data)
        if not self.has_text and not data.isspace():
            self.has_text = True

    def handle_entityref(self, name: str) -> None:
        index = self._here()
        # HTMLParser reports "&lt" with or without the ';'; Telegram needs it to be sure.
        if not self.text.startswith(";", index + 1 + len(name)):
            raise self._bare_ampersand(index)
        if name not in ENTITIES:
            raise self._error(
                index,
                f"Unsupported entity &{name}; at {{where}}; Telegram knows only &lt; &gt; &amp; "
                "&quot; and numeric ones such as &#160;.",
            )
        self._count_entity(1)

    def handle_charref(self, name: str) -> None:
        index = self._here()
        if not self.text.startswith(";", index + 2 + len(name)):
            raise self._bare_ampersand(index)
        code = _char_code(name)
        if code is None:
            raise self._error(index, f"&#{name}; at {{where}} is not a valid character.")
        self._count_entity(2 if code > 0xFFFF else 1)

    def _count_entity(self, units: int) -> None:
        self.length += units
        self.has_text = True

    def _bare_character(self, data: str) -> None:
        offset = min(found for found in (data.find("<"), data.find("&")) if found >= 0)
        index = self._here() + offset
        if data[offset] == "&":
            raise self._bare_ampersand(index)
        raise self._error(
            index, "'<' at {where} does not start a complete tag; write &lt; for a literal '<'."
        )

    def _bare_ampersand(self, index: int) -> InvalidMessage:
        return self._error(
            index,
            "'&' at {where} does not start an entity; write &amp; for a literal '&' "
            "(entities end with ';').",
        )

    # -- markup Telegram does not have ---------------------------------------------------------

    def handle_comment(self, data: str) -> None:
        raise self._error(self._here(), "HTML comment at {where}; Telegram has none, remove it.")

    def handle_decl(self, decl: str) -> None:
        raise self._not_a_tag()

    def unknown_decl(self, data: str) -> None:
        raise self._not_a_tag()

    def handle_pi(self, data: str) -> None:
        raise self._not_a_tag()

    def _not_a_tag(self) -> InvalidMessage:
        return self._error(
            self._here(),
            "'<' at {where} is not a tag Telegram knows; write &lt; for a literal '<'.",
        )

    # -- positions -----------------------------------------------------------------------------

    def _here(self) -> int:
        """Index in the text of the construct HTMLParser is reporting."""
        line, column = self.getpos()
        return self._line_starts[line - 1] + column

    def _where(self, index: int) -> str:
        if len(self._line_starts) == 1:
            return f"character {index + 1}"
        line = bisect_right(self._line_starts, index)
        return f"line {line}, column {index - self._line_starts[line - 1] + 1}"

    def _error(self, index: int, message: str) -> InvalidMessage:
        return InvalidMessage(message.replace("{where}", self._where(index)))


def _nesting_problem(tag: str, parent: _Open) -> str | None:
    """The Bot API's nesting rules, where breaking them loses what the admin wrote.

    Tags inside code/pre, and continuous entities inside each other, would be dropped
    silently. Formatting around code (``<b><code>1</code></b>``) is allowed: Telegram
    sends it and only leaves the code itself unformatted.
    """
    if tag == "code" and parent.tag == "pre":
        return None  # <pre><code class="language-x">: a code block with a language
    if parent.verbatim:
        return f"cannot be inside <{parent.verbatim}>: Telegram shows its text as typed."
    if (tag in CONTINUOUS_TAGS or tag == "blockquote") and parent.continuous:
        return f"cannot be inside <{parent.continuous}>."
    if tag == "blockquote" and parent.quoted:
        return "cannot be inside another <blockquote>: quotes do not nest."
    return None


def _char_code(name: str) -> int | None:
    """The code point of a numeric entity's name ('65', 'x41'), or None if it is not one."""
    hexadecimal = name[0] in "xX"
    digits = name[1:] if hexadecimal else name
    if not digits or len(digits) > 8:  # also keeps int() away from huge digit strings
        return None
    code = int(digits, 16 if hexadecimal else 10)
    if 0 < code < 0x10FFFF and not 0xD800 <= code <= 0xDFFF:
        return code
    return None


# -- attributes, one rule per tag (each returns what is wrong, or None) -----------------------


def _attribute_problem(
    tag: str, attrs: list[tuple[str, str | None]], parent: str | None
) -> str | None:
    names = [name for name, _ in attrs]
    if len(set(names)) != len(names):
        return "has an attribute twice."
    return _ATTRIBUTE_RULES.get(tag, _no_attributes)(dict(attrs), parent)


def _no_attributes(attrs: Attributes, parent: str | None) -> str | None:
    return f"takes no attributes (found {', '.join(attrs)})." if attrs else None


def _link(attrs: Attributes, parent: str | None) -> str | None:
    if set(attrs) != {"href"}:
        return 'needs href="…" and no other attribute.'
    href = (attrs["href"] or "").strip()
    try:
        parts = urlsplit(href)
        scheme = parts.scheme.lower()
        usable = scheme in URL_SCHEMES and (bool(parts.netloc) or scheme in ("tg", "mailto"))
    except ValueError:
        usable = False
    if not usable:
        shown = href if len(href) <= 40 else href[:39] + "…"
        return f"needs a link starting with http://, https://, tg:// or mailto:, not {shown!r}."
    return None


def _spoiler(attrs: Attributes, parent: str | None) -> str | None:
    return (
        None if attrs == {"class": "tg-spoiler"} else 'needs class="tg-spoiler" and nothing else.'
    )


def _custom_emoji(attrs: Attributes, parent: str | None) -> str | None:
    emoji_id = attrs.get("emoji-id") or ""
    valid = _EMOJI_ID.fullmatch(emoji_id) and int(emoji_id) <= MAX_EMOJI_ID
    if set(attrs) == {"emoji-id"} and valid:
        return None
    return 'needs emoji-id="…" with the custom emoji\'s numeric id, and nothing else.'


def _code(attrs: Attributes, parent: str | None) -> str | None:
    if not attrs:
        return None
    if set(attrs) != {"class"} or not _LANGUAGE.fullmatch(attrs["class"] or ""):
        return 'takes only class="language-…", such as class="language-python".'
    if parent != "pre":
        return 'may have class="language-…" only directly inside <pre>.'
    return None


def _blockquote(attrs: Attributes, parent: str | None) -> str | None:
    if attrs in ({}, {"expandable": None}):
        return None
    return "takes only a bare expandable attribute, as in <blockquote expandable>."


_ATTRIBUTE_RULES: dict[str, Callable[[Attributes, str | None], str | None]] = {
    "a": _link,
    "span": _spoiler,
    "tg-emoji": _custom_emoji,
    "code": _code,
    "blockquote": _blockquote,
}
