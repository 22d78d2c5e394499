"""``FakeSupabase``: the gateway in front (the ``apikey``, the routes), the faults on demand,
the counts, GoTrue under ``/auth/v1`` and PostgREST under ``/rest/v1``, served on loopback.

A request goes as it goes through Supabase: the gateway refuses a missing or wrong ``apikey``
(401) and an unknown route (404); then the knobs' outage (503) or garbage (a 200 that is not
JSON) stand in for the service; then GoTrue or PostgREST answers. PostgREST checks only the
JWT (signature and ``exp``, with PostgREST 13's 30 s of clock skew): a revoked session's
access tokens keep working there until they expire, as on Supabase. A request without
``Authorization`` runs as ``anon``: it sees no picks, and no menu unless ``anon_reads_menu``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import date
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, unquote

from infra.fakes.serving import JsonHandler, LoopbackFake, serve_from_command_line
from infra.fakes.supabase.data import PICKS, DatabaseError, RastarData, Viewer
from infra.fakes.supabase.gotrue import (
    API_VERSION_2024,
    API_VERSION_HEADER,
    AuthError,
    GoTrue,
    JwtProblem,
    Policy,
)
from infra.fakes.supabase.postgrest import (
    Engine,
    RestError,
    from_database,
    not_implemented,
    parse_query,
)

DEFAULT_ANON_KEY = "fake-anon-key-for-local-runs"
MENU_SELECT = "*,menu_item:menu_items(id,name,description)"
PICKS_SELECT = (
    "id,user_id,menu_schedule_id,created_at,"
    "menu_schedule:menu_schedule(id,date,menu_item:menu_items(id,name,description))"
)
KINDS = ("token_password", "token_refresh", "menu", "selections", "pick", "unpick")
GARBAGE = b"<html><body><h1>502 Bad Gateway</h1>maintenance</body></html>"
REST_JSON = "application/json; charset=utf-8"
_NO_KEY = "None of the keys was able to decode the JWT"  # jose-jwt's words, in details
_PARTS_V12 = "JWSError (CompactDecodeError Invalid number of parts: Expected 3 parts;"
_CHOICES: dict[str, tuple[Any, ...]] = {
    "refresh_reuse_rule": ("interval", "parent"),
    "error_shape": ("new", "old"),
    "postgrest_version": (12, 13),
}


@dataclass(frozen=True)
class Knobs:
    access_token_ttl_seconds: int = 3600
    refresh_reuse_interval_seconds: float = 10
    refresh_reuse_rule: str = "interval"  # "parent": newer GoTrue's, see gotrue.py
    error_shape: str = "new"  # "old": {"error": "invalid_grant", "error_description"}
    postgrest_version: int = 13  # 12: its error codes and messages
    jwt_clock_skew_seconds: float = 30  # PostgREST 13 accepts a JWT this long past its exp
    anon_reads_menu: bool = False
    latency_ms: int = 0  # added to every API answer
    server_error_every: int = 0  # every Nth API call answers 503
    server_error_until: float = 0.0  # time.time() until which every API call answers 503
    garbage_every: int = 0  # every Nth API call answers a 200 whose body is not JSON


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: Mapping[str, str]
    body: bytes = b""

    def param(self, name: str) -> str | None:
        return next((value for key, value in self.query if key == name), None)


@dataclass
class Answer:
    status: int
    body: bytes = b""
    kind: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(
        cls,
        status: int,
        data: Any,
        headers: dict[str, str] | None = None,
        kind: str = "application/json",
    ) -> Answer:
        return cls(status, json.dumps(data, ensure_ascii=False).encode(), kind, headers or {})


def _kind(request: Request) -> str:
    """What ``stats`` counts a call as."""
    if request.path == "/auth/v1/token":
        grant = request.param("grant_type") or ""
        return {"password": "token_password", "refresh_token": "token_refresh"}.get(
            grant, "token_other"
        )
    if request.path.startswith("/auth/v1/"):
        return "auth_" + request.path.removeprefix("/auth/v1/")
    table = request.path.removeprefix("/rest/v1/")
    if table in ("menu_schedule", "menu_items") and request.method in ("GET", "HEAD"):
        return "menu"
    if table == PICKS:
        return {"GET": "selections", "HEAD": "selections", "POST": "pick", "DELETE": "unpick"}.get(
            request.method, "picks_other"
        )
    return "other"


def _api_version(request: Request) -> str | None:
    """GoTrue's answer version: 2024-01-01 when the request asks for that one or later."""
    asked = request.headers.get(API_VERSION_HEADER) or ""
    valid = len(asked) == 10 and asked[4] == asked[7] == "-" and asked.replace("-", "").isdigit()
    return API_VERSION_2024 if valid and asked >= API_VERSION_2024 else None


def _jwt_error(problem: JwtProblem, version: int) -> RestError:
    """PostgREST's 401 for a token it refuses: 13 splits decoding (PGRST301) from claims
    (PGRST303); 12 answered PGRST301 with hs-jose's words for all of them."""
    if version >= 13:
        code, message, details = {
            "empty": ("PGRST301", "Empty JWT is sent in Authorization header", None),
            "parts": ("PGRST301", f"Expected 3 parts in JWT; got {problem.parts}", None),
            "key": ("PGRST301", "No suitable key or wrong key type", _NO_KEY),
            "claims": ("PGRST303", "Parsing claims failed", None),
            "exp_type": ("PGRST303", "The JWT 'exp' claim must be a number", None),
            "expired": ("PGRST303", "JWT expired", None),
        }[problem.kind]
    else:
        parts = f"{_PARTS_V12} got {problem.parts})"
        code, details = "PGRST301", None
        message = {
            "empty": parts.replace(f"got {problem.parts}", "got 1"),
            "parts": parts,
            "key": "JWSError JWSInvalidSignature",
            "claims": "JWT could not be decoded",
            "exp_type": "JWT could not be decoded",
            "expired": "JWT expired",
        }[problem.kind]
    return RestError(401, code, message, details)


def _prefer(request: Request) -> dict[str, str]:
    items = (
        item.strip().partition("=") for item in (request.headers.get("Prefer") or "").split(",")
    )
    return {key: value for key, _, value in items if key}


def _strip_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _strip_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_strip_nulls(item) for item in value]
    return value


class FakeSupabase(LoopbackFake):
    """The fake Rastar (a Supabase project); thread-safe. ``start`` serves it on loopback."""

    def __init__(
        self,
        knobs: Knobs | None = None,
        anon_key: str = DEFAULT_ANON_KEY,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``clock`` is what expiry and reuse intervals are measured by: a test moves it on
        instead of sleeping."""
        self.handler = _Handler
        self.anon_key = anon_key
        self.clock = clock
        self._lock = threading.Lock()
        self._initial = knobs or Knobs()
        self.reset()

    # what tests and the demo set up ------------------------------------------------------

    def reset(self) -> None:
        """Forget every account, pick, session, holiday, knob and count."""
        with self._lock:
            self.knobs = self._initial
            self._auth = GoTrue()
            self._data = RastarData()
            self._calls = 0
            self._in_flight = 0
            self._zero_counts()

    def _zero_counts(self) -> None:
        self._kinds: dict[str, int] = dict.fromkeys(KINDS, 0)
        self._statuses: dict[str, int] = {}
        self._auth.refused = 0
        self._auth.refreshes = {}
        self.max_in_flight = self._in_flight

    def reset_stats(self) -> None:
        with self._lock:
            self._zero_counts()

    def configure(self, **changes: Any) -> Knobs:
        """Change knobs while it runs; an unknown knob or value is refused (ValueError)."""
        known = {spec.name: spec for spec in fields(Knobs)}
        unknown = sorted(set(changes) - set(known))
        if unknown:
            raise ValueError(f"unknown knob(s) {unknown}; known: {sorted(known)}")
        for name, value in changes.items():
            if name in _CHOICES and value not in _CHOICES[name]:
                raise ValueError(f"{name} must be one of {_CHOICES[name]}, not {value!r}")
            if isinstance(getattr(Knobs, name), int | float) and not isinstance(value, int | float):
                raise ValueError(f"{name} must be a number, not {value!r}")
        with self._lock:
            self.knobs = replace(self.knobs, **changes)
            return self.knobs

    def add_account(self, email: str, password: str, picks: dict[date, int] | None = None) -> str:
        """A Rastar user, with picks: a date and the index of a dish on that date's menu.
        Returns the user's id."""
        with self._lock:
            chosen = []
            for day, index in sorted((picks or {}).items()):
                menu = self._data.menu_rows(day)
                if not 0 <= index < len(menu):
                    raise ValueError(f"{day} has {len(menu)} dishes; there is no dish {index}")
                chosen.append(menu[index]["id"])
            account = self._auth.add_account(email, password)
            rows = [{"user_id": account.id, "menu_schedule_id": pick} for pick in chosen]
            self._data.insert(PICKS, Viewer("authenticated", account.id), rows)
            return account.id

    def add_holiday(self, day: date) -> None:
        """No menu that day (its dishes and picks' schedules are gone, as on a Friday)."""
        with self._lock:
            self._data.holidays.add(day)

    @property
    def holidays(self) -> set[date]:
        with self._lock:
            return set(self._data.holidays)

    def menu(self, day: date) -> list[dict[str, Any]]:
        """That date's ``menu_schedule`` rows with ``menu_item`` embedded, as the API answers."""
        pairs = [("select", MENU_SELECT), ("date", f"eq.{day.isoformat()}"), ("order", "date.asc")]
        return self._read("menu_schedule", pairs, Viewer("service_role"))

    def selections(self, email: str) -> list[dict[str, Any]]:
        """The account's picks, oldest first, as ``GET /rest/v1/user_menu_selections`` answers."""
        with self._lock:
            user_id = self._auth.accounts[email.strip().lower()].id
        pairs = [
            ("select", PICKS_SELECT),
            ("user_id", f"eq.{user_id}"),
            ("order", "created_at.asc"),
        ]
        return self._read(PICKS, pairs, Viewer("authenticated", user_id))

    def _read(self, table: str, pairs: list[tuple[str, str]], viewer: Viewer) -> list[dict]:
        with self._lock:
            engine = Engine(
                self._data, viewer, table, parse_query(pairs), self.knobs.postgrest_version
            )
            return engine.read()[0]

    def revoke_sessions(self, email: str) -> None:
        """Sign the account out everywhere: its refresh tokens are refused from now on."""
        with self._lock:
            self._auth.revoke(email)

    def expire_access_tokens(self) -> None:
        """Every access token issued so far is expired from now on."""
        with self._lock:
            self._auth.expire_access_tokens()

    def stats(self) -> dict[str, Any]:
        """Calls by kind, answers by status, refused refreshes, refreshes by account, and the
        most calls answered at once."""
        with self._lock:
            return {
                "calls": dict(self._kinds),
                "statuses": dict(self._statuses),
                "refresh_refused": self._auth.refused,
                "refreshes_by_user": dict(self._auth.refreshes),
                "max_in_flight": self.max_in_flight,
            }

    # the API -------------------------------------------------------------------------------

    def answer(self, request: Request) -> Answer:
        """The answer to an API call, counting it and how many are answered at once."""
        kind = _kind(request)
        with self._lock:
            self._calls += 1
            calls, knobs = self._calls, self.knobs
            self._kinds[kind] = self._kinds.get(kind, 0) + 1
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            result = self._answer(request, calls, knobs)
        finally:
            with self._lock:
                self._in_flight -= 1
        with self._lock:
            self._statuses[str(result.status)] = self._statuses.get(str(result.status), 0) + 1
        return result

    def _answer(self, request: Request, calls: int, knobs: Knobs) -> Answer:
        """The gateway first (route, apikey), then the outage knobs, then the service."""
        if knobs.latency_ms:
            time.sleep(knobs.latency_ms / 1000)
        refused = self._gateway(request)
        if refused is not None:
            return refused
        if (knobs.server_error_every and calls % knobs.server_error_every == 0) or (
            knobs.server_error_until > self.clock()
        ):
            return Answer.json(503, {"message": "upstream unavailable"})
        if knobs.garbage_every and calls % knobs.garbage_every == 0:
            return Answer(200, GARBAGE)
        if request.path.startswith("/auth/v1/"):
            return self._gotrue(request, knobs)
        return self._postgrest(request, knobs)

    def _gateway(self, request: Request) -> Answer | None:
        if not request.path.startswith(("/auth/v1/", "/rest/v1/")):
            return Answer.json(404, {"message": "no Route matched with those values"})
        key = request.headers.get("apikey") or request.param("apikey")
        if not key:
            hint = "No `apikey` request header or url param was found."
            return Answer.json(401, {"message": "No API key found in request", "hint": hint})
        if key != self.anon_key:
            hint = "Double check your Supabase `anon` or `service_role` API key."
            return Answer.json(401, {"message": "Invalid API key", "hint": hint})
        return None

    # GoTrue --------------------------------------------------------------------------------

    def _gotrue(self, request: Request, knobs: Knobs) -> Answer:
        now = self.clock()
        route = (request.method, request.path.removeprefix("/auth/v1"))
        version = _api_version(request) if knobs.error_shape == "new" else None
        try:
            with self._lock:
                return self._gotrue_route(route, request, knobs, now)
        except AuthError as exc:
            headers = {API_VERSION_HEADER: version} if version else {}
            return Answer.json(exc.status, exc.body(knobs.error_shape, version), headers)

    def _gotrue_route(
        self, route: tuple[str, str], request: Request, knobs: Knobs, now: float
    ) -> Answer:
        if route == ("POST", "/token"):
            issuer = f"{self.base_url or 'http://127.0.0.1'}/auth/v1"
            policy = Policy(
                knobs.access_token_ttl_seconds,
                knobs.refresh_reuse_interval_seconds,
                knobs.refresh_reuse_rule,
                issuer,
            )
            grant = request.param("grant_type") or ""
            return Answer.json(200, self._auth.grant(grant, request.body, now, policy))
        authorization = request.headers.get("Authorization")
        if route == ("POST", "/logout"):
            self._auth.logout(authorization, request.param("scope") or "global", now)
            return Answer(204)
        if route == ("GET", "/user"):
            account, _ = self._auth.authenticate(authorization, now)
            return Answer.json(200, self._auth.user_json(account))
        raise AuthError(404, "not_found", "Not Found")

    # PostgREST ------------------------------------------------------------------------------

    def _postgrest(self, request: Request, knobs: Knobs) -> Answer:
        version = knobs.postgrest_version
        table = request.path.removeprefix("/rest/v1/")
        viewer = Viewer("anon", anon_reads_menu=knobs.anon_reads_menu)
        try:
            if not table or "/" in table:
                raise RestError(404, "PGRST125", "Invalid path specified in request URL")
            viewer = self._viewer(request, knobs)
            query = parse_query(request.query)
            with self._lock:
                engine = Engine(self._data, viewer, table, query, version)
                return self._rest_method(request, engine, version)
        except DatabaseError as exc:
            return self._rest_error(from_database(exc, viewer.role != "anon"), version)
        except RestError as exc:
            return self._rest_error(exc, version)

    def _viewer(self, request: Request, knobs: Knobs) -> Viewer:
        scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer":
            return Viewer("anon", anon_reads_menu=knobs.anon_reads_menu)
        try:
            with self._lock:
                claims = self._auth.claims(
                    token.strip(), self.clock(), knobs.jwt_clock_skew_seconds
                )
        except JwtProblem as exc:
            raise _jwt_error(exc, knobs.postgrest_version) from exc
        role = str(claims.get("role") or "anon")
        if role not in ("anon", "authenticated", "service_role"):
            raise DatabaseError("22023", f'role "{role}" does not exist')
        user_id = str(claims["sub"]) if role == "authenticated" and claims.get("sub") else None
        return Viewer(role, user_id, knobs.anon_reads_menu)

    def _rest_method(self, request: Request, engine: Engine, version: int) -> Answer:
        represent = _prefer(request).get("return") == "representation"
        if request.method in ("GET", "HEAD"):
            return self._rest_read(request, engine, version)
        if request.method == "POST":
            rows = engine.insert(request.body)
            if represent:
                return Answer.json(201, rows, {"Content-Range": "*/*"}, REST_JSON)
            return Answer(201, headers={"Content-Range": "*/*"})
        if request.method in ("DELETE", "PATCH"):
            rows = engine.delete() if request.method == "DELETE" else engine.update(request.body)
            return Answer.json(200, rows, {}, REST_JSON) if represent else Answer(204)
        raise not_implemented(f"{request.method} (upserts)")

    def _rest_read(self, request: Request, engine: Engine, version: int) -> Answer:
        rows, total = engine.read()
        accept = request.headers.get("Accept") or "application/json"
        if "json" not in accept and "*/*" not in accept:
            raise RestError(406, "PGRST107", f"None of these media types are available: {accept}")
        counted = str(total) if _prefer(request).get("count") == "exact" else "*"
        start = engine.query.offset.get((), 0)
        span = f"{start}-{start + len(rows) - 1}" if rows else "*"
        headers = {"Content-Range": f"{span}/{counted}"}
        body: Any = rows
        if accept.startswith("application/vnd.pgrst.object+json"):
            if len(rows) != 1:
                message = (
                    "Cannot coerce the result to a single JSON object"
                    if version >= 13
                    else "JSON object requested, multiple (or no) rows returned"
                )
                raise RestError(406, "PGRST116", message, f"The result contains {len(rows)} rows")
            body = rows[0]
        if "nulls=stripped" in accept:
            body = _strip_nulls(body)
        return Answer.json(200, body, headers, REST_JSON)

    def _rest_error(self, error: RestError, version: int) -> Answer:
        headers = {"Proxy-Status": f"PostgREST; error={error.code}"} if version >= 13 else {}
        if error.status == 401:
            described = f'Bearer error="invalid_token", error_description="{error.message}"'
            headers["WWW-Authenticate"] = (
                described if error.code.startswith("PGRST30") else "Bearer"
            )
        return Answer.json(error.status, error.body(), headers, REST_JSON)

    # /_fake ----------------------------------------------------------------------------------

    def control(self, method: str, path: str, raw_query: str, body: bytes) -> Answer:
        """The ``/_fake`` routes: inspection and set-up over HTTP, for a fake in another
        process (bench, ``make run``). Not counted, no latency, no faults, no apikey."""
        routes: dict[tuple[str, str], Callable[[Any, dict[str, str]], Any]] = {
            ("GET", "/_fake/stats"): lambda _, __: self.stats(),
            ("POST", "/_fake/stats/reset"): lambda _, __: self.reset_stats(),
            ("POST", "/_fake/reset"): lambda _, __: self.reset(),
            ("POST", "/_fake/config"): lambda data, _: asdict(self.configure(**(data or {}))),
            ("POST", "/_fake/accounts"): lambda data, _: self._add_accounts(data),
            ("POST", "/_fake/holidays"): lambda data, _: self._add_holidays(data),
            ("POST", "/_fake/revoke_sessions"): lambda data, _: self.revoke_sessions(data["email"]),
            ("POST", "/_fake/expire_access_tokens"): lambda _, __: self.expire_access_tokens(),
            ("GET", "/_fake/menu"): lambda _, q: self.menu(date.fromisoformat(q["date"])),
            ("GET", "/_fake/selections"): lambda _, q: self.selections(q["email"]),
        }
        route = routes.get((method, path))
        if route is None:
            return Answer.json(404, {"error": "not_found"})
        try:
            data = json.loads(body) if body.strip() else None
            result = route(data, dict(parse_qsl(raw_query)))
        except (ValueError, TypeError, KeyError) as exc:
            return Answer.json(400, {"error": f"{type(exc).__name__}: {exc}"})
        return Answer.json(200, {} if result is None else result)

    def _add_accounts(self, accounts: list[dict[str, Any]]) -> list[dict[str, str]]:
        made = []
        for account in accounts:
            picks = {
                date.fromisoformat(day): int(index)
                for day, index in account.get("picks", {}).items()
            }
            user_id = self.add_account(account["email"], account["password"], picks)
            made.append({"email": account["email"], "id": user_id})
        return made

    def _add_holidays(self, days: list[str]) -> None:
        for day in days:
            self.add_holiday(date.fromisoformat(day))


class _Handler(JsonHandler):
    """Every method goes to ``FakeSupabase.answer`` (or ``control`` for ``/_fake``)."""

    def do_GET(self) -> None:  # noqa: N802 - http.server calls it by this name
        self._serve("GET")

    def do_HEAD(self) -> None:  # noqa: N802
        self._serve("HEAD")

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST")

    def do_DELETE(self) -> None:  # noqa: N802
        self._serve("DELETE")

    def do_PATCH(self) -> None:  # noqa: N802
        self._serve("PATCH")

    def do_PUT(self) -> None:  # noqa: N802
        self._serve("PUT")

    def _serve(self, method: str) -> None:
        fake: FakeSupabase = self.server.fake  # type: ignore[attr-defined]
        path, _, raw_query = self.path.partition("?")
        body = self.read_body()
        if path.startswith("/_fake/"):
            answer = fake.control(method, path, raw_query, body)
        else:
            query = parse_qsl(raw_query, keep_blank_values=True)
            request = Request(method, unquote(path), query, self.headers, body)  # type: ignore[arg-type]
            answer = fake.answer(request)
        self._send(answer, with_body=method != "HEAD")

    def _send(self, answer: Answer, with_body: bool) -> None:
        self.send_response(answer.status, HTTPStatus(answer.status).phrase)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        if answer.status != 204:  # a 204 has neither body nor Content-Length
            if answer.body:
                self.send_header("Content-Type", answer.kind)
            self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        if with_body and answer.status != 204:
            self.wfile.write(answer.body)


def main() -> None:
    serve_from_command_line(
        "python -m infra.fakes.supabase",
        8082,
        lambda latency_ms, access_token_ttl_seconds: FakeSupabase(
            Knobs(latency_ms=latency_ms, access_token_ttl_seconds=access_token_ttl_seconds)
        ),
        {"latency_ms": 0, "access_token_ttl_seconds": 3600},
    )
