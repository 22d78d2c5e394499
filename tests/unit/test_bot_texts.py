"""The bot's words: every text in both languages with the same placeholders, command menus
Telegram accepts, and values escaped."""

from __future__ import annotations

import re
import string

import pytest

from job_scheduler.bot import commands
from job_scheduler.bot.texts import COMMANDS, TEXTS, plain, say


@pytest.mark.parametrize("key", sorted(TEXTS))
def test_every_text_is_in_both_languages_with_the_same_placeholders(key):
    assert set(TEXTS[key]) == {"fa", "en"}
    fields = {
        lang: {name for _, name, _, _ in string.Formatter().parse(text) if name}
        for lang, text in TEXTS[key].items()
    }
    assert fields["fa"] == fields["en"]


def test_the_command_menus_list_the_same_commands_telegram_accepts():
    assert [name for name, _ in COMMANDS["fa"]] == [name for name, _ in COMMANDS["en"]]
    for lang in ("fa", "en"):
        for name, about in COMMANDS[lang]:
            assert re.fullmatch(r"[a-z0-9_]{1,32}", name) and 1 <= len(about) <= 256
            assert name in commands.COMMANDS


def test_values_are_escaped_in_html_and_kept_in_plain_text():
    assert say("joined", "en", pack="<b>A & B</b>") == "You joined “&lt;b&gt;A &amp; B&lt;/b&gt;”."
    assert plain("joined", "en", pack="A & B") == "You joined “A & B”."


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("/start", ("start", "")),
        ("/start pack_sunrise", ("start", "pack_sunrise")),
        ("/Help@my_bot", ("help", "")),
        ("hello", (None, "")),
        ("", (None, "")),
        (None, (None, "")),
    ],
)
def test_a_command_and_its_argument(text, parsed):
    assert commands.parse(text) == parsed
