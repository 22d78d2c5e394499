"""custom_message jobs: the stored config, and one message per recipient from it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from job_scheduler.errors import InvalidMessage, UnknownTimezone
from job_scheduler.messages import rendering as custom_message
from job_scheduler.messages.message_config import MessageConfig
from job_scheduler.messages.rendering import SkippedRecipient, custom_message_job_messages
from job_scheduler.model import Job, JobKind, JobRun, OutgoingMessage, Recipient

RUN = JobRun("food-reminder", datetime(2026, 3, 1, 18, 30, tzinfo=UTC), "schedule")
ANN = Recipient(1, 101, "Ann", "Lee", "ann", "en")
BOB = Recipient(2, 102, "Bob", None, None, "fa")
CY = Recipient(3, 103, "Cy", None, "cy", "en")


def job_row(**config: object) -> Job:
    return Job(
        id=1,
        name="food-reminder",
        kind=JobKind.CUSTOM_MESSAGE,
        cron_expression="cron(0 22 * * ? *)",
        description="Pick tomorrow's food",
        timezone="Asia/Tehran",
        message_config={"text": "Hi <b>{{ user.first_name }}</b>", **config},
    )


# ---------------------------------------------------------------------------------------------
# MessageConfig.from_json: accepted shapes, and (data, field, fragment) for refused ones
# ---------------------------------------------------------------------------------------------
ACCEPTED = [
    pytest.param({"text": "hi"}, ("hi", "HTML", False), id="defaults-html-not-silent"),
    pytest.param(
        {"text": "hi", "parse_mode": "HTML", "silent": True}, ("hi", "HTML", True), id="all"
    ),
    pytest.param({"text": "1 < 2", "parse_mode": None}, ("1 < 2", None, False), id="plain"),
]


@pytest.mark.parametrize(("data", "expected"), ACCEPTED)
def test_from_json_accepts(data, expected):
    config = MessageConfig.from_json(data)
    assert (config.text, config.parse_mode, config.silent) == expected
    assert MessageConfig.from_json(config.to_json()) == config
    assert config.to_json() == dict(zip(("text", "parse_mode", "silent"), expected, strict=True))


REFUSED = [
    pytest.param(["hi"], "message_config", "must be an object", id="not-an-object"),
    pytest.param(None, "message_config", "must be an object", id="null"),
    pytest.param(
        {"text": "hi", "parse-mode": "HTML"},
        "message_config.parse-mode",
        "unknown key 'parse-mode'; allowed: text, parse_mode, silent, photo, buttons,",
        id="unknown-key",
    ),
    pytest.param({}, "message_config.text", "text is missing", id="missing-text"),
    pytest.param({"text": 5}, "message_config.text", "must be a string, not int", id="text-int"),
    pytest.param({"text": None}, "message_config.text", "must be a string", id="text-null"),
    pytest.param({"text": ""}, "message_config.text", "text is empty", id="text-empty"),
    pytest.param({"text": " \n\t"}, "message_config.text", "text is empty", id="text-blank"),
    pytest.param(
        {"text": "hi", "parse_mode": "Markdown"},
        "message_config.parse_mode",
        'must be "HTML" or null',
        id="markdown",
    ),
    pytest.param(
        {"text": "hi", "parse_mode": "html"},
        "message_config.parse_mode",
        "not 'html'",
        id="lowercase-html",
    ),
    pytest.param({"text": "hi", "parse_mode": 1}, "message_config.parse_mode", "not 1", id="pm-1"),
    pytest.param({"text": "hi", "silent": "yes"}, "message_config.silent", "true or false", id="s"),
    pytest.param({"text": "hi", "silent": 1}, "message_config.silent", "not 1", id="silent-1"),
    pytest.param({"text": "hi", "silent": None}, "message_config.silent", "not None", id="s-null"),
    pytest.param(
        {"text": "Hi\n{{ user.first_name }"},
        "message_config.text",
        "syntax error on line 2",
        id="template-syntax",
    ),
    pytest.param(
        {"text": "{{ user.nick }}"}, "message_config.text", "user.nick does not exist", id="field"
    ),
    pytest.param({"text": "<div>hi</div>"}, "message_config.text", "<div>", id="html"),
    pytest.param({"text": "x" * 4097}, "message_config.text", "4097 characters", id="too-long"),
]


@pytest.mark.parametrize(("data", "field", "fragment"), REFUSED)
def test_from_json_refuses_naming_the_field(data, field, fragment):
    with pytest.raises(InvalidMessage) as caught:
        MessageConfig.from_json(data)
    assert caught.value.field == field
    assert fragment in str(caught.value)


def test_the_constructor_validates_too():
    with pytest.raises(InvalidMessage) as caught:
        MessageConfig("<b>unclosed")
    assert caught.value.field == "message_config.text"


# ---------------------------------------------------------------------------------------------
# Messages
# ---------------------------------------------------------------------------------------------
MESSAGES = [
    pytest.param(
        {},
        [
            OutgoingMessage(1, 101, "Hi <b>Ann</b>", "HTML", False),
            OutgoingMessage(2, 102, "Hi <b>Bob</b>", "HTML", False),
        ],
        id="html",
    ),
    pytest.param(
        {"silent": True},
        [
            OutgoingMessage(1, 101, "Hi <b>Ann</b>", "HTML", True),
            OutgoingMessage(2, 102, "Hi <b>Bob</b>", "HTML", True),
        ],
        id="silent-disables-notification",
    ),
    pytest.param(
        {
            "text": "{{ user.first_name }} <3 {{ date }} {{ scheduled_for.strftime('%H:%M') }}",
            "parse_mode": None,
        },
        [
            OutgoingMessage(1, 101, "Ann <3 2026-03-01 22:00", None, False),
            OutgoingMessage(2, 102, "Bob <3 2026-03-01 22:00", None, False),
        ],
        id="plain-text-local-time",
    ),
    pytest.param(
        {"text": "{{ job.name }}: {{ job.description }}", "parse_mode": None},
        [
            OutgoingMessage(1, 101, "food-reminder: Pick tomorrow's food", None, False),
            OutgoingMessage(2, 102, "food-reminder: Pick tomorrow's food", None, False),
        ],
        id="job-fields",
    ),
]


@pytest.mark.parametrize(("config", "expected"), MESSAGES)
def test_messages(config, expected):
    assert list(custom_message_job_messages(job_row(**config), RUN, [ANN, BOB])) == expected


def test_html_escapes_each_users_name():
    evil = Recipient(9, 909, "<script>alert(1)</script>")
    [message] = custom_message_job_messages(job_row(), RUN, [evil])
    assert message.text == "Hi <b>&lt;script&gt;alert(1)&lt;/script&gt;</b>"


def test_one_failing_recipient_does_not_stop_the_others():
    # 4090 characters plus the name: "Ann" fits, a 7-letter name makes 4097.
    row = job_row(text="x" * 4090 + "{{ user.first_name }}", parse_mode=None)
    long_name = Recipient(4, 104, "Abigail")
    skipped: list[SkippedRecipient] = []
    messages = list(
        custom_message_job_messages(row, RUN, [ANN, long_name, BOB], on_skip=skipped.append)
    )
    assert [m.user_id for m in messages] == [1, 2]
    assert [(s.user_id, s.chat_id) for s in skipped] == [(4, 104)]
    assert "4097 characters long" in skipped[0].reason


def test_a_render_error_for_one_user_is_a_skip():
    row = job_row(text="Hi {{ user.first_name[2] }}", parse_mode=None)  # "Cy" has no [2]
    skipped: list[SkippedRecipient] = []
    messages = list(custom_message_job_messages(row, RUN, [ANN, CY, BOB], skipped.append))
    assert [m.text for m in messages] == ["Hi n", "Hi b"]
    assert [s.user_id for s in skipped] == [3]
    assert "could not be rendered" in skipped[0].reason


def test_recipients_are_read_lazily():
    pulled: list[int] = []

    def recipients():
        for recipient in (ANN, BOB, CY):
            pulled.append(recipient.user_id)
            yield recipient

    messages = custom_message_job_messages(job_row(), RUN, recipients())
    assert next(messages).user_id == 1
    assert pulled == [1]


BROKEN_JOBS = [
    pytest.param({"message_config": {}}, InvalidMessage, id="no-text"),
    pytest.param({"message_config": {"text": "<b>"}}, InvalidMessage, id="bad-html"),
    pytest.param({"timezone": "Mars/Olympus"}, UnknownTimezone, id="bad-timezone"),
]


@pytest.mark.parametrize(("change", "error"), BROKEN_JOBS)
def test_a_broken_job_fails_before_the_first_message(change, error):
    row = replace(job_row(), **change)
    with pytest.raises(error):
        custom_message_job_messages(row, RUN, [])  # not iterated: the call itself raises


def test_default_skip_handler_logs_the_first_skips_only(monkeypatch):
    warnings: list[dict] = []

    class FakeLogger:
        def warning(self, message, extra):
            warnings.append(extra)

    monkeypatch.setattr(custom_message, "logger", FakeLogger())
    row = job_row(text="x" * 4095 + "{{ user.first_name }}", parse_mode=None)
    recipients = [Recipient(n, n, "Longer") for n in range(custom_message.LOGGED_SKIPS_PER_RUN + 5)]
    assert list(custom_message_job_messages(row, RUN, recipients)) == []
    assert len(warnings) == custom_message.LOGGED_SKIPS_PER_RUN
    assert warnings[0]["job"] == "food-reminder" and warnings[0]["user_id"] == 0
    assert "limit is 4096" in warnings[0]["reason"]


# ---------------------------------------------------------------------------------------------
# A photo, URL buttons, link previews, protected content
# ---------------------------------------------------------------------------------------------
PHOTO_URL = "https://cdn.example.com/menu/week-12.jpg"
FILE_ID = "AgACAgIAAxkBAAIBY2ZlYWJjZGVmZ2hpamtsbW5vcA"
MENU = {"text": "Menu", "url": "https://rastar.example/menu"}
HELP = {"text": "Help", "url": "tg://resolve?domain=food_bot"}

RICH_ACCEPTED = [
    pytest.param({"photo": PHOTO_URL}, {"photo": PHOTO_URL}, id="photo-url"),
    pytest.param({"photo": f"  {FILE_ID} "}, {"photo": FILE_ID}, id="file-id-stripped"),
    pytest.param({"photo": "http://93.184.215.14/a.png"}, {"photo": "http://93.184.215.14/a.png"},
                 id="public-ip-over-http"),
    pytest.param({"photo": ""}, {}, id="empty-photo-is-none"),
    pytest.param({"photo": None}, {}, id="null-photo-is-none"),
    pytest.param({"buttons": [[MENU, HELP], [MENU]]}, {"buttons": [[MENU, HELP], [MENU]]},
                 id="two-rows"),
    pytest.param({"buttons": [[{"text": " Menu ", "url": " https://rastar.example/menu "}]]},
                 {"buttons": [[MENU]]}, id="button-stripped"),
    pytest.param({"buttons": []}, {}, id="no-buttons"),
    pytest.param({"buttons": [[MENU] * 8] * 12 + [[MENU] * 4]},
                 {"buttons": [[MENU] * 8] * 12 + [[MENU] * 4]}, id="100-buttons"),
    pytest.param({"link_preview": False}, {"link_preview": False}, id="no-preview"),
    pytest.param({"link_preview": True}, {}, id="preview-is-the-default"),
    pytest.param({"protect_content": True}, {"protect_content": True}, id="protected"),
    pytest.param({"protect_content": False}, {}, id="unprotected-is-the-default"),
    pytest.param({"paid_broadcast": True}, {"paid_broadcast": True}, id="paid-broadcast"),
    pytest.param({"paid_broadcast": False}, {}, id="free-is-the-default"),
]  # fmt: skip


@pytest.mark.parametrize(("extra", "stored"), RICH_ACCEPTED)
def test_from_json_accepts_photos_buttons_and_flags(extra, stored):
    config = MessageConfig.from_json({"text": "hi", **extra})
    assert config.to_json() == {"text": "hi", "parse_mode": "HTML", "silent": False, **stored}
    assert MessageConfig.from_json(config.to_json()) == config


def test_with_a_photo_the_text_is_a_caption_that_may_be_empty():
    assert MessageConfig.from_json({"text": "", "photo": FILE_ID}).template.caption
    assert MessageConfig.from_json({"text": "x" * 1024, "photo": FILE_ID, "parse_mode": None})
    assert MessageConfig.from_json({"text": "<b>" + "x" * 1024 + "</b>", "photo": FILE_ID})


RICH_REFUSED = [
    pytest.param({"text": "x" * 1025, "photo": PHOTO_URL}, "message_config.text",
                 "The photo's caption is 1025 characters long", id="caption-too-long"),
    pytest.param({"text": "😀" * 513, "photo": PHOTO_URL}, "message_config.text",
                 "1026 characters long as Telegram counts them", id="caption-in-utf16"),
    pytest.param({"text": "", "photo": None}, "message_config.text", "caption may be empty",
                 id="no-text-no-photo"),
    pytest.param({"photo": 5}, "message_config.photo", "not int", id="photo-int"),
    pytest.param({"photo": "ftp://cdn.example.com/a.jpg"}, "message_config.photo",
                 "from http:// and https:// links only", id="photo-ftp"),
    pytest.param({"photo": "http://localhost:8000/a.jpg"}, "message_config.photo",
                 "'localhost' (a local or private address)", id="photo-localhost"),
    pytest.param({"photo": "http://192.168.1.5/a.jpg"}, "message_config.photo",
                 "local or private address", id="photo-private-ip"),
    pytest.param({"photo": "https://photos/a.jpg"}, "message_config.photo",
                 "local or private address", id="photo-no-dot"),
    pytest.param({"photo": "https://cdn.example.com/a b.jpg"}, "message_config.photo",
                 "write spaces as %20", id="photo-space"),
    pytest.param({"photo": "a photo of lunch"}, "message_config.photo",
                 "neither a link to a picture (https://…) nor a Telegram file_id",
                 id="not-a-file-id"),
    pytest.param({"photo": "A" * 21}, "message_config.photo", "nor a Telegram file_id",
                 id="file-id-length"),
    pytest.param({"buttons": {"text": "Menu"}}, "message_config.buttons", "a list of rows",
                 id="buttons-object"),
    pytest.param({"buttons": [MENU]}, "message_config.buttons", "a list of rows", id="flat-list"),
    pytest.param({"buttons": [[MENU], []]}, "message_config.buttons[1]",
                 "Row 2 of the buttons is empty", id="empty-row"),
    pytest.param({"buttons": [[MENU] * 9]}, "message_config.buttons[0]",
                 "Row 1 has 9 buttons; Telegram shows at most 8", id="nine-in-a-row"),
    pytest.param({"buttons": [[MENU] * 8] * 12 + [[MENU] * 5]}, "message_config.buttons",
                 "There are 101 buttons; Telegram takes at most 100", id="101-buttons"),
    pytest.param({"buttons": [[MENU, "Help"]]}, "message_config.buttons[0][1]",
                 "Row 1, button 2 must be an object", id="button-string"),
    pytest.param({"buttons": [[{"text": "Menu", "callback_data": "x"}]]},
                 "message_config.buttons[0][0].callback_data", "unknown key 'callback_data'",
                 id="callback-button"),
    pytest.param({"buttons": [[{"text": " ", "url": MENU["url"]}]]},
                 "message_config.buttons[0][0].text", "Row 1, button 1 has no text", id="no-label"),
    pytest.param({"buttons": [[{"text": "x" * 65, "url": MENU["url"]}]]},
                 "message_config.buttons[0][0].text", "65 characters; at most 64", id="long-label"),
    pytest.param({"buttons": [[{"text": "a\nb", "url": MENU["url"]}]]},
                 "message_config.buttons[0][0].text", "one line", id="two-line-label"),
    pytest.param({"buttons": [[MENU], [MENU, {"text": "Menu"}]]},
                 "message_config.buttons[1][1].url", "Row 2, button 2 has no link", id="no-url"),
    pytest.param({"buttons": [[{"text": "Mail", "url": "mailto:a@example.com"}]]},
                 "message_config.buttons[0][0].url",
                 "a button opens http://, https:// and tg:// links only", id="mailto"),
    pytest.param({"buttons": [[{"text": "Menu", "url": "https://intranet/menu"}]]},
                 "message_config.buttons[0][0].url", "no domain Telegram accepts",
                 id="no-domain"),
    pytest.param({"buttons": [[{"text": "Bot", "url": "tg://"}]]},
                 "message_config.buttons[0][0].url", "leads nowhere", id="tg-nowhere"),
    pytest.param({"buttons": [[{"text": "x" * 64, "url": "https://e.com/" + "x" * 150}] * 8] * 8},
                 "message_config.buttons", "reply markup is too long", id="markup-too-long"),
    pytest.param({"link_preview": "off"}, "message_config.link_preview", "true or false",
                 id="preview-string"),
    pytest.param({"protect_content": 1}, "message_config.protect_content", "not 1",
                 id="protect-1"),
    pytest.param({"paid_broadcast": "yes"}, "message_config.paid_broadcast",
                 "message_config.paid_broadcast must be true or false, not 'yes'", id="paid-yes"),
    pytest.param({"paid_broadcast": None}, "message_config.paid_broadcast", "not None",
                 id="paid-null"),
    pytest.param({"allow_paid_broadcast": True}, "message_config.allow_paid_broadcast",
                 "allowed: text, parse_mode, silent, photo, buttons, link_preview,"
                 " protect_content, paid_broadcast", id="telegrams-name"),
]  # fmt: skip


@pytest.mark.parametrize(("extra", "field", "fragment"), RICH_REFUSED)
def test_from_json_refuses_photos_and_buttons_naming_the_field(extra, field, fragment):
    with pytest.raises(InvalidMessage) as caught:
        MessageConfig.from_json({"text": "hi", **extra})
    assert caught.value.field == field
    assert fragment in str(caught.value)


def test_each_message_carries_the_photo_buttons_and_flags():
    row = job_row(text="Lunch for {{ user.first_name }}", photo=PHOTO_URL, buttons=[[MENU]],
                  link_preview=False, protect_content=True)  # fmt: skip
    ann, bob = custom_message_job_messages(row, RUN, [ANN, BOB])

    keyboard = {"inline_keyboard": [[MENU]]}
    assert ann == OutgoingMessage(1, 101, "Lunch for Ann", "HTML", False, keyboard, PHOTO_URL,
                                  protect_content=True, link_preview=False)  # fmt: skip
    assert bob.text == "Lunch for Bob" and bob.reply_markup is ann.reply_markup  # built once


def test_a_paid_broadcast_marks_each_message_and_a_plain_job_none():
    paid = custom_message_job_messages(job_row(text="Hi", paid_broadcast=True), RUN, [ANN, BOB])
    plain = custom_message_job_messages(job_row(text="Hi"), RUN, [ANN])
    assert [message.paid_broadcast for message in paid] == [True, True]
    assert [message.paid_broadcast for message in plain] == [False]


def test_a_caption_pushed_past_1024_by_a_name_skips_that_person_only():
    row = job_row(text="x" * 1018 + "{{ user.first_name }}", parse_mode=None, photo=FILE_ID)
    skipped: list[SkippedRecipient] = []
    messages = list(
        custom_message_job_messages(row, RUN, [ANN, Recipient(4, 104, "Abigail")], skipped.append)
    )
    assert [m.user_id for m in messages] == [1]
    assert "The photo's caption is 1025 characters long" in skipped[0].reason
