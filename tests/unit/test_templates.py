"""Message templates: what they render per user, what compile refuses, and the sandbox."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from jinja2.sandbox import SecurityError

from job_scheduler.errors import InvalidMessage, UnknownTimezone
from job_scheduler.messages.telegram_html import visible_length
from job_scheduler.messages.templates import (
    MAX_TEMPLATE_BYTES,
    MessageTemplate,
    TemplateContext,
)
from job_scheduler.model import Recipient

# 18:30 UTC is 22:00 in Tehran (UTC+03:30, no DST since 2022).
SCHEDULED = datetime(2026, 3, 1, 18, 30, tzinfo=UTC)
NOW = datetime(2026, 3, 1, 18, 30, 7, tzinfo=UTC)


def context(
    first_name: str | None = "Ann",
    last_name: str | None = "Lee",
    username: str | None = "ann",
    timezone: str = "Asia/Tehran",
) -> TemplateContext:
    return TemplateContext.build(
        Recipient(1, 10, first_name, last_name, username, "en"),
        job_name="food-reminder",
        job_description="Pick tomorrow's food",
        scheduled_for=SCHEDULED,
        timezone=timezone,
        now=NOW,
    )


def render(source: str, parse_mode: str | None = "HTML", **user: str | None) -> str:
    return MessageTemplate.compile(source, parse_mode).render(context(**user))


def refusal(source: str, parse_mode: str | None = "HTML") -> str:
    with pytest.raises(InvalidMessage) as caught:
        MessageTemplate.compile(source, parse_mode)
    return str(caught.value)


# ---------------------------------------------------------------------------------------------
# Rendering: (source, parse_mode, user fields, expected text)
# ---------------------------------------------------------------------------------------------
RENDERS = [
    pytest.param("Hi <b>{{ user.first_name }}</b>", "HTML", {}, "Hi <b>Ann</b>", id="html"),
    pytest.param("Hi {{ user.first_name }}", None, {}, "Hi Ann", id="plain"),
    pytest.param(
        "Hi <b>{{ user.first_name }}</b>",
        "HTML",
        {"first_name": "<script>"},
        "Hi <b>&lt;script&gt;</b>",
        id="html-escapes-user-fields",
    ),
    pytest.param(
        "{{ user.first_name }}",
        "HTML",
        {"first_name": 'Tom & "Jerry" O\'Neil'},
        "Tom &amp; &#34;Jerry&#34; O&#39;Neil",
        id="html-escapes-amp-and-quotes",
    ),
    pytest.param(
        "Hi {{ user.first_name }} <3",
        None,
        {"first_name": "<script>"},
        "Hi <script> <3",
        id="plain-leaves-angle-brackets",
    ),
    pytest.param("{{ user.full_name }}", None, {}, "Ann Lee", id="full-name"),
    pytest.param("[{{ user.full_name }}]", None, {"last_name": None}, "[Ann]", id="no-last-name"),
    pytest.param("[{{ user.username }}]", None, {"username": None}, "[]", id="missing-is-empty"),
    pytest.param(
        "{% if user.username %}@{{ user.username }}{% else %}{{ user.first_name }}{% endif %}",
        "HTML",
        {"username": None},
        "Ann",
        id="if-else",
    ),
    pytest.param(
        "{{ job.name }}: {{ job.description }}",
        None,
        {},
        "food-reminder: Pick tomorrow's food",
        id="job",
    ),
    pytest.param(
        "{{ date }} {{ scheduled_for.strftime('%H:%M') }} {{ now.strftime('%H:%M:%S') }}",
        None,
        {},
        "2026-03-01 22:00 22:00:07",
        id="local-times",
    ),
    pytest.param("{{ scheduled_for.hour }}:{{ now.minute }}", None, {}, "22:0", id="attributes"),
    pytest.param(
        "{{ user.first_name|upper }} {{ user.first_name[:1] }}. "
        "{{ user.username|default('friend', true) }}",
        None,
        {"username": ""},
        "ANN A. friend",
        id="filters-and-slices",
    ),
    pytest.param(
        "{% set who = user.first_name ~ '!' %}{{ who }}", None, {}, "Ann!", id="set-and-concat"
    ),
    pytest.param("line 1\nline 2\n", None, {}, "line 1\nline 2\n", id="keeps-trailing-newline"),
]


@pytest.mark.parametrize(("source", "parse_mode", "user", "expected"), RENDERS)
def test_render(source, parse_mode, user, expected):
    assert render(source, parse_mode, **user) == expected


def test_scheduled_for_follows_the_jobs_timezone_across_dst():
    berlin = TemplateContext.build(
        Recipient(1, 1),
        job_name="j",
        job_description="",
        scheduled_for=datetime(2026, 7, 1, 6, 0, tzinfo=UTC),
        timezone="Europe/Berlin",
        now=NOW,
    )
    assert berlin.scheduled_for.strftime("%H:%M %Z") == "08:00 CEST"
    assert berlin.date == "2026-07-01"


def test_context_refuses_naive_times_and_unknown_zones():
    with pytest.raises(ValueError, match="naive"):
        TemplateContext.build(
            Recipient(1, 1),
            job_name="j",
            job_description="",
            scheduled_for=datetime(2026, 1, 1),
            timezone="UTC",
        )
    with pytest.raises(UnknownTimezone):
        context(timezone="Mars/Olympus")


# ---------------------------------------------------------------------------------------------
# Compile refusals: (source, parse_mode, a fragment of the message)
# ---------------------------------------------------------------------------------------------
REFUSALS = [
    # syntax, with the line
    pytest.param("ok\nok\nHi {{ user.first_name }", "HTML", "syntax error on line 3", id="syntax"),
    pytest.param("{% if user.username %}x", "HTML", "syntax error on line 1", id="unclosed-if"),
    pytest.param("a\n{{ }}", None, "syntax error on line 2", id="empty-expression"),
    # variables and fields
    pytest.param(
        "Hi {{ usr.first_name }}",
        "HTML",
        "Line 1: unknown variable 'usr'; messages can use user, job, now, scheduled_for, date",
        id="unknown-variable",
    ),
    pytest.param("\n{{ name }}", None, "Line 2: unknown variable 'name'", id="unknown-line-2"),
    pytest.param("{{ range }}", None, "unknown variable 'range'", id="no-jinja-globals"),
    pytest.param("{{ self }}", None, "unknown variable 'self'", id="no-template-self"),
    pytest.param(
        "{{ user.fist_name }}",
        "HTML",
        "user.fist_name does not exist; user has first_name, full_name, language_code, "
        "last_name, username",
        id="unknown-user-field",
    ),
    pytest.param("{{ job.schedule }}", None, "job.schedule does not exist", id="unknown-job-field"),
    pytest.param("{{ user['fist_name'] }}", None, "user.fist_name does not exist", id="subscript"),
    pytest.param("{{ now.tzinfo }}", None, "'.tzinfo' is not available", id="datetime-attr"),
    # the loop-free subset
    pytest.param(
        "{% for c in user.first_name %}{{ c }}{% endfor %}",
        None,
        "{% for %} loops cannot be used",
        id="for",
    ),
    pytest.param("{% macro m() %}x{% endmacro %}", None, "{% macro %} cannot", id="macro"),
    pytest.param("{% include 'x' %}", None, "{% include %} cannot", id="include"),
    pytest.param("{% extends 'x' %}", None, "{% extends %} cannot", id="extends"),
    pytest.param(
        "{% filter upper %}x{% endfilter %}", None, "{% filter %} blocks", id="filter-block"
    ),
    pytest.param("{{ 'ab' * 9999999 }}", None, "the * operator cannot", id="multiply"),
    pytest.param("{{ 9 ** 9 ** 9 }}", None, "the ** operator cannot", id="power"),
    pytest.param("{{ '%999999d' % 1 }}", None, "the % operator cannot", id="percent-format"),
    pytest.param("{{ {'a': 1} }}", None, "dictionaries cannot", id="dict"),
    pytest.param(
        "{{ user.first_name|center(999999999) }}",
        None,
        "the filter 'center' is not available",
        id="center-filter",
    ),
    pytest.param("{{ user.first_name|safe }}", "HTML", "filter 'safe' is not available", id="safe"),
    pytest.param(
        "{{ user.first_name.ljust(999999999) }}",
        None,
        "only these methods can be called",
        id="ljust",
    ),
    pytest.param(
        "{{ now.strftime('%999999999Y') }}", None, ".strftime() takes one quoted format", id="wide"
    ),
    pytest.param(
        "{{ now.strftime(user.first_name) }}", None, ".strftime() takes one quoted", id="dyn-fmt"
    ),
    pytest.param("{{ user.first_name.upper(1) }}", None, "takes no arguments", id="method-args"),
    pytest.param(
        "{% if user.username is sameas none %}x{% endif %}",
        None,
        "the test 'sameas' is not available",
        id="test",
    ),
    # size and the literal HTML (found by rendering a sample user with <&> in every field)
    pytest.param(
        "a" * (MAX_TEMPLATE_BYTES + 1), None, "16385 bytes; the limit is 16384", id="size"
    ),
    pytest.param("ж" * 8193, None, "16386 bytes", id="size-is-utf8-bytes"),
    pytest.param("Hi <div>{{ user.first_name }}</div>", "HTML", "Unsupported tag <div>", id="div"),
    pytest.param(
        "<b>Hi {{ user.first_name }}",
        "HTML",
        "<b> opened at character 1 is never closed; add </b>. (found rendering it for a sample "
        "user with names full of <&>; positions count in that rendered text)",
        id="unclosed-tag",
    ),
    pytest.param("Tom & Jerry", "HTML", "write &amp;", id="bare-amp"),
    pytest.param("x" * 4097, "HTML", "4097 characters long", id="literal-too-long"),
    pytest.param("{% if false %}x{% endif %}", "HTML", "The message is empty", id="empty"),
    pytest.param("x", "MarkdownV2", 'parse_mode must be "HTML" or null', id="parse-mode"),
    # nesting deep enough to hit Python's own limits while compiling
    pytest.param(
        "{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}", None, "nests too deeply", id="parens"
    ),
    pytest.param(
        "{{ user.first_name" + "|upper" * 2500 + " }}", None, "nests too deeply", id="filters"
    ),
    pytest.param(
        "{% if user.username %}" * 100 + "x" + "{% endif %}" * 100,
        None,
        "nests too deeply",
        id="nested-ifs",
    ),
]


@pytest.mark.parametrize(("source", "parse_mode", "fragment"), REFUSALS)
def test_compile_refuses_with_a_reason(source, parse_mode, fragment):
    assert fragment in refusal(source, parse_mode)


def test_compile_refuses_non_text():
    assert "must be text" in refusal(b"hi")  # type: ignore[arg-type]


def test_plain_text_templates_are_not_held_to_html():
    assert render("1 < 2 & <div>", None) == "1 < 2 & <div>"


# ---------------------------------------------------------------------------------------------
# Sandbox: attempts to reach Python internals are refused at compile (static check) or, for
# keys computed at run time, by Jinja's sandbox during the sample rendering. Nothing leaks.
# ---------------------------------------------------------------------------------------------
ESCAPES = [
    pytest.param("{{ ''.__class__.__mro__ }}", id="str-mro"),
    pytest.param("{{ user.__init__ }}", id="user-init"),
    pytest.param("{{ user.__init__.__globals__ }}", id="init-globals"),
    pytest.param("{{ job.__class__.__subclasses__() }}", id="subclasses"),
    pytest.param("{{ now.__class__ }}", id="datetime-class"),
    pytest.param("{{ user['__class__'] }}", id="subscript-dunder"),
    pytest.param("{{ user._private }}", id="underscore"),
    pytest.param("{% set k = '__class__' %}{{ user[k] }}", id="computed-key"),
    pytest.param("{% set k = '__cla' ~ 'ss__' %}{{ job[k] }}", id="concatenated-key"),
    pytest.param("{{ user.first_name|attr('__class__') }}", id="attr-filter"),
    pytest.param("{{ user.first_name.format('{0.__class__}') }}", id="str-format"),
    pytest.param("{{ cycler.__init__.__globals__ }}", id="jinja-global"),
    pytest.param("{{ lipsum() }}", id="lipsum"),
    pytest.param("{{ self._TemplateReference__context }}", id="template-reference"),
    pytest.param("{% set x = namespace() %}", id="namespace"),
    pytest.param("{% import 'os' as os %}", id="import"),
]


@pytest.mark.parametrize("parse_mode", ["HTML", None])
@pytest.mark.parametrize("source", ESCAPES)
def test_sandbox_escapes_are_refused(source, parse_mode):
    message = refusal(source, parse_mode)
    assert "<class" not in message and "<function" not in message and "<module" not in message


def test_keys_computed_at_run_time_are_stopped_by_the_sandbox():
    with pytest.raises(InvalidMessage, match="is unsafe") as caught:
        MessageTemplate.compile("{% set k = '__class__' %}{{ user[k] }}", "HTML")
    causes, error = [], caught.value
    while error is not None:
        causes.append(type(error))
        error = error.__cause__
    assert SecurityError in causes


def test_a_user_whose_render_fails_is_refused_at_render():
    # Fine for the markup sample's 12-character name; a two-letter name has no index 5. The
    # blank sample cannot render it either, which is no reason to refuse the template.
    template = MessageTemplate.compile("{{ user.first_name[5] }}", None)
    assert template.render(context(first_name="Annabelle")) == "e"
    with pytest.raises(InvalidMessage, match="could not be rendered"):
        template.render(context(first_name="Al"))


# ---------------------------------------------------------------------------------------------
# The 4096 limit at render time, per user
# ---------------------------------------------------------------------------------------------
LONG_NAMES = [
    pytest.param(4090, "abcdef", True, id="4090+6-fits"),
    pytest.param(4090, "abcdefg", False, id="4090+7-is-4097"),
    pytest.param(4094, "😀", True, id="emoji-counts-2"),
    pytest.param(4095, "😀", False, id="emoji-makes-4097"),
    pytest.param(4095, "<", True, id="escaped-lt-counts-1"),
]


@pytest.mark.parametrize(("padding", "name", "fits"), LONG_NAMES)
def test_rendered_length_is_checked_per_user(padding, name, fits):
    template = MessageTemplate.compile("x" * padding + "{{ user.first_name }}", "HTML")
    if fits:
        assert visible_length(template.render(context(first_name=name)), "HTML") == 4096
    else:
        with pytest.raises(InvalidMessage, match="is 4097 characters long"):
            template.render(context(first_name=name))


def test_rendered_html_is_checked_per_user():
    # A branch the sample user does not take opens a tag it never closes.
    template = MessageTemplate.compile(
        "{% if user.username == 'x' %}<b>{% endif %}Hi {{ user.first_name }}", "HTML"
    )
    assert template.render(context(username="ann")) == "Hi Ann"
    with pytest.raises(InvalidMessage, match="never closed"):
        template.render(context(username="x"))


def test_many_renders_agree_with_rendering_each_alone():
    source = '<b>Hi {{ user.first_name }}</b> <a href="https://e.com/{{ user.username }}">me</a>'
    shared = MessageTemplate.compile(source, "HTML")
    names = ["Ann", "<b>", "a & b", "😀", 'q"uote', "Ann"]
    for name in names:
        alone = MessageTemplate.compile(source, "HTML")
        assert shared.render(context(first_name=name)) == alone.render(context(first_name=name))
