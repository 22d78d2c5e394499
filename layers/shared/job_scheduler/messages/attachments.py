"""What a custom message carries besides its text: a photo, and rows of URL buttons.

Both are the same for every recipient, so they are checked here once, before the job is
saved, as Telegram checks them: a photo or a button Telegram refuses would otherwise fail
the message of every person the job reaches. Each problem is an InvalidMessage naming its
field (``message_config.buttons[1][0].url``) and, in words, the button (row 2, button 1).

- **photo**: a picture's URL, which Telegram downloads (so it must be public: no
  ``localhost`` or private address), or the ``file_id`` Telegram gave a photo it already
  has (base64url, as in a received message's ``photo``).
- **buttons**: rows of ``{text, url}``. Telegram opens http, https and tg links from a
  button, at most 8 buttons in a row and 100 in all, and refuses a keyboard over about
  10 KB ("reply markup is too long"). It documents no limit on a label; a longer one than a
  row can show is cut off in the apps, so 64 characters is this project's own limit.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from job_scheduler.errors import InvalidMessage

MAX_BUTTONS = 100
MAX_BUTTONS_PER_ROW = 8
MAX_BUTTON_TEXT = 64
MAX_URL_CHARS = 2048
# Telegram refuses a reply_markup over about 10 KB; counted as TelegramClient sends it.
MAX_MARKUP_BYTES = 10_000
BUTTON_SCHEMES = ("http", "https", "tg")
BUTTON_KEYS = ("text", "url")

_FILE_ID = re.compile(r"[A-Za-z0-9_-]{20,255}")
_UNSAFE = re.compile(r"[\s\x00-\x1f\x7f]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

Rows = tuple[tuple["UrlButton", ...], ...]


@dataclass(frozen=True, slots=True)
class UrlButton:
    """A button under the message that opens a link."""

    text: str
    url: str

    def to_json(self) -> dict[str, str]:
        return {"text": self.text, "url": self.url}


# -- the photo ---------------------------------------------------------------------------------


def check_photo(value: object, field: str) -> str | None:
    """The photo to send (stripped), or None for none ("" is none too, as a form sends it)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidMessage(
            f"{field} must be a picture's link or a Telegram file_id (text), or null,"
            f" not {type(value).__name__}.",
            field,
        )
    photo = value.strip()
    if not photo:
        return None
    if "://" in photo or photo.lower().startswith(("http:", "https:")):
        _check_photo_url(photo, field)
    elif not _FILE_ID.fullmatch(photo) or len(photo) % 4 == 1:
        raise InvalidMessage(
            f"{field} {_shown(photo)!r} is neither a link to a picture (https://…) nor a"
            " Telegram file_id (20 or more letters, digits, - and _, as Telegram gives it in"
            " a message's photo); paste one or the other.",
            field,
        )
    return photo


def _check_photo_url(url: str, field: str) -> None:
    problem = _url_problem(url, ("http", "https"), "Telegram downloads the photo from", public=True)
    if problem:
        raise InvalidMessage(f"{field}: {problem}", field)


def _public(host: str) -> bool:
    """Whether Telegram's servers could reach ``host``: a domain with a dot, or a global IP."""
    host = host.rstrip(".").lower()
    try:
        return ipaddress.ip_address(host).is_global
    except ValueError:
        pass
    return "." in host and not host.endswith((".localhost", ".local", ".internal"))


# -- the buttons -------------------------------------------------------------------------------


def check_buttons(value: object, field: str) -> Rows:
    """Rows of URL buttons from their JSON (lists of ``{text, url}``; None or [] for none)."""
    if value is None:
        return ()
    if not isinstance(value, list | tuple) or not all(isinstance(r, list | tuple) for r in value):
        raise InvalidMessage(
            f"{field} must be a list of rows, each a list of buttons, as in"
            ' [[{"text": "Menu", "url": "https://example.com/menu"}]].',
            field,
        )
    rows = tuple(_row(row, f"{field}[{r}]", r + 1) for r, row in enumerate(value))
    total = sum(len(row) for row in rows)
    if total > MAX_BUTTONS:
        raise InvalidMessage(
            f"There are {total} buttons; Telegram takes at most {MAX_BUTTONS} under a message.",
            field,
        )
    size = markup_bytes(inline_keyboard(rows))
    if size > MAX_MARKUP_BYTES:
        raise InvalidMessage(
            f"The buttons take {size:,} bytes as sent to Telegram, which refuses more than about"
            f" {MAX_MARKUP_BYTES:,} (reply markup is too long); use fewer buttons, shorter"
            " labels or shorter links.",
            field,
        )
    return rows


def _row(row: Sequence[Any], field: str, number: int) -> tuple[UrlButton, ...]:
    if not row:
        raise InvalidMessage(f"Row {number} of the buttons is empty; add a button or remove it.",
                             field)  # fmt: skip
    if len(row) > MAX_BUTTONS_PER_ROW:
        raise InvalidMessage(
            f"Row {number} has {len(row)} buttons; Telegram shows at most {MAX_BUTTONS_PER_ROW}"
            " in a row, so move some to another row.",
            field,
        )
    return tuple(
        _button(button, f"{field}[{c}]", f"Row {number}, button {c + 1}")
        for c, button in enumerate(row)
    )


def _button(button: Any, field: str, where: str) -> UrlButton:
    if isinstance(button, UrlButton):
        button = button.to_json()
    if not isinstance(button, dict):
        raise InvalidMessage(f"{where} must be an object {{text, url}}, not"
                             f" {type(button).__name__}.", field)  # fmt: skip
    unknown = sorted(set(button) - set(BUTTON_KEYS))
    if unknown:
        raise InvalidMessage(
            f"{where} has an unknown key {unknown[0]!r}; a button here has only text (its"
            " label) and url (the link it opens).",
            f"{field}.{unknown[0]}",
        )
    return UrlButton(_label(button.get("text"), f"{field}.text", where),
                     _link(button.get("url"), f"{field}.url", where))  # fmt: skip


def _label(text: object, field: str, where: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise InvalidMessage(f"{where} has no text; write its label.", field)
    label = text.strip()
    if _CONTROL.search(label):
        raise InvalidMessage(f"{where}: the label is one line, without control characters.",
                             field)  # fmt: skip
    if len(label) > MAX_BUTTON_TEXT:
        raise InvalidMessage(
            f"{where}: the label has {len(label)} characters; at most {MAX_BUTTON_TEXT} fit on"
            " a button.",
            field,
        )
    return label


def _link(url: object, field: str, where: str) -> str:
    if not isinstance(url, str) or not url.strip():
        raise InvalidMessage(f"{where} has no link; write where it leads (https://…).", field)
    link = url.strip()
    problem = _url_problem(link, BUTTON_SCHEMES, "a button opens")
    if problem:
        raise InvalidMessage(f"{where}: {problem}", field)
    return link


def _url_problem(url: str, schemes: tuple[str, ...], what: str, public: bool = False) -> str | None:
    """What is wrong with ``url`` as Telegram reads it, or None; ``public``: Telegram's
    servers fetch it, so its host must be on the internet."""
    shown = _shown(url)
    if len(url) > MAX_URL_CHARS:
        return f"the link has {len(url):,} characters; at most {MAX_URL_CHARS:,} are taken."
    if _UNSAFE.search(url):
        return f"{shown!r} has a space or a control character; write spaces as %20."
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return f"{shown!r} is not a link Telegram can read."
    scheme = parts.scheme.lower()
    if scheme not in schemes:
        names = [f"{name}://" for name in schemes]
        allowed = ", ".join(names[:-1]) + f" and {names[-1]}"
        return f"{what} {allowed} links only, not {shown!r}."
    if public and not _public(host):
        return (
            f"Telegram downloads the photo from the internet, so {host or shown!r} (a local or"
            " private address) cannot be reached from there; use a public link, or the"
            " photo's file_id."
        )
    if scheme in ("http", "https") and not _domain_like(host):
        return f"{shown!r} has no domain Telegram accepts (such as example.com)."
    if scheme == "tg" and not (parts.netloc or parts.path.strip("/") or parts.query):
        return f"{shown!r} leads nowhere; write a tg:// link such as tg://resolve?domain=name."
    return None


def _domain_like(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return "." in host.strip(".")


def _shown(text: str) -> str:
    return text if len(text) <= 60 else text[:59] + "…"


# -- as Telegram takes them --------------------------------------------------------------------


def inline_keyboard(rows: Rows) -> dict[str, Any] | None:
    """The buttons as Telegram's ``reply_markup`` (an InlineKeyboardMarkup), None without."""
    if not rows:
        return None
    return {"inline_keyboard": [[button.to_json() for button in row] for row in rows]}


def buttons_json(rows: Rows) -> list[list[dict[str, str]]]:
    return [[button.to_json() for button in row] for row in rows]


def markup_bytes(markup: dict[str, Any] | None) -> int:
    """The size of ``markup`` as ``TelegramClient`` sends it (``json.dumps``, not ASCII-only)."""
    if markup is None:
        return 0
    return len(json.dumps(markup, ensure_ascii=False).encode("utf-8"))
