"""``reply_markup`` as the Bot API reads an inline keyboard: the checks it makes, with its
error texts, and the keyboard as stored with the message.

Only inline keyboards are modelled (what the bot sends): rows of buttons, each with a
``text`` and exactly one action, ``callback_data`` (1-64 bytes) or ``url``. A URL is read as
the Bot API reads it: another scheme than http, https or tg is "Unsupported URL protocol",
an http(s) URL without a host "Wrong HTTP URL", and one whose host is no domain
(``localhost``, a name without a dot) or a tg:// link to nothing is the server's
``BUTTON_URL_INVALID``. A markup over 10 KB is "reply markup is too long"; how many buttons a
row may hold is not checked. Other actions (``switch_inline_query``, ``web_app``, ...) are
accepted as they are; a reply keyboard or ``remove_keyboard`` is accepted and kept without
checks.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any
from urllib.parse import urlsplit

from infra.fakes.telegram.behaviour import ApiError

MAX_CALLBACK_DATA_BYTES = 64
MAX_BUTTONS = 100  # Telegram's limit on an inline keyboard's buttons
MAX_MARKUP_BYTES = 10_240  # "reply markup is too long" past about 10 KB of JSON
_OTHER_ACTIONS = ("switch_inline_query", "switch_inline_query_current_chat", "web_app",
                  "login_url", "callback_game", "pay", "copy_text")  # fmt: skip


def parse_markup(raw: str | None) -> dict[str, Any] | None:
    """The markup a sendMessage carried, checked; None when it carried none."""
    if not raw:
        return None
    if len(raw) > MAX_MARKUP_BYTES // 4 and len(raw.encode("utf-8", "replace")) > MAX_MARKUP_BYTES:
        raise _bad("reply markup is too long")
    try:
        markup = json.loads(raw)
    except ValueError:
        raise _bad("can't parse reply keyboard markup JSON object") from None
    if not isinstance(markup, dict):
        raise _bad("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" not in markup:
        return markup  # a reply keyboard, remove_keyboard or force_reply: kept as sent
    rows = markup["inline_keyboard"]
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise _bad('field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays')
    if sum(len(row) for row in rows) > MAX_BUTTONS:
        raise _bad("too many inline keyboard buttons")
    return {"inline_keyboard": [[_button(button) for button in row] for row in rows]}


def _button(button: Any) -> dict[str, Any]:
    if not isinstance(button, dict):
        raise _bad("can't parse inline keyboard button: InlineKeyboardButton must be an Object")
    text = button.get("text")
    if not isinstance(text, str):
        raise _bad('can\'t parse inline keyboard button: Field "text" must be of type String')
    if "callback_data" in button:
        data = button["callback_data"]
        if (
            not isinstance(data, str)
            or not 1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_DATA_BYTES
        ):
            raise _bad("BUTTON_DATA_INVALID")
        return {"text": text, "callback_data": data}
    if "url" in button:
        url = button["url"]
        if not isinstance(url, str):
            raise _bad('can\'t parse inline keyboard button: Field "url" must be of type String')
        _check_url(url)
        return {"text": text, "url": url}
    if any(action in button for action in _OTHER_ACTIONS):
        return dict(button)
    raise _bad("text buttons are unallowed in the inline keyboard")


def _check_url(url: str) -> None:
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        raise _bad(f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https", "tg"):
        raise _bad(f"inline keyboard button URL '{url}' is invalid: Unsupported URL protocol")
    if scheme != "tg" and not host:
        raise _bad(f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL")
    if scheme == "tg" and not (parts.netloc or parts.path.strip("/") or parts.query):
        raise _bad("BUTTON_URL_INVALID")
    if scheme != "tg" and not _is_domain(host):
        raise _bad("BUTTON_URL_INVALID")


def _is_domain(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return "." in host.strip(".")


def _bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")
