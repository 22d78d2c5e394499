"""The Rastar client against the fake Supabase over HTTP; sessions sealed, refreshed and
refused; one-time links; key rotation; bounded concurrency."""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime, timedelta

import pytest
from pipeline import add_users
from rastar_helpers import PASSWORD, dish_names, email_of, link_account

from job_scheduler.config import Settings
from job_scheduler.errors import (
    AccessTokenExpired,
    ConfigError,
    CredentialsRefused,
    CredentialUnreadable,
    LinkNotFound,
    LinkUnusable,
    RastarUnavailable,
)
from job_scheduler.jobs.bounded import map_bounded
from job_scheduler.rastar import accounts, linking
from job_scheduler.rastar.client import RastarClient
from job_scheduler.rastar.crypto import SecretBox
from job_scheduler.rastar.protocol import Session
from job_scheduler.rastar.sessions import Sessions

SATURDAY = date(2026, 11, 28)
SUNDAY = date(2026, 11, 29)
FRIDAY = date(2026, 11, 27)


@pytest.fixture
def client(rastar_client):
    return rastar_client


@pytest.fixture
def sessions(database_url, box, client) -> Sessions:
    return Sessions(database_url, box, client)


def signed_in(rastar, client, email="a@rastar.test", picks=None) -> Session:
    rastar.add_account(email, PASSWORD, picks or {})
    return client.sign_in(email, PASSWORD)


# --- signing in and refreshing (GoTrue) ----------------------------------------------------


def test_signing_in_gives_a_session_that_never_shows_its_tokens(rastar, client):
    user_id = rastar.add_account("Sara@Rastar.test", PASSWORD)

    session = client.sign_in("sara@rastar.test", PASSWORD)

    assert (session.user_id, session.email) == (user_id, "sara@rastar.test")
    assert session.expires_at > datetime.now(UTC) + timedelta(minutes=55)
    assert session.access_token not in repr(session) and session.refresh_token not in repr(session)
    assert Session.from_json(session.to_json()) == session


@pytest.mark.parametrize("shape, code", [("new", "invalid_credentials"), ("old", "invalid_grant")])
def test_a_wrong_password_is_refused_in_either_error_shape_and_not_retried(
    rastar, client, shape, code
):
    rastar.add_account("a@rastar.test", PASSWORD)
    rastar.configure(error_shape=shape)

    with pytest.raises(CredentialsRefused, match=code) as raised:
        client.sign_in("a@rastar.test", "wrong password")

    assert "wrong password" not in str(raised.value)
    assert rastar.stats()["calls"]["token_password"] == 1


def test_a_refresh_rotates_the_refresh_token_and_a_spent_one_is_refused(rastar, client):
    session = signed_in(rastar, client)
    rastar.configure(refresh_reuse_interval_seconds=0)

    fresh = client.refresh(session.refresh_token)

    assert fresh.refresh_token != session.refresh_token and fresh.user_id == session.user_id
    with pytest.raises(CredentialsRefused, match="refresh_token_already_used"):
        client.refresh(session.refresh_token)
    with pytest.raises(CredentialsRefused):  # reusing it revoked the whole session
        client.refresh(fresh.refresh_token)


def test_a_refused_anon_key_is_the_deployment_s_fault_not_the_person_s(rastar, client):
    session = signed_in(rastar, client)
    wrong = RastarClient(rastar.base_url, "not-the-anon-key", timeout_seconds=1)

    with pytest.raises(RastarUnavailable, match="RASTAR_SUPABASE_ANON_KEY"):
        wrong.refresh(session.refresh_token)
    with pytest.raises(RastarUnavailable, match="RASTAR_SUPABASE_ANON_KEY"):
        wrong.menu(session.access_token, SATURDAY, SUNDAY)
    wrong.close()


# --- the tables (PostgREST) ----------------------------------------------------------------


def test_the_menu_of_a_range_comes_by_date_and_a_friday_or_holiday_has_none(rastar, client):
    session = signed_in(rastar, client)
    rastar.add_holiday(SUNDAY)

    offered = client.menu(session.access_token, FRIDAY, date(2026, 11, 30))

    days = sorted({offering.date for offering in offered})
    assert days == [SATURDAY, date(2026, 11, 30)]
    saturday = [o.food.name for o in offered if o.date == SATURDAY]
    assert saturday == dish_names(rastar, SATURDAY) and len(saturday) == 4


def test_picks_of_a_range_and_a_pick_and_an_unpick(rastar, client):
    session = signed_in(rastar, client, picks={date(2026, 11, 19): 2, SATURDAY: 0})
    token, user = session.access_token, session.user_id

    picks = client.selections(token, user, date(2026, 11, 1), SATURDAY)
    assert [(p.date, p.food.name) for p in picks] == [
        (date(2026, 11, 19), dish_names(rastar, date(2026, 11, 19))[2]),
        (SATURDAY, dish_names(rastar, SATURDAY)[0]),
    ]
    assert client.selections(token, user, date(2026, 11, 21), FRIDAY) == ()

    sunday = [o for o in client.menu(token, SUNDAY, SUNDAY)]
    made = client.pick(token, user, sunday[1])
    assert [(p.id, p.food.name) for p in client.selections(token, user, SUNDAY, SUNDAY)] == [
        (made.id, sunday[1].food.name)
    ]
    client.unpick(token, made.id)
    assert client.selections(token, user, SUNDAY, SUNDAY) == ()


def test_no_one_sees_or_changes_anyone_else_s_picks(rastar, client):
    alice = signed_in(rastar, client, "alice@rastar.test", picks={SATURDAY: 0})
    bob = signed_in(rastar, client, "bob@rastar.test")
    offering = client.menu(bob.access_token, SUNDAY, SUNDAY)[0]

    assert client.selections(bob.access_token, alice.user_id, SATURDAY, SATURDAY) == ()
    with pytest.raises(RastarUnavailable, match="row-level security"):  # a bug, not Bob's doing
        client.pick(bob.access_token, alice.user_id, offering)
    (alices,) = client.selections(alice.access_token, alice.user_id, SATURDAY, SATURDAY)
    client.unpick(bob.access_token, alices.id)  # row-level security: deletes nothing
    assert len(client.selections(alice.access_token, alice.user_id, SATURDAY, SATURDAY)) == 1


def test_an_expired_access_token_is_its_own_error(rastar, client):
    session = signed_in(rastar, client)
    rastar.expire_access_tokens()

    with pytest.raises(AccessTokenExpired):
        client.menu(session.access_token, SATURDAY, SATURDAY)


# --- Rastar failing ------------------------------------------------------------------------


def test_server_errors_are_retried_with_backoff(rastar, client):
    session = signed_in(rastar, client)
    rastar.reset_stats()
    rastar.configure(server_error_every=2)  # every second call fails

    for _ in range(3):
        assert client.menu(session.access_token, SATURDAY, SATURDAY)

    assert rastar.stats()["statuses"] == {"200": 3, "503": 3}  # calls 2, 4, 6: sign-in was 1


def test_a_lasting_outage_is_unavailable_after_three_tries(rastar, client):
    session = signed_in(rastar, client)
    rastar.reset_stats()
    rastar.configure(server_error_until=time.time() + 60)

    started = time.monotonic()
    with pytest.raises(RastarUnavailable, match=r"answered 503 \(3 tries\)"):
        client.menu(session.access_token, SATURDAY, SATURDAY)

    assert rastar.stats()["statuses"] == {"503": 3}
    assert time.monotonic() - started < 5


def test_a_slow_service_times_out_and_says_so_without_the_token(rastar, client):
    session = signed_in(rastar, client)
    rastar.configure(latency_ms=1500)
    impatient = RastarClient(rastar.base_url, rastar.anon_key, timeout_seconds=1)

    with pytest.raises(RastarUnavailable, match="ReadTimeout") as raised:
        impatient.menu(session.access_token, SATURDAY, SATURDAY)

    impatient.close()
    assert session.access_token not in str(raised.value)


def test_an_answer_of_the_wrong_shape_is_unavailable_not_a_crash(rastar, client):
    session = signed_in(rastar, client)
    rastar.configure(garbage_every=1)

    with pytest.raises(RastarUnavailable, match="not JSON"):
        client.menu(session.access_token, SATURDAY, SATURDAY)


def test_without_a_url_the_client_says_what_to_set():
    with pytest.raises(ConfigError, match="RASTAR_SUPABASE_URL"):
        RastarClient.from_settings(Settings())


# --- sessions that stay alive --------------------------------------------------------------


def read_menu(sessions: Sessions, user: int, sealed: str):
    return sessions.call(
        user, sealed, lambda s: sessions.client.menu(s.access_token, SATURDAY, SATURDAY)
    )


def sealed_of(db, user: int) -> str:
    return accounts.accounts_of(db, [user])[user].sealed_session


def test_a_session_about_to_expire_is_refreshed_and_stored_before_it_is_used(
    db, rastar, box, client, sessions
):
    rastar.configure(access_token_ttl_seconds=60)  # within the 5-minute margin at once
    (user,) = add_users(db, 1)
    link_account(db, box, client, rastar, user)
    before = sealed_of(db, user)

    assert read_menu(sessions, user, before)

    assert rastar.stats()["calls"]["token_refresh"] == 1
    after = accounts.unseal(box, sealed_of(db, user))
    assert after.refresh_token != accounts.unseal(box, before).refresh_token
    assert accounts.accounts_of(db, [user])[user].access_expires_at == after.expires_at


def test_a_token_rastar_calls_expired_is_refreshed_once_and_the_call_tried_again(
    db, rastar, box, client, sessions
):
    (user,) = add_users(db, 1)
    link_account(db, box, client, rastar, user)
    rastar.expire_access_tokens()  # an hour left by its expiry, refused all the same

    assert read_menu(sessions, user, sealed_of(db, user))

    calls = rastar.stats()["calls"]
    assert (calls["token_refresh"], calls["menu"]) == (1, 2)


def test_two_runs_refreshing_one_person_at_once_refresh_once_and_both_succeed(
    db, rastar, box, client, sessions, database_url
):
    rastar.configure(access_token_ttl_seconds=60, refresh_reuse_interval_seconds=0)
    (user,) = add_users(db, 1)
    link_account(db, box, client, rastar, user)
    sealed = sealed_of(db, user)
    rastar.reset_stats()
    results: list[object] = []
    start = threading.Barrier(2)

    def run() -> None:
        start.wait()
        try:
            results.append(read_menu(Sessions(database_url, box, client), user, sealed))
        except Exception as exc:  # recorded, asserted below
            results.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert all(isinstance(result, tuple) and result for result in results), results
    stats = rastar.stats()
    # One refresh per 60-second token would be two if each run refreshed blindly; the second
    # run to take the row lock finds a session newer than the one it saw, and uses it.
    assert stats["calls"]["token_refresh"] == 1
    assert stats["refresh_refused"] == 0
    assert not accounts.accounts_of(db, [user])[user].refused


def test_a_revoked_session_marks_the_account_to_link_again(db, rastar, box, client, sessions):
    (user,) = add_users(db, 1)
    email = link_account(db, box, client, rastar, user)
    rastar.revoke_sessions(email)
    rastar.expire_access_tokens()

    with pytest.raises(CredentialsRefused):
        read_menu(sessions, user, sealed_of(db, user))

    account = accounts.accounts_of(db, [user])[user]
    assert account.refused and "refresh_token_not_found" in account.refused_reason
    assert not account.relink_notified


def test_an_outage_while_refreshing_changes_nothing(db, rastar, box, client, sessions):
    (user,) = add_users(db, 1)
    link_account(db, box, client, rastar, user)
    sealed = sealed_of(db, user)
    rastar.expire_access_tokens()
    rastar.configure(server_error_until=time.time() + 60)

    with pytest.raises(RastarUnavailable):
        read_menu(sessions, user, sealed)

    assert sealed_of(db, user) == sealed
    assert not accounts.accounts_of(db, [user])[user].refused


# --- one-time links ------------------------------------------------------------------------


@pytest.fixture
def link_settings(database_url) -> Settings:
    return Settings(database_url=database_url, link_page_url="https://admin.example/api/link")


def state_of(url: str) -> str:
    return url.split("state=", 1)[1]


def test_a_link_is_random_stored_hashed_and_opening_it_changes_nothing(db, link_settings):
    (user,) = add_users(db, 1)

    url = linking.create_link(db, link_settings, user)
    state = state_of(url)

    assert url.startswith("https://admin.example/api/link?state=") and len(state) >= 40
    stored = db.execute("SELECT * FROM rastar_link_states").fetchone()
    assert stored["state_sha256"] == linking.digest(state) and state not in str(dict(stored))
    first, second = linking.peek(db, state), linking.peek(db, state)
    assert first == second and first.tries_left == linking.MOST_TRIES and first.user_id == user


def test_signing_in_through_a_link_links_and_uses_it_up(db, rastar, box, client, link_settings):
    (user,) = add_users(db, 1)
    rastar.add_account("sara@rastar.test", PASSWORD)
    state = state_of(linking.create_link(db, link_settings, user))

    linked = linking.sign_in(db, box, client, state, " sara@rastar.test ", PASSWORD)

    assert (linked.user_id, linked.chat_id, linked.email) == (user, 5000, "sara@rastar.test")
    assert accounts.linked_as(db, box, user) == "sara@rastar.test"
    with pytest.raises(LinkUnusable) as used:
        linking.peek(db, state)
    assert used.value.reason == "used"
    assert "<b>sara@rastar.test</b>" in linking.linked_text(linked)


def test_each_wrong_password_spends_a_try_and_the_sixth_is_refused(
    db, rastar, box, client, link_settings
):
    (user,) = add_users(db, 1)
    rastar.add_account("sara@rastar.test", PASSWORD)
    state = state_of(linking.create_link(db, link_settings, user))

    for tries_left in range(linking.MOST_TRIES - 1, -1, -1):
        with pytest.raises(CredentialsRefused):
            linking.sign_in(db, box, client, state, "sara@rastar.test", "guess")
        if tries_left:
            assert linking.peek(db, state).tries_left == tries_left
    with pytest.raises(LinkUnusable) as refused:
        linking.sign_in(db, box, client, state, "sara@rastar.test", PASSWORD)

    assert refused.value.reason == "tries"
    assert rastar.stats()["calls"]["token_password"] == linking.MOST_TRIES
    assert accounts.accounts_of(db, [user]) == {}


def test_an_outage_does_not_spend_a_try(db, rastar, box, client, link_settings):
    (user,) = add_users(db, 1)
    state = state_of(linking.create_link(db, link_settings, user))
    rastar.configure(server_error_until=time.time() + 60)

    with pytest.raises(RastarUnavailable):
        linking.sign_in(db, box, client, state, "sara@rastar.test", PASSWORD)

    assert linking.peek(db, state).tries_left == linking.MOST_TRIES


def test_an_expired_link_an_unknown_one_and_a_replaced_one_cannot_be_used(db, link_settings):
    (user,) = add_users(db, 1)
    old = state_of(linking.create_link(db, link_settings, user))
    new = state_of(linking.create_link(db, link_settings, user))  # the earlier one stops
    db.execute("UPDATE rastar_link_states SET expires_at = now() - interval '1 second'"
               " WHERE state_sha256 = %s", (linking.digest(new),))  # fmt: skip

    with pytest.raises(LinkUnusable) as replaced:
        linking.peek(db, old)
    with pytest.raises(LinkUnusable) as expired:
        linking.peek(db, new)
    with pytest.raises(LinkNotFound):
        linking.peek(db, "no-such-state")
    assert (replaced.value.reason, expired.value.reason) == ("used", "expired")


def test_a_link_needs_the_page_s_url_and_an_existing_user(db, database_url, link_settings):
    from job_scheduler.errors import UserNotFound

    with pytest.raises(ConfigError, match="LINK_PAGE_URL"):
        linking.create_link(db, Settings(database_url=database_url), 1)
    with pytest.raises(UserNotFound):
        linking.create_link(db, link_settings, 424242)


# --- sealed sessions and key rotation --------------------------------------------------------


def test_sessions_are_sealed_and_read_back_with_any_listed_key():
    old, new = SecretBox.new_key(), SecretBox.new_key()
    session = Session("access-1", "refresh-1", datetime(2026, 12, 1, tzinfo=UTC), "u-1", "a@b")
    sealed = accounts.seal(SecretBox([old]), session)

    assert "access-1" not in sealed and "refresh-1" not in sealed
    assert accounts.unseal(SecretBox([new, old]), sealed) == session
    with pytest.raises(CredentialUnreadable, match="any configured key"):
        accounts.unseal(SecretBox([new]), sealed)


@pytest.mark.parametrize(
    "keys, words",
    [((), "needs at least one key"), (("not-a-key",), "key 1 is not a Fernet key")],
)
def test_bad_keys_say_what_to_fix(keys, words):
    with pytest.raises(ConfigError, match=words):
        SecretBox(list(keys))


def test_rotation_reseals_every_session_and_then_the_old_key_can_go(db, rastar, client):
    old, new = SecretBox.new_key(), SecretBox.new_key()
    users = add_users(db, 3)
    for user in users:
        link_account(db, SecretBox([old]), client, rastar, user)

    assert accounts.reseal_all(db, SecretBox([new, old])) == 3

    after = accounts.accounts_of(db, users)
    emails = [accounts.unseal(SecretBox([new]), after[u].sealed_session).email for u in users]
    assert emails == [email_of(u) for u in users]


def test_rotation_changes_nothing_when_one_session_cannot_be_read(db, rastar, client):
    old, stranger = SecretBox.new_key(), SecretBox.new_key()
    first, second = add_users(db, 2)
    link_account(db, SecretBox([old]), client, rastar, first)
    link_account(db, SecretBox([stranger]), client, rastar, second)
    before = accounts.accounts_of(db, [first, second])

    with pytest.raises(CredentialUnreadable):
        accounts.reseal_all(db, SecretBox([SecretBox.new_key(), old]))

    assert accounts.accounts_of(db, [first, second]) == before


def test_linking_again_clears_a_refusal(db, rastar, box, client):
    (user,) = add_users(db, 1)
    link_account(db, box, client, rastar, user)
    accounts.mark_refused(db, user, "Rastar refused the session", sealed_of(db, user))
    accounts.mark_relink_notified(db, [user])
    assert accounts.accounts_of(db, [user])[user].refused

    accounts.link(db, box, user, client.sign_in(email_of(user), PASSWORD))

    account = accounts.accounts_of(db, [user])[user]
    assert (account.refused, account.relink_notified) == (False, False)


def test_a_refusal_of_an_old_session_leaves_a_newly_linked_one_alone(db, rastar, box, client):
    (user,) = add_users(db, 1)
    link_account(db, box, client, rastar, user)
    checked = sealed_of(db, user)
    accounts.link(db, box, user, client.sign_in(email_of(user), PASSWORD))  # linked again

    accounts.mark_refused(db, user, "Rastar refused the session", checked)

    assert not accounts.accounts_of(db, [user])[user].refused


def test_unlinking_forgets_the_session(db, rastar, box, client):
    (user,) = add_users(db, 1)
    link_account(db, box, client, rastar, user)

    assert accounts.unlink(db, user) is True
    assert accounts.unlink(db, user) is False
    assert accounts.linked_as(db, box, user) is None


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
