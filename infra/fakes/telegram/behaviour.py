"""How the fake misbehaves, and how it answers when it does: ``Behaviour``, ``ApiError``.

Failures on demand, through ``Behaviour`` (at construction, ``FakeTelegram.configure()`` or
``POST /_fake/config``): latency, 429 every Nth call or for a period, the real flood limits
(sliding one-second windows overall and per chat; a paid broadcast's message, sent with
``allow_paid_broadcast``, may go past the overall limit up to ``paid_per_second``), a Stars
balance that paid broadcasts spend (0.1 Stars a message over the free overall limit; one it
cannot pay for answers 400 ``BALANCE_TOO_LOW``), blocked and deactivated users, chats not
found or migrated to a supergroup, 502 Bad Gateway every Nth call, and connections reset
without an answer. Every knob is off by default; each field is checked and converted on
construction (chat ids may be ``@usernames``), so a bad value is a ValueError naming the field.

Also here: the Bot API's own limits on a message's text, the outcomes the stats count, and
``ApiError``, an error answer of the Bot API as the server sends it.
"""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from typing import Any

MAX_TEXT_BYTES = 1 << 15  # the Bot API refuses longer raw text before parsing it
MAX_MESSAGE_LENGTH = 4096  # visible characters, counted in UTF-16 code units
OUTCOMES = ("sent", "400", "401", "403", "404", "429", "5xx", "dropped")
_FAULT_KINDS = ("rate_limit", "server_error", "drop_connection")


# --------------------------------------------------------------------------------------------
# Behaviour


def _count(value: Any) -> int:
    number = int(value)
    if number < 0:
        raise ValueError(f"must be >= 0, not {value!r}")
    return number


def _positive(value: Any) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(f"must be >= 1, not {value!r}")
    return number


def _seconds(value: Any) -> float:
    number = float(value)
    if not number >= 0:  # also refuses NaN
        raise ValueError(f"must be >= 0, not {value!r}")
    return number


def _instant(value: Any) -> float | None:
    return None if value is None else float(value)


def _stars(value: Any) -> float | None:
    return None if value is None else _seconds(value)  # Stars: a number >= 0


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return _truthy(value)
    if isinstance(value, bool | int):
        return bool(value)
    raise ValueError(f"must be a boolean, not {value!r}")


def _truthy(value: str) -> bool:
    """The Bot API's to_bool: true, yes and 1, in any case, are true."""
    return value.strip().lower() in ("true", "yes", "1")


def _username_id(username: str) -> int:
    """A stable supergroup-shaped id for a ``@username`` chat."""
    return -(1_000_000_000_000 + zlib.crc32(username.lower().encode()))


def _chat_key(value: Any) -> int:
    if isinstance(value, str) and value.startswith("@"):
        return _username_id(value)
    if isinstance(value, bool):
        raise ValueError(f"not a chat id: {value!r}")
    return int(value)


def _chat_ids(value: Any) -> frozenset[int]:
    if isinstance(value, str | int):
        raise ValueError(f"must be a list of chat ids, not {value!r}")
    return frozenset(_chat_key(item) for item in value)


def _chat_map(value: Any) -> dict[int, int]:
    return {_chat_key(old): int(new) for old, new in dict(value).items()}


_COERCE: dict[str, Callable[[Any], Any]] = {
    "latency_ms": _seconds,
    "rate_limit_every": _count,
    "rate_limit_for_seconds": _seconds,
    "rate_limit_started": _instant,
    "retry_after": _count,
    "enforce_limits": _flag,
    "global_per_second": _positive,
    "per_chat_per_second": _positive,
    "paid_per_second": _positive,
    "stars_balance": _stars,
    "blocked_chat_ids": _chat_ids,
    "deactivated_chat_ids": _chat_ids,
    "missing_chat_ids": _chat_ids,
    "migrated_chats": _chat_map,
    "server_error_every": _count,
    "drop_connection_every": _count,
}


@dataclass(frozen=True)
class Behaviour:
    """How the fake misbehaves; every knob is off by default. Chat ids may be ``@usernames``."""

    latency_ms: float = 0.0  # sleep this long before answering sendMessage
    rate_limit_every: int = 0  # every Nth sendMessage answers 429
    rate_limit_for_seconds: float = 0.0  # every sendMessage answers 429 for this long ...
    rate_limit_started: float | None = None  # ... from this time.monotonic() (default: now)
    retry_after: int = 1  # the retry_after of the two 429s above
    enforce_limits: bool = False  # the real flood limits, as 429 with retry_after 1
    global_per_second: int = 30
    per_chat_per_second: int = 1
    # With enforce_limits, a message sent with allow_paid_broadcast=true may go while the
    # overall window holds fewer than this (Telegram: 1000), a free one fewer than 30.
    paid_per_second: int = 1000
    # The bot's Telegram Stars (None: never runs out). A paid message that arrives with the
    # overall window already at global_per_second is billed 0.1 Stars; one the balance cannot
    # pay for answers 400 BALANCE_TOO_LOW. Setting it (re)fills the balance.
    stars_balance: float | None = None
    blocked_chat_ids: frozenset[int] = frozenset()  # 403 bot was blocked by the user
    deactivated_chat_ids: frozenset[int] = frozenset()  # 403 user is deactivated
    missing_chat_ids: frozenset[int] = frozenset()  # 400 chat not found
    migrated_chats: dict[int, int] = field(default_factory=dict)  # 400 with migrate_to_chat_id
    server_error_every: int = 0  # every Nth sendMessage answers 502 Bad Gateway
    drop_connection_every: int = 0  # every Nth sendMessage resets the connection, no answer

    def __post_init__(self) -> None:
        for name, coerce in _COERCE.items():
            value = getattr(self, name)
            try:
                object.__setattr__(self, name, coerce(value))
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{name}: {exc}") from None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, frozenset):
                value = sorted(value)
            elif isinstance(value, dict):
                value = {str(old): new for old, new in value.items()}
            data[item.name] = value
        return data


_FIELD_NAMES = frozenset(item.name for item in fields(Behaviour))


def _started(behaviour: Behaviour) -> Behaviour:
    if behaviour.rate_limit_for_seconds and behaviour.rate_limit_started is None:
        return replace(behaviour, rate_limit_started=time.monotonic())
    return behaviour


# --------------------------------------------------------------------------------------------
# Errors


class ApiError(Exception):
    """An error answer of the Bot API: HTTP status = error_code, description, parameters."""

    def __init__(self, code: int, description: str, parameters: dict[str, Any] | None = None):
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters

    def body(self) -> bytes:
        payload: dict[str, Any] = {
            "ok": False,
            "error_code": self.code,
            "description": self.description,
        }
        if self.parameters:
            payload["parameters"] = self.parameters
        return _dumps(payload)


_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _dumps(payload: Any) -> bytes:
    return _encode(payload).encode("utf-8")
