"""What a food reminder says, in Persian or English, and its buttons.

A reminder lists the days its person has not picked, with their dishes, suggests one dish,
and offers a button per dish of the first of those days (a tap picks it in Rastar), a
button to the next day when there are more, and one to Rastar's site. Names and dishes are
HTML-escaped by the template (autoescape). Each text begins with a word of its language
("Hi", "سلام"), never the name: Telegram's apps take a paragraph's direction from its first
letter, and a Latin name would turn a Persian reminder left to right (and the reverse).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import jdatetime
from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from job_scheduler.messages.languages import language_of
from job_scheduler.model import Recipient
from job_scheduler.rastar.picking import Offer, OfferedDay, day_data, pick_data
from job_scheduler.rastar.protocol import Food

_ENV = SandboxedEnvironment(autoescape=True, undefined=StrictUndefined, trim_blocks=True)
WEEKDAYS_FA = ("دوشنبه", "سه‌شنبه", "چهارشنبه", "پنجشنبه", "جمعه", "شنبه", "یکشنبه")  # Monday: 0
PERSIAN_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
FRIEND = {"fa": "دوست عزیز", "en": "there"}  # for someone Telegram gave no first name
TOMORROW = {
    "fa": _ENV.from_string(
        "<b>سلام {{ name }}، غذای فردا ({{ days[0].label }}) را هنوز انتخاب نکرده‌ای.</b>\n"
        "منوی فردا:\n"
        "{% for food in days[0].foods %}• {{ food.name }}\n{% endfor %}"
        "{% if suggestion %}پیشنهاد ما: <b>{{ suggestion.name }}</b>\n{% endif %}"
        "برای انتخاب، روی غذا بزن:"
    ),
    "en": _ENV.from_string(
        "<b>Hi {{ name }}, you have not picked tomorrow's food ({{ days[0].label }}) yet.</b>\n"
        "Tomorrow's menu:\n"
        "{% for food in days[0].foods %}• {{ food.name }}\n{% endfor %}"
        "{% if suggestion %}Our suggestion: <b>{{ suggestion.name }}</b>\n{% endif %}"
        "Tap a dish to pick it:"
    ),
}
DAYS = {
    "fa": _ENV.from_string(
        "<b>سلام {{ name }}، برای {{ count }} روز از روزهای پیش رو غذا انتخاب نکرده‌ای:</b>\n"
        "{% for day in days %}<b>{{ day.label }}</b>: "
        "{{ day.foods|map(attribute='name')|join('، ') }}\n"
        "{% endfor %}"
        "{% if suggestion %}پیشنهاد ما برای {{ days[0].label }}: <b>{{ suggestion.name }}</b>\n"
        "{% endif %}"
        "برای انتخاب غذای {{ days[0].label }}، روی غذا بزن:"
    ),
    "en": _ENV.from_string(
        "<b>Hi {{ name }}, {{ count }} of the coming days have no food picked:</b>\n"
        "{% for day in days %}<b>{{ day.label }}</b>: "
        "{{ day.foods|map(attribute='name')|join(', ') }}\n"
        "{% endfor %}"
        "{% if suggestion %}Our suggestion for {{ days[0].label }}: <b>{{ suggestion.name }}</b>\n"
        "{% endif %}"
        "Tap a dish to pick it for {{ days[0].label }}:"
    ),
}
NEXT_DAY = {"fa": "روز بعد ◀", "en": "Next day ▶"}
OPEN_RASTAR = {"fa": "باز کردن رستار", "en": "Open Rastar"}
RELINK = {
    "fa": "اتصال حساب رستار شما دیگر پذیرفته نمی‌شود. برای دریافت یادآوری غذا، با /link حساب را"
    " دوباره وصل کنید.",
    "en": "Rastar no longer accepts your linked account. Send /link to link it again and keep"
    " getting food reminders.",
}


def language(recipient: Recipient) -> str:
    return language_of(recipient.language_code)


def day_label(day: date, lang: str) -> str:
    """A day as its people say it: in Persian by the Iranian (Jalali) calendar, with
    Persian digits ("شنبه ۱۴ آذر"), which also keeps an ISO date's digits and dashes from
    being reordered inside right-to-left text; in English, "Sat 5 Dec"."""
    if lang != "fa":
        return f"{day:%a} {day.day} {day:%b}"
    jalali = jdatetime.date.fromgregorian(date=day)
    month = jdatetime.date.j_months_fa[jalali.month - 1]
    return f"{WEEKDAYS_FA[day.weekday()]} {str(jalali.day).translate(PERSIAN_DIGITS)} {month}"


def reminder_text(
    recipient: Recipient, days: Sequence[OfferedDay], suggestion: Food | None, lang: str
) -> str:
    shown = [
        {"label": day_label(day.date, lang), "foods": [dish.food for dish in day.dishes]}
        for day in days
    ]
    template = TOMORROW[lang] if len(days) == 1 else DAYS[lang]
    name = recipient.first_name or FRIEND[lang]
    count = str(len(days)).translate(PERSIAN_DIGITS) if lang == "fa" else str(len(days))
    return template.render(name=name, days=shown, count=count, suggestion=suggestion)


def keyboard(
    offer: Offer, day: int, lang: str, site_url: str | None, picked: int | None = None
) -> dict[str, Any]:
    """One button per dish of the offer's ``day`` (two to a row, the ``picked`` one ticked),
    the next day, Rastar."""
    dishes = offer.days[day].dishes
    buttons = [
        {"text": ("✅ " if index == picked else "") + dish.food.name,
         "callback_data": pick_data(offer, day, index)}
        for index, dish in enumerate(dishes)
    ]  # fmt: skip
    rows = [buttons[start : start + 2] for start in range(0, len(buttons), 2)]
    extra = []
    if day + 1 < len(offer.days):
        extra.append({"text": NEXT_DAY[lang], "callback_data": day_data(offer, day + 1)})
    if site_url:
        extra.append({"text": OPEN_RASTAR[lang], "url": site_url})
    return {"inline_keyboard": [*rows, extra] if extra else rows}
