"""The Rastar client against the fake service over HTTP, sealed tokens, and linking."""

from __future__ import annotations

import threading
import time
from datetime import date

import pytest
from pipeline import add_users

from infra.fakes.rastar import default_menu
from job_scheduler.errors import (
    ConfigError,
    CredentialsRefused,
    CredentialUnreadable,
    InvalidRastarToken,
    RastarUnavailable,
)
from job_scheduler.jobs.bounded import map_bounded
from job_scheduler.rastar import accounts
from job_scheduler.rastar.client import RastarClient
from job_scheduler.rastar.crypto import SecretBox
from job_scheduler.rastar.protocol import pick_link

SATURDAY = date(2026, 11, 28)
FRIDAY = date(2026, 11, 27)


@pytest.fixture
def client(rastar):
    client = RastarClient(rastar.base_url, timeout_seconds=1, concurrency=4)
    yield client
    client.close()


# --- the client --------------------------------------------------------------------------


def test_menu_and_picks_come_back_as_the_protocol_says(rastar, client):
    rastar.add_user("tok", {date(2026, 11, 20): "3", SATURDAY: "1"})

    menu = client.menu("tok", SATURDAY)
    picks = client.reservations("tok", date(2026, 11, 1), SATURDAY)

    assert [food.id for food in menu] == [item["id"] for item in default_menu(SATURDAY)]
    assert [(p.date, p.food.id, p.food.name) for p in picks] == [
        (date(2026, 11, 20), "3", "جوجه کباب"),
        (SATURDAY, "1", "قورمه سبزی"),
    ]
    assert client.reservations("tok", date(2026, 11, 21), date(2026, 11, 27)) == ()


def test_no_food_on_fridays_or_holidays_is_an_empty_menu(rastar, client):
    rastar.add_user("tok")
    rastar.holidays.add(SATURDAY)

    assert client.menu("tok", FRIDAY) == ()
    assert client.menu("tok", SATURDAY) == ()


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_token_is_its_own_error_and_not_retried(rastar, client, status):
    rastar.add_user("tok")
    rastar.expire("tok", status)

    with pytest.raises(CredentialsRefused, match=str(status)):
        client.menu("tok", SATURDAY)
    assert rastar.stats() == {str(status): 1}


def test_an_unknown_token_is_refused(rastar, client):
    with pytest.raises(CredentialsRefused, match="401"):
        client.reservations("nobody", FRIDAY, SATURDAY)


def test_server_errors_are_retried_with_backoff(rastar, client):
    rastar.add_user("tok")
    rastar.configure(server_error_every=2)  # every second call fails

    for _ in range(3):
        assert client.menu("tok", SATURDAY)

    assert rastar.stats() == {"200": 3, "500": 2}


def test_a_lasting_outage_is_unavailable_after_three_tries(rastar, client):
    rastar.add_user("tok")
    rastar.configure(server_error_until=time.time() + 60)

    started = time.monotonic()
    with pytest.raises(RastarUnavailable, match=r"answered 500 \(3 tries\)"):
        client.menu("tok", SATURDAY)

    assert rastar.stats() == {"500": 3}
    assert time.monotonic() - started < 5


def test_a_slow_service_times_out_and_says_so_without_the_token(rastar, client):
    rastar.add_user("secret-token-xyz")
    rastar.configure(latency_ms=1500)  # the client waits 1 s

    with pytest.raises(RastarUnavailable, match="ReadTimeout") as raised:
        client.menu("secret-token-xyz", SATURDAY)

    assert "secret-token-xyz" not in str(raised.value)


def test_an_answer_of_the_wrong_shape_is_unavailable_not_a_crash(rastar, client):
    rastar.add_user("tok")
    rastar.configure(garbage_every=1)

    with pytest.raises(RastarUnavailable, match="not JSON"):
        client.menu("tok", SATURDAY)


def test_the_pick_link_carries_the_date():
    assert (
        pick_link("https://food.example/", SATURDAY)
        == "https://food.example/reserve?date=2026-11-28"
    )


def test_without_a_url_the_client_says_what_to_set():
    from job_scheduler.config import Settings

    with pytest.raises(ConfigError, match="RASTAR_API_URL"):
        RastarClient.from_settings(Settings())


# --- sealed tokens and key rotation ------------------------------------------------------


def test_tokens_are_sealed_and_read_back_with_any_listed_key():
    old, new = SecretBox.new_key(), SecretBox.new_key()
    sealed = SecretBox([old]).encrypt("tok-1")

    assert "tok-1" not in sealed
    assert SecretBox([new, old]).decrypt(sealed) == "tok-1"
    with pytest.raises(CredentialUnreadable, match="any configured key"):
        SecretBox([new]).decrypt(sealed)


@pytest.mark.parametrize(
    "keys, words",
    [((), "needs at least one key"), (("not-a-key",), "key 1 is not a Fernet key")],
)
def test_bad_keys_say_what_to_fix(keys, words):
    with pytest.raises(ConfigError, match=words):
        SecretBox(list(keys))


def test_rotation_reseals_every_token_and_then_the_old_key_can_go(db):
    old, new = SecretBox.new_key(), SecretBox.new_key()
    users = add_users(db, 3)
    for user in users:
        accounts.link(db, SecretBox([old]), user, f"tok-{user}")

    assert accounts.reseal_all(db, SecretBox([new, old])) == 3

    after = accounts.accounts_of(db, users)
    assert [SecretBox([new]).decrypt(after[u].sealed_token) for u in users] == [
        f"tok-{u}" for u in users
    ]


def test_rotation_changes_nothing_when_one_token_cannot_be_read(db):
    old, stranger = SecretBox.new_key(), SecretBox.new_key()
    first, second = add_users(db, 2)
    accounts.link(db, SecretBox([old]), first, "tok-a")
    accounts.link(db, SecretBox([stranger]), second, "tok-b")
    before = accounts.accounts_of(db, [first, second])

    with pytest.raises(CredentialUnreadable):
        accounts.reseal_all(db, SecretBox([SecretBox.new_key(), old]))

    assert accounts.accounts_of(db, [first, second]) == before


@pytest.mark.parametrize("token", ["", "   ", "two words", "x" * 5000])
def test_a_bad_token_is_refused_before_anything_is_stored(db, token):
    (user,) = add_users(db, 1)
    with pytest.raises(InvalidRastarToken):
        accounts.link(db, SecretBox([SecretBox.new_key()]), user, token)
    assert accounts.accounts_of(db, [user]) == {}


def test_linking_again_clears_a_refusal(db):
    box = SecretBox([SecretBox.new_key()])
    (user,) = add_users(db, 1)
    accounts.link(db, box, user, "tok-old")
    sealed = accounts.accounts_of(db, [user])[user].sealed_token
    accounts.mark_refused(db, user, "Rastar refused the token (401)", sealed)
    accounts.mark_relink_notified(db, [user])
    assert accounts.accounts_of(db, [user])[user].refused

    accounts.link(db, box, user, "tok-new")

    account = accounts.accounts_of(db, [user])[user]
    assert (account.refused, account.relink_notified) == (False, False)
    assert box.decrypt(account.sealed_token) == "tok-new"


# --- bounded concurrency -----------------------------------------------------------------


def test_map_bounded_keeps_order_and_the_bound():
    running, most = 0, 0
    lock = threading.Lock()

    def slow(n: int) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.01)
        with lock:
            running -= 1
        return n * n

    assert list(map_bounded(slow, range(50), workers=4)) == [n * n for n in range(50)]
    assert most == 4


def test_map_bounded_reads_the_stream_as_it_goes():
    pulled = []

    def stream():
        for n in range(1000):
            pulled.append(n)
            yield n

    results = map_bounded(lambda n: n, stream(), workers=2)
    assert next(results) == 0
    assert len(pulled) <= 5
    results.close()


def test_map_bounded_raises_the_callers_error_in_order():
    def fail_on_three(n: int) -> int:
        if n == 3:
            raise ValueError("three")
        return n

    results = map_bounded(fail_on_three, range(10), workers=2)
    assert [next(results) for _ in range(3)] == [0, 1, 2]
    with pytest.raises(ValueError, match="three"):
        next(results)


def test_a_refusal_of_an_old_token_leaves_a_newly_linked_one_alone(db):
    box = SecretBox([SecretBox.new_key()])
    (user,) = add_users(db, 1)
    accounts.link(db, box, user, "tok-old")
    checked = accounts.accounts_of(db, [user])[user].sealed_token
    accounts.link(db, box, user, "tok-new")  # linked again while the run was checking

    accounts.mark_refused(db, user, "Rastar refused the token (401)", checked)

    assert not accounts.accounts_of(db, [user])[user].refused
