"""The people's side of the fake: they write to the bot, tap its buttons, block it; the
bot gets their updates by webhook or ``getUpdates``, as from Telegram.

- Acting as a person (``/_fake/users/{id}/...``): ``messages`` (a new id is a new person),
  ``press`` (an inline button of one of the bot's messages, by its text), ``block`` and
  ``unblock`` (a ``my_chat_member`` update each; while blocked, sendMessage to them is 403).
  A blocked person who writes unblocks first, as Telegram's apps do ("Restart bot").
- Updates are numbered on from the start time in milliseconds (a restarted fake goes on
  past the ids a bot has already seen, as Telegram's never repeat) and kept until
  delivered. With a webhook set (``setWebhook``), one thread POSTs them in order with the secret in
  ``X-Telegram-Bot-Api-Secret-Token``; an answer other than 2xx (or none) is recorded as
  ``getWebhookInfo``'s last error and the update is sent again after a backoff that grows
  to ``MAX_BACKOFF_SECONDS``. Without one, ``getUpdates`` (long polling) hands them out and
  an ``offset`` confirms them; while a webhook is set, getUpdates is 409, as on Telegram.
- The bot's side: ``answerCallbackQuery`` (the toast is kept with the tap),
  ``editMessageText`` (the message changes in place), ``setMyCommands``/``getMyCommands``
  per language, ``setWebhook``, ``deleteWebhook``, ``getWebhookInfo``.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from infra.fakes.telegram.behaviour import ApiError, _truthy
from infra.fakes.telegram.html_parser import visible_text
from infra.fakes.telegram.keyboard import parse_markup

if TYPE_CHECKING:
    from infra.fakes.telegram.server import FakeTelegram

KEPT_WRITTEN = 10_000
MAX_BACKOFF_SECONDS = 8.0
DELIVERY_TIMEOUT_SECONDS = 10.0
UPDATE_KINDS = ("message", "edited_message", "callback_query", "my_chat_member")
BOT = {"id": 1, "is_bot": True, "first_name": "Fake Bot", "username": "fake_bot"}
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup"
    " are exactly the same as a current content and reply markup of the message"
)
_WEBHOOK_ACTIVE = (
    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to"
    " delete the webhook first"
)
_QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"


class Chats:
    """People, their updates and the webhook; guarded by the fake's lock."""

    def __init__(self, fake: FakeTelegram) -> None:
        self._fake = fake
        self._lock = fake._lock
        self._wake = threading.Condition(self._lock)
        self.people: dict[int, dict[str, Any]] = {}
        self.pending: deque[dict[str, Any]] = deque()
        self.next_update_id = int(time.time() * 1000)
        self.webhook: dict[str, Any] | None = None
        self.last_error: tuple[int, str] | None = None
        self.commands: dict[str, list[dict[str, str]]] = {}
        self.taps: dict[str, dict[str, Any]] = {}
        self.written: deque[dict[str, Any]] = deque(maxlen=KEPT_WRITTEN)  # the people's messages
        self._stopping = False
        self._thread: threading.Thread | None = None

    # acting as a person ----------------------------------------------------------------------

    def write(self, user_id: int, params: Mapping[str, Any]) -> dict[str, Any]:
        """The person sends ``text`` to the bot; their name and language may come along."""
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ValueError("text: what the person writes, a non-empty string")
        person = self._person(user_id, params)
        if user_id in self._fake.behaviour.blocked_chat_ids:
            self.unblock(user_id)
        with self._lock:
            message_id = self._fake._next_message_id(user_id)
            message = {
                "message_id": message_id,
                "from": _user(person),
                "chat": _private_chat(person),
                "date": int(time.time()),
                "text": text,
            }
            if text.startswith("/"):
                length = len(text.split(" ", 1)[0])
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
            self.written.append({"chat_id": user_id, "from_person": True, "text": text,
                                 "message_id": message_id, "time": _now_iso()})  # fmt: skip
            update_id = self._queue({"message": message})
        return {"update_id": update_id, "message_id": message_id}

    def press(self, user_id: int, params: Mapping[str, Any]) -> dict[str, Any]:
        """The person taps the button labelled ``button`` under the bot's ``message_id``."""
        try:
            message_id = int(params["message_id"])
        except (KeyError, TypeError, ValueError):
            raise ValueError("message_id: the id of the bot's message with the button") from None
        label = params.get("button")
        if not isinstance(label, str):
            raise ValueError("button: the text of the button to tap")
        with self._lock:
            found = self._fake._find(user_id, message_id)
            record = dict(found) if found else None
        if record is None:
            raise ValueError(f"the bot sent no message {message_id} to {user_id}")
        rows = (record.get("reply_markup") or {}).get("inline_keyboard", [])
        buttons = [button for row in rows for button in row]
        button = next((b for b in buttons if b["text"] == label), None)
        if button is None:
            shown = ", ".join(repr(b["text"]) for b in buttons) or "none"
            raise ValueError(f"message {message_id} has no button {label!r} (buttons: {shown})")
        if "callback_data" not in button:
            raise ValueError(f"that button opens {button.get('url')!r}; it sends the bot nothing")
        person = self._person(user_id, params)
        with self._lock:
            callback_id = f"{user_id}-{self.next_update_id}"
            self.taps[callback_id] = {"chat_id": user_id, "message_id": message_id,
                                      "button": label, "answered": False, "toast": None,
                                      "time": _now_iso()}  # fmt: skip
            query = {
                "id": callback_id,
                "from": _user(person),
                "chat_instance": str(user_id),
                "data": button["callback_data"],
                "message": _as_sent(record, person),
            }
            update_id = self._queue({"callback_query": query})
        return {"update_id": update_id, "callback_query_id": callback_id}

    def block(self, user_id: int, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return self._membership(user_id, blocked=True)

    def unblock(self, user_id: int, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return self._membership(user_id, blocked=False)

    def _membership(self, user_id: int, blocked: bool) -> dict[str, Any]:
        person = self._person(user_id, {})
        ids = set(self._fake.behaviour.blocked_chat_ids)
        if (user_id in ids) == blocked:
            return {"update_id": None}  # no change, no update
        self._fake.configure(blocked_chat_ids=ids | {user_id} if blocked else ids - {user_id})
        old, new = ("member", "kicked") if blocked else ("kicked", "member")
        change = {
            "chat": _private_chat(person),
            "from": _user(person),
            "date": int(time.time()),
            "old_chat_member": {"user": BOT, "status": old},
            "new_chat_member": {
                "user": BOT,
                "status": new,
                **({"until_date": 0} if blocked else {}),
            },
        }
        with self._lock:
            update_id = self._queue({"my_chat_member": change})
        return {"update_id": update_id}

    def know(self, user_id: int, **about: str | None) -> None:
        """Someone the bot already has (``make run``'s demo people): Telegram knows their
        name and language, so taps and messages made as them carry those."""
        self._person(user_id, {name: value for name, value in about.items() if value})

    def _person(self, user_id: int, params: Mapping[str, Any]) -> dict[str, Any]:
        if user_id <= 0:
            raise ValueError("a person's id is a positive integer")
        with self._lock:
            person = self.people.setdefault(
                user_id, {"id": user_id, "first_name": f"Person {user_id}", "language_code": "fa"}
            )
            for name in ("first_name", "last_name", "username", "language_code"):
                if isinstance(params.get(name), str) and params[name]:
                    person[name] = params[name]
            return dict(person)

    def _queue(self, payload: dict[str, Any]) -> int:
        """Under the lock: number the update and keep it until it is delivered."""
        update_id = self.next_update_id
        self.next_update_id += 1
        self.pending.append({"update_id": update_id, **payload})
        self._wake.notify_all()
        return update_id

    # the bot's side --------------------------------------------------------------------------

    def answer_callback(self, params: Mapping[str, str]) -> bool:
        with self._lock:
            tap = self.taps.get(params.get("callback_query_id", ""))
            if tap is None or tap["answered"]:
                raise ApiError(400, _QUERY_TOO_OLD)
            tap.update(answered=True, toast=params.get("text") or None,
                       alert=_truthy(params.get("show_alert", "")))  # fmt: skip
        return True

    def edit_text(self, params: Mapping[str, str]) -> dict[str, Any]:
        text = params.get("text", "")
        if not text:
            raise ApiError(400, "Bad Request: message text is empty")
        try:
            chat_id, message_id = int(params.get("chat_id", "")), int(params.get("message_id", ""))
        except ValueError:
            raise ApiError(400, "Bad Request: message to edit not found") from None
        parse_mode = params.get("parse_mode") or None
        shown, entities = visible_text(text, parse_mode)
        markup = parse_markup(params.get("reply_markup"))
        with self._lock:
            record = self._fake._find(chat_id, message_id)
            if record is None:
                raise ApiError(400, "Bad Request: message to edit not found")
            if record.get("photo"):
                raise ApiError(400, "Bad Request: there is no text in the message to edit")
            if record["text"] == text and record.get("reply_markup") == markup:
                raise ApiError(400, NOT_MODIFIED)
            record.update(text=text, visible_text=shown, entities=entities, reply_markup=markup,
                          parse_mode=parse_mode, edited=_now_iso())  # fmt: skip
        now = int(time.time())
        result = {"message_id": message_id, "chat": {"id": chat_id, "type": "private"},
                  "date": now, "edit_date": now, "text": shown}  # fmt: skip
        if markup:
            result["reply_markup"] = markup
        return result

    def set_commands(self, params: Mapping[str, str]) -> bool:
        try:
            commands = json.loads(params.get("commands", ""))
        except ValueError:
            raise ApiError(400, "Bad Request: can't parse commands JSON object") from None
        if not isinstance(commands, list) or not all(
            isinstance(c, dict) and c.get("command") and c.get("description") for c in commands
        ):
            raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
        with self._lock:
            self.commands[params.get("language_code", "")] = commands
        return True

    def get_commands(self, params: Mapping[str, str]) -> list[dict[str, str]]:
        with self._lock:
            return list(self.commands.get(params.get("language_code", ""), []))

    def set_webhook(self, params: Mapping[str, str]) -> bool:
        url = params.get("url", "")
        if not url:
            return self.delete_webhook(params)
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
            raise ApiError(400, "Bad Request: bad webhook: invalid webhook URL specified")
        secret = params.get("secret_token", "")
        if len(secret) > 256 or not all(c.isascii() and (c.isalnum() or c in "_-") for c in secret):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        try:
            allowed = (
                json.loads(params["allowed_updates"]) if params.get("allowed_updates") else None
            )
        except ValueError:
            raise ApiError(400, "Bad Request: can't parse allowed updates") from None
        with self._lock:
            if _truthy(params.get("drop_pending_updates", "")):
                self.pending.clear()
            self.webhook = {"url": url, "secret_token": secret, "allowed_updates": allowed}
            self.last_error = None
            self._wake.notify_all()
        self._start_delivery()
        return True

    def delete_webhook(self, params: Mapping[str, str]) -> bool:
        with self._lock:
            self.webhook = None
            if _truthy(params.get("drop_pending_updates", "")):
                self.pending.clear()
        return True

    def webhook_info(self) -> dict[str, Any]:
        with self._lock:
            info: dict[str, Any] = {
                "url": self.webhook["url"] if self.webhook else "",
                "has_custom_certificate": False,
                "pending_update_count": len(self.pending),
                "max_connections": 40,
            }
            if self.webhook and self.webhook["allowed_updates"] is not None:
                info["allowed_updates"] = self.webhook["allowed_updates"]
            if self.last_error:
                info["last_error_date"], info["last_error_message"] = self.last_error
        return info

    def get_updates(self, params: Mapping[str, str]) -> list[dict[str, Any]]:
        try:
            offset = int(params.get("offset") or 0)
            wait = min(float(params.get("timeout") or 0), 50.0)
            limit = max(1, min(int(params.get("limit") or 100), 100))
        except ValueError:
            raise ApiError(400, "Bad Request: offset, timeout and limit are numbers") from None
        deadline = time.monotonic() + wait
        with self._lock:
            if self.webhook is not None:
                raise ApiError(409, _WEBHOOK_ACTIVE)
            while self.pending and self.pending[0]["update_id"] < offset:
                self.pending.popleft()  # confirmed by the offset
            while not self.pending and not self._stopping:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._wake.wait(left)
            return [dict(update) for update in list(self.pending)[:limit]]

    # delivery --------------------------------------------------------------------------------

    def _start_delivery(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._stopping = False
            self._thread = threading.Thread(target=self._deliver, name="fake-telegram-webhook",
                                            daemon=True)  # fmt: skip
        self._thread.start()

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            thread, self._thread = self._thread, None
            self._wake.notify_all()
        if thread is not None:
            thread.join(timeout=DELIVERY_TIMEOUT_SECONDS + 1)

    def _deliver(self) -> None:
        backoff = 0.0
        while True:
            with self._lock:
                while not self._stopping and (self.webhook is None or not self.pending):
                    self._wake.wait()
                if self._stopping:
                    return
                update, hook = dict(self.pending[0]), dict(self.webhook)
            error = _post(hook, update)
            with self._lock:
                if error is None:
                    if self.pending and self.pending[0]["update_id"] == update["update_id"]:
                        self.pending.popleft()
                    backoff = 0.0
                    continue
                self.last_error = (int(time.time()), error)
                backoff = min(max(backoff * 2, 0.25), MAX_BACKOFF_SECONDS)
                self._wake.wait(backoff)

    def reset(self) -> None:
        """Under the fake's lock: forget people, updates, taps and commands (not the webhook)."""
        self.people.clear()
        self.pending.clear()
        self.taps.clear()
        self.written.clear()
        self.commands.clear()
        self.last_error = None

    def people_list(self) -> list[dict[str, Any]]:
        """The people who wrote to the bot, by id, and whether they blocked it."""
        blocked = self._fake.behaviour.blocked_chat_ids
        with self._lock:
            people = sorted(self.people.values(), key=lambda person: person["id"])
            return [{**person, "blocked": person["id"] in blocked} for person in people]

    def chat(self, user_id: int) -> dict[str, Any]:
        """One person's chat for the chat view: who, and the taps' toasts by message."""
        with self._lock:
            person = dict(self.people.get(user_id) or {"id": user_id})
            taps = [dict(tap) for tap in self.taps.values() if tap["chat_id"] == user_id]
            written = [dict(m) for m in self.written if m["chat_id"] == user_id]
        return {"person": person, "taps": taps, "written": written}


def _post(hook: dict[str, Any], update: dict[str, Any]) -> str | None:
    """POST one update to the webhook; None if it answered 2xx, else what went wrong."""
    allowed = hook["allowed_updates"]
    kind = next((name for name in UPDATE_KINDS if name in update), "")
    if allowed and kind not in allowed:
        return None  # not wanted: Telegram drops it
    headers = {"Content-Type": "application/json"}
    if hook["secret_token"]:
        headers["X-Telegram-Bot-Api-Secret-Token"] = hook["secret_token"]
    body = json.dumps(update, ensure_ascii=False).encode()
    try:
        answer = httpx.post(hook["url"], content=body, headers=headers,
                            timeout=DELIVERY_TIMEOUT_SECONDS)  # fmt: skip
    except httpx.HTTPError as exc:
        return f"Connection failed: {type(exc).__name__}: {exc}"
    if not answer.is_success:
        return f"Wrong response from the webhook: {answer.status_code} {answer.reason_phrase}"
    return None


def _user(person: dict[str, Any]) -> dict[str, Any]:
    return {"is_bot": False, **person}


def _private_chat(person: dict[str, Any]) -> dict[str, Any]:
    chat = {"id": person["id"], "type": "private", "first_name": person["first_name"]}
    if person.get("username"):
        chat["username"] = person["username"]
    return chat


def _as_sent(record: dict[str, Any], person: dict[str, Any]) -> dict[str, Any]:
    """The bot's message as a callback query carries it."""
    message = {"message_id": record["message_id"], "chat": _private_chat(person),
               "from": BOT, "date": int(time.time())}  # fmt: skip
    text, entities = (
        ("caption", "caption_entities") if record.get("photo") else ("text", "entities")
    )
    if record.get("photo"):
        message["photo"] = [{"file_id": record["photo_file_id"], "file_unique_id": "AQAD",
                             "width": 1280, "height": 853}]  # fmt: skip
    if record["visible_text"] or not record.get("photo"):
        message[text] = record["visible_text"]
    if record.get("entities"):
        message[entities] = record["entities"]
    if record.get("reply_markup"):
        message["reply_markup"] = record["reply_markup"]
    return message


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
