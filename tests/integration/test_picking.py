"""Picking from a reminder's buttons, against the fake Rastar over HTTP and the real Postgres:
a pick, a change, the same dish again, someone else's button, a stale one, and Rastar
failing between the unpick and the pick."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from pipeline import add_users
from rastar_helpers import dish_names, email_of, link_account

from infra.fakes.supabase.server import Answer
from job_scheduler.errors import PickFailed, PickRefused
from job_scheduler.rastar import accounts, picking
from job_scheduler.rastar.crypto import SecretBox
from job_scheduler.rastar.picking import OfferedDay
from job_scheduler.rastar.sessions import Sessions
from job_scheduler.schedule.zoned import load_zone

CHAT = 5000  # add_users' first chat


@pytest.fixture
def client(rastar_client):
    return rastar_client


@pytest.fixture
def sessions(database_url, box, client) -> Sessions:
    return Sessions(database_url, box, client)


def next_food_day(rastar, after: int = 1):
    day = datetime.now(load_zone("Asia/Tehran")).date() + timedelta(days=after)
    while not dish_names(rastar, day):
        day += timedelta(days=1)
    return day


@pytest.fixture
def person(db, rastar, box, client):
    """A linked person, a coming day with food, and an offer of that day's dishes."""
    (user,) = add_users(db, 1)
    link_account(db, box, client, rastar, user)
    day = next_food_day(rastar)
    session = client.sign_in(email_of(user), "correct horse battery")
    offer = picking.make_offer(db, user, [OfferedDay(day, client.menu(session.access_token,
                                                                       day, day))])  # fmt: skip
    return user, day, offer


def picked(rastar, user: int) -> list[str]:
    return [row["menu_schedule"]["menu_item"]["name"] for row in rastar.selections(email_of(user))]


def tap(db, sessions, offer, day: int = 0, dish: int = 0, chat: int = CHAT):
    return picking.pick(db, sessions, picking.load_offer(db, offer.token, chat), day, dish)


def test_a_tap_picks_that_dish_in_rastar(db, rastar, sessions, person):
    user, day, offer = person

    outcome = tap(db, sessions, offer, dish=2)

    assert (outcome.date, outcome.food.name, outcome.replaced) == (
        day,
        dish_names(rastar, day)[2],
        None,
    )
    assert picked(rastar, user) == [dish_names(rastar, day)[2]]


def test_a_second_tap_changes_the_pick_and_the_same_dish_changes_nothing(
    db, rastar, sessions, person
):
    user, day, offer = person
    names = dish_names(rastar, day)
    tap(db, sessions, offer, dish=0)

    changed = tap(db, sessions, offer, dish=3)
    again = tap(db, sessions, offer, dish=3)

    assert (changed.food.name, changed.replaced.name) == (names[3], names[0])
    assert again.unchanged and picked(rastar, user) == [names[3]]


def test_someone_else_s_button_or_a_made_up_one_picks_nothing(db, rastar, sessions, person):
    user, _, offer = person
    add_users(db, 1, first_chat_id=6000)

    with pytest.raises(PickRefused, match="not yours"):
        tap(db, sessions, offer, chat=6000)
    with pytest.raises(PickRefused, match="not yours"):
        picking.load_offer(db, "forged-token", CHAT)
    with pytest.raises(PickRefused, match="does not match"):
        tap(db, sessions, offer, dish=9)
    assert picked(rastar, user) == []


@pytest.mark.parametrize(
    "data, parsed",
    [("p:tok:0:3", ("p", "tok", 0, 3)), ("d:tok:2", ("d", "tok", 2, None))],
)
def test_button_data_reads_back(data, parsed):
    assert picking.parse_callback(data) == parsed


@pytest.mark.parametrize("data", ["", "p:tok", "p:tok:x:1", "x:tok:0:0", "d:tok:0:1"])
def test_button_data_of_another_kind_is_refused(data):
    with pytest.raises(PickRefused):
        picking.parse_callback(data)


def test_a_day_that_is_over_cannot_be_picked(db, rastar, client, sessions):
    (user,) = add_users(db, 1)
    link_account(db, SecretBox([SecretBox.new_key()]), client, rastar, user)
    yesterday = datetime.now(load_zone("Asia/Tehran")).date() - timedelta(days=1)
    offer = picking.make_offer(db, user, [OfferedDay(yesterday, ())])

    with pytest.raises(PickRefused, match="over"):
        picking.load_offer(db, offer.token, CHAT)


def test_an_unlinked_person_is_told_to_link(db, rastar, sessions, person):
    user, _, offer = person
    accounts.unlink(db, user)

    with pytest.raises(PickRefused, match="/link"):
        tap(db, sessions, offer)


def test_a_token_expired_on_the_way_is_refreshed_and_the_pick_made(db, rastar, sessions, person):
    _, day, offer = person
    rastar.expire_access_tokens()

    assert tap(db, sessions, offer, dish=1).food.name == dish_names(rastar, day)[1]
    assert rastar.stats()["calls"]["token_refresh"] == 1


def failing_picks(monkeypatch, rastar, how_many: int, apply_first: bool = False):
    """The fake answers the next ``how_many`` picks (POSTs) 503; ``apply_first``: the first
    one is made in Rastar all the same and only its answer is lost."""
    original, failed = rastar.answer, []

    def answer(request):
        is_pick = request.method == "POST" and request.path.endswith("user_menu_selections")
        if is_pick and len(failed) < how_many:
            failed.append(request)
            if apply_first and len(failed) == 1:
                original(request)
            return Answer.json(503, {"message": "upstream timed out"})
        return original(request)

    monkeypatch.setattr(rastar, "answer", answer)  # the session's fake: put back afterwards


def test_a_failed_change_puts_the_earlier_pick_back_and_says_so(
    db, rastar, sessions, person, monkeypatch
):
    user, day, offer = person
    names = dish_names(rastar, day)
    tap(db, sessions, offer, dish=0)
    failing_picks(monkeypatch, rastar, 3)  # the client's three tries at the new pick

    with pytest.raises(PickFailed, match=f"{names[0]} stays picked"):
        tap(db, sessions, offer, dish=1)

    assert picked(rastar, user) == [names[0]]


def test_when_the_earlier_pick_cannot_go_back_the_error_says_nothing_is_picked(
    db, rastar, sessions, person, monkeypatch
):
    user, _, offer = person
    tap(db, sessions, offer, dish=0)
    failing_picks(monkeypatch, rastar, 99)

    with pytest.raises(PickFailed, match="nothing is picked for that day now"):
        tap(db, sessions, offer, dish=1)

    assert picked(rastar, user) == []


def test_a_pick_made_whose_answer_was_lost_is_a_pick(db, rastar, sessions, person, monkeypatch):
    user, day, offer = person
    failing_picks(monkeypatch, rastar, 1, apply_first=True)  # the retry then meets the pick it made

    assert tap(db, sessions, offer, dish=2).food.name == dish_names(rastar, day)[2]
    assert picked(rastar, user) == [dish_names(rastar, day)[2]]


def test_a_day_whose_menu_went_away_is_not_picked_and_says_so(db, rastar, sessions, person):
    user, day, offer = person
    rastar.add_holiday(day)  # after the reminder went out

    with pytest.raises(PickFailed, match="nothing is picked for that day"):
        tap(db, sessions, offer)
    assert picked(rastar, user) == []
