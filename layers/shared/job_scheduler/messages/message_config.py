"""A custom job's message: ``scheduled_jobs.message_config``, read and checked in one place.

It holds ``{"text": ..., "parse_mode": "HTML" | null, "silent": bool}`` and, when set,
``"photo"`` (a picture's URL or Telegram file_id: the message goes with sendPhoto and the
text is its caption, at most 1024 characters and possibly empty), ``"buttons"`` (rows of
``{text, url}`` under the message), ``"link_preview": false`` (no preview of the text's
first link), ``"protect_content": true`` (it cannot be forwarded or saved) and
``"paid_broadcast": true`` (sent with Telegram's ``allow_paid_broadcast``, at up to
``TELEGRAM_PAID_RATE_PER_SECOND``, billed in Telegram Stars: docs/paid-broadcasts.md). Keys at
their default are left out, so a plain message is stored as it always was.

``MessageConfig.from_json`` is the one place that reads it: the admin side calls it before
saving (InvalidMessage names the field), the executor once per run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from job_scheduler.errors import InvalidMessage
from job_scheduler.messages.attachments import (
    Rows,
    buttons_json,
    check_buttons,
    check_photo,
    inline_keyboard,
)
from job_scheduler.messages.telegram_html import HTML, PARSE_MODES
from job_scheduler.messages.templates import MessageTemplate

FIELD = "message_config"
KEYS = (
    "text",
    "parse_mode",
    "silent",
    "photo",
    "buttons",
    "link_preview",
    "protect_content",
    "paid_broadcast",
)


@dataclass(frozen=True)
class MessageConfig:
    """A custom job's message, validated and compiled when it is built."""

    text: str
    parse_mode: str | None = HTML
    silent: bool = False  # Telegram's disable_notification: delivered without a sound
    photo: str | None = None  # a picture's URL or file_id; ``text`` is then its caption
    buttons: Rows = ()  # rows of URL buttons (``attachments.UrlButton``) under the message
    link_preview: bool = True  # False: Telegram shows no preview of the text's first link
    protect_content: bool = False  # True: it cannot be forwarded or saved
    # True: Telegram's allow_paid_broadcast, faster than 30/s and paid for in Stars.
    paid_broadcast: bool = False
    template: MessageTemplate = field(init=False, repr=False, compare=False)
    # The buttons as Telegram's reply_markup, built once: every message of a run shares it.
    reply_markup: Mapping[str, Any] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_types(self.text, self.parse_mode, self.silent)
        _check_flag(self.link_preview, "link_preview")
        _check_flag(self.protect_content, "protect_content")
        _check_flag(self.paid_broadcast, "paid_broadcast")
        photo = check_photo(self.photo, f"{FIELD}.photo")
        buttons = check_buttons(self.buttons, f"{FIELD}.buttons")
        object.__setattr__(self, "photo", photo)
        object.__setattr__(self, "buttons", buttons)
        object.__setattr__(self, "reply_markup", inline_keyboard(buttons))
        if not self.text.strip() and photo is None:
            raise InvalidMessage(
                "The message text is empty; write what to send (a photo's caption may be empty).",
                f"{FIELD}.text",
            )
        try:
            template = MessageTemplate.compile(self.text, self.parse_mode, caption=bool(photo))
        except InvalidMessage as exc:
            raise InvalidMessage(str(exc), f"{FIELD}.text") from exc
        object.__setattr__(self, "template", template)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MessageConfig:
        """The config as stored or posted; every problem is an InvalidMessage naming its field."""
        if not isinstance(data, dict):
            raise InvalidMessage(
                f"{FIELD} must be an object with text (and, if wanted, parse_mode, silent,"
                f" photo, buttons, link_preview, protect_content, paid_broadcast), not"
                f" {type(data).__name__}.",
                FIELD,
            )
        unknown = sorted(set(data) - set(KEYS))
        if unknown:
            raise InvalidMessage(
                f"{FIELD} has an unknown key '{unknown[0]}'; allowed: {', '.join(KEYS)}.",
                f"{FIELD}.{unknown[0]}",
            )
        if "text" not in data:
            raise InvalidMessage(f"{FIELD}.text is missing; write what to send.", f"{FIELD}.text")
        return cls(
            data["text"],
            data.get("parse_mode", HTML),
            data.get("silent", False),
            photo=data.get("photo"),
            buttons=data.get("buttons"),  # type: ignore[arg-type]  # checked in __post_init__
            link_preview=data.get("link_preview", True),
            protect_content=data.get("protect_content", False),
            paid_broadcast=data.get("paid_broadcast", False),
        )

    def to_json(self) -> dict[str, Any]:
        """As stored: the three keys every message has, and the others only when set."""
        data: dict[str, Any] = {
            "text": self.text,
            "parse_mode": self.parse_mode,
            "silent": self.silent,
        }
        if self.photo is not None:
            data["photo"] = self.photo
        if self.buttons:
            data["buttons"] = buttons_json(self.buttons)
        if not self.link_preview:
            data["link_preview"] = False
        if self.protect_content:
            data["protect_content"] = True
        if self.paid_broadcast:
            data["paid_broadcast"] = True
        return data


def _check_types(text: object, parse_mode: object, silent: object) -> None:
    if not isinstance(text, str):
        raise InvalidMessage(
            f"{FIELD}.text must be a string, not {type(text).__name__}.", f"{FIELD}.text"
        )
    if parse_mode not in PARSE_MODES:
        raise InvalidMessage(
            f'{FIELD}.parse_mode must be "HTML" or null (plain text), not {parse_mode!r}.',
            f"{FIELD}.parse_mode",
        )
    _check_flag(silent, "silent")


def _check_flag(value: object, name: str) -> None:
    if not isinstance(value, bool):
        raise InvalidMessage(
            f"{FIELD}.{name} must be true or false, not {value!r}.", f"{FIELD}.{name}"
        )
