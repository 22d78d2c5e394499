"""A fake Telegram Bot API: a real HTTP server that answers like api.telegram.org, errors included.

Production code reaches it only through its base URL (``TELEGRAM_API_URL``); pyTelegramBotAPI is
pointed at it with ``telebot.apihelper.API_URL = base_url + "/bot{0}/{1}"``. ``make run``, the
tests and the benchmarks use it::

    with FakeTelegram() as fake:                  # or fake.start() ... fake.stop()
        fake.base_url                             # http://127.0.0.1:<port>
        fake.configure(blocked_chat_ids={42})     # change behaviour while it runs
        fake.messages()                           # what was accepted, oldest first

    python -m infra.fakes.telegram --port 8081    # standalone; prints its URL

The modules:

- ``behaviour``: ``Behaviour``, the failures on demand (latency, 429s, the real flood limits
  and a paid broadcast's higher one, a Stars balance that runs out, blocked, deactivated,
  missing and migrated chats, 502s, reset connections) and the checks and
  conversions of its fields; ``ApiError``, an error answer of the Bot API; the Bot API's limits
  on a message's text and the outcomes the stats count.
- ``html_parser``: the port of tdlib's ``parse_html`` and of the cleaning and trimming of
  ``fix_formatted_text``: ``parse_html``, ``visible_text``, ``HtmlParseError``.
- ``server``: ``FakeTelegram``, the HTTP server and handler, request parsing, getMe and
  sendMessage, the sliding-window flood limits, the ``/_fake`` inspection routes and ``main``.
- ``keyboard``: an inline keyboard (``reply_markup``) checked as the Bot API checks it.
- ``photos``: sendPhoto's ``photo``, a URL or a file_id, checked as the Bot API reads it (nothing
  is downloaded), and the photo sizes an answer lists.
- ``page``: the ``GET /_fake`` page, rendering the messages with their entities and buttons.
- ``__main__``: ``python -m infra.fakes.telegram``.

What it does not fake: updates (getUpdates, webhooks), every method but getMe, sendMessage and
sendPhoto, files and multipart bodies (a photo is a URL or a file_id, never downloaded; which
file_ids exist), reply keyboards (kept unchecked) and link previews (whether one is wanted is
recorded; none is made),
pressing a button (no callback queries reach the bot), Markdown parsing
(MarkdownV2 and Markdown are accepted and kept as sent), automatic entities (URLs, mentions,
hashtags), which chats exist (any chat id is a reachable user unless a Behaviour says otherwise),
the URL checks behind ``<a href>`` (approximated), TLS and IPv6. A request line (URL) over 64 KiB
gets http.server's 414, which pyTelegramBotAPI, putting the text in the URL, can reach with heavy
markup; Telegram's own URL limit is not modelled.
"""

from __future__ import annotations

from infra.fakes.telegram.behaviour import (
    MAX_MESSAGE_LENGTH,
    MAX_TEXT_BYTES,
    OUTCOMES,
    ApiError,
    Behaviour,
)
from infra.fakes.telegram.html_parser import HtmlParseError, parse_html, visible_text
from infra.fakes.telegram.page import PAGE_MESSAGES, render_page, render_text
from infra.fakes.telegram.server import (
    KEPT_MESSAGES,
    MAX_BODY_BYTES,
    FakeTelegram,
    main,
    request_params,
)

__all__ = [
    "KEPT_MESSAGES",
    "MAX_BODY_BYTES",
    "MAX_MESSAGE_LENGTH",
    "MAX_TEXT_BYTES",
    "OUTCOMES",
    "PAGE_MESSAGES",
    "ApiError",
    "Behaviour",
    "FakeTelegram",
    "HtmlParseError",
    "main",
    "parse_html",
    "render_page",
    "render_text",
    "request_params",
    "visible_text",
]
