"""Telegram's HTML subset: what passes, what is refused with which advice, and the length.

Expected lengths are counted by hand in UTF-16 code units (what Telegram's 4096 limit
counts): tags count nothing, an entity counts as the one character it stands for, and a
character outside the Basic Multilingual Plane (most emoji) counts 2.
"""

from __future__ import annotations

import pytest

from job_scheduler.errors import InvalidMessage
from job_scheduler.messages.telegram_html import (
    MAX_MESSAGE_LENGTH,
    MarkupMemo,
    check_message_text,
    utf16_length,
    validate_telegram_html,
    visible_length,
)

# ---------------------------------------------------------------------------------------------
# Valid HTML: (text, visible length). Every tag the Bot API documents appears at least once.
# ---------------------------------------------------------------------------------------------
VALID = [
    pytest.param("<b>bold</b>", 4, id="b"),
    pytest.param("<strong>bold</strong>", 4, id="strong"),
    pytest.param("<i>it</i>", 2, id="i"),
    pytest.param("<em>it</em>", 2, id="em"),
    pytest.param("<u>under</u>", 5, id="u"),
    pytest.param("<ins>under</ins>", 5, id="ins"),
    pytest.param("<s>gone</s>", 4, id="s"),
    pytest.param("<strike>gone</strike>", 4, id="strike"),
    pytest.param("<del>gone</del>", 4, id="del"),
    pytest.param('<span class="tg-spoiler">secret</span>', 6, id="span-spoiler"),
    pytest.param("<tg-spoiler>secret</tg-spoiler>", 6, id="tg-spoiler"),
    pytest.param('<a href="http://example.com/">x</a>', 1, id="a-http"),
    pytest.param('<a href="https://example.com/a?b=1&amp;c=2">xy</a>', 2, id="a-https-amp"),
    pytest.param('<a href="tg://user?id=123456789">me</a>', 2, id="a-tg-mention"),
    pytest.param('<a href="mailto:team@example.com">mail</a>', 4, id="a-mailto"),
    pytest.param("<a href='https://example.com'>single quotes</a>", 13, id="a-single-quoted"),
    pytest.param('<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>', 2, id="tg-emoji"),
    pytest.param("<code>x = 1</code>", 5, id="code"),
    pytest.param("<pre>line 1\nline 2</pre>", 13, id="pre"),
    pytest.param(
        '<pre><code class="language-python">print(1)</code></pre>', 8, id="pre-code-language"
    ),
    pytest.param("<blockquote>quoted</blockquote>", 6, id="blockquote"),
    pytest.param("<blockquote expandable>long</blockquote>", 4, id="blockquote-expandable"),
    # nesting the Bot API allows
    pytest.param(
        '<b>b <i>bi <s>bis <span class="tg-spoiler">bisp</span></s> <u>biu</u></i> b</b>',
        19,  # "b " + "bi " + "bis " + "bisp" + " " + "biu" + " b"
        id="formatting-nests-freely",
    ),
    pytest.param('<a href="https://e.com"><b>bold link</b></a>', 9, id="formatting-in-a-link"),
    pytest.param("<b>Total: <code>42</code></b>", 9, id="code-in-formatting"),
    pytest.param("<blockquote><b>q</b> <pre>p</pre></blockquote>", 3, id="pre-in-blockquote"),
    pytest.param('<blockquote><a href="https://e.com">l</a></blockquote>', 1, id="a-in-quote"),
    # entities, case and spacing
    pytest.param("&lt;&gt;&amp;&quot;", 4, id="the-four-named-entities"),
    pytest.param("&#65;&#x41;", 2, id="numeric-entities"),
    pytest.param("&#x1F600;", 2, id="numeric-astral-entity-counts-2"),
    pytest.param("5 > 3", 5, id="bare-greater-than"),
    pytest.param("<B>caps</B>", 4, id="tag-names-any-case"),
    pytest.param("<b\n>x</b >", 1, id="whitespace-inside-tags"),
    pytest.param("no markup at all", 16, id="plain-words"),
    pytest.param("سلام <b>دنیا</b>", 9, id="persian"),
]


@pytest.mark.parametrize(("text", "length"), VALID)
def test_valid_html_passes_and_counts(text, length):
    validate_telegram_html(text)
    assert visible_length(text, "HTML") == length


# ---------------------------------------------------------------------------------------------
# Invalid HTML: (text, a fragment the message must contain). Positions count from 1.
# ---------------------------------------------------------------------------------------------
INVALID = [
    # tags Telegram does not have
    pytest.param(
        "Hello world<div>x</div>",
        "Unsupported tag <div> at character 12; allowed: b, i, u, s, a, code, pre, blockquote,"
        " tg-spoiler",
        id="div",
    ),
    pytest.param("a<br>b", "Unsupported tag <br> at character 2", id="br"),
    pytest.param("a<br>b", "for a line break, start a new line", id="br-hint"),
    pytest.param("<p>x</p>", "separate paragraphs with an empty line", id="p-hint"),
    pytest.param("<script>alert(1)</script>", "Unsupported tag <script>", id="script"),
    pytest.param("<img src=x>", "Unsupported tag <img>", id="img"),
    pytest.param("x</div>", "Unsupported tag </div> at character 2", id="unsupported-end-tag"),
    pytest.param("<br/>", "Unsupported tag <br>", id="self-closing-unsupported"),
    pytest.param("<b/>", "Self-closing <b/> at character 1; write <b></b>", id="self-closing"),
    # attributes
    pytest.param('<b class="x">y</b>', "<b> at character 1 takes no attributes", id="b-attr"),
    pytest.param("<span>x</span>", 'needs class="tg-spoiler"', id="span-without-class"),
    pytest.param('<span class="red">x</span>', 'needs class="tg-spoiler"', id="span-other-class"),
    pytest.param(
        '<span class="tg-spoiler" id="1">x</span>', 'needs class="tg-spoiler"', id="span-extra"
    ),
    pytest.param("<a>x</a>", 'needs href="…"', id="a-without-href"),
    pytest.param(
        '<a href="https://e.com" target="_blank">x</a>', 'needs href="…"', id="a-extra-attr"
    ),
    pytest.param(
        '<a href="javascript:alert(1)">x</a>',
        "needs a link starting with http://, https://, tg:// or mailto:, not 'javascript:alert(1)'",
        id="a-javascript",
    ),
    pytest.param('<a href="/relative">x</a>', "needs a link starting with", id="a-relative"),
    pytest.param('<a href="https://">x</a>', "needs a link starting with", id="a-no-host"),
    pytest.param('<a href="">x</a>', "needs a link starting with", id="a-empty-href"),
    pytest.param('<a href="a" href="b">x</a>', "has an attribute twice", id="duplicate-attr"),
    pytest.param("<tg-emoji>👍</tg-emoji>", "needs emoji-id=", id="emoji-without-id"),
    pytest.param('<tg-emoji emoji-id="abc">👍</tg-emoji>', "numeric id", id="emoji-id-letters"),
    pytest.param(
        '<tg-emoji emoji-id="99999999999999999999">👍</tg-emoji>', "numeric id", id="emoji-id-big"
    ),
    pytest.param(
        '<code class="language-python">x</code>',
        'may have class="language-…" only directly inside <pre>',
        id="code-language-outside-pre",
    ),
    pytest.param(
        '<pre><code class="python">x</code></pre>',
        'takes only class="language-…"',
        id="code-class-not-language",
    ),
    pytest.param(
        '<blockquote cite="x">q</blockquote>', "takes only a bare expandable", id="quote-attr"
    ),
    pytest.param(
        '<blockquote expandable="yes">q</blockquote>',
        "takes only a bare expandable",
        id="quote-expandable-value",
    ),
    # balance
    pytest.param("ab<b>x", "<b> opened at character 3 is never closed; add </b>", id="unclosed"),
    pytest.param(
        "<b><i>x</b></i>",
        "</b> at character 8 does not match <i> opened at character 4; close <i> first",
        id="crossed",
    ),
    pytest.param("x</b>", "</b> at character 2 closes no open tag", id="stray-end-tag"),
    pytest.param("<b>x</b junk>", "Malformed end tag '</b junk>' at character 5", id="end-attrs"),
    pytest.param("<b>x</>", "Empty end tag </> at character 5", id="empty-end-tag"),
    pytest.param(
        "first line\n<b>x</i>",
        "</i> at line 2, column 5 does not match <b> opened at line 2, column 1",
        id="line-and-column",
    ),
    # nesting the Bot API forbids (Telegram would drop the inner entity)
    pytest.param(
        "<code><b>x</b></code>", "<b> at character 7 cannot be inside <code>", id="b-in-code"
    ),
    pytest.param("<pre><i>x</i></pre>", "<i> at character 6 cannot be inside <pre>", id="i-in-pre"),
    pytest.param("<code><pre>x</pre></code>", "cannot be inside <code>", id="pre-in-code"),
    pytest.param(
        '<a href="https://a.com"><a href="https://b.com">x</a></a>',
        "cannot be inside <a>",
        id="a-in-a",
    ),
    pytest.param(
        '<a href="https://a.com"><code>x</code></a>', "cannot be inside <a>", id="code-in-a"
    ),
    pytest.param(
        '<a href="https://a.com"><tg-emoji emoji-id="1">x</tg-emoji></a>',
        "cannot be inside <a>",
        id="emoji-in-a",
    ),
    pytest.param(
        '<a href="https://a.com"><blockquote>x</blockquote></a>',
        "cannot be inside <a>",
        id="quote-in-a",
    ),
    pytest.param(
        "<blockquote><blockquote>x</blockquote></blockquote>",
        "cannot be inside another <blockquote>",
        id="quote-in-quote",
    ),
    # characters that must be entities, and entities Telegram does not know
    pytest.param("1 < 2", "'<' at character 3 does not start a complete tag; write &lt;", id="lt"),
    pytest.param("x <b", "'<' at character 3 does not start a complete tag", id="lt-at-end"),
    pytest.param("<b x='1>y", "does not start a complete tag", id="unterminated-quote"),
    pytest.param(
        "Tom & Jerry", "'&' at character 5 does not start an entity; write &amp;", id="amp"
    ),
    pytest.param("AT&T", "'&' at character 3 does not start an entity", id="amp-letter-at-end"),
    pytest.param("AT&T rocks", "'&' at character 3 does not start an entity", id="amp-letter"),
    pytest.param("a &lt b", "entities end with ';'", id="entity-without-semicolon"),
    pytest.param("x &#65", "'&' at character 3 does not start an entity", id="numeric-no-semi"),
    pytest.param(
        "&nbsp;",
        "Unsupported entity &nbsp; at character 1; Telegram knows only &lt; &gt; &amp; &quot;",
        id="nbsp",
    ),
    pytest.param("&LT;", "Unsupported entity &LT;", id="entity-names-are-lowercase"),
    pytest.param("&#0;", "&#0; at character 1 is not a valid character", id="numeric-zero"),
    pytest.param("&#xD800;", "is not a valid character", id="numeric-surrogate"),
    pytest.param("&#99999999999;", "is not a valid character", id="numeric-huge"),
    # markup that is not a tag at all
    pytest.param("<!-- note -->hi", "HTML comment at character 1", id="comment"),
    pytest.param("<!DOCTYPE html>hi", "is not a tag Telegram knows", id="doctype"),
    pytest.param("<?xml version='1.0'?>hi", "is not a tag Telegram knows", id="processing"),
    pytest.param("a</3>", "'<' at character 2 does not start a complete tag", id="broken-end-tag"),
]


@pytest.mark.parametrize(("text", "fragment"), INVALID)
def test_invalid_html_says_what_to_fix(text, fragment):
    with pytest.raises(InvalidMessage) as caught:
        validate_telegram_html(text)
    assert fragment in str(caught.value)


@pytest.mark.parametrize(("text", "fragment"), INVALID)
def test_visible_length_refuses_invalid_html(text, fragment):
    with pytest.raises(InvalidMessage):
        visible_length(text, "HTML")


# ---------------------------------------------------------------------------------------------
# Length in UTF-16 code units
# ---------------------------------------------------------------------------------------------
UTF16 = [
    pytest.param("abc", 3, id="ascii"),
    pytest.param("é", 1, id="latin-1"),
    pytest.param("سلام", 4, id="persian-bmp"),
    pytest.param("😀", 2, id="emoji-surrogate-pair"),
    pytest.param("👍🏽", 4, id="emoji-with-skin-tone-two-pairs"),
    pytest.param("🇮🇷", 4, id="flag-two-regional-indicators"),
    pytest.param("a\nb", 3, id="newline-counts"),
    pytest.param("", 0, id="empty"),
]


@pytest.mark.parametrize(("text", "units"), UTF16)
def test_utf16_length(text, units):
    assert utf16_length(text) == units
    assert visible_length(text, None) == units


PLAIN = [
    pytest.param("1 < 2 & 3", 9, id="lt-and-amp-are-just-characters"),
    pytest.param("<b>not bold</b>", 15, id="tags-are-text"),
    pytest.param("&lt;", 4, id="entities-are-text"),
]


@pytest.mark.parametrize(("text", "units"), PLAIN)
def test_plain_text_is_counted_as_written(text, units):
    assert visible_length(text, None) == units
    assert check_message_text(text, None) == units


@pytest.mark.parametrize("parse_mode", ["Markdown", "MarkdownV2", "html", ""])
def test_other_parse_modes_are_refused(parse_mode):
    with pytest.raises(InvalidMessage, match='parse_mode must be "HTML" or null'):
        visible_length("x", parse_mode)


# ---------------------------------------------------------------------------------------------
# The 4096 limit and empty messages
# ---------------------------------------------------------------------------------------------
LIMIT = [
    pytest.param("a" * 4096, None, True, id="plain-4096"),
    pytest.param("a" * 4097, None, False, id="plain-4097"),
    pytest.param("<b>" + "a" * 4096 + "</b>", "HTML", True, id="tags-do-not-count"),
    pytest.param("<b>" + "a" * 4097 + "</b>", "HTML", False, id="html-4097"),
    pytest.param("&amp;" * 4096, "HTML", True, id="entity-counts-one"),
    pytest.param("&amp;" * 4097, "HTML", False, id="entities-4097"),
    pytest.param("😀" * 2048, None, True, id="2048-emoji-are-4096"),
    pytest.param("😀" * 2048 + "a", None, False, id="emoji-plus-one-is-4097"),
    pytest.param("😀" * 2048 + "a", "HTML", False, id="emoji-plus-one-html"),
]


@pytest.mark.parametrize(("text", "parse_mode", "fits"), LIMIT)
def test_length_limit(text, parse_mode, fits):
    if fits:
        assert check_message_text(text, parse_mode) == MAX_MESSAGE_LENGTH
    else:
        with pytest.raises(InvalidMessage, match=r"is 4097 characters long.*limit is 4096"):
            check_message_text(text, parse_mode)


@pytest.mark.parametrize(
    ("text", "parse_mode"),
    [
        pytest.param("", None, id="empty"),
        pytest.param(" \n ", None, id="whitespace"),
        pytest.param("", "HTML", id="empty-html"),
        pytest.param("<b> </b>\n<i></i>", "HTML", id="only-tags-and-spaces"),
    ],
)
def test_empty_messages_are_refused(text, parse_mode):
    with pytest.raises(InvalidMessage, match="The message is empty"):
        check_message_text(text, parse_mode)


# ---------------------------------------------------------------------------------------------
# MarkupMemo: remembering a validated structure must never let an invalid text through
# ---------------------------------------------------------------------------------------------
MEMO_TEXTS = [
    '<b>Hi Ann</b>, see <a href="https://e.com/?a=1">this</a>',
    '<b>Hi Bob</b>, see <a href="https://e.com/?a=1">this</a>',  # same tags, new text
    '<b>Hi &lt;script&gt; &amp; &#34;x&#39;</b>, see <a href="https://e.com/?a=1">this</a>',
    '<b>Hi 1 < 2</b>, see <a href="https://e.com/?a=1">this</a>',  # bare '<' in the text
    '<b>Hi a & b</b>, see <a href="https://e.com/?a=1">this</a>',  # bare '&' in the text
    '<b>Hi &nbsp;</b>, see <a href="https://e.com/?a=1">this</a>',  # entity it does not know
    '<b>Hi x</b>, see <a href="javascript:x">this</a>',  # a different tag: full parse
    '<b>Hi 😀</b>, see <a href="https://e.com/?a=1">this 👍</a>',
    "<b> </b>",
    "<b>x</b>",
    "<b>x",
    "plain",
    "",
]


def measured(text, measure):
    try:
        return measure(text)
    except InvalidMessage as exc:
        return ("invalid", str(exc))


def full_parse(text):
    return visible_length(text, "HTML")


def test_memo_agrees_with_a_full_parse_every_time():
    memo = MarkupMemo()
    for _ in range(3):  # the first round fills the memo, the later rounds read from it
        for text in MEMO_TEXTS:
            expected = measured(text, full_parse)
            assert measured(text, lambda t: memo.measure(t)[0]) == expected, text


def test_memo_keeps_a_bounded_number_of_structures():
    memo = MarkupMemo(max_entries=2)
    for n in range(10):
        assert memo.measure(f"<b>{n}</b>" + "<i>x</i>" * n) == (1 + n, True)
    assert len(memo._tag_units) == 2
