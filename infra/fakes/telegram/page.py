"""The ``GET /_fake`` page: a self-contained page listing the messages newest first, refreshed
every 5 s, nothing loaded from outside.

Every character of a message is escaped; the only tags are the page's own, chosen from the
message's entities, so it shows formatting without trusting the text.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from typing import Any

PAGE_MESSAGES = 200  # the newest messages shown on /_fake

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
.keyboard{margin-top:.4rem}.row{display:flex;gap:.3rem;margin-top:.3rem}
.button{flex:1;text-align:center;padding:.35rem .5rem;border-radius:.4rem;background:#dfe8f1;
color:#2a6ca8;font-size:.9rem;text-decoration:none;overflow:hidden;text-overflow:ellipsis;
white-space:nowrap}
@media (prefers-color-scheme:dark){body{background:#0e1621;color:#eee}li{background:#182533}
.meta,.stats{color:#8a9aa9}pre,code{background:#0e1621}.button{background:#22364a;color:#7cb7f0}}
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
    buttons = render_keyboard(message.get("reply_markup"))
    body = f'<div class="text" dir="auto">{text}</div>{buttons}'
    return f'<li><div class="meta">{meta}</div>{body}</li>'


def render_keyboard(markup: Mapping[str, Any] | None) -> str:
    """An inline keyboard under its message, as Telegram draws it: rows of buttons; a URL
    button is a link (marked ↗), a callback button shows its data on hover."""
    if not markup or "inline_keyboard" not in markup:
        return ""
    rows = []
    for row in markup["inline_keyboard"]:
        cells = []
        for button in row:
            label = html.escape(button.get("text", ""))
            if "url" in button:
                href = html.escape(button["url"], quote=True)
                cells.append(f'<a class="button" href="{href}" rel="noopener noreferrer">'
                             f"{label} ↗</a>")  # fmt: skip
            else:
                data = html.escape(str(button.get("callback_data", "")), quote=True)
                cells.append(f'<span class="button" title="{data}" data-callback="{data}">'
                             f"{label}</span>")  # fmt: skip
        rows.append(f'<div class="row">{"".join(cells)}</div>')
    return f'<div class="keyboard">{"".join(rows)}</div>'


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
