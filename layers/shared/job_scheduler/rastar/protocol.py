"""Rastar as it is: a Supabase project. Every path, parameter and payload shape the package
uses is here and nowhere else.

- Every request carries the project's public anon key as ``apikey``; a person's requests
  also ``Authorization: Bearer <their access token>``.
- Auth is GoTrue: ``POST /auth/v1/token?grant_type=password`` with ``{"email", "password"}``
  and ``?grant_type=refresh_token`` with ``{"refresh_token"}`` both answer a session:
  ``{access_token, token_type, expires_in, expires_at (epoch s), refresh_token,
  user: {id, email, ...}}``. Access tokens expire (an hour by default); refresh tokens
  rotate: each refresh answers a new one, and a spent one presented again after a short
  reuse interval is refused and can revoke the whole session. Errors are 400/401 JSON:
  ``{"error", "error_description"}`` on older servers, ``{"code", "error_code", "msg"}``
  on newer ones.
- Data is PostgREST: the menu (``menu_schedule``, one row per dish offered on a date, the
  dish in ``menu_items``) and a person's picks (``user_menu_selections``; row-level
  security shows each person only their own). A pick is a POST with
  ``Prefer: return=representation``; an unpick a DELETE by id; changing a pick is both.
  Errors are ``{code, message, details, hint}``; an expired token is a 401 whose code is
  ``PGRST3..`` or whose message says the JWT expired.
- Supabase's gateway answers a missing or wrong anon key with 401 ``{"message": "Invalid
  API key", "hint"}`` before either service sees the request.
- Both table names are settings (``RASTAR_MENU_TABLE``, ``RASTAR_SELECTIONS_TABLE``): one
  path of the system this one replaces named the picks table ``menu_selections``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from job_scheduler.errors import UnexpectedAnswer

TOKEN_PATH = "/auth/v1/token"  # noqa: S105 - a path, not a token
LOGOUT_PATH = "/auth/v1/logout"
REST_PATH = "/rest/v1/"
ITEM_COLUMNS = "menu_item:menu_items(id,name,description)"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# GoTrue's refusals of a person's credentials or session: link again. Anything else that
# is not a 2xx is Rastar failing, not the person.
REFUSED_AUTH_STATUSES = frozenset({400, 401, 403, 422})


@dataclass(frozen=True)
class Session:
    """What a sign-in or a refresh gives: sealed at rest (``rastar/accounts.py``)."""

    access_token: str = ""
    refresh_token: str = ""
    expires_at: datetime = datetime(1970, 1, 1, tzinfo=UTC)
    user_id: str = ""  # the person's id in Rastar
    email: str = ""

    def __repr__(self) -> str:  # never a token in a log or a traceback
        return f"Session(user_id={self.user_id!r}, expires_at={self.expires_at.isoformat()})"

    def to_json(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "expires_at": int(self.expires_at.timestamp()),
            "user_id": self.user_id,
            "email": self.email,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Session:
        return cls(
            access_token=str(data["access_token"]),
            refresh_token=str(data["refresh_token"]),
            expires_at=datetime.fromtimestamp(int(data["expires_at"]), UTC),
            user_id=str(data["user_id"]),
            email=str(data.get("email", "")),
        )


@dataclass(frozen=True)
class Food:
    """A dish (``menu_items``): the same id on every date it is offered."""

    id: str
    name: str
    description: str = ""


@dataclass(frozen=True)
class Offering:
    """A dish offered on a date (a ``menu_schedule`` row): what a pick names."""

    schedule_id: str
    date: date
    food: Food


@dataclass(frozen=True)
class Selection:
    """A person's pick (a ``user_menu_selections`` row) with the dish it picked."""

    id: str
    schedule_id: str
    date: date
    food: Food


def person_headers(anon_key: str, access_token: str | None = None) -> dict[str, str]:
    headers = {"apikey": anon_key, "Accept": "application/json"}
    if access_token is not None:
        headers["Authorization"] = f"Bearer {access_token}"
    return headers


def menu_params(first: date, last: date) -> list[tuple[str, str]]:
    """The dishes offered from ``first`` to ``last`` (both included), by date."""
    return [
        ("select", f"*,{ITEM_COLUMNS}"),
        ("date", f"gte.{first.isoformat()}"),
        ("date", f"lte.{last.isoformat()}"),
        ("order", "date.asc"),
    ]


def selections_params(
    menu_table: str, user_id: str, first: date, last: date
) -> list[tuple[str, str]]:
    """A person's picks for dates from ``first`` to ``last`` (an inner embed: picks of
    other dates are left out by Rastar, not fetched and dropped here)."""
    return [
        ("select", f"id,user_id,menu_schedule_id,created_at,"
                   f"menu_schedule:{menu_table}!inner(id,date,{ITEM_COLUMNS})"),
        ("user_id", f"eq.{user_id}"),
        ("menu_schedule.date", f"gte.{first.isoformat()}"),
        ("menu_schedule.date", f"lte.{last.isoformat()}"),
        ("order", "created_at.asc"),
    ]  # fmt: skip


def parse_session(body: Any) -> Session:
    access = _field(body, "access_token", str)
    refresh = _field(body, "refresh_token", str)
    user = _field(body, "user", dict)
    if "expires_at" in body:
        expires = datetime.fromtimestamp(int(_field(body, "expires_at", int)), UTC)
    else:  # older servers give only expires_in
        seconds = int(_field(body, "expires_in", int))
        expires = datetime.fromtimestamp(datetime.now(UTC).timestamp() + seconds, UTC)
    email = user.get("email") or ""
    return Session(access, refresh, expires, str(_field(user, "id", str)), str(email))


def parse_menu(rows: Any) -> tuple[Offering, ...]:
    if not isinstance(rows, list):
        raise _mismatch(f"a menu is a list of rows, not {type(rows).__name__}")
    return tuple(
        Offering(str(_field(row, "id", (str, int))), _date(row, "date"), _food(row, "menu_item"))
        for row in rows
    )


def parse_selections(rows: Any) -> tuple[Selection, ...]:
    if not isinstance(rows, list):
        raise _mismatch(f"picks are a list of rows, not {type(rows).__name__}")
    picks = []
    for row in rows:
        schedule = _field(row, "menu_schedule", dict)
        picks.append(
            Selection(
                id=str(_field(row, "id", (str, int))),
                schedule_id=str(_field(schedule, "id", (str, int))),
                date=_date(schedule, "date"),
                food=_food(schedule, "menu_item"),
            )
        )
    return tuple(picks)


def parse_pick(rows: Any, offering: Offering) -> Selection:
    """The row ``return=representation`` answers for a pick (a list of one)."""
    if not isinstance(rows, list) or len(rows) != 1:
        raise _mismatch("a pick answers a list of the one row it made")
    return Selection(str(_field(rows[0], "id", (str, int))), offering.schedule_id, offering.date,
                     offering.food)  # fmt: skip


def auth_error(body: Any) -> str:
    """GoTrue's error code in either shape, e.g. invalid_credentials, invalid_grant."""
    if isinstance(body, dict):
        return str(body.get("error_code") or body.get("error") or body.get("code") or "")
    return ""


def is_refused_api_key(status: int, body: Any) -> bool:
    """Supabase's gateway refusing the project's anon key: the deployment's fault, never the
    person's (their account must not be marked to link again for it)."""
    if status != 401 or not isinstance(body, dict) or "code" in body or "error_code" in body:
        return False
    return "api key" in str(body.get("message", "")).lower()


def is_expired_token(status: int, body: Any) -> bool:
    """PostgREST's answer to a token it no longer accepts (expired, or signed by a key
    rotated away): worth one refresh."""
    if status != 401 or not isinstance(body, dict):
        return status == 401
    code, message = str(body.get("code", "")), str(body.get("message", ""))
    return code.startswith("PGRST3") or "jwt" in message.lower()


def _food(row: Any, key: str) -> Food:
    item = _field(row, key, dict)
    description = item.get("description") or ""
    return Food(str(_field(item, "id", (str, int))), _field(item, "name", str), str(description))


def _date(row: Any, key: str) -> date:
    raw = _field(row, key, str)
    try:
        return date.fromisoformat(raw[:10])
    except ValueError:
        raise _mismatch(f"{key} {raw!r} is not YYYY-MM-DD") from None


def _field(body: Any, key: str, kind: type | tuple[type, ...]) -> Any:
    if not isinstance(body, dict) or key not in body:
        raise _mismatch(f"expected an object with {key!r}, got {type(body).__name__}")
    value = body[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise _mismatch(f"{key!r} has an unexpected type: {type(value).__name__}")
    return value


def _mismatch(what: str) -> UnexpectedAnswer:
    return UnexpectedAnswer(f"an answer of unknown shape (rastar/protocol.py): {what}")
