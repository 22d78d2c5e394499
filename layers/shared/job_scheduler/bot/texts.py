"""What the bot says, in Persian and English (HTML; every value is escaped by ``say``).

Texts are looked up by key and language; a key missing in one language is a bug that
``tests/unit/test_bot_texts.py`` finds, not a fallback at run time.
"""

from __future__ import annotations

import html
from typing import Any

from job_scheduler.messages.languages import Language

COMMANDS: dict[Language, list[tuple[str, str]]] = {
    "fa": [
        ("start", "شروع"),
        ("packs", "انتخاب بسته‌ها"),
        ("language", "تغییر زبان"),
        ("link", "اتصال حساب رستار"),
        ("unlink", "قطع اتصال حساب رستار"),
        ("status", "وضعیت من"),
        ("stop", "توقف پیام‌ها"),
        ("resume", "ازسرگیری پیام‌ها"),
        ("help", "راهنما"),
    ],
    "en": [
        ("start", "Start"),
        ("packs", "Choose packs"),
        ("language", "Change language"),
        ("link", "Link your Rastar account"),
        ("unlink", "Unlink your Rastar account"),
        ("status", "My status"),
        ("stop", "Stop messages"),
        ("resume", "Resume messages"),
        ("help", "Help"),
    ],
}

TEXTS: dict[str, dict[Language, str]] = {
    "welcome": {
        "fa": "سلام {name}! 👋\nاز این پس پیام‌ها و یادآوری‌های زمان‌بندی‌شده همین‌جا می‌آید."
        " با /link حساب رستار را وصل کن تا یادآوری غذا بگیری، و با /packs بسته‌هایی را که"
        " دوست داری انتخاب کن.",
        "en": "Hi {name}! 👋\nScheduled messages and reminders will come here. Send /link to"
        " link your Rastar account for food reminders, and /packs to choose what you hear"
        " about.",
    },
    "welcome_back": {
        "fa": "خوش برگشتی {name}! برای دیدن دستورها /help را بفرست.",
        "en": "Welcome back, {name}! Send /help to see what I can do.",
    },
    "still_stopped": {
        "fa": "پیام‌های زمان‌بندی‌شده برای تو متوقف است؛ برای دریافت دوباره /resume را بفرست.",
        "en": "Scheduled messages are stopped for you; send /resume to get them again.",
    },
    "help": {
        "fa": "<b>دستورها</b>\n/packs انتخاب بسته‌ها\n/language تغییر زبان\n/link اتصال حساب"
        " رستار\n/unlink قطع اتصال حساب رستار\n/status وضعیت من\n/stop توقف پیام‌ها\n"
        "/resume ازسرگیری پیام‌ها",
        "en": "<b>Commands</b>\n/packs choose packs\n/language change language\n/link link"
        " your Rastar account\n/unlink unlink it\n/status your status\n/stop stop messages\n"
        "/resume resume messages",
    },
    "stopped": {
        "fa": "پیام‌های زمان‌بندی‌شده متوقف شد. هر وقت خواستی /resume را بفرست.",
        "en": "Scheduled messages are stopped. Send /resume whenever you want them back.",
    },
    "already_stopped": {
        "fa": "پیام‌ها از قبل متوقف بود. برای ازسرگیری /resume را بفرست.",
        "en": "Messages were already stopped. Send /resume to get them again.",
    },
    "resumed": {
        "fa": "پیام‌ها دوباره برایت فرستاده می‌شود.",
        "en": "You will get scheduled messages again.",
    },
    "already_resumed": {
        "fa": "پیام‌ها متوقف نبود؛ همه چیز سر جایش است.",
        "en": "Messages were not stopped; nothing to resume.",
    },
    "language_prompt": {
        "fa": "زبان پیام‌ها را انتخاب کن:",
        "en": "Choose the language of your messages:",
    },
    "language_telegram": {"fa": "زبان تلگرام", "en": "Telegram's language"},
    "language_set": {
        "fa": "از این پس فارسی با تو حرف می‌زنم.",
        "en": "I will speak English with you from now on.",
    },
    "packs_prompt": {
        "fa": "بسته‌هایی را که می‌خواهی انتخاب کن (✅ یعنی عضوی):",
        "en": "Choose the packs you want (✅ means you are in it):",
    },
    "no_packs": {
        "fa": "فعلاً بسته‌ای برای عضویت باز نیست.",
        "en": "No pack is open to join right now.",
    },
    "joined": {"fa": "به «{pack}» پیوستی.", "en": "You joined “{pack}”."},
    "left": {"fa": "از «{pack}» بیرون آمدی.", "en": "You left “{pack}”."},
    "already_in": {"fa": "از قبل عضو «{pack}» هستی.", "en": "You are already in “{pack}”."},
    "pack_closed": {
        "fa": "«{pack}» برای عضویت باز نیست.",
        "en": "“{pack}” is not open to join.",
    },
    "pack_unknown": {
        "fa": "این بسته پیدا نشد؛ شاید پیوندش قدیمی است. /packs را ببین.",
        "en": "That pack was not found; the link may be old. See /packs.",
    },
    "link_prompt": {
        "fa": "برای اتصال حساب رستار، دکمهٔ زیر را بزن و با ایمیل و رمز رستار وارد شو. پیوند"
        " یک‌بار مصرف است و {minutes} دقیقه اعتبار دارد.",
        "en": "Tap the button below and sign in with your Rastar email and password. The"
        " link works once, for {minutes} minutes.",
    },
    "link_relink": {
        "fa": "حساب {email} الان وصل است؛ با این پیوند می‌توانی حساب دیگری وصل کنی.",
        "en": "{email} is linked now; this link lets you link another account instead.",
    },
    "link_button": {"fa": "اتصال حساب رستار", "en": "Link Rastar"},
    "link_unavailable": {
        "fa": "اتصال حساب رستار فعلاً در دسترس نیست.",
        "en": "Linking a Rastar account is not available right now.",
    },
    "unlinked": {
        "fa": "اتصال حساب رستار قطع شد؛ دیگر یادآوری غذا نمی‌گیری.",
        "en": "Your Rastar account is unlinked; no more food reminders.",
    },
    "not_linked": {
        "fa": "حساب رستاری وصل نیست. برای اتصال /link را بفرست.",
        "en": "No Rastar account is linked. Send /link to link one.",
    },
    "status": {
        "fa": "<b>وضعیت تو</b>\nرستار: {rastar}\nپیام‌ها: {messages}\nبسته‌ها: {packs}\nزبان:"
        " {language}",
        "en": "<b>Your status</b>\nRastar: {rastar}\nMessages: {messages}\nPacks: {packs}\n"
        "Language: {language}",
    },
    "status_linked": {"fa": "وصل با {email}", "en": "linked as {email}"},
    "status_refused": {
        "fa": "دیگر پذیرفته نمی‌شود؛ /link",
        "en": "no longer accepted; send /link",
    },
    "status_unlinked": {"fa": "وصل نیست", "en": "not linked"},
    "status_on": {"fa": "فعال", "en": "on"},
    "status_off": {"fa": "متوقف (/resume)", "en": "stopped (/resume)"},
    "status_no_packs": {"fa": "هیچ", "en": "none"},
    "language_fa": {"fa": "فارسی", "en": "Persian"},
    "language_en": {"fa": "انگلیسی", "en": "English"},
    "language_follows": {"fa": " (از تلگرام)", "en": " (from Telegram)"},
    "apology": {
        "fa": "ببخشید، مشکلی پیش آمد و کارت انجام نشد. چند دقیقهٔ دیگر دوباره امتحان کن.",
        "en": "Sorry, something went wrong and that was not done. Please try again in a"
        " few minutes.",
    },
    # Tapping a reminder's dish: the toast, and what the reminder then says.
    # Each text starts with a word of its own language, never a value: Telegram's apps
    # set a paragraph's direction by its first letter, and a Persian dish first would
    # turn an English sentence right to left (and a Latin one a Persian sentence).
    "picked_toast": {"fa": "✅ انتخاب شد: {dish}", "en": "✅ Picked: {dish}"},
    "picked": {
        "fa": "✅ انتخاب شد: <b>{dish}</b> برای {day}.\nتا آن روز می‌توانی با زدن غذای دیگری"
        " عوضش کنی:",
        "en": "✅ Picked <b>{dish}</b> for {day}.\nUntil then you can tap another dish to"
        " change it:",
    },
    "day_prompt": {
        "fa": "غذای <b>{day}</b>: روی غذا بزن تا انتخاب شود:",
        "en": "Food for <b>{day}</b>: tap a dish to pick it:",
    },
    "pick_not_ours": {"fa": "این دکمه مال این ربات نیست.", "en": "That button is not mine."},
    "pick_not_yours": {
        "fa": "این دکمه مال تو نیست یا دیگر وجود ندارد.",
        "en": "This button is not yours, or no longer exists.",
    },
    "pick_over": {
        "fa": "روزهای این یادآوری گذشته است.",
        "en": "The days of this reminder are over.",
    },
    "pick_mismatch": {
        "fa": "این دکمه با یادآوری‌اش جور نیست.",
        "en": "This button does not match its reminder.",
    },
    "pick_past": {
        "fa": "آن روز گذشته و دیگر نمی‌شود انتخاب کرد.",
        "en": "That day is past; it can no longer be picked.",
    },
    "pick_not_linked": {
        "fa": "حساب رستار وصل نیست؛ با /link وصلش کن.",
        "en": "Your Rastar account is not linked; link it with /link.",
    },
    "pick_relink": {
        "fa": "رستار دیگر حسابت را نمی‌پذیرد؛ با /link دوباره وصلش کن.",
        "en": "Rastar no longer accepts your account; link it again with /link.",
    },
    "pick_down": {
        "fa": "رستار جواب نمی‌دهد؛ چیزی عوض نشد. کمی بعد دوباره بزن.",
        "en": "Rastar is not answering; nothing changed. Try again in a minute.",
    },
    "pick_failed": {
        "fa": "رستار انتخاب را نپذیرفت؛ برای آن روز غذایی انتخاب نشده است.",
        "en": "Rastar did not take the pick; nothing is picked for that day.",
    },
    "pick_kept": {
        "fa": "رستار انتخاب تازه را نپذیرفت؛ همچنان {dish} انتخاب توست.",
        "en": "Rastar did not take the new pick; {dish} stays picked.",
    },
    "pick_lost": {
        "fa": "رستار انتخاب قبلی را برداشت ولی تازه را نپذیرفت؛ دوباره انتخاب کن.",
        "en": "Rastar removed your earlier pick but did not take the new one; pick again.",
    },
    "pick_unavailable": {
        "fa": "انتخاب غذا فعلاً در دسترس نیست.",
        "en": "Picking food is not available right now.",
    },
}


def say(key: str, lang: Language, /, **values: Any) -> str:
    """The text ``key`` in ``lang``, its ``{values}`` HTML-escaped."""
    return TEXTS[key][lang].format(
        **{name: html.escape(str(value)) for name, value in values.items()}
    )


def plain(key: str, lang: Language, /, **values: Any) -> str:
    """The text ``key`` as plain text (a button's label or a tap's toast: no HTML there)."""
    return TEXTS[key][lang].format(**values)
