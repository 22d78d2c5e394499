"""The ``GET /_fake`` page, self-contained (nothing loaded from outside):

- without ``?chat=``: every message the bot sent, newest first, refreshed every 5 s;
- with ``?chat=<person's id>``: that person's chat as they see it: what they wrote, what the
  bot answered and sent on schedule, its buttons (a tap is a ``press``), the toast a tap got,
  a box to write in, and block/unblock. A list of the people the fake knows, and a form for
  a new one, are beside it.

A photo shows above its caption: the picture itself for a URL (the browser loads it; the
fake never does), a placeholder for a file_id. A protected message is marked 🔒, a text
message sent without its link preview "no preview", a paid broadcast's "⭐ paid".

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
button.button{border:0;cursor:pointer;font:inherit;font-size:.9rem}
.layout{display:flex;gap:1rem;align-items:flex-start}.people{flex:0 0 12rem;font-size:.9rem;
position:sticky;top:.5rem}.compose .button{flex:0 0 6rem}
.people a{display:block;padding:.3rem .5rem;border-radius:.4rem;color:inherit;
text-decoration:none}.people a.on{background:#2a7ab0;color:#fff}.chat{flex:1;min-width:0}
.people form,.compose{display:flex;flex-wrap:wrap;gap:.3rem;margin-top:.5rem}
.people input,.people select{width:100%;box-sizing:border-box}
.compose input{flex:1;min-width:10rem;padding:.45rem;border-radius:.4rem;border:1px solid #bbb}
li.mine{background:#dcf8c6;margin-left:3rem}li.theirs{margin-right:3rem}
.toast{display:inline-block;margin-top:.3rem;padding:.2rem .5rem;border-radius:.8rem;
background:#333;color:#fff;font-size:.8rem}.blocked{color:#b00020;font-weight:600}
body.wide{max-width:64rem}
.photo{display:block;max-width:100%;max-height:22rem;border-radius:.5rem;margin:.2rem 0 .35rem}
.photo.file-id{background:#cfd8e3;color:#334;padding:2.2rem 1rem;text-align:center;
font-size:.9rem;overflow-wrap:anywhere}
@media (prefers-color-scheme:dark){body{background:#0e1621;color:#eee}li{background:#182533}
.meta,.stats{color:#8a9aa9}pre,code{background:#0e1621}.button{background:#22364a;color:#7cb7f0}
li.mine{background:#2b5278}.compose input{background:#182533;color:#eee;border-color:#345}}
"""
_CHAT_SCRIPT = """
const chat = document.body.dataset.chat;
async function act(path, body) {
  const answer = await fetch(path, {method: "POST", body: JSON.stringify(body || {})});
  const done = await answer.json();
  if (!done.ok) { alert(done.description); return; }
  setTimeout(() => location.reload(), 600);
}
document.querySelectorAll("button[data-callback]").forEach(button => button.onclick = () =>
  act(`/_fake/users/${chat}/press`, {message_id: +button.dataset.message,
                                      button: button.dataset.label}));
const compose = document.querySelector("form.compose");
if (compose) compose.onsubmit = event => {
  event.preventDefault();
  const text = compose.elements.text.value;
  if (text.trim()) act(`/_fake/users/${chat}/messages`, {text});
};
document.querySelectorAll("button[data-membership]").forEach(button => button.onclick = () =>
  act(`/_fake/users/${chat}/${button.dataset.membership}`));
const person = document.querySelector("form.new-person");
if (person) person.onsubmit = async event => {
  event.preventDefault();
  const f = person.elements;
  await fetch(`/_fake/users/${f.id.value}/messages`, {method: "POST", body: JSON.stringify(
    {text: "/start", first_name: f.first_name.value, language_code: f.language_code.value})});
  location.href = `/_fake?chat=${f.id.value}`;
};
setInterval(() => {
  const typing = compose && compose.elements.text.value;
  if (!typing && document.visibilityState === "visible") location.reload();
}, 3000);
window.scrollTo(0, document.body.scrollHeight);
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
            *_marks(message),
        )
    )
    text = render_text(message["visible_text"], message["entities"])
    buttons = render_keyboard(message.get("reply_markup"))
    body = f'{render_photo(message)}<div class="text" dir="auto">{text}</div>{buttons}'
    return f'<li><div class="meta">{meta}</div>{body}</li>'


def _marks(message: Mapping[str, Any]) -> list[str]:
    """What else was asked of Telegram: protected content, no link preview, paid broadcast."""
    marks = ["🔒 protected"] if message.get("protect_content") else []
    if not message.get("photo") and message.get("link_preview") is False:
        marks.append("no preview")
    if message.get("paid_broadcast"):
        marks.append("⭐ paid")
    return marks


def render_photo(message: Mapping[str, Any]) -> str:
    """A photo above its caption: the picture for a URL, a placeholder for a file_id."""
    photo = message.get("photo")
    if not photo:
        return ""
    if photo.lower().startswith(("http://", "https://")):
        src = html.escape(photo, quote=True)
        return (f'<img class="photo" src="{src}" alt="photo" loading="lazy"'
                ' referrerpolicy="no-referrer">')  # fmt: skip
    shown = html.escape(photo if len(photo) <= 24 else photo[:23] + "…")
    return (f'<div class="photo file-id" title="{html.escape(photo, quote=True)}">🖼 A photo'
            f" Telegram keeps (file_id {shown})</div>")  # fmt: skip


def render_keyboard(markup: Mapping[str, Any] | None, message_id: int | None = None) -> str:
    """An inline keyboard under its message, as Telegram draws it: rows of buttons; a URL
    button is a link (marked ↗), a callback button shows its data on hover and, in a
    person's chat (``message_id`` given), is a button that taps it."""
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
            elif message_id is not None:
                data = html.escape(str(button.get("callback_data", "")), quote=True)
                cells.append(f'<button class="button" title="{data}" data-callback="{data}"'
                             f' data-message="{message_id}" data-label="{label}">{label}'
                             "</button>")  # fmt: skip
            else:
                data = html.escape(str(button.get("callback_data", "")), quote=True)
                cells.append(f'<span class="button" title="{data}" data-callback="{data}">'
                             f"{label}</span>")  # fmt: skip
        rows.append(f'<div class="row">{"".join(cells)}</div>')
    return f'<div class="keyboard">{"".join(rows)}</div>'


def render_page(
    messages: list[dict[str, Any]], stats: Mapping[str, int], people: list[dict[str, Any]] = ()
) -> str:
    """All messages, newest first, refreshed every 5 s (no script), and the people."""
    items = "".join(_render_message(message) for message in reversed(messages))
    counts = " · ".join(f"{html.escape(name)} {count}" for name, count in stats.items())
    empty = "" if messages else "<p>No messages yet.</p>"
    body = f'<h1>Fake Telegram</h1><p class="stats">{counts}</p>{empty}<ol>{items}</ol>'
    return _page_with_people(body, list(people), None)


def render_chat(chat: Mapping[str, Any], people: list[dict[str, Any]], chat_id: int) -> str:
    """One person's chat (``chats.Chats.chat`` with the bot's messages), and the people."""
    toasts: dict[int, str] = {}
    for tap in chat["taps"]:
        if tap.get("toast"):
            toasts[tap["message_id"]] = tap["toast"]
    entries = [(m["message_id"], _their_message(m, toasts.get(m["message_id"])))
               for m in chat["messages"]]  # fmt: skip
    entries += [(m["message_id"], _my_message(m)) for m in chat["written"]]
    items = "".join(item for _, item in sorted(entries, key=lambda entry: entry[0]))
    person = chat["person"]
    blocked = any(p["id"] == chat_id and p.get("blocked") for p in people)
    name = html.escape(str(person.get("first_name") or f"chat {chat_id}"))
    state = '<span class="blocked">blocked the bot</span>' if blocked else "talking to the bot"
    membership = ("unblock", "Unblock the bot") if blocked else ("block", "Block the bot")
    empty = "" if items else "<p>Nothing here yet: write /start below.</p>"
    body = (
        f'<h1>{name}</h1><p class="stats">id {chat_id} · '
        f"{html.escape(str(person.get('language_code') or '?'))} · {state} · "
        f'<button class="button" data-membership="{membership[0]}">{membership[1]}</button></p>'
        f'{empty}<ol>{items}</ol><form class="compose"><input name="text" autocomplete="off"'
        ' placeholder="Write to the bot, e.g. /start" dir="auto" autofocus>'
        '<button class="button">Send</button></form>'
    )
    return _page_with_people(body, people, chat_id)


def _their_message(message: dict[str, Any], toast: str | None) -> str:
    silent = " · 🔕" if message["disable_notification"] else ""
    edited = " · edited" if message.get("edited") else ""
    marks = "".join(f" · {html.escape(mark)}" for mark in _marks(message))
    when = html.escape(message["time"][11:19])
    text = render_text(message["visible_text"], message["entities"])
    buttons = render_keyboard(message.get("reply_markup"), message["message_id"])
    bubble = f'<div class="toast" dir="auto">{html.escape(toast)}</div>' if toast else ""
    return (f'<li class="theirs"><div class="meta">bot · {when}{silent}{edited}{marks}</div>'
            f'{render_photo(message)}<div class="text" dir="auto">{text}</div>{buttons}{bubble}'
            "</li>")  # fmt: skip


def _my_message(message: dict[str, Any]) -> str:
    when = html.escape(message["time"][11:19])
    return (f'<li class="mine"><div class="meta">you · {when}</div>'
            f'<div class="text" dir="auto">{html.escape(message["text"])}</div></li>')  # fmt: skip


def _page_with_people(body: str, people: list[dict[str, Any]], chat_id: int | None) -> str:
    links = ['<a href="/_fake"' + (' class="on"' if chat_id is None else "") + ">All messages</a>"]
    for person in people:
        on = ' class="on"' if person["id"] == chat_id else ""
        mark = " ⛔" if person.get("blocked") else ""
        label = html.escape(f"{person.get('first_name') or person['id']} ({person['id']}){mark}")
        links.append(f'<a href="/_fake?chat={person["id"]}"{on}>{label}</a>')
    next_id = max([p["id"] for p in people] + [1000]) + 1
    new_person = (
        '<form class="new-person"><b>A new person</b>'
        f'<input name="id" type="number" min="1" value="{next_id}" aria-label="Telegram id">'
        '<input name="first_name" value="Nima" aria-label="First name">'
        '<select name="language_code" aria-label="Language"><option value="fa">fa</option>'
        '<option value="en">en</option></select><button class="button">Start the bot</button>'
        "</form>"
    )
    if chat_id is None:  # the feed: no script, a plain refresh; a link opens a chat
        head, attribute, script = '<meta http-equiv="refresh" content="5">', "", ""
        new_person = '<p><a href="/_fake?chat=' + str(next_id) + '">A new person ▸</a></p>'
    else:
        head, attribute = "", f' data-chat="{chat_id}"'
        script = f"<script>{_CHAT_SCRIPT}</script>"
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">{head}'
        f"<title>Fake Telegram</title><style>{_PAGE_STYLE}</style></head>"
        f'<body class="wide"{attribute}><div class="layout"><nav class="people">'
        f'{"".join(links)}{new_person}</nav><main class="chat">{body}</main></div>'
        f"{script}</body></html>"
    )
