"""Telegram's HTML subset (``parse_mode`` HTML): validation, and the length Telegram counts.

Telegram refuses a message it cannot parse, so one bad custom message fails once per
recipient. Admin input is checked here before it is saved, and each rendered message again
before it is queued. The rules are the Bot API's documented ones ("Formatting options"), a
little stricter than Telegram's parser where that parser guesses (a bare ``&``, ``&lt``
without ``;``, ``</>``, nesting it silently undoes): text that passes means what it says.

The text is split into tags, entities and plain text exactly where Telegram's parser
(tdlib's ``parse_html``) splits it: the same characters end a tag name, an attribute name and
an unquoted attribute value, and attribute values are decoded as Telegram decodes them. So
nothing passes here that Telegram refuses; ``tests/unit/test_telegram_html_parity.py`` checks
that against the port of that parser in ``infra/fakes/telegram/html_parser.py``, and lists
what is refused here on purpose although Telegram would take it.

Positions in messages count characters from 1, or give line and column for multi-line text.
"""

from __future__ import annotations

import re
import string
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from job_scheduler.errors import InvalidMessage

MAX_MESSAGE_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024  # a photo's caption, counted the same way
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
# What Telegram's parser skips between attributes; "\f" is not among them, "\v" is.
_BLANKS = " \t\r\n\v"
_NUL = "\0"  # Telegram reads the text as a C string: a NUL inside a tag ends the input there
_NAME_END = frozenset(_BLANKS + _NUL + ">")  # ends a tag name, and an unquoted value
_ATTRIBUTE_NAME_END = frozenset(_BLANKS + _NUL + "=>/\"'")
_NAME_TOKEN = frozenset(string.ascii_letters + string.digits + ".-")  # unquoted values
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_SPECIAL = re.compile("[<&]")
_END_TAG = re.compile(r"</[a-zA-Z][-a-zA-Z0-9]*[ \t\r\n\v]*>")
_END_NAME = re.compile(r"[a-zA-Z][-a-zA-Z0-9]*")
_NAMED_ENTITY = re.compile(r"&([a-zA-Z]+);")
_NUMERIC_ENTITY = re.compile(r"&#([xX][0-9a-fA-F]+|[0-9]+);")
# An entity as Telegram reads one inside an attribute value: ';' optional, 'x' lowercase.
_VALUE_ENTITY = re.compile(r"&(?:#(x[0-9a-fA-F]*|[0-9]*)|([a-zA-Z]*));?")
_NAMED_CHARACTERS = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_MAX_DIGITS = {10: 7, 16: 6}  # Telegram reads no longer numeric entities
_LANGUAGE = re.compile(r"language-[\w+#.-]+")
_EMOJI_ID = re.compile(r"[1-9][0-9]{0,18}")
_NEWLINE = re.compile("\n")
_UNSAFE_IN_LINK = re.compile(r"[\s\x00-\x1f\x7f]")
# For MarkupMemo: a tag spelled so that the checker must end it where this regex does (blanks,
# name or name="value" attributes, no quote or angle bracket inside a value), an entity
# Jinja's autoescape writes, or a bare '<' or '&'.
_TOKENS = re.compile(
    r'(</?[a-zA-Z][-a-zA-Z0-9]*(?:[ \t\n\r]+[-a-zA-Z]+(?:="[^"<>]*")?)*[ \t\n\r]*>'
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
    not subtract what Telegram drops before counting (leading and trailing whitespace, ``\\r``
    and a few invisible marks), so it is never less than Telegram's count.
    """
    return _measure(text, parse_mode)[0]


def check_message_text(
    text: str,
    parse_mode: str | None,
    memo: MarkupMemo | None = None,
    *,
    max_length: int | None = MAX_MESSAGE_LENGTH,
    allow_empty: bool = False,
    what: str = "message",
) -> int:
    """Everything Telegram checks before sending: markup, not empty, within the limit.

    Returns the visible length so a caller can report it. Pass one ``memo`` for all the
    messages rendered from one template, so their HTML is parsed once per distinct structure.
    ``what`` names the text in the messages ("caption": a photo's, limit 1024, may be empty).
    """
    length, has_text = _measure(text, parse_mode, memo)
    if not has_text and not allow_empty:
        raise InvalidMessage(f"The {what} is empty; Telegram refuses to send an empty {what}.")
    if max_length is not None and length > max_length:
        raise InvalidMessage(
            f"The {what} is {length} characters long as Telegram counts them (UTF-16 units "
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
    one of the entities autoescape writes, the checker splits the text exactly where
    ``_TOKENS`` does, and whether it is valid depends on the tags alone, and on which tags
    have text between them (``<pre><code class="language-…">`` must have none; text and those
    entities are otherwise valid anywhere). So a text with the same structure as a validated
    one is valid, and its length is its own length minus the tags' and the entities' extra
    characters. Anything else takes the full parse.
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
        structure = _structure(parts)
        tag_units = self._tag_units.get(structure)
        if tag_units is None:
            return self._parse(text, structure)
        entities = sum(1 for token in tokens if token[0] == "&")
        entity_extra = sum(len(token) for token in tokens if token[0] == "&") - entities
        length = utf16_length(text) - tag_units - entity_extra
        return length, entities > 0 or any(data and not data.isspace() for data in parts[::2])

    def _parse(self, text: str, structure: tuple[str, ...] | None) -> tuple[int, bool]:
        checker = _Checker(text).run()
        if structure is not None and len(self._tag_units) < self._max_entries:
            self._tag_units[structure] = sum(utf16_length(tag) for tag in structure)
        return checker.length, checker.has_text


def _structure(parts: list[str]) -> tuple[str, ...]:
    """The tags of a ``_TOKENS`` split, with "" wherever text or entities come between them."""
    structure: list[str] = []
    for index, part in enumerate(parts):
        if index % 2 and part[0] == "<":
            structure.append(part)
        elif part and (not structure or structure[-1]):
            structure.append("")
    return tuple(structure)


@dataclass(frozen=True)
class _Open:
    """An open tag, with what encloses it (itself included), so checks need not walk the stack."""

    tag: str
    index: int
    verbatim: str | None = None  # the code/pre it is in
    continuous: str | None = None  # the a/code/pre/tg-emoji it is in
    quoted: bool = False  # inside a blockquote
    start: int = 0  # visible length before it
    language: bool = False  # <code class="language-…">

    def child(self, tag: str, index: int, start: int, language: bool) -> _Open:
        return _Open(
            tag,
            index,
            tag if tag in VERBATIM_TAGS else self.verbatim,
            tag if tag in CONTINUOUS_TAGS and not self.continuous else self.continuous,
            self.quoted or tag == "blockquote",
            start,
            language,
        )


_TOP = _Open("", -1)


class _Checker:
    """One pass over the text: raises at the first problem, counts the visible UTF-16 units.

    It walks the text as Telegram's parser does, from one '<' or '&' to the next; ``s`` is the
    text with a NUL after it, so looking one character past the end reads NUL, as in C.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.s = text + _NUL
        self.length = 0
        self.has_text = False
        self._open: list[_Open] = []
        self._language_end: int | None = None  # where the <code class="language-…"> in <pre> ended
        self._line_starts = [0, *(match.end() for match in _NEWLINE.finditer(text))]

    def run(self) -> _Checker:
        text, index = self.text, 0
        while True:
            found = _SPECIAL.search(text, index)
            self._data(text[index : found.start() if found else len(text)])
            if found is None:
                break
            index = found.start()
            index = self._entity(index) if text[index] == "&" else self._markup(index)
        if self._open:
            last = self._open[-1]
            raise self._error(
                last.index, f"<{last.tag}> opened at {{where}} is never closed; add </{last.tag}>."
            )
        return self

    def _data(self, data: str) -> None:
        if data:
            self.length += utf16_length(data)
            if not self.has_text and not data.isspace():
                self.has_text = True

    # -- what a '<' starts ---------------------------------------------------------------------

    def _markup(self, index: int) -> int:
        following = self.s[index + 1]
        if following == "/":
            return self._end_tag(index)
        if following.isascii() and following.isalpha():
            return self._start_tag(index)
        if self.text.startswith("<!--", index):
            raise self._error(index, "HTML comment at {where}; Telegram has none, remove it.")
        if following in "!?":
            raise self._error(
                index, "'<' at {where} is not a tag Telegram knows; write &lt; for a literal '<'."
            )
        raise self._incomplete(index)

    def _start_tag(self, begin: int) -> int:
        end = self._scan(begin + 1, _NAME_END)
        self._tag_continues(begin, end)
        tag = self.text[begin + 1 : end].translate(_ASCII_LOWER)
        if tag.endswith("/"):
            self._check_supported(tag[:-1], begin)
            raise self._self_closing(tag[:-1], begin)
        self._check_supported(tag, begin)
        attrs, end = self._attributes(tag, begin, end)
        parent = self._open[-1] if self._open else _TOP
        problem = (
            _nesting_problem(tag, parent)
            or _attribute_problem(tag, attrs, parent.tag)
            or self._language_problem(tag, attrs, parent)
        )
        if problem:
            raise self._error(begin, f"<{tag}> at {{where}} {problem}")
        if tag == "pre":
            self._language_end = None
        language = tag == "code" and bool(attrs)
        self._open.append(parent.child(tag, begin, self.length, language))
        return end + 1

    def _end_tag(self, begin: int) -> int:
        close = self.text.find(">", begin)
        if close >= 0 and not self.text[begin + 2 : close].strip(_BLANKS):
            raise self._error(begin, "Empty end tag </> at {where}; name the tag, as in </b>.")
        named = _END_NAME.match(self.text, begin + 2)
        if close < 0 or named is None:
            raise self._incomplete(begin)
        raw = self.text[begin : close + 1]
        tag = named.group().translate(_ASCII_LOWER)
        if not _END_TAG.fullmatch(raw):
            raise self._error(begin, f"Malformed end tag {raw!r} at {{where}}; write </{tag}>.")
        self._check_supported(tag, begin, closing=True)
        if not self._open:
            raise self._error(begin, f"</{tag}> at {{where}} closes no open tag; remove it.")
        opened = self._open.pop()
        if opened.tag != tag:
            raise self._error(
                begin,
                f"</{tag}> at {{where}} does not match <{opened.tag}> opened at "
                f"{self._where(opened.index)}; close <{opened.tag}> first.",
            )
        self._closed(opened, begin)
        return close + 1

    def _check_supported(self, tag: str, index: int, closing: bool = False) -> None:
        if tag not in ALLOWED_TAGS:
            slash = "/" if closing else ""
            shown = tag if tag.isprintable() else tag.encode("unicode_escape").decode()
            raise self._error(
                index,
                f"Unsupported tag <{slash}{shown}> at {{where}}; allowed: {ALLOWED_SUMMARY}"
                f"{_HINTS.get(tag, '')}.",
            )

    # -- attributes, read as Telegram reads them -----------------------------------------------

    def _attributes(
        self, tag: str, begin: int, index: int
    ) -> tuple[list[tuple[str, str | None]], int]:
        """The attributes from ``index`` (after the tag name) and the index of the closing '>'."""
        attrs: list[tuple[str, str | None]] = []
        while True:
            index = self._skip_blanks(index)
            if self.s[index] == ">":
                return attrs, index
            name, value, index = self._attribute(tag, begin, index)
            attrs.append((name, value))

    def _attribute(self, tag: str, begin: int, index: int) -> tuple[str, str | None, int]:
        """One attribute: its name, its value (None without '=') and where it ends."""
        end = self._scan(index, _ATTRIBUTE_NAME_END)
        if end == index:
            raise self._no_attribute_name(tag, begin, index)
        name = self.text[index:end]
        index = self._skip_blanks(end)
        self._tag_continues(begin, index)
        if self.s[index] != "=":
            return name, None, index
        index = self._skip_blanks(index + 1)
        self._tag_continues(begin, index)
        if self.s[index] in "'\"":
            value, index = self._quoted_value(begin, index)
        else:
            value, index = self._unquoted_value(name, index)
        self._tag_continues(begin, index)
        return name, value, index

    def _quoted_value(self, begin: int, index: int) -> tuple[str, int]:
        close = self.text.find(self.s[index], index + 1)
        if close < 0:
            raise self._incomplete(begin)
        nul = self.text.find(_NUL, index, close)
        if nul >= 0:
            raise self._nul(nul)
        value = _decode_value(self.text[index + 1 : close])
        if any(0xD800 <= ord(character) <= 0xDFFF for character in value):
            raise self._error(
                index, "The attribute value at {where} stands for half a surrogate pair; remove it."
            )
        return value, close + 1

    def _unquoted_value(self, name: str, index: int) -> tuple[str, int]:
        """Telegram takes letters, digits, '.' and '-' (lowercased) and refuses anything else."""
        end = index
        while self.s[end] in _NAME_TOKEN:
            end += 1
        if self.s[end] not in _NAME_END:
            raw = self.text[index : self._scan(index, _NAME_END)]
            shown = raw if len(raw) <= 40 else raw[:39] + "…"
            quote = "'" if '"' in shown else '"'
            raise self._error(
                index,
                f"The value of {name} at {{where}} needs quotes: write {name}={quote}{shown}{quote}"
                " (without quotes Telegram takes only letters, digits, '.' and '-').",
            )
        return self.text[index:end].translate(_ASCII_LOWER), end

    def _no_attribute_name(self, tag: str, begin: int, index: int) -> InvalidMessage:
        self._tag_continues(begin, index)
        if self.s[index] == "/" and self.s[self._skip_blanks(index + 1)] == ">":
            return self._self_closing(tag, begin)
        return self._error(
            index,
            f"{self.s[index]!r} at {{where}} in <{tag}> is not where an attribute name can "
            'start; write attributes as name="value", separated by spaces.',
        )

    def _scan(self, index: int, stops: frozenset[str]) -> int:
        s = self.s
        while s[index] not in stops:
            index += 1
        return index

    def _skip_blanks(self, index: int) -> int:
        s = self.s
        while s[index] in _BLANKS:
            index += 1
        return index

    def _tag_continues(self, begin: int, index: int) -> None:
        """A tag that reaches the end of the text, or a NUL, is one Telegram cannot read."""
        if self.s[index] == _NUL:
            raise self._incomplete(begin) if index >= len(self.text) else self._nul(index)

    # -- <pre><code class="language-…">: Telegram keeps the language only if they coincide ------

    def _language_problem(
        self, tag: str, attrs: list[tuple[str, str | None]], parent: _Open
    ) -> str | None:
        if tag == "code" and attrs and self.length > parent.start:
            return f'with class="language-…" comes after text in its <pre>; it {_LANGUAGE_ALONE}'
        return None

    def _closed(self, opened: _Open, index: int) -> None:
        if opened.language:
            self._language_end = self.length
        elif opened.tag == "pre" and self._language_end not in (None, self.length):
            raise self._error(
                index,
                "Text before </pre> at {where}, after the </code> of a "
                f'<code class="language-…">, which {_LANGUAGE_ALONE}',
            )

    # -- entities ------------------------------------------------------------------------------

    def _entity(self, index: int) -> int:
        named = _NAMED_ENTITY.match(self.text, index)
        if named:
            if named.group(1) not in ENTITIES:
                raise self._error(
                    index,
                    f"Unsupported entity {named.group()} at {{where}}; Telegram knows only &lt; "
                    "&gt; &amp; &quot; and numeric ones such as &#160;.",
                )
            return self._counted(named.end(), 1)
        numeric = _NUMERIC_ENTITY.match(self.text, index)
        if numeric is None:
            raise self._error(
                index,
                "'&' at {where} does not start an entity; write &amp; for a literal '&' "
                "(entities end with ';').",
            )
        code = self._character_code(numeric.group(), numeric.group(1), index)
        return self._counted(numeric.end(), 2 if code > 0xFFFF else 1)

    def _character_code(self, entity: str, name: str, index: int) -> int:
        if name[0] == "X":
            raise self._error(
                index,
                f"{entity} at {{where}}: Telegram reads hexadecimal entities only with a "
                f"lowercase x; write &#x{name[1:]};.",
            )
        code = _telegram_code(name)
        if code is None or 0xD800 <= code <= 0xDFFF:
            raise self._error(
                index,
                f"{entity} at {{where}} is not a valid character (Telegram reads at most 7 "
                "decimal or 6 hexadecimal digits).",
            )
        return code

    def _counted(self, end: int, units: int) -> int:
        self.length += units
        self.has_text = True
        return end

    # -- positions and messages ----------------------------------------------------------------

    def _incomplete(self, index: int) -> InvalidMessage:
        return self._error(
            index, "'<' at {where} does not start a complete tag; write &lt; for a literal '<'."
        )

    def _self_closing(self, tag: str, index: int) -> InvalidMessage:
        return self._error(index, f"Self-closing <{tag}/> at {{where}}; write <{tag}></{tag}>.")

    def _nul(self, index: int) -> InvalidMessage:
        return self._error(
            index, "A NUL character at {where} cuts the tag short for Telegram; remove it."
        )

    def _where(self, index: int) -> str:
        if len(self._line_starts) == 1:
            return f"character {index + 1}"
        line = bisect_right(self._line_starts, index)
        return f"line {line}, column {index - self._line_starts[line - 1] + 1}"

    def _error(self, index: int, message: str) -> InvalidMessage:
        return InvalidMessage(message.replace("{where}", self._where(index)))


_LANGUAGE_ALONE = (
    "must be all that its <pre> holds, with nothing before or after it (not even a line "
    "break), or Telegram drops the language."
)


def _telegram_code(name: str) -> int | None:
    """The code point Telegram reads from a numeric entity's name ('65', 'x41'), or None.

    Telegram reads a lowercase 'x' only, at most 7 decimal or 6 hexadecimal digits, and
    keeps the entity as literal text when the code point is 0 or from U+10FFFF on.
    """
    base = 16 if name[:1] == "x" else 10
    digits = name[1:] if base == 16 else name
    if not digits or len(digits) > _MAX_DIGITS[base]:
        return None
    code = int(digits, base)
    return code if 0 < code < 0x10FFFF else None


def _decode_value(raw: str) -> str:
    """An attribute value as Telegram decodes it; what it does not decode stays as written."""
    return _VALUE_ENTITY.sub(_decoded_entity, raw) if "&" in raw else raw


def _decoded_entity(match: re.Match[str]) -> str:
    number, name = match.groups()
    character = _NAMED_CHARACTERS.get(name) if number is None else _code_character(number)
    return match.group() if character is None else character


def _code_character(name: str) -> str | None:
    code = _telegram_code(name)
    return None if code is None else chr(code)


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


# -- attributes, one rule per tag (each returns what is wrong, or None) -----------------------


def _attribute_problem(
    tag: str, attrs: list[tuple[str, str | None]], parent: str | None
) -> str | None:
    names = [name for name, _ in attrs]
    if len(set(names)) != len(names):
        return "has an attribute twice."
    problem = _ATTRIBUTE_RULES.get(tag, _no_attributes)(dict(attrs), parent)
    if problem and any(name != name.lower() for name in names):
        problem += " Telegram reads attribute names in lowercase only."
    return problem


def _no_attributes(attrs: Attributes, parent: str | None) -> str | None:
    if not attrs:
        return None
    names = (name if name.isprintable() else repr(name) for name in attrs)
    return f"takes no attributes (found {', '.join(names)})."


def _link(attrs: Attributes, parent: str | None) -> str | None:
    if set(attrs) != {"href"}:
        return 'needs href="…" and no other attribute.'
    href = (attrs["href"] or "").strip(" \t\r\n\v\f")  # Telegram trims the link too
    shown = href if len(href) <= 40 else href[:39] + "…"
    if _UNSAFE_IN_LINK.search(href):
        return f"needs a link without spaces or control characters (Telegram drops it): {shown!r}."
    if not _usable_link(href):
        return f"needs a link starting with http://, https://, tg:// or mailto:, not {shown!r}."
    return None


def _usable_link(href: str) -> bool:
    """A scheme Telegram links, with a host for http(s) and something after tg: or mailto:."""
    try:
        parts = urlsplit(href)
    except ValueError:
        return False
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        return bool(parts.netloc)
    return scheme in URL_SCHEMES and bool(parts.netloc or parts.path or parts.query)


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
