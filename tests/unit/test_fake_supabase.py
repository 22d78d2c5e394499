"""The fake Rastar (infra/fakes/supabase/): a Supabase project over real HTTP on loopback.

Two kinds of client drive it: httpx, for every endpoint and error as the package's own thin
client sends them, and Supabase's own Python clients (supabase-auth, postgrest), so the fake
accepts exactly what they send and answers what they parse. One server serves the module; each
test starts from ``reset()`` with the fake's clock at the real time (a test moves it on rather
than sleeping).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from postgrest import APIError, SyncPostgrestClient
from supabase_auth import SyncGoTrueClient
from supabase_auth.errors import AuthApiError
from supabase_auth.types import User

from infra.fakes.supabase import DISHES, FakeSupabase
from infra.fakes.supabase.data import schedule_id
from infra.fakes.supabase.gotrue import SECRET

ROOT = Path(__file__).resolve().parents[2]
THURSDAY, FRIDAY, SATURDAY = date(2025, 1, 2), date(2025, 1, 3), date(2025, 1, 4)
SUNDAY, MONDAY = date(2025, 1, 5), date(2025, 1, 6)
MENU_SELECT = "*,menu_item:menu_items(id,name,description)"
PICKS_SELECT = (
    "id,user_id,menu_schedule_id,created_at,"
    "menu_schedule:menu_schedule(id,date,menu_item:menu_items(id,name,description))"
)
INNER_SELECT = PICKS_SELECT.replace(
    "menu_schedule:menu_schedule(", "menu_schedule:menu_schedule!inner("
)
REPRESENTATION = {"Prefer": "return=representation"}
NEW_INVALID = {"code": 400, "error_code": "invalid_credentials", "msg": "Invalid login credentials"}
OLD_INVALID = {"error": "invalid_grant", "error_description": "Invalid login credentials"}


class Clock:
    """What the fake reads the time from; ``advance`` stands in for waiting."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


CLOCK = Clock()


@pytest.fixture(scope="module")
def server() -> Any:
    fake = FakeSupabase(clock=CLOCK)
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def fake(server: FakeSupabase) -> Any:
    server.reset()
    CLOCK.now = time.time()
    yield server
    server.reset()


@pytest.fixture(scope="module")
def http(server: FakeSupabase) -> Any:
    with httpx.Client(
        base_url=server.base_url, headers={"apikey": server.anon_key}, timeout=5
    ) as c:
        yield c


@pytest.fixture
def alice(fake: FakeSupabase) -> str:
    return fake.add_account("alice@rastar.test", "alice-pw", {SATURDAY: 0, SUNDAY: 1, MONDAY: 2})


@pytest.fixture
def bob(fake: FakeSupabase) -> str:
    return fake.add_account("bob@rastar.test", "bob-pw", {SATURDAY: 3})


def sign_in(
    http: httpx.Client, email: str = "alice@rastar.test", password: str = "alice-pw"
) -> Any:
    answer = http.post(
        "/auth/v1/token",
        params={"grant_type": "password"},
        json={"email": email, "password": password},
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def refresh(http: httpx.Client, token: str, **headers: str) -> httpx.Response:
    return http.post(
        "/auth/v1/token",
        params={"grant_type": "refresh_token"},
        json={"refresh_token": token},
        headers=headers,
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def menu_query(first: date, last: date) -> list[tuple[str, str]]:
    return [
        ("select", MENU_SELECT),
        ("date", f"gte.{first.isoformat()}"),
        ("date", f"lte.{last.isoformat()}"),
        ("order", "date.asc"),
    ]


def get_menu(http: httpx.Client, token: str | None, params: Any) -> httpx.Response:
    return http.get("/rest/v1/menu_schedule", params=params, headers=bearer(token) if token else {})


def pick(http: httpx.Client, token: str, body: Any, **headers: str) -> httpx.Response:
    return http.post(
        "/rest/v1/user_menu_selections", json=body, headers={**bearer(token), **headers}
    )


def assert_rest_error(answer: httpx.Response, status: int, code: str, message: str) -> None:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) == {"code", "details", "hint", "message"}
    assert (body["code"], body["message"]) == (code, message)


# --- the menu ----------------------------------------------------------------------------------


def test_a_day_has_four_dishes_rotating_with_the_date(fake):
    saturday, sunday = fake.menu(SATURDAY), fake.menu(SUNDAY)
    assert len(saturday) == len(sunday) == 4
    names = {name for _, name, _ in DISHES}
    assert {row["menu_item"]["name"] for row in saturday} <= names
    assert [row["menu_item"]["name"] for row in saturday] != [
        row["menu_item"]["name"] for row in sunday
    ]
    assert set(saturday[0]) == {
        "id",
        "date",
        "menu_item_id",
        "created_at",
        "updated_at",
        "menu_item",
    }
    assert set(saturday[0]["menu_item"]) == {"id", "name", "description"}
    assert all(row["menu_item"]["id"] == row["menu_item_id"] for row in saturday)


def test_there_is_no_menu_on_fridays_or_holidays(fake):
    assert fake.menu(FRIDAY) == []
    assert fake.menu(MONDAY)
    fake.add_holiday(MONDAY)
    assert fake.menu(MONDAY) == []
    assert fake.holidays == {MONDAY}


def test_ids_are_uuids_two_fakes_agree_on(fake):
    ours, theirs = fake.menu(SATURDAY), FakeSupabase().menu(SATURDAY)
    assert ours == theirs
    for row in ours:
        assert str(uuid.UUID(row["id"])) == row["id"]
        assert str(uuid.UUID(row["menu_item_id"])) == row["menu_item_id"]
    dishes = {
        row["menu_item"]["name"]: row["menu_item_id"]
        for day in (SATURDAY, SUNDAY, MONDAY)
        for row in fake.menu(day)
    }
    assert len(set(dishes.values())) == len(dishes)  # one id per dish, whatever the date


def test_an_account_cannot_pick_a_dish_the_menu_does_not_have(fake):
    with pytest.raises(ValueError, match="no dish 4"):
        fake.add_account("a@rastar.test", "pw", {SATURDAY: 4})
    with pytest.raises(ValueError, match="0 dishes"):
        fake.add_account("a@rastar.test", "pw", {FRIDAY: 0})
    assert fake.add_account("a@rastar.test", "pw")  # the refused ones made nothing


# --- the gateway -------------------------------------------------------------------------------

API_CALLS = [
    ("POST", "/auth/v1/token?grant_type=password", {"email": "a@rastar.test", "password": "x"}),
    ("POST", "/auth/v1/token?grant_type=refresh_token", {"refresh_token": "x"}),
    ("POST", "/auth/v1/logout", None),
    ("GET", "/rest/v1/menu_schedule?select=*", None),
    ("GET", "/rest/v1/user_menu_selections?select=*", None),
    ("POST", "/rest/v1/user_menu_selections", {"user_id": "x", "menu_schedule_id": "y"}),
    ("DELETE", "/rest/v1/user_menu_selections?id=eq.x", None),
]


@pytest.mark.parametrize("method, path, body", API_CALLS)
@pytest.mark.parametrize(
    "key, message, hint",
    [
        (None, "No API key found in request", "No `apikey` request header or url param was found."),
        (
            "not-the-key",
            "Invalid API key",
            "Double check your Supabase `anon` or `service_role` API key.",
        ),
    ],
)
def test_every_call_needs_the_apikey(fake, method, path, body, key, message, hint):
    headers = {"apikey": key} if key else {}
    with httpx.Client(base_url=fake.base_url, headers=headers, timeout=5) as client:
        answer = client.request(method, path, json=body)
    assert answer.status_code == 401
    assert answer.json() == {"message": message, "hint": hint}


def test_the_apikey_may_come_as_a_url_parameter(fake, alice):
    with httpx.Client(base_url=fake.base_url, timeout=5) as client:
        answer = client.post(
            f"/auth/v1/token?grant_type=password&apikey={fake.anon_key}",
            json={"email": "alice@rastar.test", "password": "alice-pw"},
        )
        assert answer.status_code == 200
        token = answer.json()["access_token"]
        menu = client.get(
            "/rest/v1/menu_schedule",
            params={"select": "id", "date": "eq.2025-01-04", "apikey": fake.anon_key},
            headers=bearer(token),
        )
    assert menu.status_code == 200 and len(menu.json()) == 4  # apikey is not taken as a filter


def test_an_unknown_route_is_the_gateways_404(http):
    answer = http.get("/storage/v1/object/list")
    assert (answer.status_code, answer.json()) == (
        404,
        {"message": "no Route matched with those values"},
    )


# --- GoTrue: signing in ----------------------------------------------------------------------


def test_a_password_sign_in_answers_a_session(http, fake, alice):
    answer = http.post(
        "/auth/v1/token?grant_type=password",
        json={
            "email": "Alice@Rastar.test",  # emails match whatever their case
            "password": "alice-pw",
            "data": {},
            "gotrue_meta_security": {"captcha_token": None},
        },
    )
    assert answer.status_code == 200
    session = answer.json()
    assert session["token_type"] == "bearer"
    assert session["expires_in"] == 3600
    assert session["expires_at"] == int(CLOCK.now) + 3600
    assert isinstance(session["refresh_token"], str) and session["refresh_token"]
    user = session["user"]
    assert (user["id"], user["email"], user["aud"], user["role"]) == (
        alice,
        "alice@rastar.test",
        "authenticated",
        "authenticated",
    )
    assert user["app_metadata"] == {"provider": "email", "providers": ["email"]}
    assert user["user_metadata"] == {}
    User.model_validate(user)
    claims = jwt.decode(
        session["access_token"],
        SECRET,
        algorithms=["HS256"],
        audience="authenticated",
        options={"verify_exp": False},
    )
    assert claims["sub"] == alice and claims["email"] == "alice@rastar.test"
    assert claims["role"] == "authenticated" and claims["exp"] == session["expires_at"]
    assert claims["iat"] == int(CLOCK.now) and uuid.UUID(claims["session_id"])


@pytest.mark.parametrize(
    "email, password", [("alice@rastar.test", "wrong"), ("nobody@rastar.test", "alice-pw")]
)
@pytest.mark.parametrize(
    "shape, headers, expected, echoed",
    [
        ("new", {}, NEW_INVALID, None),
        (
            "new",
            {"X-Supabase-Api-Version": "2024-01-01"},
            {"code": "invalid_credentials", "message": "Invalid login credentials"},
            "2024-01-01",
        ),
        ("old", {}, OLD_INVALID, None),
        ("old", {"X-Supabase-Api-Version": "2024-01-01"}, OLD_INVALID, None),
    ],
)
def test_wrong_credentials_are_refused_in_the_servers_shape(
    http, fake, alice, email, password, shape, headers, expected, echoed
):
    fake.configure(error_shape=shape)
    answer = http.post(
        "/auth/v1/token?grant_type=password",
        json={"email": email, "password": password},
        headers=headers,
    )
    assert (answer.status_code, answer.json()) == (400, expected)
    assert answer.headers.get("X-Supabase-Api-Version") == echoed


@pytest.mark.parametrize(
    "grant, body, expected",
    [
        (
            "password",
            b'{"password": "x"}',
            {"code": 400, "error_code": "validation_failed", "msg": "missing email or phone"},
        ),
        ("password", b"{not json", {"code": 400, "error_code": "bad_json"}),
        ("magic", b"{}", {"error": "unsupported_grant_type"}),
        (
            "refresh_token",
            b"{}",
            {"error": "invalid_request", "error_description": "refresh_token required"},
        ),
    ],
)
def test_malformed_token_requests_are_refused(http, grant, body, expected):
    answer = http.post(f"/auth/v1/token?grant_type={grant}", content=body)
    assert answer.status_code == 400
    assert expected.items() <= answer.json().items()


# --- GoTrue: refreshing ----------------------------------------------------------------------

ALREADY_USED = {
    "new": {
        "code": 400,
        "error_code": "refresh_token_already_used",
        "msg": "Invalid Refresh Token: Already Used",
    },
    "old": {"error": "invalid_grant", "error_description": "Invalid Refresh Token: Already Used"},
}
NOT_FOUND = {
    "new": {
        "code": 400,
        "error_code": "refresh_token_not_found",
        "msg": "Invalid Refresh Token: Refresh Token Not Found",
    },
    "old": {
        "error": "invalid_grant",
        "error_description": "Invalid Refresh Token: Refresh Token Not Found",
    },
}


def test_a_refresh_answers_a_new_pair(http, alice):
    first = sign_in(http)
    CLOCK.advance(5)
    answer = refresh(http, first["refresh_token"])
    assert answer.status_code == 200
    second = answer.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["expires_at"] == int(CLOCK.now) + 3600
    assert second["user"]["id"] == alice


def test_a_spent_token_within_the_reuse_interval_answers_the_session_it_made(http, fake, alice):
    first = sign_in(http)
    second = refresh(http, first["refresh_token"]).json()
    CLOCK.advance(9)
    again = refresh(http, first["refresh_token"])
    assert again.status_code == 200
    assert again.json()["refresh_token"] == second["refresh_token"]
    assert (
        get_menu(
            http, again.json()["access_token"], {"select": "id", "date": "eq.2025-01-04"}
        ).status_code
        == 200
    )
    assert fake.stats()["refreshes_by_user"] == {"alice@rastar.test": 2}
    assert refresh(http, second["refresh_token"]).status_code == 200  # still the session's


@pytest.mark.parametrize("shape", ["new", "old"])
def test_a_spent_token_after_the_interval_is_refused_and_ends_the_session(http, fake, alice, shape):
    fake.configure(error_shape=shape)
    first = sign_in(http)
    second = refresh(http, first["refresh_token"]).json()
    CLOCK.advance(11)
    reused = refresh(http, first["refresh_token"])
    assert (reused.status_code, reused.json()) == (400, ALREADY_USED[shape])
    current = refresh(http, second["refresh_token"])  # the whole sign-in is gone
    assert (current.status_code, current.json()) == (400, NOT_FOUND[shape])
    assert fake.stats()["refresh_refused"] == 2
    assert refresh(http, sign_in(http)["refresh_token"]).status_code == 200  # a new sign-in works


def test_the_reuse_interval_is_a_knob(http, fake, alice):
    answer = http.post("/_fake/config", json={"refresh_reuse_interval_seconds": 0})
    assert answer.status_code == 200 and answer.json()["refresh_reuse_interval_seconds"] == 0
    first = sign_in(http)
    refresh(http, first["refresh_token"])
    CLOCK.advance(0.001)
    assert (
        refresh(http, first["refresh_token"]).json()["error_code"] == "refresh_token_already_used"
    )


def test_under_the_parent_rule_the_token_spent_last_is_always_honoured(http, fake, alice):
    fake.configure(refresh_reuse_rule="parent")
    first = sign_in(http)
    second = refresh(http, first["refresh_token"]).json()
    CLOCK.advance(600)
    assert refresh(http, first["refresh_token"]).json()["refresh_token"] == second["refresh_token"]
    refresh(http, second["refresh_token"])
    CLOCK.advance(600)
    assert (
        refresh(http, first["refresh_token"]).json()["error_code"] == "refresh_token_already_used"
    )


@pytest.mark.parametrize("shape", ["new", "old"])
def test_unknown_and_revoked_refresh_tokens_are_not_found(http, fake, alice, shape):
    fake.configure(error_shape=shape)
    unknown = refresh(http, "never-issued")
    assert (unknown.status_code, unknown.json()) == (400, NOT_FOUND[shape])
    session = sign_in(http)
    fake.revoke_sessions("alice@rastar.test")
    revoked = refresh(http, session["refresh_token"])
    assert (revoked.status_code, revoked.json()) == (400, NOT_FOUND[shape])
    # As on Supabase, PostgREST checks only the JWT: the access token works until it expires.
    assert get_menu(http, session["access_token"], {"select": "id"}).status_code == 200


def test_logout_ends_sessions_by_scope(http, alice):
    one, two = sign_in(http), sign_in(http)
    answer = http.post("/auth/v1/logout?scope=local", headers=bearer(one["access_token"]))
    assert (answer.status_code, answer.content) == (204, b"")
    assert refresh(http, one["refresh_token"]).status_code == 400
    assert refresh(http, two["refresh_token"]).status_code == 200
    three = sign_in(http)
    assert http.post("/auth/v1/logout", headers=bearer(three["access_token"])).status_code == 204
    assert refresh(http, three["refresh_token"]).json()["error_code"] == "refresh_token_not_found"
    missing = http.post("/auth/v1/logout")
    assert (missing.status_code, missing.json()["error_code"]) == (401, "no_authorization")


def test_the_user_endpoint_answers_the_signed_in_user(http, alice):
    session = sign_in(http)
    answer = http.get("/auth/v1/user", headers=bearer(session["access_token"]))
    assert answer.status_code == 200 and answer.json()["id"] == alice


# --- PostgREST: tokens -----------------------------------------------------------------------


def forged(claims: dict[str, Any]) -> str:
    return jwt.encode(claims, "some-other-supabase-projects-jwt-secret", algorithm="HS256")


@pytest.mark.parametrize(
    "version, token, code, message, details",
    [
        (13, "not-a-jwt", "PGRST301", "Expected 3 parts in JWT; got 1", None),
        (13, "a.b", "PGRST301", "Expected 3 parts in JWT; got 2", None),
        (
            13,
            "forged",
            "PGRST301",
            "No suitable key or wrong key type",
            "None of the keys was able to decode the JWT",
        ),
        (13, "expired", "PGRST303", "JWT expired", None),
        (
            12,
            "not-a-jwt",
            "PGRST301",
            "JWSError (CompactDecodeError Invalid number of parts: Expected 3 parts; got 1)",
            None,
        ),
        (12, "forged", "PGRST301", "JWSError JWSInvalidSignature", None),
        (12, "expired", "PGRST301", "JWT expired", None),
    ],
)
def test_postgrest_refuses_tokens_as_its_version_does(
    http, fake, alice, version, token, code, message, details
):
    fake.configure(postgrest_version=version)
    session = sign_in(http)
    if token == "expired":
        fake.expire_access_tokens()
        token = session["access_token"]
    elif token == "forged":
        token = forged({"sub": alice, "role": "authenticated", "exp": int(CLOCK.now) + 60})
    for path in ("menu_schedule", "user_menu_selections"):
        answer = http.get(f"/rest/v1/{path}", params={"select": "*"}, headers=bearer(token))
        assert_rest_error(answer, 401, code, message)
        assert answer.json()["details"] == details
        assert answer.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    answer = pick(http, token, {"user_id": alice, "menu_schedule_id": fake.menu(THURSDAY)[0]["id"]})
    assert_rest_error(answer, 401, code, message)
    assert fake.selections("alice@rastar.test")[-1]["menu_schedule"]["date"] == "2025-01-06"


def test_the_ttl_knob_and_postgrests_clock_skew(http, fake, alice):
    assert http.post("/_fake/config", json={"access_token_ttl_seconds": 60}).status_code == 200
    session = sign_in(http)
    assert session["expires_in"] == 60 and session["expires_at"] == int(CLOCK.now) + 60
    params = {"select": "id", "date": "eq.2025-01-04"}
    CLOCK.advance(60 + 29)
    assert get_menu(http, session["access_token"], params).status_code == 200  # within 30 s skew
    CLOCK.advance(2)
    assert_rest_error(
        get_menu(http, session["access_token"], params), 401, "PGRST303", "JWT expired"
    )
    fresh = refresh(http, session["refresh_token"]).json()
    assert get_menu(http, fresh["access_token"], params).status_code == 200
    fake.configure(jwt_clock_skew_seconds=0)
    CLOCK.advance(61)
    assert get_menu(http, fresh["access_token"], params).status_code == 401


def test_without_a_token_a_request_runs_as_anon(http, fake, alice):
    params = {"select": "*", "date": "eq.2025-01-04"}
    assert get_menu(http, None, params).json() == []
    assert http.get("/rest/v1/user_menu_selections", params={"select": "*"}).json() == []
    fake.configure(anon_reads_menu=True)
    assert len(get_menu(http, None, params).json()) == 4
    answer = http.post(
        "/rest/v1/user_menu_selections",
        json={"user_id": alice, "menu_schedule_id": fake.menu(THURSDAY)[0]["id"]},
    )
    assert_rest_error(
        answer,
        401,
        "42501",
        'new row violates row-level security policy for table "user_menu_selections"',
    )


# --- PostgREST: the menu ----------------------------------------------------------------------


@pytest.fixture
def token(http: httpx.Client, alice: str) -> str:
    return sign_in(http)["access_token"]


@pytest.mark.parametrize(
    "params, dates",
    [
        ([("date", "eq.2025-01-04")], [SATURDAY] * 4),
        (
            [("date", "gte.2025-01-02"), ("date", "lte.2025-01-04"), ("order", "date.asc")],
            [THURSDAY] * 4 + [SATURDAY] * 4,
        ),
        (
            [("date", "in.(2025-01-06,2025-01-04)"), ("order", "date.asc")],
            [SATURDAY] * 4 + [MONDAY] * 4,
        ),
        (
            [("date", "gte.2025-01-04"), ("date", "lte.2025-01-05"), ("order", "date.desc")],
            [SUNDAY] * 4 + [SATURDAY] * 4,
        ),
        ([("date", "gt.2025-01-02"), ("date", "lt.2025-01-05")], [SATURDAY] * 4),
        ([("date", "eq.2025-01-03")], []),
        (
            [
                ("date", "gte.2025-01-04"),
                ("date", "lte.2025-01-06"),
                ("order", "date.asc"),
                ("limit", "3"),
                ("offset", "3"),
            ],
            [SATURDAY] + [SUNDAY] * 2,
        ),
        ([("date", "eq.2025-01-04"), ("date", "neq.2025-01-04")], []),
    ],
)
def test_the_menu_is_filtered_and_ordered_by_date(http, token, params, dates):
    answer = get_menu(http, token, [("select", MENU_SELECT), *params])
    assert answer.status_code == 200, answer.text
    assert [row["date"] for row in answer.json()] == [day.isoformat() for day in dates]


def test_the_menu_over_http_is_the_helpers(http, fake, token):
    answer = get_menu(http, token, menu_query(SATURDAY, MONDAY))
    assert answer.json() == fake.menu(SATURDAY) + fake.menu(SUNDAY) + fake.menu(MONDAY)
    assert answer.headers["Content-Type"] == "application/json; charset=utf-8"
    assert answer.headers["Content-Range"] == "0-11/*"


@pytest.mark.parametrize(
    "select, keys, embedded",
    [
        ("*", ["id", "date", "menu_item_id", "created_at", "updated_at"], None),
        ("id,date", ["id", "date"], None),
        ("day:date,dish:menu_item_id", ["day", "dish"], None),
        (
            "date,menu_item:menu_items(id,name,description)",
            ["date", "menu_item"],
            ["id", "name", "description"],
        ),
        ("date,menu_items(name)", ["date", "menu_items"], ["name"]),
        (
            "date,item:menu_items!menu_schedule_menu_item_id_fkey(*)",
            ["date", "item"],
            ["id", "name", "description", "created_at", "updated_at"],
        ),
    ],
)
def test_select_chooses_columns_aliases_and_embeds(http, token, select, keys, embedded):
    rows = get_menu(http, token, {"select": select, "date": "eq.2025-01-04"}).json()
    assert len(rows) == 4 and list(rows[0]) == keys
    if embedded:
        assert list(rows[0][keys[-1]]) == embedded


def test_a_dish_embeds_the_dates_it_is_offered(http, fake, token):
    dish = fake.menu(SATURDAY)[0]["menu_item"]
    rows = http.get(
        "/rest/v1/menu_items",
        params=[("select", "name,menu_schedule(date)"), ("id", f"eq.{dish['id']}"),
                ("menu_schedule.date", "gte.2025-01-01"), ("menu_schedule.date", "lte.2025-01-31"),
                ("menu_schedule.order", "date.asc")],
        headers=bearer(token),
    ).json()  # fmt: skip
    assert [row["name"] for row in rows] == [dish["name"]]
    dates = [entry["date"] for entry in rows[0]["menu_schedule"]]
    assert "2025-01-04" in dates and dates == sorted(dates) and "2025-01-03" not in dates


@pytest.mark.parametrize(
    "params, version, status, code, message",
    [
        (
            {"select": "*"},
            13,
            404,
            "PGRST205",
            "Could not find the table 'public.dishes' in the schema cache",
        ),
        ({"select": "*"}, 12, 404, "42P01", 'relation "public.dishes" does not exist'),
    ],
)
def test_an_unknown_table_is_answered_as_the_version_does(
    http, fake, token, params, version, status, code, message
):
    fake.configure(postgrest_version=version)
    answer = http.get("/rest/v1/dishes", params=params, headers=bearer(token))
    assert_rest_error(answer, status, code, message)
    assert answer.json()["hint"] is None


def test_a_near_miss_table_gets_a_hint(http, token):
    answer = http.get("/rest/v1/menu_schedules", headers=bearer(token))
    assert_rest_error(
        answer,
        404,
        "PGRST205",
        "Could not find the table 'public.menu_schedules' in the schema cache",
    )
    assert answer.json()["hint"] == "Perhaps you meant the table 'public.menu_schedule'"
    assert answer.headers["Proxy-Status"] == "PostgREST; error=PGRST205"


@pytest.mark.parametrize(
    "params, status, code, message",
    [
        ({"select": "id,nope"}, 400, "42703", "column menu_schedule.nope does not exist"),
        (
            {"select": "*", "date": "eq.tomorrow"},
            400,
            "22007",
            'invalid input syntax for type date: "tomorrow"',
        ),
        ({"select": "*", "id": "eq.42"}, 400, "22P02", 'invalid input syntax for type uuid: "42"'),
        (
            {"select": "*", "date": "2025-01-04"},
            400,
            "PGRST100",
            '"failed to parse filter (2025-01-04)" (line 1, column 1)',
        ),
        (
            {"select": "*,dishes(*)"},
            400,
            "PGRST200",
            "Could not find a relationship between 'menu_schedule' and 'dishes' in the schema"
            " cache",
        ),
        (
            {"select": "*", "menu_item.name": "eq.x"},
            400,
            "PGRST108",
            "'menu_item' is not an embedded resource in this request",
        ),
        (
            {"select": "*", "order": "nope.asc"},
            400,
            "42703",
            "column menu_schedule.nope does not exist",
        ),
        ({"select": "*,...menu_items(name)"}, 400, "PGRST127", "Feature not implemented"),
        (
            {"select": "*", "or": "(date.eq.2025-01-04,date.eq.2025-01-05)"},
            400,
            "PGRST127",
            "Feature not implemented",
        ),
    ],
)
def test_postgrest_errors_for_a_bad_query(http, token, params, status, code, message):
    assert_rest_error(get_menu(http, token, params), status, code, message)


def test_count_and_a_single_object(http, token):
    answer = http.get(
        "/rest/v1/menu_schedule",
        params={"select": "id", "date": "eq.2025-01-04"},
        headers={**bearer(token), "Prefer": "count=exact"},
    )
    assert answer.headers["Content-Range"] == "0-3/4"
    single = {**bearer(token), "Accept": "application/vnd.pgrst.object+json"}
    one = http.get(
        "/rest/v1/menu_schedule",
        params={"select": "id", "date": "eq.2025-01-04", "limit": "1"},
        headers=single,
    )
    assert one.status_code == 200 and set(one.json()) == {"id"}
    many = http.get(
        "/rest/v1/menu_schedule", params={"select": "id", "date": "eq.2025-01-04"}, headers=single
    )
    assert_rest_error(many, 406, "PGRST116", "Cannot coerce the result to a single JSON object")
    assert many.json()["details"] == "The result contains 4 rows"


# --- PostgREST: a person's picks -----------------------------------------------------------------


def selections(http: httpx.Client, token: str, params: Any) -> httpx.Response:
    return http.get("/rest/v1/user_menu_selections", params=params, headers=bearer(token))


def test_a_person_sees_only_their_own_picks(http, fake, alice, bob):
    token = sign_in(http)["access_token"]
    mine = selections(
        http,
        token,
        [("select", PICKS_SELECT), ("user_id", f"eq.{alice}"), ("order", "created_at.asc")],
    )
    assert mine.status_code == 200
    assert mine.json() == fake.selections("alice@rastar.test")
    assert [row["menu_schedule"]["date"] for row in mine.json()] == [
        "2025-01-04",
        "2025-01-05",
        "2025-01-06",
    ]
    row = mine.json()[0]
    assert list(row) == ["id", "user_id", "menu_schedule_id", "created_at", "menu_schedule"]
    assert list(row["menu_schedule"]) == ["id", "date", "menu_item"]
    assert row["menu_schedule"]["menu_item"] == fake.menu(SATURDAY)[0]["menu_item"]
    assert selections(http, token, {"select": "*", "user_id": f"eq.{bob}"}).json() == []
    assert {r["user_id"] for r in selections(http, token, {"select": "*"}).json()} == {alice}


@pytest.mark.parametrize(
    "select, dates, embedded",
    [
        (INNER_SELECT, ["2025-01-05"], ["2025-01-05"]),
        (PICKS_SELECT, ["2025-01-04", "2025-01-05", "2025-01-06"], [None, "2025-01-05", None]),
    ],
)
def test_an_inner_embed_drops_picks_of_other_dates(http, alice, token, select, dates, embedded):
    params = [
        ("select", select),
        ("user_id", f"eq.{alice}"),
        ("menu_schedule.date", "gte.2025-01-05"),
        ("menu_schedule.date", "lte.2025-01-05"),
        ("order", "created_at.asc"),
    ]
    rows = selections(http, token, params).json()
    assert len(rows) == len(dates)
    found = [row["menu_schedule"]["date"] if row["menu_schedule"] else None for row in rows]
    assert found == embedded


def test_picks_order_by_created_at(http, alice, token):
    ascending = selections(http, token, {"select": "id", "order": "created_at.asc"}).json()
    descending = selections(http, token, {"select": "id", "order": "created_at.desc"}).json()
    assert descending == ascending[::-1] and len(ascending) == 3


def test_a_pick_answers_its_row_with_return_representation(http, fake, alice, token):
    schedule = fake.menu(THURSDAY)[2]["id"]
    answer = pick(http, token, {"user_id": alice, "menu_schedule_id": schedule}, **REPRESENTATION)
    assert answer.status_code == 201
    [row] = answer.json()
    assert list(row) == ["id", "user_id", "menu_schedule_id", "created_at", "updated_at"]
    assert (row["user_id"], row["menu_schedule_id"]) == (alice, schedule)
    assert fake.selections("alice@rastar.test")[-1]["id"] == row["id"]


def test_a_pick_without_prefer_answers_an_empty_201(http, fake, alice, token):
    answer = pick(http, token, {"user_id": alice, "menu_schedule_id": fake.menu(THURSDAY)[0]["id"]})
    assert (answer.status_code, answer.content) == (201, b"")
    assert len(fake.selections("alice@rastar.test")) == 4


def test_a_picks_representation_follows_select(http, fake, alice, token):
    answer = http.post(
        "/rest/v1/user_menu_selections",
        params={"select": "id,menu_schedule(date,menu_item:menu_items(name))"},
        json={"user_id": alice, "menu_schedule_id": fake.menu(THURSDAY)[0]["id"]},
        headers={**bearer(token), **REPRESENTATION},
    )
    assert answer.json()[0]["menu_schedule"] == {
        "date": "2025-01-02",
        "menu_item": {"name": fake.menu(THURSDAY)[0]["menu_item"]["name"]},
    }


T = '"user_menu_selections"'
FKEY = (
    f"insert or update on table {T} violates foreign key constraint"
    f' "{T[1:-1]}_menu_schedule_id_fkey"'
)
REFUSED_PICKS = [
    ("someone else", 403, "42501", f"new row violates row-level security policy for table {T}"),
    ("unknown schedule", 409, "23503", FKEY),
    ("a friday", 409, "23503", FKEY),
    ("second of a day", 409, "23505",
     f'duplicate key value violates unique constraint "{T[1:-1]}_user_date_key"'),
    ("not a uuid", 400, "22P02", 'invalid input syntax for type uuid: "monday"'),
    ("unknown column", 400, "PGRST204",
     f"Could not find the 'dish' column of '{T[1:-1]}' in the schema cache"),
    ("no schedule", 400, "23502",
     f'null value in column "menu_schedule_id" of relation {T} violates not-null constraint'),
    ("not json", 400, "PGRST102", "Empty or invalid json"),
]  # fmt: skip


@pytest.mark.parametrize("case, status, code, message", REFUSED_PICKS)
def test_refused_picks_change_nothing(http, fake, alice, bob, token, case, status, code, message):
    thursday = fake.menu(THURSDAY)[0]["id"]
    body = {
        "someone else": {"user_id": bob, "menu_schedule_id": thursday},
        "unknown schedule": {"user_id": alice, "menu_schedule_id": str(uuid.uuid4())},
        "a friday": {"user_id": alice, "menu_schedule_id": schedule_id(FRIDAY, "1")},
        "second of a day": {"user_id": alice, "menu_schedule_id": fake.menu(SATURDAY)[3]["id"]},
        "not a uuid": {"user_id": alice, "menu_schedule_id": "monday"},
        "unknown column": {"user_id": alice, "dish": 3},
        "no schedule": {"user_id": alice},
    }.get(case)
    before = fake.selections("alice@rastar.test"), fake.selections("bob@rastar.test")
    if body is None:
        answer = http.post("/rest/v1/user_menu_selections", content=b"{oops", headers=bearer(token))
    else:
        answer = pick(http, token, body, **REPRESENTATION)
    assert_rest_error(answer, status, code, message)
    assert (fake.selections("alice@rastar.test"), fake.selections("bob@rastar.test")) == before


def test_a_batch_of_picks_is_all_or_nothing(http, fake, alice, token):
    tuesday = date(2025, 1, 7)
    same_day = [
        {"user_id": alice, "menu_schedule_id": fake.menu(THURSDAY)[0]["id"]},
        {"user_id": alice, "menu_schedule_id": fake.menu(THURSDAY)[1]["id"]},
    ]
    assert pick(http, token, same_day, **REPRESENTATION).json()["code"] == "23505"
    assert len(fake.selections("alice@rastar.test")) == 3
    two_days = [same_day[0], {"user_id": alice, "menu_schedule_id": fake.menu(tuesday)[0]["id"]}]
    answer = pick(http, token, two_days, **REPRESENTATION)
    assert answer.status_code == 201 and len(answer.json()) == 2
    assert len(fake.selections("alice@rastar.test")) == 5


# --- PostgREST: unpicking ---------------------------------------------------------------------


def unpick(http: httpx.Client, token: str, row_id: str, **headers: str) -> httpx.Response:
    return http.delete(
        "/rest/v1/user_menu_selections",
        params={"id": f"eq.{row_id}"},
        headers={**bearer(token), **headers},
    )


def test_an_unpick_deletes_ones_own_pick(http, fake, alice, token):
    first, second = fake.selections("alice@rastar.test")[:2]
    answer = unpick(http, token, first["id"])
    assert (answer.status_code, answer.content) == (204, b"")
    shown = unpick(http, token, second["id"], **REPRESENTATION)
    assert shown.status_code == 200 and [row["id"] for row in shown.json()] == [second["id"]]
    left = {row["id"] for row in fake.selections("alice@rastar.test")}
    assert len(left) == 1 and not left & {first["id"], second["id"]}


def test_an_unpick_of_someone_elses_or_no_pick_is_a_204_that_deletes_nothing(
    http, fake, alice, bob, token
):
    theirs = fake.selections("bob@rastar.test")[0]["id"]
    for row_id in (theirs, str(uuid.uuid4())):
        answer = unpick(http, token, row_id, **REPRESENTATION)
        assert (answer.status_code, answer.json()) == (200, [])
        assert unpick(http, token, row_id).status_code == 204
    assert [row["id"] for row in fake.selections("bob@rastar.test")] == [theirs]


def test_an_unpick_without_a_filter_is_refused(http, fake, alice, token):
    answer = http.delete("/rest/v1/user_menu_selections", headers=bearer(token))
    assert_rest_error(answer, 400, "21000", "DELETE requires a WHERE clause")
    assert len(fake.selections("alice@rastar.test")) == 3


def test_the_menu_cannot_be_changed(http, fake, alice, token):
    row = fake.menu(SATURDAY)[0]
    insert = http.post(
        "/rest/v1/menu_schedule",
        json={"date": "2025-01-04", "menu_item_id": row["menu_item_id"]},
        headers=bearer(token),
    )
    assert_rest_error(
        insert, 403, "42501", 'new row violates row-level security policy for table "menu_schedule"'
    )
    assert (
        http.delete(
            "/rest/v1/menu_schedule", params={"id": f"eq.{row['id']}"}, headers=bearer(token)
        ).status_code
        == 204
    )
    assert (
        http.patch(
            "/rest/v1/menu_schedule",
            params={"id": f"eq.{row['id']}"},
            json={"date": "2025-01-05"},
            headers=bearer(token),
        ).status_code
        == 204
    )
    assert fake.menu(SATURDAY)[0] == row


# --- faults, knobs and counts ----------------------------------------------------------------


def test_every_nth_call_answers_503(http, fake, token):
    fake.configure(server_error_every=3)
    statuses = [
        get_menu(http, token, {"select": "id", "date": "eq.2025-01-04"}).status_code
        for _ in range(6)
    ]
    assert statuses == [200, 503, 200, 200, 503, 200]  # the sign-in was call 1
    assert fake.stats()["statuses"] == {"200": 5, "503": 2}


def test_every_call_answers_503_until_a_moment(http, fake, token):
    fake.configure(server_error_until=CLOCK.now + 10)
    answer = get_menu(http, token, {"select": "id"})
    assert (answer.status_code, answer.json()) == (503, {"message": "upstream unavailable"})
    assert http.post("/auth/v1/token?grant_type=password", json={}).status_code == 503
    CLOCK.advance(11)
    assert get_menu(http, token, {"select": "id"}).status_code == 200


def test_every_nth_call_answers_a_body_that_is_not_json(http, fake, token):
    fake.configure(garbage_every=2)
    answer = get_menu(http, token, {"select": "id"})
    assert answer.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        answer.json()
    assert get_menu(http, token, {"select": "id"}).json() is not None


def test_latency_is_added_to_every_answer_and_in_flight_calls_are_counted(http, fake, token):
    fake.configure(latency_ms=150)
    started = time.perf_counter()
    get_menu(http, token, {"select": "id"})
    assert time.perf_counter() - started >= 0.15

    def call() -> None:
        with httpx.Client(base_url=fake.base_url, headers={"apikey": fake.anon_key}) as client:
            get_menu(client, token, {"select": "id"})

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert fake.stats()["max_in_flight"] >= 2


def test_stats_count_calls_by_kind(http, fake, alice):
    session = sign_in(http)
    token = refresh(http, session["refresh_token"]).json()["access_token"]
    get_menu(http, token, {"select": "id"})
    selections(http, token, {"select": "id"})
    made = pick(
        http,
        token,
        {"user_id": alice, "menu_schedule_id": fake.menu(THURSDAY)[0]["id"]},
        **REPRESENTATION,
    )
    unpick(http, token, made.json()[0]["id"])
    stats = fake.stats()
    assert stats["calls"] == dict.fromkeys(
        ["token_password", "token_refresh", "menu", "selections", "pick", "unpick"], 1
    )
    assert stats["refreshes_by_user"] == {"alice@rastar.test": 1}
    assert http.get("/_fake/stats").json() == stats
    http.post("/_fake/stats/reset")
    assert fake.stats()["calls"]["menu"] == 0


def test_knobs_are_checked(http, fake):
    with pytest.raises(ValueError, match="unknown knob"):
        fake.configure(latency=5)
    with pytest.raises(ValueError, match="error_shape"):
        fake.configure(error_shape="newest")
    answer = http.post("/_fake/config", json={"postgrest_version": 11})
    assert answer.status_code == 400 and "postgrest_version" in answer.json()["error"]


def test_reset_forgets_accounts_picks_sessions_knobs_and_counts(http, fake, alice):
    session = sign_in(http)
    fake.configure(latency_ms=5, error_shape="old")
    fake.add_holiday(MONDAY)
    http.post("/_fake/reset")
    assert fake.knobs.latency_ms == 0 and fake.holidays == set()
    assert fake.stats()["calls"]["token_password"] == 0
    assert (
        http.post(
            "/auth/v1/token?grant_type=password",
            json={"email": "alice@rastar.test", "password": "alice-pw"},
        ).json()
        == NEW_INVALID
    )
    assert refresh(http, session["refresh_token"]).json()["error_code"] == "refresh_token_not_found"


def test_the_fake_routes_set_up_and_inspect_it(http, fake):
    made = http.post(
        "/_fake/accounts",
        json=[{"email": "carol@rastar.test", "password": "pw", "picks": {"2025-01-04": 1}}],
    ).json()
    assert made == [{"email": "carol@rastar.test", "id": made[0]["id"]}]
    assert http.post("/_fake/holidays", json=["2025-01-06"]).status_code == 200
    assert http.get("/_fake/menu", params={"date": "2025-01-06"}).json() == []
    picks = http.get("/_fake/selections", params={"email": "carol@rastar.test"}).json()
    assert picks == fake.selections("carol@rastar.test") and len(picks) == 1
    session = sign_in(http, "carol@rastar.test", "pw")
    assert http.post("/_fake/expire_access_tokens").status_code == 200
    assert get_menu(http, session["access_token"], {"select": "id"}).status_code == 401
    assert (
        http.post("/_fake/revoke_sessions", json={"email": "carol@rastar.test"}).status_code == 200
    )
    assert refresh(http, session["refresh_token"]).status_code == 400
    assert http.post("/_fake/accounts", json=[{"email": "x"}]).status_code == 400


def test_keep_alive_answers_do_not_wait_for_nagle(http, token):
    started = time.perf_counter()
    for _ in range(40):
        get_menu(http, token, {"select": "id", "date": "eq.2025-01-04"})
    assert time.perf_counter() - started < 1.5  # 40 x 40 ms would be 1.6 s


def test_python_m_serves_it_and_prints_its_url_first():
    process = subprocess.Popen(
        [sys.executable, "-m", "infra.fakes.supabase", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        answer = httpx.get(
            f"{url}/rest/v1/menu_schedule",
            headers={"apikey": "fake-anon-key-for-local-runs"},
            timeout=5,
        )
        assert (answer.status_code, answer.json()) == (200, [])  # anon sees no menu
    finally:
        process.send_signal(signal.SIGINT)
    assert process.wait(timeout=5) == 0


# --- Supabase's own clients ------------------------------------------------------------------


@pytest.fixture
def gotrue(fake: FakeSupabase) -> Any:
    client = SyncGoTrueClient(
        url=f"{fake.base_url}/auth/v1",
        headers={"apikey": fake.anon_key},
        auto_refresh_token=False,
        persist_session=False,
    )
    yield client
    client.close()


def rest_client(fake: FakeSupabase, access_token: str) -> SyncPostgrestClient:
    return SyncPostgrestClient(
        f"{fake.base_url}/rest/v1",
        headers={"apikey": fake.anon_key, "Authorization": f"Bearer {access_token}"},
    )


def test_supabase_auth_signs_in_refreshes_and_reads_the_user(gotrue, alice):
    signed = gotrue.sign_in_with_password({"email": "alice@rastar.test", "password": "alice-pw"})
    assert signed.user.id == alice and signed.session.expires_at == int(CLOCK.now) + 3600
    refreshed = gotrue.refresh_session(signed.session.refresh_token)
    assert refreshed.session.refresh_token != signed.session.refresh_token
    assert refreshed.user.email == "alice@rastar.test"
    assert gotrue.get_user(refreshed.session.access_token).user.id == alice


@pytest.mark.parametrize("shape", ["new", "old"])
def test_supabase_auth_reads_the_refusals(fake, gotrue, alice, shape):
    fake.configure(error_shape=shape)
    with pytest.raises(AuthApiError) as wrong:
        gotrue.sign_in_with_password({"email": "alice@rastar.test", "password": "nope"})
    assert (wrong.value.status, wrong.value.message) == (400, "Invalid login credentials")
    assert wrong.value.code == ("invalid_credentials" if shape == "new" else None)
    first = gotrue.sign_in_with_password(
        {"email": "alice@rastar.test", "password": "alice-pw"}
    ).session
    gotrue.refresh_session(first.refresh_token)
    CLOCK.advance(11)
    with pytest.raises(AuthApiError) as reused:
        gotrue.refresh_session(first.refresh_token)
    assert reused.value.message == "Invalid Refresh Token: Already Used"
    assert reused.value.code == ("refresh_token_already_used" if shape == "new" else None)


def test_supabase_auth_signs_out(fake, gotrue, alice):
    session = gotrue.sign_in_with_password(
        {"email": "alice@rastar.test", "password": "alice-pw"}
    ).session
    gotrue.sign_out()
    assert gotrue.get_session() is None
    with pytest.raises(AuthApiError) as refused:
        gotrue.refresh_session(session.refresh_token)
    assert refused.value.code == "refresh_token_not_found"


def test_postgrest_client_reads_the_menu(fake, gotrue, alice):
    token = gotrue.sign_in_with_password(
        {"email": "alice@rastar.test", "password": "alice-pw"}
    ).session.access_token
    client = rest_client(fake, token)
    answer = (
        client.from_("menu_schedule")
        .select("*,menu_item:menu_items(id,name,description)")
        .gte("date", THURSDAY.isoformat())
        .lte("date", SATURDAY.isoformat())
        .order("date")
        .execute()
    )
    assert answer.data == fake.menu(THURSDAY) + fake.menu(SATURDAY)
    one = (
        client.from_("menu_schedule")
        .select("id,date")
        .eq("id", answer.data[0]["id"])
        .single()
        .execute()
    )
    assert one.data == {"id": answer.data[0]["id"], "date": "2025-01-02"}
    with pytest.raises(APIError) as missing:
        client.from_("dishes").select("*").execute()
    assert missing.value.code == "PGRST205"


def test_postgrest_client_picks_reads_and_unpicks(fake, gotrue, alice, bob):
    token = gotrue.sign_in_with_password(
        {"email": "alice@rastar.test", "password": "alice-pw"}
    ).session.access_token
    client = rest_client(fake, token)
    schedule = fake.menu(THURSDAY)[1]["id"]
    made = (
        client.from_("user_menu_selections")
        .insert({"user_id": alice, "menu_schedule_id": schedule})
        .execute()
    )
    [row] = made.data
    assert row["menu_schedule_id"] == schedule
    found = (
        client.from_("user_menu_selections")
        .select(INNER_SELECT)
        .eq("user_id", alice)
        .gte("menu_schedule.date", THURSDAY.isoformat())
        .lte("menu_schedule.date", THURSDAY.isoformat())
        .order("created_at")
        .execute()
    )
    assert [r["id"] for r in found.data] == [row["id"]]
    with pytest.raises(APIError) as twice:
        client.from_("user_menu_selections").insert(
            {"user_id": alice, "menu_schedule_id": fake.menu(THURSDAY)[2]["id"]}
        ).execute()
    assert twice.value.code == "23505"
    with pytest.raises(APIError) as theirs:
        client.from_("user_menu_selections").insert(
            {"user_id": bob, "menu_schedule_id": schedule}
        ).execute()
    assert theirs.value.code == "42501"
    gone = client.from_("user_menu_selections").delete().eq("id", row["id"]).execute()
    assert [r["id"] for r in gone.data] == [row["id"]]
    assert schedule not in {r["menu_schedule_id"] for r in fake.selections("alice@rastar.test")}


def test_postgrest_client_sees_an_expired_token(fake, gotrue, alice):
    token = gotrue.sign_in_with_password(
        {"email": "alice@rastar.test", "password": "alice-pw"}
    ).session.access_token
    fake.expire_access_tokens()
    with pytest.raises(APIError) as expired:
        rest_client(fake, token).from_("menu_schedule").select("id").execute()
    assert (expired.value.code, expired.value.message) == ("PGRST303", "JWT expired")
