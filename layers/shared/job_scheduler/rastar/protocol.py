"""The Rastar food service's HTTP API as this project assumes it: every endpoint, parameter
and payload shape is here and nowhere else.

Rastar's API is not public. Pointing the project at the real service should mean changing
this module and ``RASTAR_API_URL`` only. What is assumed:

- Authentication is per user: ``Authorization: Bearer <token>``, the token the user linked
  (``jobsctl user link-rastar``). 401 means the token expired or was revoked, 403 that the
  account may not use the service: both are *refused credentials*, and the user must link
  again. Retrying cannot help.
- ``GET /api/v1/menu?date=YYYY-MM-DD`` answers ``{"date": ..., "foods": [{"id": ...,
  "name": ...}, ...]}``; 404, or an empty ``foods`` list, means no food is served that day
  (Friday, a holiday).
- ``GET /api/v1/reservations?from=YYYY-MM-DD&to=YYYY-MM-DD`` (both inclusive) answers
  ``{"reservations": [{"date": ..., "food_id": ..., "food_name": ...}, ...]}``: the user's
  picks in that range, at most one per date. A date without a pick is absent.
- 429 and 5xx are the service being busy or broken: worth retrying after a pause.
- People pick their food on the web at ``<pick base>/reserve?date=YYYY-MM-DD``.
- Ids are strings (numbers are accepted and turned into strings); names are plain text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlencode

from job_scheduler.errors import UnexpectedAnswer

MENU_PATH = "/api/v1/menu"
RESERVATIONS_PATH = "/api/v1/reservations"
REFUSED_STATUSES = frozenset({401, 403})
NO_MENU_STATUS = 404
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class Food:
    id: str
    name: str


@dataclass(frozen=True)
class Reservation:
    date: date
    food: Food


def auth_headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": "application/json"}


def menu_params(day: date) -> dict[str, str]:
    return {"date": day.isoformat()}


def reservations_params(first: date, last: date) -> dict[str, str]:
    return {"from": first.isoformat(), "to": last.isoformat()}


def pick_link(base_url: str, day: date) -> str:
    return f"{base_url.rstrip('/')}/reserve?{urlencode({'date': day.isoformat()})}"


def parse_menu(body: Any) -> tuple[Food, ...]:
    """The foods of a menu answer; empty when nothing is served."""
    foods = _field(body, "foods", list)
    return tuple(_food(item, "id", "name") for item in foods)


def parse_reservations(body: Any) -> tuple[Reservation, ...]:
    reservations = _field(body, "reservations", list)
    parsed = []
    for item in reservations:
        raw_date = _field(item, "date", str)
        try:
            day = date.fromisoformat(raw_date)
        except ValueError:
            raise _mismatch(f"reservation date {raw_date!r} is not YYYY-MM-DD") from None
        parsed.append(Reservation(day, _food(item, "food_id", "food_name")))
    return tuple(parsed)


def _food(item: Any, id_key: str, name_key: str) -> Food:
    raw_id = _field(item, id_key, (str, int))
    return Food(str(raw_id), _field(item, name_key, str))


def _field(body: Any, key: str, kind: type | tuple[type, ...]) -> Any:
    if not isinstance(body, dict) or key not in body:
        raise _mismatch(f"expected an object with {key!r}, got {type(body).__name__}")
    value = body[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise _mismatch(f"{key!r} has an unexpected type: {type(value).__name__}")
    return value


def _mismatch(what: str) -> UnexpectedAnswer:
    return UnexpectedAnswer(f"an answer of unknown shape (rastar/protocol.py): {what}")
