"""Picking from a reminder: its buttons, and what a tap does in Rastar.

A reminder offers the dishes of the days its person has not picked. The offer is a row
(``rastar_pick_offers``) keyed by the SHA-256 of a random token; a button's callback data
is ``p:<token>:<day>:<dish>`` (a pick) or ``d:<token>:<day>`` (show another day), well
within Telegram's 64 bytes, and useless to anyone but the person it was sent to: a tap is
honoured only from the chat of the offer's person, and only until the day has passed.

A pick that changes an earlier one is an unpick and a pick (PostgREST has no update of the
pick's dish here). If the new pick fails after the old one was removed, the person's picks
are read again: the pick may have been made and only its answer lost; if not, the old one
is put back, and the error says which of the two the person now has.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from psycopg.types.json import Jsonb

from job_scheduler.adapters.db import Conn, database_errors
from job_scheduler.errors import AccessTokenExpired, PickFailed, PickRefused, RastarError
from job_scheduler.rastar import accounts
from job_scheduler.rastar.protocol import Food, Offering, Selection, Session
from job_scheduler.rastar.sessions import Sessions
from job_scheduler.schedule.zoned import load_zone

RASTAR_ZONE = "Asia/Tehran"  # Rastar's days are Tehran days
TOKEN_BYTES = 12  # 16 characters: "p:" + 16 + ":9:9" is 22 bytes of the 64 allowed
PICK, DAY = "p", "d"


@dataclass(frozen=True)
class OfferedDay:
    date: date
    dishes: tuple[Offering, ...]


@dataclass(frozen=True)
class Offer:
    """What one reminder's buttons may pick, for one person."""

    token: str
    user_id: int
    days: tuple[OfferedDay, ...]


@dataclass(frozen=True)
class Picked:
    date: date
    food: Food
    replaced: Food | None  # the earlier pick of that day, if there was one
    unchanged: bool = False  # it was already the pick


def make_offer(conn: Conn, user_id: int, days: Sequence[OfferedDay]) -> Offer:
    """Store a new offer (it lasts until its last day is over in Tehran)."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    last = max(day.date for day in days)
    expires = datetime.combine(last + timedelta(days=1), time(0), load_zone(RASTAR_ZONE))
    with database_errors("storing a reminder's offer"):
        conn.execute(
            "INSERT INTO rastar_pick_offers (token_sha256, user_id, days, expires_at)"
            " VALUES (%s, %s, %s, %s)",
            (_digest(token), user_id, Jsonb([_day_json(day) for day in days]), expires),
        )
    return Offer(token, user_id, tuple(days))


def pick_data(offer: Offer, day: int, dish: int) -> str:
    return f"{PICK}:{offer.token}:{day}:{dish}"


def day_data(offer: Offer, day: int) -> str:
    return f"{DAY}:{offer.token}:{day}"


def load_offer(conn: Conn, token: str, chat_id: int) -> Offer:
    """The offer a button names, if the chat tapping it is its person's; PickRefused if not."""
    with database_errors("reading a reminder's offer"):
        row = conn.execute(
            "SELECT o.user_id, o.days, o.expires_at, u.telegram_chat_id FROM rastar_pick_offers o"
            " JOIN users u ON u.id = o.user_id WHERE o.token_sha256 = %s",
            (_digest(token),),
        ).fetchone()
    if row is None or row["telegram_chat_id"] != chat_id:
        raise PickRefused("this button is not yours, or no longer exists", "not_yours")
    if row["expires_at"] <= datetime.now(UTC):
        raise PickRefused("the days of this reminder are over", "over")
    days = tuple(_day_of(item) for item in row["days"])
    return Offer(token, row["user_id"], days)


def pick(conn: Conn, sessions: Sessions, offer: Offer, day: int, dish: int) -> Picked:
    """Pick that dish for the person in Rastar (changing that day's earlier pick, if any)."""
    if not (0 <= day < len(offer.days) and 0 <= dish < len(offer.days[day].dishes)):
        raise PickRefused("this button does not match its reminder", "mismatch")
    offered = offer.days[day]
    if offered.date < datetime.now(load_zone(RASTAR_ZONE)).date():
        raise PickRefused(f"{offered.date.isoformat()} is past; it can no longer be picked", "past")
    account = accounts.accounts_of(conn, [offer.user_id]).get(offer.user_id)
    if account is None or account.refused or account.sealed_session is None:
        raise PickRefused("your Rastar account is not linked; link it with /link", "not_linked")
    choice = offered.dishes[dish]

    def change(session: Session) -> Picked:
        """Runs again from the start if Rastar calls the token expired (``Sessions.call``
        refreshes it): it begins by reading what the person has."""
        client, token = sessions.client, session.access_token
        current = client.selections(token, session.user_id, offered.date, offered.date)
        if any(pick.schedule_id == choice.schedule_id for pick in current):
            return Picked(offered.date, choice.food, None, unchanged=True)
        earlier = current[0] if current else None
        for pick in current:
            client.unpick(token, pick.id)
        try:
            client.pick(token, session.user_id, choice)
        except AccessTokenExpired:
            raise
        except RastarError as exc:
            if _has(client, session, offered.date, choice):  # taken; only the answer was lost
                return Picked(offered.date, choice.food, earlier.food if earlier else None)
            raise _failed(client, session, earlier, exc) from exc
        return Picked(offered.date, choice.food, earlier.food if earlier else None)

    return sessions.call(offer.user_id, account.sealed_session, change)


def _has(client: Any, session: Session, day: date, choice: Offering) -> bool:
    """Whether the person's picks of that day include ``choice`` (False if unreadable)."""
    try:
        picks = client.selections(session.access_token, session.user_id, day, day)
    except RastarError:
        return False
    return any(pick.schedule_id == choice.schedule_id for pick in picks)


def _failed(
    client: Any, session: Session, earlier: Selection | None, exc: RastarError
) -> PickFailed:
    """After the new pick failed: put the earlier one back, and say what the person has."""
    if earlier is None:
        return PickFailed(f"Rastar did not take the pick ({exc}); nothing is picked for that day")
    offering = Offering(earlier.schedule_id, earlier.date, earlier.food)
    try:
        client.pick(session.access_token, session.user_id, offering)
    except RastarError:
        return PickFailed(
            f"Rastar took away {earlier.food.name} but did not take the new pick; nothing is"
            " picked for that day now: pick again",
            lost=True,
        )
    return PickFailed(
        f"Rastar did not take the new pick; {earlier.food.name} stays picked",
        kept=earlier.food.name,
    )


def parse_callback(data: str) -> tuple[str, str, int, int | None]:
    """(kind, token, day, dish) of a button's data; PickRefused if it is not one of ours."""
    parts = data.split(":")
    try:
        if parts[0] == PICK and len(parts) == 4:
            return PICK, parts[1], int(parts[2]), int(parts[3])
        if parts[0] == DAY and len(parts) == 3:
            return DAY, parts[1], int(parts[2]), None
    except ValueError:
        pass
    raise PickRefused("this button is not one of the reminder's", "not_ours")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _day_json(day: OfferedDay) -> dict[str, Any]:
    return {
        "date": day.date.isoformat(),
        "dishes": [
            {"schedule_id": o.schedule_id, "food_id": o.food.id, "name": o.food.name}
            for o in day.dishes
        ],
    }


def _day_of(item: dict[str, Any]) -> OfferedDay:
    day = date.fromisoformat(item["date"])
    dishes = tuple(
        Offering(d["schedule_id"], day, Food(d["food_id"], d["name"])) for d in item["dishes"]
    )
    return OfferedDay(day, dishes)
