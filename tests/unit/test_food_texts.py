"""What a food reminder says and its buttons (jobs/food_reminder/texts.py), without services."""

from __future__ import annotations

from datetime import date

import pytest

from job_scheduler.jobs.food_reminder import texts
from job_scheduler.messages.telegram_html import check_message_text
from job_scheduler.model import Recipient
from job_scheduler.rastar.picking import Offer, OfferedDay, parse_callback
from job_scheduler.rastar.protocol import Food, Offering

NAMES = ["قورمه سبزی", "عدس پلو", "ماکارونی", "سبزی <پلو> & ماهی"]


def day_of(when: date) -> OfferedDay:
    dishes = tuple(
        Offering(f"{when}-{i}", when, Food(str(i), name)) for i, name in enumerate(NAMES)
    )
    return OfferedDay(when, dishes)


@pytest.mark.parametrize(
    "day, lang, label",
    [
        (date(2026, 12, 5), "fa", "شنبه ۱۴ آذر"),
        (date(2027, 3, 21), "fa", "یکشنبه ۱ فروردین"),  # Nowruz: the Iranian new year
        (date(2026, 11, 27), "fa", "جمعه ۶ آذر"),
        (date(2026, 12, 5), "en", "Sat 5 Dec"),
    ],
)
def test_days_are_named_as_their_people_name_them(day, lang, label):
    assert texts.day_label(day, lang) == label


def test_a_reminder_escapes_names_and_dishes_and_is_html_telegram_takes():
    person = Recipient(user_id=1, chat_id=1, first_name="<Sara & co>", language_code="fa")

    text = texts.reminder_text(person, [day_of(date(2026, 12, 5))], Food("1", "عدس پلو"), "fa")

    assert "&lt;Sara &amp; co&gt;" in text and "سبزی &lt;پلو&gt; &amp; ماهی" in text
    assert "پیشنهاد ما: <b>عدس پلو</b>" in text
    check_message_text(text, "HTML")


def test_several_days_are_counted_in_persian_digits_and_listed():
    person = Recipient(user_id=1, chat_id=1, first_name="Sara", language_code="fa")
    days = [day_of(date(2026, 12, 5)), day_of(date(2026, 12, 6))]

    text = texts.reminder_text(person, days, None, "fa")

    assert "برای ۲ روز" in text and "شنبه ۱۴ آذر" in text and "یکشنبه ۱۵ آذر" in text
    assert "پیشنهاد" not in text


def test_the_keyboard_has_a_button_per_dish_the_next_day_and_rastar():
    offer = Offer("A" * 16, 1, (day_of(date(2026, 12, 5)), day_of(date(2026, 12, 6))))

    keyboard = texts.keyboard(offer, 0, "en", "https://rastar.example/")["inline_keyboard"]

    assert [len(row) for row in keyboard] == [2, 2, 2]
    assert [b["text"] for b in keyboard[0] + keyboard[1]] == NAMES
    assert keyboard[2] == [
        {"text": "Next day ▶", "callback_data": f"d:{'A' * 16}:1"},
        {"text": "Open Rastar", "url": "https://rastar.example/"},
    ]
    assert parse_callback(keyboard[1][1]["callback_data"]) == ("p", "A" * 16, 0, 3)


def test_the_last_day_has_no_next_button_and_no_site_means_no_site_button():
    offer = Offer("B" * 16, 1, (day_of(date(2026, 12, 5)), day_of(date(2026, 12, 6))))

    keyboard = texts.keyboard(offer, 1, "fa", None)["inline_keyboard"]

    assert [b.get("callback_data", "")[:1] for row in keyboard for b in row] == ["p"] * 4


def test_the_longest_button_data_fits_telegram_s_64_bytes():
    offer = Offer("x" * 16, 1, tuple(day_of(date(2026, 12, d)) for d in range(1, 8)))
    keyboard = texts.keyboard(offer, 6, "fa", None)["inline_keyboard"]

    assert max(len(b["callback_data"].encode()) for row in keyboard for b in row) <= 64
