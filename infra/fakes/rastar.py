"""A fake Rastar food service: the API ``job_scheduler/rastar/protocol.py`` assumes, over HTTP.

    python -m infra.fakes.rastar [--port 8082] [--latency-ms 0]

Serves, for tokens it knows (``add_user``):

- ``GET /api/v1/menu?date=``: that day's foods. Every day but Friday has a menu (four
  dishes, rotating by date) unless set with ``set_menu``; Fridays and ``holidays`` answer 404.
- ``GET /api/v1/reservations?from=&to=``: the user's picks in the range.
- ``GET /reserve?date=``: a small page standing in for the pick-your-food site.

Errors as the real service is assumed to give them: 401 for an unknown or expired token,
403 for a refused account, 500 every Nth call or until a moment (``server_error_every``,
``server_error_until``), invalid JSON every Nth call (``garbage_every``), and a latency
added to every answer. ``/_fake/stats`` counts calls by outcome and the most answered at
once (``max_in_flight``); ``/_fake/config`` (POST, JSON) changes the knobs; ``/_fake/users``
(POST, ``[{"token": ..., "picks": {"YYYY-MM-DD": food id}}]``) adds users;
``/_fake/stats/reset`` (POST) starts the counts again;
``/_fake/reset`` forgets every user, pick and knob.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field, fields, replace
from datetime import date
from typing import Any
from urllib.parse import parse_qs

from infra.fakes.serving import JsonHandler, LoopbackFake, serve_from_command_line

DISHES = (
    ("1", "قورمه سبزی"),
    ("2", "قیمه"),
    ("3", "جوجه کباب"),
    ("4", "زرشک پلو با مرغ"),
    ("5", "کوبیده"),
    ("6", "عدس پلو"),
    ("7", "ماکارونی"),
    ("8", "سبزی پلو با ماهی"),
)
FRIDAY = 4  # date.weekday()


@dataclass(frozen=True)
class Knobs:
    latency_ms: int = 0
    server_error_every: int = 0  # every Nth API call answers 500
    server_error_until: float = 0.0  # time.time() until which every API call answers 500
    garbage_every: int = 0  # every Nth API call answers a body that is not JSON


@dataclass
class _User:
    picks: dict[date, str] = field(default_factory=dict)  # date -> food id
    status: int = 200  # 401: expired token, 403: refused account


def default_menu(day: date) -> list[dict[str, str]]:
    """Four dishes rotating with the date; nothing on Fridays."""
    if day.weekday() == FRIDAY:
        return []
    start = day.toordinal() % len(DISHES)
    chosen = [DISHES[(start + step) % len(DISHES)] for step in range(4)]
    return [{"id": food_id, "name": name} for food_id, name in sorted(chosen)]


class FakeRastar(LoopbackFake):
    """The fake service; thread-safe. ``start`` serves it on a loopback port."""

    def __init__(self, knobs: Knobs | None = None) -> None:
        self.handler = _Handler
        self._lock = threading.Lock()
        self._initial = knobs or Knobs()
        self.reset()

    # what tests and the demo set up --------------------------------------------------------

    def reset(self) -> None:
        with self._lock:
            self.knobs = self._initial
            self._users: dict[str, _User] = {}
            self._menus: dict[date, list[dict[str, str]]] = {}
            self.holidays: set[date] = set()
            self._calls = 0
            self._stats: dict[str, int] = {}
            self._in_flight = 0
            self.max_in_flight = 0

    def configure(self, **changes: Any) -> Knobs:
        known = {spec.name for spec in fields(Knobs)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown knob(s) {unknown}; known: {sorted(known)}")
        with self._lock:
            self.knobs = replace(self.knobs, **changes)
            return self.knobs

    def add_user(self, token: str, picks: dict[date, str] | None = None) -> None:
        with self._lock:
            self._users[token] = _User(dict(picks or {}))

    def pick(self, token: str, day: date, food_id: str) -> None:
        with self._lock:
            self._users[token].picks[day] = food_id

    def expire(self, token: str, status: int = 401) -> None:
        """The token stops working: 401 (expired) or 403 (account refused)."""
        with self._lock:
            self._users[token].status = status

    def set_menu(self, day: date, foods: list[dict[str, str]]) -> None:
        with self._lock:
            self._menus[day] = list(foods)

    def menu(self, day: date) -> list[dict[str, str]]:
        with self._lock:
            if day in self.holidays:
                return []
            return list(self._menus.get(day, default_menu(day)))

    def reset_stats(self) -> None:
        with self._lock:
            self._stats = {}
            self.max_in_flight = self._in_flight

    def stats(self) -> dict[str, int]:
        with self._lock:
            return dict(self._stats)

    # the API ---------------------------------------------------------------------------------

    def answer(self, path: str, query: dict[str, str], token: str | None) -> tuple[int, bytes]:
        """The status and body for an API call, counting how many are answered at once."""
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            return self._answer(path, query, token)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _answer(self, path: str, query: dict[str, str], token: str | None) -> tuple[int, bytes]:
        """Faults first, as a real outage would be; then the token; then the call."""
        with self._lock:
            self._calls += 1
            calls, knobs = self._calls, self.knobs
        if knobs.latency_ms:
            time.sleep(knobs.latency_ms / 1000)
        if (knobs.server_error_every and calls % knobs.server_error_every == 0) or (
            knobs.server_error_until > time.time()
        ):
            return self._count(500, {"error": "internal"})
        if knobs.garbage_every and calls % knobs.garbage_every == 0:
            self._count(200, None)
            return 200, b"<html>maintenance</html>"
        with self._lock:
            user = self._users.get(token or "")
        if user is None:
            return self._count(401, {"error": "invalid_token"})
        if user.status != 200:
            return self._count(user.status, {"error": "refused"})
        try:
            if path == "/api/v1/menu":
                day = date.fromisoformat(query["date"])
                foods = self.menu(day)
                if not foods:
                    return self._count(404, {"error": "no_service", "date": day.isoformat()})
                return self._count(200, {"date": day.isoformat(), "foods": foods})
            if path == "/api/v1/reservations":
                first, last = date.fromisoformat(query["from"]), date.fromisoformat(query["to"])
                return self._count(200, {"reservations": self._reservations(user, first, last)})
        except (KeyError, ValueError):
            return self._count(400, {"error": "bad_request"})
        return self._count(404, {"error": "not_found"})

    def _reservations(self, user: _User, first: date, last: date) -> list[dict[str, str]]:
        with self._lock:
            picks = sorted((day, food) for day, food in user.picks.items() if first <= day <= last)
        names = dict(DISHES)
        return [
            {"date": day.isoformat(), "food_id": food, "food_name": names.get(food, food)}
            for day, food in picks
        ]

    def _count(self, status: int, body: Any) -> tuple[int, bytes]:
        with self._lock:
            self._stats[str(status)] = self._stats.get(str(status), 0) + 1
        return status, json.dumps(body, ensure_ascii=False).encode()


class _Handler(JsonHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server calls it by this name
        fake: FakeRastar = self.server.fake  # type: ignore[attr-defined]
        path, _, raw_query = self.path.partition("?")
        query = {key: values[-1] for key, values in parse_qs(raw_query).items()}
        if path.startswith("/api/"):
            auth = self.headers.get("Authorization", "")
            token = auth[7:] if auth.startswith("Bearer ") else None
            status, body = fake.answer(path, query, token)
            self.send_json(status, body)
        elif path == "/reserve":
            page = f"<h1>Rastar (fake)</h1><p>Pick your food for {query.get('date', '?')}.</p>"
            self.send_bytes(200, page.encode(), "text/html; charset=utf-8")
        elif path == "/_fake/stats":
            self.send_json(200, {**fake.stats(), "max_in_flight": fake.max_in_flight})
        else:
            self.send_json(404, {"error": "not_found"})

    def do_POST(self) -> None:  # noqa: N802 - http.server calls it by this name
        fake: FakeRastar = self.server.fake  # type: ignore[attr-defined]
        body = self.read_body()
        if self.path == "/_fake/reset":
            fake.reset()
            self.send_json(200, {})
        elif self.path == "/_fake/stats/reset":
            fake.reset_stats()
            self.send_json(200, {})
        elif self.path == "/_fake/users":
            try:
                for user in json.loads(body):
                    picks = {date.fromisoformat(d): str(f) for d, f in user["picks"].items()}
                    fake.add_user(user["token"], picks)
            except (ValueError, TypeError, KeyError) as exc:
                self.send_json(400, {"error": f"bad users: {exc}"})
                return
            self.send_json(200, {})
        elif self.path == "/_fake/config":
            try:
                knobs = fake.configure(**json.loads(body or b"{}"))
            except (ValueError, TypeError) as exc:
                self.send_json(400, {"error": str(exc)})
                return
            self.send_json(200, knobs.__dict__)
        else:
            self.send_json(404, {"error": "not_found"})


def main() -> None:
    serve_from_command_line(
        "python -m infra.fakes.rastar",
        8082,
        lambda latency_ms: FakeRastar(Knobs(latency_ms=latency_ms)),
        {"latency_ms": 0},
    )


if __name__ == "__main__":
    main()
