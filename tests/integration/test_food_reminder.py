"""The food reminders against the fake Rastar (a Supabase project) and the fake LLM over
HTTP, the real Postgres, and, end to end, moto's SQS and the fake Telegram."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

import pytest
from pipeline import add_users, drain_notifications, execution_rows, make_queues
from rastar_helpers import PASSWORD, dish_names, link_account

from infra.fakes.llm import FakeLlm
from infra.fakes.supabase.server import Answer
from job_scheduler.adapters.telegram import TelegramClient
from job_scheduler.config import Settings
from job_scheduler.delivery.notifier import Notifier
from job_scheduler.delivery.outbox import Outbox
from job_scheduler.delivery.ratelimit import LocalRateLimiter
from job_scheduler.errors import PickRefused, RastarUnavailable
from job_scheduler.execution.executor import Executor
from job_scheduler.execution.firing import Firing
from job_scheduler.execution.locks import FiringLock
from job_scheduler.execution.targeting import Targeting, iter_recipients
from job_scheduler.jobs.catalog import register_all_jobs
from job_scheduler.jobs.food_reminder.job import UnselectedFoodReminder, WeeklyFoodCheck
from job_scheduler.jobs.food_reminder.run import tomorrow
from job_scheduler.jobs.food_reminder.suggestions import BREAKER_FAILURES
from job_scheduler.model import JobContext, JobRun
from job_scheduler.rastar import accounts, picking
from job_scheduler.rastar.client import RastarClient
from job_scheduler.rastar.crypto import SecretBox
from job_scheduler.schedule.zoned import load_zone
from job_scheduler.sync.startup import run_startup

JOB = UnselectedFoodReminder.name
# 22:00 in Tehran (+03:30) on Saturday 2026-11-28: tomorrow is Sunday the 29th.
EVENING = datetime(2026, 11, 28, 18, 30, tzinfo=UTC)
TOMORROW = date(2026, 11, 29)
TOKEN = "123456789:TEST-token-for-the-fake-telegram-server"


@pytest.fixture(scope="module")
def llm():
    fake = FakeLlm()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def settings(database_url, rastar, sealing_key) -> Settings:
    return Settings(
        database_url=database_url,
        rastar_supabase_url=rastar.base_url,
        rastar_supabase_anon_key=rastar.anon_key,
        rastar_pick_url=f"{rastar.base_url}/reserve",
        rastar_encryption_keys=sealing_key,
        rastar_concurrency=4,
        rastar_timeout_seconds=2,
    )


@pytest.fixture
def client(settings):
    client = RastarClient.from_settings(settings)
    yield client
    client.close()


SUNDAY_MENU = ["قورمه سبزی", "عدس پلو", "ماکارونی", "سبزی پلو با ماهی"]


class People:
    """Users 0-5: 0 not linked; 1 picked tomorrow; 2 never picked anything; 3 picked before
    (کوبیده most often, but it is not on Sunday's menu; عدس پلو twice, قورمه سبزی once);
    4's session was revoked; 5 picked a dish that is not on tomorrow's menu."""

    def __init__(self, db, rastar, box: SecretBox, client: RastarClient) -> None:
        self.ids = add_users(db, 6)
        assert dish_names(rastar, TOMORROW) == SUNDAY_MENU
        history = {  # by date, the dish's place on that date's menu
            date(2026, 11, 17): 3,  # کوبیده
            date(2026, 11, 18): 2,  # کوبیده
            date(2026, 11, 19): 1,  # کوبیده
            date(2026, 11, 21): 1,  # عدس پلو
            date(2026, 11, 22): 0,  # قورمه سبزی
            date(2026, 11, 26): 3,  # عدس پلو
        }
        picks = {1: {TOMORROW: 0}, 3: history, 5: {date(2026, 11, 25): 2}}
        self.emails = {
            index: link_account(db, box, client, rastar, self.ids[index], picks.get(index))
            for index in range(1, 6)
        }
        rastar.revoke_sessions(self.emails[4])
        rastar.expire_access_tokens()  # 4 must refresh, and Rastar refuses it


def run_job(
    settings: Settings, db, at: datetime = EVENING, job_class: type = UnselectedFoodReminder
) -> tuple[list, JobRun]:
    run = JobRun(job_class.name, at, "schedule")
    job = job_class(JobContext(settings, db))
    recipients = iter_recipients(db, Targeting())
    return list(job.messages(run, recipients)), run


def by_chat(messages) -> dict[int, object]:
    return {message.chat_id: message for message in messages}


def buttons(message) -> list[dict]:
    return [button for row in message.reply_markup["inline_keyboard"] for button in row]


def coming_evening(rastar) -> tuple[datetime, date]:
    """The next 22:00 in Tehran whose next day has food, and that day."""
    zone = load_zone("Asia/Tehran")
    day = datetime.now(zone).date() + timedelta(days=1)
    while not dish_names(rastar, day):
        day += timedelta(days=1)
    evening = datetime.combine(day - timedelta(days=1), time(22), zone)
    return evening.astimezone(UTC), day


def refused_and_linked(db, rastar, box, client) -> tuple[int, int]:
    """User 5000 linked to a session Rastar revoked; user 6000 linked and fine."""
    (refused,) = add_users(db, 1)
    rastar.revoke_sessions(link_account(db, box, client, rastar, refused))
    (fine,) = add_users(db, 1, first_chat_id=6000)
    link_account(db, box, client, rastar, fine)
    rastar.expire_access_tokens()
    return refused, fine


# --- who is reminded ---------------------------------------------------------------------


def test_only_linked_people_without_a_pick_are_reminded(db, rastar, box, client, settings):
    People(db, rastar, box, client)

    messages, run = run_job(settings, db)

    sent = by_chat(messages)
    assert sorted(sent) == [5002, 5003, 5004, 5005]  # 0 unlinked, 1 picked
    for chat in (5002, 5003, 5005):
        text = sent[chat].text
        assert sent[chat].parse_mode == "HTML"
        assert "یکشنبه ۸ آذر" in text  # Sunday the 29th: 8 Azar 1405 in Iran's calendar
        assert "جوجه کباب" not in text  # not on Sunday's menu
        assert all(name in text for name in SUNDAY_MENU)
        assert [b.get("text") for b in buttons(sent[chat])] == [*SUNDAY_MENU, "باز کردن رستار"]
    assert "پیشنهاد ما: <b>عدس پلو</b>" in sent[5003].text  # their favourite on the menu
    assert "پیشنهاد" not in sent[5002].text and "پیشنهاد" not in sent[5005].text
    assert sent[5004].parse_mode is None and "دوباره" in sent[5004].text  # link again
    assert sent[5004].reply_markup is None
    assert run.notes == [
        "2026-11-29: 3 reminded (1 with a suggestion), 1 had picked, 1 not linked,"
        " 1 refused (1 told to link again), 0 could not be checked"
    ]


def test_a_reminder_s_buttons_fit_telegram_and_name_an_offer_for_that_person(
    db, rastar, box, client, settings
):
    (user,) = add_users(db, 1)
    link_account(db, box, client, rastar, user)
    evening, day = coming_evening(rastar)  # an offer for days past cannot be loaded

    messages, _ = run_job(settings, db, evening)

    (reminder,) = messages
    pick_buttons = [b for b in buttons(reminder) if "callback_data" in b]
    assert all(len(b["callback_data"].encode()) <= 64 for b in pick_buttons)
    token = pick_buttons[0]["callback_data"].split(":")[1]
    offer = picking.load_offer(db, token, 5000)
    assert offer.user_id == user and [d.date for d in offer.days] == [day]
    with pytest.raises(PickRefused):
        picking.load_offer(db, token, 5001)  # someone else's chat
    assert buttons(reminder)[-1]["url"] == f"{rastar.base_url}/reserve"


def test_english_speakers_get_the_english_reminder(db, rastar, box, client, settings):
    people = People(db, rastar, box, client)
    db.execute("UPDATE users SET language_code = 'en' WHERE id = %s", (people.ids[2],))

    messages, _ = run_job(settings, db)

    text = by_chat(messages)[5002].text
    assert text.startswith("<b>Hi User2, you have not picked tomorrow's food (Sun 29 Nov)")
    assert buttons(by_chat(messages)[5002])[-1]["text"] == "Open Rastar"


def test_a_refused_session_is_told_once_then_left_alone_until_linked_again(
    db, rastar, box, client, settings
):
    people = People(db, rastar, box, client)
    run_job(settings, db)
    before = rastar.stats()["calls"]["token_refresh"]

    messages, run = run_job(settings, db, EVENING + timedelta(days=1))

    assert 5004 not in by_chat(messages)
    assert "1 refused (0 told to link again)" in run.notes[0]
    assert rastar.stats()["calls"]["token_refresh"] == before  # not asked again

    accounts.link(db, box, people.ids[4], client.sign_in(people.emails[4], PASSWORD))
    messages, _ = run_job(settings, db, EVENING + timedelta(days=2))
    assert by_chat(messages)[5004].parse_mode == "HTML"  # reminded again


def test_a_refused_session_while_reading_the_menu_is_handled_the_same(
    db, rastar, box, client, settings
):
    refused, _ = refused_and_linked(db, rastar, box, client)

    messages, _ = run_job(settings, db)

    sent = by_chat(messages)
    assert sent[5000].parse_mode is None  # told to link again
    assert sent[6000].parse_mode == "HTML"  # reminded, with the menu the next session read
    assert accounts.accounts_of(db, [refused])[refused].refused


def test_a_token_that_expired_between_linking_and_22_00_still_reminds(
    db, rastar, box, client, settings
):
    rastar.configure(access_token_ttl_seconds=5, jwt_clock_skew_seconds=0)
    (user,) = add_users(db, 1)
    link_account(db, box, client, rastar, user)
    rastar.expire_access_tokens()  # as if the evening came hours after linking

    messages, run = run_job(settings, db)

    assert [m.chat_id for m in messages] == [5000] and messages[0].parse_mode == "HTML"
    assert len(buttons(messages[0])) == 5  # four dishes and Rastar's site
    assert rastar.stats()["refresh_refused"] == 0
    assert "1 reminded" in run.notes[0]


# --- the days ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fired, expected",
    [
        (EVENING, TOMORROW),  # 22:00 Tehran on the 28th
        (datetime(2026, 11, 28, 20, 29, tzinfo=UTC), TOMORROW),  # 23:59 Tehran
        (datetime(2026, 11, 28, 20, 30, tzinfo=UTC), date(2026, 11, 30)),  # 00:00 on the 29th
    ],
)
def test_tomorrow_is_the_next_day_in_tehran(fired, expected):
    assert tomorrow(JobRun(JOB, fired, "schedule")) == expected


def test_no_food_tomorrow_sends_nothing_at_all_and_says_why(db, rastar, box, client, settings):
    People(db, rastar, box, client)
    rastar.add_holiday(TOMORROW)

    messages, run = run_job(settings, db)

    assert messages == []
    assert run.notes == ["2026-11-29: no food is served tomorrow; nothing to remind"]


def test_friday_has_no_menu(db, rastar, box, client, settings):
    People(db, rastar, box, client)
    thursday_evening = datetime(2026, 11, 26, 18, 30, tzinfo=UTC)

    messages, run = run_job(settings, db, thursday_evening)

    assert messages == [] and "2026-11-27: no food is served" in run.notes[0]


FRIDAY_EVENING = datetime(2026, 11, 27, 18, 30, tzinfo=UTC)  # 22:00 Tehran, Friday the 27th
WEEK = [date(2026, 11, 28) + timedelta(days=n) for n in range(7)]  # Sat 28th .. Fri 4th


def test_the_weekly_check_reminds_those_with_two_or_more_unpicked_days(
    db, rastar, box, client, settings
):
    food_days = [day for day in WEEK if dish_names(rastar, day)]
    assert len(food_days) == 6  # Friday the 4th has no menu and does not count
    one, two, none = add_users(db, 3)
    link_account(db, box, client, rastar, one, {day: 0 for day in food_days[1:]})
    link_account(db, box, client, rastar, two, {day: 0 for day in food_days[2:]})
    link_account(db, box, client, rastar, none, {day: 0 for day in food_days})

    messages, run = run_job(settings, db, FRIDAY_EVENING, WeeklyFoodCheck)

    (reminder,) = messages  # one unpicked day is fewer than the weekly check's two
    assert reminder.chat_id == 5001
    assert "برای ۲ روز" in reminder.text
    assert "شنبه ۷ آذر" in reminder.text and "یکشنبه ۸ آذر" in reminder.text  # 28th, 29th
    assert "۹ آذر" not in reminder.text  # the 30th is picked
    labels = [b["text"] for b in buttons(reminder)]
    assert labels == [*dish_names(rastar, WEEK[0]), "روز بعد ◀", "باز کردن رستار"]
    assert run.notes == [
        "2026-11-28..2026-12-03: 1 reminded (0 with a suggestion), 2 had picked, 0 not linked,"
        " 0 refused (0 told to link again), 0 could not be checked"
    ]


def test_the_weekly_check_is_registered_for_friday_nights_in_tehran():
    registry = register_all_jobs()
    weekly = registry.get("weekly-food-check")
    assert weekly is WeeklyFoodCheck
    assert (weekly.schedule, weekly.timezone) == ("cron(0 22 ? * FRI *)", "Asia/Tehran")
    assert (weekly.days_ahead, weekly.min_unselected_days) == (7, 2)
    assert (UnselectedFoodReminder.days_ahead, UnselectedFoodReminder.min_unselected_days) == (
        1,
        1,
    )


# --- Rastar failing ----------------------------------------------------------------------


def test_flaky_rastar_is_retried_and_the_outcome_is_the_same(
    db, rastar, box, client, settings, monkeypatch
):
    """Every call Rastar gets fails the first time it sees it (503) and is answered when it
    comes again: each is retried, and the run is as if Rastar had never failed. (Failing
    every Nth call instead lets four threads' interleaving give one person three 503s in a
    row, now and then: a test that fails by chance.)"""
    People(db, rastar, box, client)
    original, seen, failed = rastar.answer, set(), []

    def first_time_busy(request):
        key = (
            request.method,
            request.path,
            tuple(sorted(request.query)),
            request.headers.get("authorization"),
            request.body,
        )
        if key not in seen:
            seen.add(key)
            failed.append(key)
            return Answer.json(503, {"message": "upstream unavailable"})
        return original(request)

    monkeypatch.setattr(rastar, "answer", first_time_busy)
    messages, _ = run_job(settings, db)

    assert sorted(by_chat(messages)) == [5002, 5003, 5004, 5005]
    assert len(failed) >= 5  # a refresh and a read per linked person, at least


def test_rastar_down_fails_the_run_so_the_queue_retries_it(db, rastar, box, client, settings):
    People(db, rastar, box, client)
    rastar.configure(server_error_until=datetime.now(UTC).timestamp() + 60)

    with pytest.raises(RastarUnavailable):
        run_job(settings, db)


def test_a_person_rastar_cannot_answer_for_is_skipped_and_counted(
    db, rastar, box, client, settings, monkeypatch
):
    people = People(db, rastar, box, client)
    original = rastar.answer
    user = people.ids[5]
    in_rastar = accounts.unseal(box, accounts.accounts_of(db, [user])[user].sealed_session).user_id

    def broken_for_user_5(request):
        if ("user_id", f"eq.{in_rastar}") in request.query:
            return Answer.json(503, {"message": "busy"})
        return original(request)

    monkeypatch.setattr(rastar, "answer", broken_for_user_5)
    messages, run = run_job(settings, db)

    assert 5005 not in by_chat(messages)
    assert "1 could not be checked" in run.notes[0]


def test_a_session_no_configured_key_opens_is_counted_not_fatal(db, rastar, box, client, settings):
    stranger = SecretBox([SecretBox.new_key()])  # a key dropped from the settings too soon
    first, second, third = add_users(db, 3)
    link_account(db, stranger, client, rastar, first)
    link_account(db, box, client, rastar, second)
    link_account(db, stranger, client, rastar, third)

    messages, run = run_job(settings, db)

    assert [m.chat_id for m in messages] == [5001]
    assert "2 could not be checked" in run.notes[0]


# --- suggestions -------------------------------------------------------------------------


def test_the_llm_suggests_when_configured(db, rastar, box, client, settings, llm):
    People(db, rastar, box, client)
    llm.configure(api_key="sk-test-key")
    with_llm = replace(settings, llm_api_url=llm.base_url, llm_api_key="sk-test-key")

    messages, _ = run_job(with_llm, db)

    # The fake model picks the first dish they have not eaten: ماکارونی, not their favourite.
    sent = by_chat(messages)
    assert "<b>ماکارونی</b>" in sent[5003].text
    assert "پیشنهاد ما: <b>قورمه سبزی</b>" in sent[5005].text  # never eaten
    assert "پیشنهاد" not in sent[5002].text
    assert llm.calls == 2  # only people with past picks (3 and 5) are asked


def test_a_failing_llm_falls_back_and_is_left_alone_after_a_few_failures(
    db, rastar, box, client, settings, llm
):
    for user in add_users(db, 10):
        link_account(db, box, client, rastar, user, {date(2026, 11, 21): 1})  # عدس پلو
    llm.configure(fail_every=1, api_key=None)
    with_llm = replace(settings, llm_api_url=llm.base_url, rastar_concurrency=1)

    messages, run = run_job(with_llm, db)

    assert len(messages) == 10
    assert all("<b>عدس پلو</b>" in m.text for m in messages)  # the deterministic choice
    assert llm.calls == BREAKER_FAILURES
    assert "10 reminded (10 with a suggestion)" in run.notes[0]


def test_an_answer_off_the_menu_is_not_suggested(db, rastar, box, client, settings, llm):
    People(db, rastar, box, client)
    llm.configure(off_menu=True, api_key=None)

    messages, _ = run_job(replace(settings, llm_api_url=llm.base_url), db)

    assert "<b>عدس پلو</b>" in by_chat(messages)[5003].text  # fell back to their favourite


# --- end to end --------------------------------------------------------------------------


def test_a_firing_reaches_telegram_with_its_buttons_and_the_execution_says_what_happened(
    db, rastar, box, client, settings, aws, telegram
):
    People(db, rastar, box, client)
    queues = make_queues(aws)
    full = replace(
        settings,
        aws_endpoint_url=aws,
        jobs_queue_url=queues.jobs["url"],
        jobs_queue_arn=queues.jobs["arn"],
        notifications_queue_url=queues.notifications["url"],
        telegram_bot_token=TOKEN,
        telegram_api_url=telegram.base_url,
        rule_prefix="test-food",
    )
    run_startup(full)  # the coded jobs into scheduled_jobs, as at deploy
    executor = Executor(
        settings=full,
        registry=register_all_jobs(),
        lock=FiringLock(None, 120),
        outbox=Outbox(queues.sqs, full.notifications_queue_url),
    )
    notifier = Notifier(
        settings=full,
        send=TelegramClient(TOKEN, full.telegram_api_url).deliver,
        limiter=LocalRateLimiter(per_second=1000, per_chat_per_second=100),
        outbox=Outbox(queues.sqs, full.notifications_queue_url),
    )
    # "Run now" for the evening of the 28th: a manual firing runs at any time it names.
    outcome = executor.execute(Firing(job_name=JOB, scheduled_for=EVENING, trigger="manual"))
    drain_notifications(queues, notifier.process)

    assert outcome.status == "ran"
    delivered = {int(m["chat_id"]): m for m in telegram.messages()}
    assert sorted(delivered) == [5002, 5003, 5004, 5005]
    keyboard = delivered[5002]["reply_markup"]["inline_keyboard"]
    assert [b["text"] for row in keyboard for b in row][:4] == SUNDAY_MENU
    assert delivered[5004]["reply_markup"] is None  # the re-link notice has no buttons
    (execution,) = execution_rows(db)
    assert (execution["recipients_count"], execution["sent_count"]) == (6, 4)
    assert execution["detail"].endswith(
        "3 reminded (1 with a suggestion), 1 had picked,"
        " 1 not linked, 1 refused (1 told to link again),"
        " 0 could not be checked"
    )


def test_the_reminder_in_shards_reaches_the_same_people_with_exact_counts(
    db, rastar, box, client, settings, aws, telegram, monkeypatch
):
    """Two people a shard: six people make three shards, each checking its own people in
    Rastar; the execution's counts are the shards' sums."""
    from pipeline import delete, receive_all

    from job_scheduler.execution.shards import ShardTask

    People(db, rastar, box, client)
    monkeypatch.setattr(UnselectedFoodReminder, "shard_size", 2)
    queues = make_queues(aws)
    full = replace(settings, aws_endpoint_url=aws, jobs_queue_url=queues.jobs["url"],
                   jobs_queue_arn=queues.jobs["arn"], telegram_bot_token=TOKEN,
                   notifications_queue_url=queues.notifications["url"],
                   telegram_api_url=telegram.base_url, rule_prefix="test-food")  # fmt: skip
    run_startup(full)
    executor = Executor(settings=full, registry=register_all_jobs(), lock=FiringLock(None, 120),
                        outbox=Outbox(queues.sqs, full.notifications_queue_url))  # fmt: skip
    notifier = Notifier(settings=full, send=TelegramClient(TOKEN, full.telegram_api_url).deliver,
                        limiter=LocalRateLimiter(per_second=1000, per_chat_per_second=100),
                        outbox=Outbox(queues.sqs, full.notifications_queue_url))  # fmt: skip

    outcome = executor.execute(Firing(job_name=JOB, scheduled_for=EVENING, trigger="manual"))
    messages = receive_all(queues, queues.jobs)
    delete(queues, queues.jobs, messages)
    shards = [executor.run_shard(ShardTask.of(m["Body"])) for m in messages]
    drain_notifications(queues, notifier.process)

    assert outcome.status == "sharded" and [s.status for s in shards] == ["shard"] * 3
    assert sorted(int(m["chat_id"]) for m in telegram.messages()) == [5002, 5003, 5004, 5005]
    (execution,) = execution_rows(db)
    counts = ("status", "recipients_count", "sent_count", "skipped_count", "shards")
    assert [execution[name] for name in counts] == ["succeeded", 6, 4, 2, 3]
    assert "3 reminded" not in execution["detail"]  # each shard says its own part
    assert execution["detail"].count("2026-11-29:") == 3


def test_a_refused_session_on_a_day_without_food_is_told_on_the_next_day_with_food(
    db, rastar, box, client, settings
):
    refused_and_linked(db, rastar, box, client)
    rastar.add_holiday(TOMORROW)

    quiet, _ = run_job(settings, db)
    told, run = run_job(settings, db, EVENING + timedelta(days=1))  # Monday has food

    assert quiet == []
    assert by_chat(told)[5000].parse_mode is None  # the re-link notice, given now
    assert "1 refused (1 told to link again)" in run.notes[0]


def test_when_no_linked_session_works_the_note_says_so(db, rastar, box, client, settings):
    (user,) = add_users(db, 1)
    rastar.revoke_sessions(link_account(db, box, client, rastar, user))
    rastar.expire_access_tokens()

    messages, run = run_job(settings, db)

    assert [m.parse_mode for m in messages] == [None]  # only the re-link notice
    assert run.notes[0].startswith("2026-11-29: no linked account could read the menu")
