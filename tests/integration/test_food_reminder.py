"""The unselected-food reminder against the fake Rastar (and the fake LLM) over HTTP, the
real Postgres, and, end to end, moto's SQS and the fake Telegram."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from pipeline import add_users, drain_notifications, execution_rows, make_queues

from infra.fakes.llm import FakeLlm
from infra.fakes.rastar import FakeRastar, default_menu
from infra.fakes.telegram import FakeTelegram
from job_scheduler.adapters.telegram import TelegramClient
from job_scheduler.config import Settings
from job_scheduler.delivery.notifier import Notifier
from job_scheduler.delivery.outbox import Outbox
from job_scheduler.delivery.ratelimit import LocalRateLimiter
from job_scheduler.errors import RastarUnavailable
from job_scheduler.execution.executor import Executor
from job_scheduler.execution.firing import Firing
from job_scheduler.execution.locks import FiringLock
from job_scheduler.execution.targeting import Targeting, iter_recipients
from job_scheduler.jobs.catalog import register_all_jobs
from job_scheduler.jobs.food_reminder.job import UnselectedFoodReminder
from job_scheduler.jobs.food_reminder.run import tomorrow
from job_scheduler.jobs.food_reminder.suggestions import BREAKER_FAILURES
from job_scheduler.model import JobContext, JobRun
from job_scheduler.rastar import accounts
from job_scheduler.rastar.crypto import SecretBox
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
def key() -> str:
    return SecretBox.new_key()


@pytest.fixture
def box(key) -> SecretBox:
    return SecretBox([key])


@pytest.fixture
def settings(database_url, rastar, key) -> Settings:
    return Settings(
        database_url=database_url,
        rastar_api_url=rastar.base_url,
        rastar_encryption_keys=key,
        rastar_concurrency=4,
        rastar_timeout_seconds=2,
    )


class People:
    """Users 0-5: 0 not linked; 1 picked tomorrow; 2 never picked anything; 3 picked before
    (dish 5 most often, but it is not on Sunday's menu [1, 6, 7, 8]; dish 6 twice, dish 1
    once); 4 has an expired token; 5 picked a dish that is not on tomorrow's menu."""

    def __init__(self, db, rastar: FakeRastar, box: SecretBox) -> None:
        self.ids = add_users(db, 6)
        assert [food["id"] for food in default_menu(TOMORROW)] == ["1", "6", "7", "8"]
        history = {
            date(2026, 11, 14): "5",
            date(2026, 11, 15): "5",
            date(2026, 11, 16): "5",
            date(2026, 11, 20): "6",
            date(2026, 11, 21): "1",
            date(2026, 11, 22): "6",
        }
        picks = {1: {TOMORROW: "1"}, 3: history, 5: {date(2026, 11, 25): "4"}}
        for index in range(1, 6):
            token = f"tok-{index}"
            accounts.link(db, box, self.ids[index], token)
            rastar.add_user(token, picks.get(index, {}))
        rastar.expire("tok-4")


def run_job(settings: Settings, db, at: datetime = EVENING) -> tuple[list, JobRun]:
    run = JobRun(JOB, at, "schedule")
    job = UnselectedFoodReminder(JobContext(settings, db))
    recipients = iter_recipients(db, Targeting())
    return list(job.messages(run, recipients)), run


def by_chat(messages) -> dict[int, object]:
    return {message.chat_id: message for message in messages}


# --- who is reminded ---------------------------------------------------------------------


def test_only_linked_people_without_a_pick_are_reminded(db, rastar, box, settings):
    People(db, rastar, box)

    messages, run = run_job(settings, db)

    sent = by_chat(messages)
    assert sorted(sent) == [5002, 5003, 5004, 5005]  # 0 unlinked, 1 picked
    for chat in (5002, 5003, 5005):
        text = sent[chat].text
        assert sent[chat].parse_mode == "HTML"
        assert "2026-11-29" in text and "reserve?date=2026-11-29" in text
        assert "جوجه کباب" not in text  # dish 3 is not on Sunday's menu
        assert all(name in text for name in ("قورمه سبزی", "عدس پلو", "ماکارونی"))
    assert "پیشنهاد ما: <b>عدس پلو</b>" in sent[5003].text  # dish 6: their favourite on it
    assert "پیشنهاد" not in sent[5002].text and "پیشنهاد" not in sent[5005].text
    assert sent[5004].parse_mode is None and "دوباره" in sent[5004].text  # link again
    assert run.notes == [
        "2026-11-29: 3 reminded (1 with a suggestion), 1 had picked, 1 not linked,"
        " 1 refused (1 told to link again), 0 could not be checked"
    ]


def test_english_speakers_get_the_english_reminder(db, rastar, box, settings):
    people = People(db, rastar, box)
    db.execute("UPDATE users SET language_code = 'en' WHERE id = %s", (people.ids[2],))

    messages, _ = run_job(settings, db)

    text = by_chat(messages)[5002].text
    assert text.startswith("<b>User2, you have not picked tomorrow's food (2026-11-29)")


def test_a_refused_token_is_told_once_then_left_alone_until_linked_again(db, rastar, box, settings):
    people = People(db, rastar, box)
    run_job(settings, db)
    before = rastar.stats()

    messages, run = run_job(settings, db, EVENING + timedelta(days=1))

    assert 5004 not in by_chat(messages)
    assert "1 refused (0 told to link again)" in run.notes[0]
    assert rastar.stats().get("401", 0) == before.get("401", 0)  # not asked again

    accounts.link(db, box, people.ids[4], "tok-4-new")
    rastar.add_user("tok-4-new")
    messages, _ = run_job(settings, db, EVENING + timedelta(days=2))
    assert by_chat(messages)[5004].parse_mode == "HTML"  # reminded again


def test_a_refused_token_while_reading_the_menu_is_handled_the_same(db, rastar, box, settings):
    (user,) = add_users(db, 1)
    accounts.link(db, box, user, "tok-expired")
    rastar.add_user("tok-expired")
    rastar.expire("tok-expired")
    (second,) = add_users(db, 1, first_chat_id=6000)
    accounts.link(db, box, second, "tok-fine")
    rastar.add_user("tok-fine")

    messages, _ = run_job(settings, db)

    sent = by_chat(messages)
    assert sent[5000].parse_mode is None  # told to link again
    assert sent[6000].parse_mode == "HTML"  # reminded, with the menu the next token read
    assert accounts.accounts_of(db, [user])[user].refused


# --- tomorrow ----------------------------------------------------------------------------


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


def test_no_food_tomorrow_sends_nothing_at_all_and_says_why(db, rastar, box, settings):
    People(db, rastar, box)
    rastar.holidays.add(TOMORROW)

    messages, run = run_job(settings, db)

    assert messages == []
    assert run.notes == ["2026-11-29: no food is served tomorrow; nothing to remind"]


def test_friday_has_no_menu(db, rastar, box, settings):
    People(db, rastar, box)
    thursday_evening = datetime(2026, 11, 26, 18, 30, tzinfo=UTC)

    messages, run = run_job(settings, db, thursday_evening)

    assert messages == [] and "2026-11-27: no food is served" in run.notes[0]


# --- Rastar failing ----------------------------------------------------------------------


def test_flaky_rastar_is_retried_and_the_outcome_is_the_same(db, rastar, box, settings):
    People(db, rastar, box)
    rastar.configure(server_error_every=3)

    messages, _ = run_job(settings, db)

    assert sorted(by_chat(messages)) == [5002, 5003, 5004, 5005]
    assert rastar.stats()["500"] >= 2


def test_rastar_down_fails_the_run_so_the_queue_retries_it(db, rastar, box, settings):
    People(db, rastar, box)
    rastar.configure(server_error_until=datetime.now(UTC).timestamp() + 60)

    with pytest.raises(RastarUnavailable):
        run_job(settings, db)


def test_a_person_rastar_cannot_answer_for_is_skipped_and_counted(db, rastar, box, settings):
    People(db, rastar, box)
    original = rastar.answer

    def broken_for_user_5(path, query, token):
        if token == "tok-5":
            return 503, b'{"error": "busy"}'
        return original(path, query, token)

    rastar.answer = broken_for_user_5
    try:
        messages, run = run_job(settings, db)
    finally:
        del rastar.answer

    assert 5005 not in by_chat(messages)
    assert "1 could not be checked" in run.notes[0]


# --- suggestions -------------------------------------------------------------------------


def test_the_llm_suggests_when_configured(db, rastar, box, settings, llm):
    People(db, rastar, box)
    llm.configure(api_key="sk-test-key")
    with_llm = replace(settings, llm_api_url=llm.base_url, llm_api_key="sk-test-key")

    messages, _ = run_job(with_llm, db)

    # The fake model picks the first dish they have not eaten: 7, not their favourite 6.
    sent = by_chat(messages)
    assert "<b>ماکارونی</b>" in sent[5003].text
    assert "پیشنهاد ما: <b>قورمه سبزی</b>" in sent[5005].text  # dish 1: never eaten
    assert "پیشنهاد" not in sent[5002].text
    assert llm.calls == 2  # only people with past picks (3 and 5) are asked


def test_a_failing_llm_falls_back_and_is_left_alone_after_a_few_failures(
    db, rastar, box, settings, llm
):
    ids = add_users(db, 10)
    for user in ids:
        accounts.link(db, box, user, f"tok-{user}")
        rastar.add_user(f"tok-{user}", {date(2026, 11, 20): "6"})
    llm.configure(fail_every=1, api_key=None)
    with_llm = replace(settings, llm_api_url=llm.base_url, rastar_concurrency=1)

    messages, run = run_job(with_llm, db)

    assert len(messages) == 10
    assert all("<b>عدس پلو</b>" in m.text for m in messages)  # the deterministic choice
    assert llm.calls == BREAKER_FAILURES
    assert "10 reminded (10 with a suggestion)" in run.notes[0]


def test_an_answer_off_the_menu_is_not_suggested(db, rastar, box, settings, llm):
    People(db, rastar, box)
    llm.configure(off_menu=True, api_key=None)

    messages, _ = run_job(replace(settings, llm_api_url=llm.base_url), db)

    assert "<b>عدس پلو</b>" in by_chat(messages)[5003].text  # fell back to their favourite


# --- end to end --------------------------------------------------------------------------


@pytest.fixture
def telegram():
    fake = FakeTelegram()
    fake.start()
    yield fake
    fake.stop()


def test_a_firing_reaches_telegram_and_the_execution_says_what_happened(
    db, rastar, box, settings, aws, telegram
):
    People(db, rastar, box)
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
    run_startup(full)  # the coded job into scheduled_jobs, as at deploy
    executor = Executor(
        settings=full,
        registry=register_all_jobs(),
        lock=FiringLock(None, 120),
        outbox=Outbox(queues.sqs, full.notifications_queue_url),
    )
    notifier = Notifier(
        settings=full,
        send=TelegramClient(TOKEN, full.telegram_api_url).send,
        limiter=LocalRateLimiter(per_second=1000, per_chat_per_second=100),
        outbox=Outbox(queues.sqs, full.notifications_queue_url),
    )
    # "Run now" for the evening of the 28th: a manual firing runs at any time it names.
    outcome = executor.execute(Firing(job_name=JOB, scheduled_for=EVENING, trigger="manual"))
    drain_notifications(queues, notifier.process)

    assert outcome.status == "ran"
    assert sorted(int(m["chat_id"]) for m in telegram.messages()) == [5002, 5003, 5004, 5005]
    (execution,) = execution_rows(db)
    assert (execution["recipients_count"], execution["sent_count"]) == (6, 4)
    assert execution["detail"].endswith(
        "3 reminded (1 with a suggestion), 1 had picked,"
        " 1 not linked, 1 refused (1 told to link again),"
        " 0 could not be checked"
    )


def test_a_refused_token_on_a_day_without_food_is_told_on_the_next_day_with_food(
    db, rastar, box, settings
):
    (user,) = add_users(db, 1)
    accounts.link(db, box, user, "tok-expired")
    rastar.add_user("tok-expired")
    rastar.expire("tok-expired")
    (second,) = add_users(db, 1, first_chat_id=6000)
    accounts.link(db, box, second, "tok-fine")
    rastar.add_user("tok-fine")
    rastar.holidays.add(TOMORROW)

    quiet, _ = run_job(settings, db)
    told, run = run_job(settings, db, EVENING + timedelta(days=1))  # Monday has food

    assert quiet == []
    assert by_chat(told)[5000].parse_mode is None  # the re-link notice, given now
    assert "1 refused (1 told to link again)" in run.notes[0]


def test_when_no_linked_token_works_the_note_says_so(db, rastar, box, settings):
    (user,) = add_users(db, 1)
    accounts.link(db, box, user, "tok-expired")
    rastar.add_user("tok-expired")
    rastar.expire("tok-expired")

    messages, run = run_job(settings, db)

    assert [m.parse_mode for m in messages] == [None]  # only the re-link notice
    assert run.notes[0].startswith("2026-11-29: no linked account could read tomorrow's menu")
