"""A template's output and every value it builds are bounded before it is saved: the
doubling templates that once took gigabytes are refused at once, ordinary ones pass."""

from __future__ import annotations

import pytest

from job_scheduler.errors import InvalidMessage
from job_scheduler.messages.size_bound import MAX_RENDERED_CHARS
from job_scheduler.messages.templates import MessageTemplate

DOUBLING = '{% set a = "' + "x" * 20 + '" %}' + "\n{% set a = a ~ a %}" * 26 + "{{ a|length }}"


@pytest.mark.parametrize(
    "source, parse_mode",
    [
        pytest.param(DOUBLING, "HTML", id="the-540-byte-template"),
        pytest.param(DOUBLING.replace("~", "+"), None, id="doubling-with-plus"),
        pytest.param(
            "{% set a = user.full_name %}" + "{% set a = a ~ a ~ a %}" * 8 + "{{ a }}",
            None,
            id="tripling-a-name",
        ),
        pytest.param(
            '{% set a = "ab" %}' + "{% if user.first_name %}{% set a = a ~ a %}{% endif %}" * 20,
            None,
            id="doubling-inside-ifs",
        ),
        pytest.param("{{ job.description|upper|upper|upper }}" * 4, None, id="case-growth"),
        pytest.param("{{ job.description }}" * 7, "HTML", id="too-long-an-output-escaped"),
    ],
)
def test_templates_that_could_grow_past_the_limit_are_refused(source, parse_mode):
    with pytest.raises(InvalidMessage, match=r"could grow to .* characters"):
        MessageTemplate.compile(source, parse_mode)


@pytest.mark.parametrize(
    "source, parse_mode",
    [
        ("<b>Hi {{ user.first_name }}!</b> It is {{ now.strftime('%H:%M') }}.", "HTML"),
        ("{{ job.description }}\n{{ user.full_name|title }} ({{ user.username }})", "HTML"),
        ('{% set hello = "Hi " ~ user.first_name %}{{ hello }}, {{ hello|upper }}', None),
        ("{% if user.language_code == 'fa' %}سلام{% else %}Hello{% endif %} {{ date }}", None),
        ('{% set a = "x" %}' + "{% set a = a ~ a %}" * 10 + "{{ a }}", None),  # 1,024
    ],
)
def test_ordinary_templates_are_accepted(source, parse_mode):
    MessageTemplate.compile(source, parse_mode)


def test_the_limit_is_what_telegram_reads_before_parsing():
    assert MAX_RENDERED_CHARS == 1 << 15
