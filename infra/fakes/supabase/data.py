"""Rastar's database as the fake holds it: the three tables, their columns, keys and row-level
security, the menu that rotates by date, and Postgres's own errors for what the tables refuse.

The menu is computed, not stored: every date but Fridays and holidays offers four of the eight
dishes, rotating with the date (as the fake it replaces did), so any date a test names has a
menu without setting one up. A ``menu_schedule`` id spells its date and dish (a valid uuid
still), so a pick naming one resolves without a lookup table and two runs agree on every id.
"""

from __future__ import annotations

import functools
import hashlib
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

DISHES = (
    ("1", "قورمه سبزی", "خورش سبزی با لوبیا قرمز و گوشت، با برنج"),
    ("2", "قیمه", "خورش لپه و گوشت با سیب‌زمینی سرخ‌کرده"),
    ("3", "جوجه کباب", "کباب سینه مرغ زعفرانی با برنج"),
    ("4", "زرشک پلو با مرغ", "برنج زعفرانی با زرشک و ران مرغ"),
    ("5", "کوبیده", "کباب گوشت چرخ‌کرده با برنج و گوجه کبابی"),
    ("6", "عدس پلو", "برنج با عدس، کشمش و پیاز داغ"),
    ("7", "ماکارونی", "ماکارونی با سس گوشت و ته‌دیگ"),
    ("8", "سبزی پلو با ماهی", "برنج سبزی با ماهی سرخ‌شده"),
)
FRIDAY = 4  # date.weekday()
DISHES_A_DAY = 4
# A query with an open end reads this many days either side of today: the table is finite in
# Rastar, and a fake that computes its rows must stop somewhere. Bounded ranges are read whole.
WINDOW_DAYS = 366
MAX_SPAN_DAYS = 3660
_NAMESPACE = uuid.UUID("5f0c7e1e-3c1a-4d7b-9a50-6a3f0d1f2b44")
_ITEMS_CREATED = "2024-01-01T00:00:00+00:00"

COLUMNS = {
    "menu_items": {
        "id": "uuid",
        "name": "text",
        "description": "text",
        "created_at": "timestamptz",
        "updated_at": "timestamptz",
    },
    "menu_schedule": {
        "id": "uuid",
        "date": "date",
        "menu_item_id": "uuid",
        "created_at": "timestamptz",
        "updated_at": "timestamptz",
    },
    "user_menu_selections": {
        "id": "uuid",
        "user_id": "uuid",
        "menu_schedule_id": "uuid",
        "created_at": "timestamptz",
        "updated_at": "timestamptz",
    },
}
PICKS = "user_menu_selections"
UNIQUE_DAY = "user_menu_selections_user_date_key"
PICK_FKEY = "user_menu_selections_menu_schedule_id_fkey"


@dataclass(frozen=True)
class Relation:
    """A foreign key seen from one side: what an embed follows (PostgREST reads them from the
    schema; the fake lists them)."""

    source: str
    target: str
    to_one: bool
    source_column: str
    target_column: str
    constraint: str


_ITEM_FKEY = "menu_schedule_menu_item_id_fkey"
RELATIONS = (
    Relation("menu_schedule", "menu_items", True, "menu_item_id", "id", _ITEM_FKEY),
    Relation("menu_items", "menu_schedule", False, "id", "menu_item_id", _ITEM_FKEY),
    Relation(PICKS, "menu_schedule", True, "menu_schedule_id", "id", PICK_FKEY),
    Relation("menu_schedule", PICKS, False, "id", "menu_schedule_id", PICK_FKEY),
)


class DatabaseError(Exception):
    """An error Postgres raises (SQLSTATE and all): PostgREST passes it on with a status."""

    def __init__(
        self, sqlstate: str, message: str, details: str | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message)
        self.sqlstate, self.message, self.details, self.hint = sqlstate, message, details, hint


@dataclass(frozen=True)
class Viewer:
    """Who a request runs as, after the JWT: what row-level security decides on."""

    role: str  # "anon", "authenticated" or "service_role"
    user_id: str | None = None
    anon_reads_menu: bool = False

    @property
    def bypasses_rls(self) -> bool:
        return self.role == "service_role"

    def reads_menu(self) -> bool:
        return self.role != "anon" or self.anon_reads_menu

    def owns(self, user_id: Any) -> bool:
        return self.bypasses_rls or (self.user_id is not None and user_id == self.user_id)


@dataclass
class Hint:
    """What the filters say about which rows can match, so computed tables compute only those.
    Every filter is still applied afterwards: a hint may let through more, never fewer."""

    ids: set[str] | None = None
    dates: set[date] | None = None
    lower: date | None = None
    upper: date | None = None


# The menu is a pure function of the date: its ids and rows are computed once per date and
# dish (a benchmark's 10,000 people read the same few dates' rows over and over).


@functools.cache
def item_id(dish_id: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"menu_items:{dish_id}"))


@functools.lru_cache(maxsize=100_000)
def schedule_id(day: date, dish_id: str) -> str:
    """Date and dish in the id itself (``YYYYMMDD-dish-...``): reversible, and still a uuid."""
    digest = hashlib.sha256(f"menu_schedule:{day.isoformat()}:{dish_id}".encode()).hexdigest()
    return f"{day:%Y%m%d}-{int(dish_id):04x}-4{digest[:3]}-8{digest[3:6]}-{digest[6:18]}"


@functools.lru_cache(maxsize=100_000)
def parse_schedule_id(value: str) -> tuple[date, str] | None:
    """The date and dish a ``menu_schedule`` id names, or None for an id the fake never made."""
    try:
        day = datetime.strptime(value[:8], "%Y%m%d").date()
        dish_id = str(int(value[9:13], 16))
    except ValueError:
        return None
    return (day, dish_id) if schedule_id(day, dish_id) == value.lower() else None


def dishes_on(day: date, holidays: set[date]) -> list[tuple[str, str, str]]:
    """Four dishes rotating with the date, sorted by dish id; none on Fridays and holidays."""
    if day.weekday() == FRIDAY or day in holidays:
        return []
    start = day.toordinal() % len(DISHES)
    chosen = [DISHES[(start + step) % len(DISHES)] for step in range(DISHES_A_DAY)]
    return sorted(chosen)


def timestamp(moment: datetime) -> str:
    """A timestamptz as Postgres writes it into JSON: UTC here, trailing zeros of the fraction
    dropped (``09:00:00+00:00``, ``10:20:30.1+00:00``)."""
    text = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f").rstrip("0").rstrip(".")
    return f"{text}+00:00"


ITEM_ROWS = {
    item_id(dish): {
        "id": item_id(dish),
        "name": name,
        "description": description,
        "created_at": _ITEMS_CREATED,
        "updated_at": _ITEMS_CREATED,
    }
    for dish, name, description in DISHES
}


def _schedule_row(day: date, dish_id: str) -> dict[str, Any]:
    return dict(_cached_schedule_row(day, dish_id))  # a copy: callers may change theirs


@functools.lru_cache(maxsize=100_000)
def _cached_schedule_row(day: date, dish_id: str) -> dict[str, Any]:
    created = timestamp(datetime(day.year, day.month, day.day, 9, tzinfo=UTC) - timedelta(days=7))
    return {
        "id": schedule_id(day, dish_id),
        "date": day.isoformat(),
        "menu_item_id": item_id(dish_id),
        "created_at": created,
        "updated_at": created,
    }


def _dates(hint: Hint) -> Iterable[date]:
    """The dates a menu query reads: those named, else the hinted range, open ends closed by
    the window around today and the whole capped at MAX_SPAN_DAYS."""
    if hint.dates is not None:
        return sorted(hint.dates)
    today = date.today()
    lower = hint.lower or today - timedelta(days=WINDOW_DAYS)
    upper = hint.upper or today + timedelta(days=WINDOW_DAYS)
    span = min((upper - lower).days, MAX_SPAN_DAYS)
    return (lower + timedelta(days=offset) for offset in range(span + 1))


@dataclass
class RastarData:
    """The tables' contents: holidays and picks (the menu follows from the date). Not
    thread-safe on its own: the server calls it under its lock."""

    holidays: set[date] = field(default_factory=set)
    # Picks by person, and the keys the unique constraints check: a person's query reads
    # their own rows only, so 10,000 people's picks (the benchmark's) cost no more to read
    # than ten people's.
    _picks: dict[Any, list[dict[str, Any]]] = field(default_factory=dict)
    _ids: set[str] = field(default_factory=set)
    _clock: threading.Lock = field(default_factory=threading.Lock)
    _last_created: datetime = datetime(1970, 1, 1, tzinfo=UTC)

    # reading -------------------------------------------------------------------------------

    def menu_rows(self, day: date) -> list[dict[str, Any]]:
        return [_schedule_row(day, dish) for dish, _, _ in dishes_on(day, self.holidays)]

    def schedule(self, value: str) -> dict[str, Any] | None:
        """The ``menu_schedule`` row with this id, if that date still offers that dish."""
        parsed = parse_schedule_id(value)
        if parsed is None:
            return None
        day, dish = parsed
        offered = {dish_id for dish_id, _, _ in dishes_on(day, self.holidays)}
        return _schedule_row(day, dish) if dish in offered else None

    @property
    def picks(self) -> list[dict[str, Any]]:
        """Every pick, in the order they were made."""
        rows = [row for rows in self._picks.values() for row in rows]
        return sorted(rows, key=lambda row: row["created_at"])

    def _visible_picks(self, viewer: Viewer) -> list[dict[str, Any]]:
        if viewer.bypasses_rls:
            return self.picks
        return list(self._picks.get(viewer.user_id, ()))

    def rows(self, table: str, viewer: Viewer, hint: Hint) -> list[dict[str, Any]]:
        """The rows of ``table`` this viewer may see (row-level security), narrowed by ``hint``."""
        if table == PICKS:
            return [dict(row) for row in self._visible_picks(viewer)]
        if not viewer.reads_menu():
            return []
        if table == "menu_items":
            return [dict(row) for row in ITEM_ROWS.values()]
        if hint.ids is not None:
            found = (self.schedule(value) for value in sorted(hint.ids))
            return [row for row in found if row is not None]
        return [row for day in _dates(hint) for row in self.menu_rows(day)]

    # writing ---------------------------------------------------------------------------------

    def now(self) -> str:
        """created_at for a new row: strictly increasing, so ordering by it is the order of
        arrival even for rows made in the same microsecond."""
        with self._clock:
            moment = max(datetime.now(UTC), self._last_created + timedelta(microseconds=1))
            self._last_created = moment
        return timestamp(moment)

    def insert(self, table: str, viewer: Viewer, rows: list[dict[str, Any]]) -> list[dict]:
        """Insert all of ``rows`` or none, checking what Postgres checks in its order: the
        row-level security policy, NOT NULL, the unique keys, then the foreign key."""
        if table != PICKS:
            raise _rls_violation(table)
        made: list[dict[str, Any]] = []
        for row in rows:
            made.append(self._new_pick(viewer, row, made))
        for row in made:
            if self.schedule(row["menu_schedule_id"]) is None:
                raise DatabaseError(
                    "23503",
                    f'insert or update on table "{PICKS}" violates foreign key constraint'
                    f' "{PICK_FKEY}"',
                    f"Key (menu_schedule_id)=({row['menu_schedule_id']}) is not present in"
                    ' table "menu_schedule".',
                )
        for row in made:
            self._picks.setdefault(row["user_id"], []).append(row)
            self._ids.add(row["id"])
        return [dict(row) for row in made]

    def _new_pick(
        self, viewer: Viewer, given: dict[str, Any], batch: list[dict[str, Any]]
    ) -> dict[str, Any]:
        created = self.now()
        row = {
            "id": given.get("id") or str(uuid.uuid4()),
            "user_id": given.get("user_id"),
            "menu_schedule_id": given.get("menu_schedule_id"),
            "created_at": given.get("created_at") or created,
            "updated_at": given.get("updated_at") or created,
        }
        if not viewer.owns(row["user_id"]):
            raise _rls_violation(PICKS)
        if row["menu_schedule_id"] is None:
            raise DatabaseError(
                "23502",
                f'null value in column "menu_schedule_id" of relation "{PICKS}" violates'
                " not-null constraint",
                f"Failing row contains ({row['id']}, {row['user_id']}, null, {row['created_at']},"
                f" {row['updated_at']}).",
            )
        self._check_unique(row, batch)
        return row

    def _check_unique(self, row: dict[str, Any], batch: list[dict[str, Any]]) -> None:
        """The primary key, and one pick per person per date (the date is the schedule's)."""
        if row["id"] in self._ids or any(other["id"] == row["id"] for other in batch):
            raise DatabaseError(
                "23505",
                f'duplicate key value violates unique constraint "{PICKS}_pkey"',
                f"Key (id)=({row['id']}) already exists.",
            )
        day = self._day_of(row["menu_schedule_id"])
        if day is None:
            return  # no such schedule: the foreign key refuses it after this
        for other in [*self._picks.get(row["user_id"], ()), *batch]:
            if (
                other["user_id"] == row["user_id"]
                and self._day_of(other["menu_schedule_id"]) == day
            ):
                raise DatabaseError(
                    "23505",
                    f'duplicate key value violates unique constraint "{UNIQUE_DAY}"',
                    f"Key (user_id, date)=({row['user_id']}, {day.isoformat()}) already exists.",
                )

    def _day_of(self, value: str) -> date | None:
        found = self.schedule(value)
        return date.fromisoformat(found["date"]) if found else None

    def delete(self, table: str, viewer: Viewer, ids: set[str]) -> list[dict[str, Any]]:
        """Delete the rows with these ids that the viewer may delete (its own picks; nobody
        may delete the menu), as Postgres does: the rest are silently left."""
        if table != PICKS:
            return []
        gone = [row for row in self._visible_picks(viewer) if row["id"] in ids]
        for row in gone:
            self._picks[row["user_id"]].remove(row)
            self._ids.discard(row["id"])
        return gone


def _rls_violation(table: str) -> DatabaseError:
    return DatabaseError("42501", f'new row violates row-level security policy for table "{table}"')
