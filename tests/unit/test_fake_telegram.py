"""The fake Telegram Bot API (infra/fakes/telegram/), driven over real HTTP on loopback.

Two clients drive it: httpx, and pyTelegramBotAPI pointed at it through
``telebot.apihelper.API_URL`` the way production code is. One server serves the module; each
test starts from ``reset()``.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import telebot
from telebot import apihelper
from telebot.types import InlineKeyboardButton, InlineKeyboardMarkup

from infra.fakes import telegram as fakes

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "123456789:AAHfiqksKZ8WmR2zSjiQ7_v4TMAKdiHm9T0"  # shaped like a real one, is not
BOT_ID = 123456789


@pytest.fixture(scope="module")
def server() -> Any:
    fake = fakes.FakeTelegram()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def fake(server: Any) -> Any:
    server.reset()
    yield server
    server.reset()


@pytest.fixture(scope="module")
def http(server: Any) -> Any:
    with httpx.Client(base_url=server.base_url, timeout=5) as client:
        yield client


@pytest.fixture
def bot(fake: Any, monkeypatch: pytest.MonkeyPatch) -> telebot.TeleBot:
    """pyTelegramBotAPI aimed at the fake; monkeypatch puts API_URL back afterwards."""
    monkeypatch.setattr(apihelper, "API_URL", fake.base_url + "/bot{0}/{1}")
    return telebot.TeleBot(TOKEN)


def send(http: httpx.Client, **params: Any) -> httpx.Response:
    return http.post(f"/bot{TOKEN}/sendMessage", json=params)


def recorded(http: httpx.Client, query: str = "") -> list[dict[str, Any]]:
    response = http.get(f"/_fake/messages{query}")
    assert response.status_code == 200
    return response.json()


def error(code: int, description: str, **parameters: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return body


# --- the happy path ----------------------------------------------------------------------------


def test_get_me_answers_for_the_token_s_bot(fake: Any, http: httpx.Client, bot: Any) -> None:
    answer = http.get(f"/bot{TOKEN}/getMe")

    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == {
        "ok": True,
        "result": {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": "Fake Bot",
            "username": "fake_bot",
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        },
    }
    me = bot.get_me()
    assert (me.id, me.is_bot, me.username) == (BOT_ID, True, "fake_bot")


def test_telebot_sends_html_silently_and_the_fake_records_it(
    fake: Any, http: httpx.Client, bot: Any
) -> None:
    message = bot.send_message(
        42, "<b>Hi</b> &amp; <i>bye</i>", parse_mode="HTML", disable_notification=True
    )

    assert message.message_id == 1
    assert message.chat.id == 42
    assert message.chat.type == "private"
    assert message.from_user.id == BOT_ID
    assert message.text == "Hi & bye"
    assert [(e.type, e.offset, e.length) for e in message.entities] == [
        ("bold", 0, 2),
        ("italic", 5, 3),
    ]
    [record] = recorded(http)
    assert record["chat_id"] == 42
    assert record["text"] == "<b>Hi</b> &amp; <i>bye</i>"
    assert record["visible_text"] == "Hi & bye"
    assert record["parse_mode"] == "HTML"
    assert record["disable_notification"] is True
    assert record["message_id"] == 1
    assert record["time"].endswith("+00:00")
    assert abs(time.time() - datetime.fromisoformat(record["time"]).timestamp()) < 60


@pytest.mark.parametrize(
    ("how", "silent", "expected"),
    [
        ("json", True, True),
        ("json", False, False),
        ("json", None, False),
        ("form", "true", True),
        ("form", "false", False),
        ("form", "1", True),
        ("form", "0", False),
        ("query-post", "True", True),  # what pyTelegramBotAPI sends: str(True), in the URL
        ("query-post", "False", False),
        ("query-get", "true", True),
    ],
)
def test_parameters_arrive_any_way_the_api_takes_them(
    fake: Any, http: httpx.Client, how: str, silent: Any, expected: bool
) -> None:
    params: dict[str, Any] = {"chat_id": 7, "text": "<u>x</u>", "parse_mode": "html"}
    if silent is not None:
        params["disable_notification"] = silent
    url = f"/bot{TOKEN}/sendMessage"
    strings = {key: str(value) for key, value in params.items()}
    answer = {
        "json": lambda: http.post(url, json=params),
        "form": lambda: http.post(url, data=strings),
        "query-post": lambda: http.post(url, params=strings),
        "query-get": lambda: http.get(url, params=strings),
    }[how]()

    assert answer.status_code == 200, answer.text
    assert answer.json()["result"]["text"] == "x"
    [record] = recorded(http)
    assert (record["chat_id"], record["disable_notification"]) == (7, expected)


def test_message_ids_count_per_chat(fake: Any, http: httpx.Client) -> None:
    ids = [
        send(http, chat_id=chat, text="x").json()["result"]["message_id"] for chat in (1, 1, 2, 1)
    ]

    assert ids == [1, 2, 1, 3]


@pytest.mark.parametrize(
    ("chat_id", "chat"),
    [
        (-123, {"id": -123, "title": "Group", "type": "group"}),
        (-1001234567890, {"id": -1001234567890, "title": "Supergroup", "type": "supergroup"}),
    ],
)
def test_group_chats_answer_with_group_shapes(
    fake: Any, http: httpx.Client, chat_id: int, chat: dict[str, Any]
) -> None:
    assert send(http, chat_id=chat_id, text="x").json()["result"]["chat"] == chat


def test_a_username_chat_id_is_a_channel(fake: Any, http: httpx.Client) -> None:
    result = send(http, chat_id="@news", text="x").json()["result"]

    assert result["chat"]["type"] == "channel"
    assert result["chat"]["username"] == "news"
    assert len(recorded(http, f"?chat_id={result['chat']['id']}")) == 1


# --- Telegram's HTML ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "visible", "entities"),
    [
        ("<b>bold</b> <strong>too</strong>", "bold too", [("bold", 0, 4), ("bold", 5, 3)]),
        ("<B>upper</B> <I>case</i>", "upper case", [("bold", 0, 5), ("italic", 6, 4)]),
        ("<i>a<u>b</u></i>", "ab", [("italic", 0, 2), ("underline", 1, 1)]),
        ("<s>1</s><strike>2</strike><del>3</del><ins>4</ins><em>5</em>", "12345", None),
        ("&lt;tag&gt; &amp; &quot;q&quot; &#65;&#x42;", '<tag> & "q" AB', []),
        ("&nbsp;&copy; &unknown; & alone", "&nbsp;&copy; &unknown; & alone", []),  # as Telegram
        ("&lt;no semicolon&gt", "<no semicolon>", []),
        ('<a href="https://example.com">site</a>', "site", [("text_link", 0, 4)]),
        ('<a href="tg://user?id=42">you</a>', "you", [("text_mention", 0, 3)]),
        ('<span class="tg-spoiler">s</span><tg-spoiler>t</tg-spoiler>', "st", None),
        ('<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>', "👍", [("custom_emoji", 0, 2)]),
        ('<pre><code class="language-python">x = 1</code></pre>', "x = 1", [("pre", 0, 5)]),
        ("<code>c</code>", "c", [("code", 0, 1)]),
        ("<blockquote expandable>long</blockquote>", "long", [("expandable_blockquote", 0, 4)]),
        ("<blockquote>q</blockquote>", "q", [("blockquote", 0, 1)]),
        ("😀<b>x</b>", "😀x", [("bold", 2, 1)]),  # offsets count UTF-16 code units
        ("  \n<b> x </b> \n ", " x", [("bold", 0, 2)]),  # trimmed, not past the first entity
        ("a\r\nb\tc", "a\nb c", []),  # \r dropped, control characters become spaces
        ("<b></b>empty tags make no entity", "empty tags make no entity", []),
    ],
)
def test_html_is_parsed_as_telegram_parses_it(
    fake: Any, http: httpx.Client, text: str, visible: str, entities: list[Any] | None
) -> None:
    answer = send(http, chat_id=1, text=text, parse_mode="HTML")

    assert answer.status_code == 200, answer.text
    result = answer.json()["result"]
    assert result["text"] == visible
    if entities is not None:
        found = [(e["type"], e["offset"], e["length"]) for e in result.get("entities", [])]
        assert found == entities


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("<foo>x</foo>", 'Unsupported start tag "foo" at byte offset 0'),
        ("héllo <br>", 'Unsupported start tag "br" at byte offset 7'),  # offsets count bytes
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),  # a bare <
        ("ends with <", "Unclosed start tag at byte offset 10"),
        ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b><i>x</b></i>", 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("<b>x</b", "Unclosed end tag at byte offset 4"),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ('<a href="x"/>', 'Empty attribute name in the tag "a" at byte offset 0'),
        ("<b x", 'Unclosed start tag "b" at byte offset 0'),
        ("<a href=x'y'>z</a>", "Unexpected end of name token at byte offset 8"),
        ('<tg-emoji emoji-id="abc">x</tg-emoji>', "Invalid custom emoji identifier specified"),
        (
            "&#xD83D;",
            "Text contains invalid Unicode characters after decoding HTML entities, check for"
            " unmatched surrogate code units",
        ),
    ],
)
def test_bad_html_is_refused_with_telegram_s_words(
    fake: Any, http: httpx.Client, bot: Any, text: str, reason: str
) -> None:
    description = f"Bad Request: can't parse entities: {reason}"

    answer = send(http, chat_id=1, text=text, parse_mode="HTML")

    assert (answer.status_code, answer.json()) == (400, error(400, description))
    with pytest.raises(apihelper.ApiTelegramException) as raised:
        bot.send_message(1, text, parse_mode="HTML")
    assert (raised.value.error_code, raised.value.description) == (400, description)
    assert recorded(http) == []


@pytest.mark.parametrize(
    ("params", "status", "description"),
    [
        ({"chat_id": 1}, 400, "Bad Request: message text is empty"),
        ({"chat_id": 1, "text": ""}, 400, "Bad Request: message text is empty"),
        ({"text": "x"}, 400, "Bad Request: chat_id is empty"),
        ({}, 400, "Bad Request: message text is empty"),  # the text is checked first
        ({"chat_id": "abc", "text": "x"}, 400, "Bad Request: chat not found"),
        ({"chat_id": 1, "text": " \n "}, 400, "Bad Request: text must be non-empty"),
        (
            {"chat_id": 1, "text": "<b> </b>", "parse_mode": "HTML"},
            400,
            "Bad Request: text must be non-empty",
        ),
        (
            {"chat_id": 1, "text": "x", "parse_mode": "Markdown3"},
            400,
            "Bad Request: unsupported parse_mode",
        ),
        ({"chat_id": 1, "text": "a" * 4096}, 200, None),
        ({"chat_id": 1, "text": "a" * 4097}, 400, "Bad Request: message is too long"),
        ({"chat_id": 1, "text": "😀" * 2048}, 200, None),
        ({"chat_id": 1, "text": "😀" * 2048 + "a"}, 400, "Bad Request: message is too long"),
        ({"chat_id": 1, "text": f"<b>{'a' * 4096}</b>", "parse_mode": "HTML"}, 200, None),
        (
            {"chat_id": 1, "text": f"<b>{'a' * 4097}</b>", "parse_mode": "HTML"},
            400,
            "Bad Request: message is too long",
        ),
        ({"chat_id": 1, "text": "a" * 32769}, 400, "Bad Request: text is too long"),
        ({"chat_id": 1, "text": "*not parsed*", "parse_mode": "MarkdownV2"}, 200, None),
    ],
)
def test_send_message_checks_its_parameters(
    fake: Any, http: httpx.Client, params: dict[str, Any], status: int, description: str | None
) -> None:
    answer = send(http, **params)

    assert answer.status_code == status, answer.text
    if description is not None:
        assert answer.json() == error(status, description)
    assert len(recorded(http)) == (1 if status == 200 else 0)


# --- routing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "token",
    [
        "123",
        "abc:AAHfiqksKZ8WmR2zSjiQ7_v4TMAKdiHm9T0",
        "123:short",
        "123:AAHfiqksKZ8WmR2zSjiQ7!",
        "",
    ],
)
def test_a_malformed_token_is_unauthorized(fake: Any, http: httpx.Client, token: str) -> None:
    answer = http.get(f"/bot{token}/getMe")

    assert (answer.status_code, answer.json()) == (401, error(401, "Unauthorized"))
    assert fake.stats()["401"] == 1


@pytest.mark.parametrize("path", [f"/bot{TOKEN}/getUpdatez", f"/bot{TOKEN}/", "/", "/favicon.ico"])
def test_an_unknown_method_is_not_found(fake: Any, http: httpx.Client, path: str) -> None:
    answer = http.post(path)

    assert (answer.status_code, answer.json()) == (404, error(404, "Not Found"))


@pytest.mark.parametrize("method", ["SENDMESSAGE", "sendmessage", "SendMessage", "sendMessage"])
def test_method_names_are_case_insensitive(fake: Any, http: httpx.Client, method: str) -> None:
    answer = http.post(f"/bot{TOKEN}/{method}", json={"chat_id": 1, "text": "x"})

    assert answer.status_code == 200


# --- behaviour knobs ---------------------------------------------------------------------------

KNOBS = [
    pytest.param(
        {"blocked_chat_ids": [5]}, 403, "Forbidden: bot was blocked by the user", {}, id="blocked"
    ),
    pytest.param(
        {"deactivated_chat_ids": [5]}, 403, "Forbidden: user is deactivated", {}, id="deactivated"
    ),
    pytest.param({"missing_chat_ids": [5]}, 400, "Bad Request: chat not found", {}, id="missing"),
    pytest.param(
        {"migrated_chats": {5: -1009999}},
        400,
        "Bad Request: group chat was upgraded to a supergroup chat",
        {"migrate_to_chat_id": -1009999},
        id="migrated",
    ),
    pytest.param(
        {"rate_limit_every": 1, "retry_after": 7},
        429,
        "Too Many Requests: retry after 7",
        {"retry_after": 7},
        id="429-every",
    ),
    pytest.param(
        {"rate_limit_for_seconds": 60},
        429,
        "Too Many Requests: retry after 1",
        {"retry_after": 1},
        id="429-period",
    ),
    pytest.param({"server_error_every": 1}, 502, "Bad Gateway", {}, id="502"),
]


@pytest.mark.parametrize(("changes", "status", "description", "parameters"), KNOBS)
def test_each_knob_answers_like_telegram_over_httpx(
    fake: Any,
    http: httpx.Client,
    changes: dict[str, Any],
    status: int,
    description: str,
    parameters: dict[str, Any],
) -> None:
    fake.configure(**changes)

    answer = send(http, chat_id=5, text="hello")

    assert answer.status_code == status
    assert answer.json() == error(status, description, **parameters)
    assert recorded(http) == []
    assert fake.stats()["5xx" if status >= 500 else str(status)] == 1


@pytest.mark.parametrize(("changes", "status", "description", "parameters"), KNOBS)
def test_each_knob_raises_in_telebot(
    fake: Any,
    bot: Any,
    changes: dict[str, Any],
    status: int,
    description: str,
    parameters: dict[str, Any],
) -> None:
    fake.configure(**changes)

    with pytest.raises(apihelper.ApiTelegramException) as raised:
        bot.send_message(5, "hello", parse_mode="HTML", disable_notification=True)

    assert raised.value.error_code == status
    assert raised.value.description == description
    assert raised.value.result_json.get("parameters", {}) == parameters


def test_knobs_leave_other_chats_alone(fake: Any, http: httpx.Client) -> None:
    fake.configure(
        blocked_chat_ids=[5], deactivated_chat_ids=[6], missing_chat_ids=[7], migrated_chats={8: 9}
    )

    assert send(http, chat_id=10, text="x").status_code == 200


def _outcome(http: httpx.Client) -> int | str:
    try:
        return send(http, chat_id=1, text="x").status_code
    except httpx.ReadError:
        return "reset"


@pytest.mark.parametrize(
    ("knob", "failure"),
    [("rate_limit_every", 429), ("server_error_every", 502), ("drop_connection_every", "reset")],
)
def test_every_nth_call_fails(fake: Any, http: httpx.Client, knob: str, failure: Any) -> None:
    send(http, chat_id=1, text="before")  # counts start when the knob is set
    fake.configure(**{knob: 3})

    outcomes = [_outcome(http) for _ in range(7)]

    assert outcomes == [200, 200, failure, 200, 200, failure, 200]
    assert [m["message_id"] for m in recorded(http)] == [1, 2, 3, 4, 5, 6]


def test_a_rate_limit_period_ends(fake: Any, http: httpx.Client) -> None:
    fake.configure(rate_limit_for_seconds=0.3, retry_after=2)
    assert send(http, chat_id=1, text="x").json() == error(
        429, "Too Many Requests: retry after 2", retry_after=2
    )

    time.sleep(0.35)

    assert send(http, chat_id=1, text="x").status_code == 200


def test_latency_delays_each_answer(fake: Any, http: httpx.Client) -> None:
    fake.configure(latency_ms=150)
    started = time.perf_counter()

    answer = send(http, chat_id=1, text="x")

    assert answer.status_code == 200
    assert time.perf_counter() - started >= 0.15


def test_a_dropped_connection_is_a_network_error(fake: Any, http: httpx.Client, bot: Any) -> None:
    fake.configure(drop_connection_every=1)

    with pytest.raises(httpx.ReadError):
        send(http, chat_id=1, text="x")
    with pytest.raises(requests.exceptions.ConnectionError):
        bot.send_message(1, "x")

    fake.configure(drop_connection_every=0)
    assert send(http, chat_id=1, text="x").status_code == 200
    assert bot.send_message(1, "y").message_id == 2
    assert fake.stats()["dropped"] == 2


def test_enforced_limits_allow_one_message_a_second_per_chat(
    fake: Any, http: httpx.Client, bot: Any
) -> None:
    fake.configure(enforce_limits=True)

    answers = [send(http, chat_id=1, text=f"m{n}") for n in range(3)]

    assert [a.status_code for a in answers] == [200, 429, 429]
    assert answers[1].json() == error(429, "Too Many Requests: retry after 1", retry_after=1)
    assert send(http, chat_id=2, text="another chat").status_code == 200
    with pytest.raises(apihelper.ApiTelegramException) as raised:
        bot.send_message(1, "m3")
    assert raised.value.result_json["parameters"]["retry_after"] == 1
    assert [m["text"] for m in recorded(http)] == ["m0", "another chat"]


def test_enforced_limits_cap_all_chats_together(fake: Any, http: httpx.Client) -> None:
    fake.configure(enforce_limits=True, global_per_second=3)

    statuses = [send(http, chat_id=chat, text="x").status_code for chat in range(1, 6)]

    assert statuses == [200, 200, 200, 429, 429]


def test_a_paid_broadcast_goes_past_the_overall_limit_up_to_the_paid_one(
    fake: Any, http: httpx.Client
) -> None:
    fake.configure(enforce_limits=True, global_per_second=3, paid_per_second=5)

    free = [send(http, chat_id=chat, text="x").status_code for chat in range(1, 5)]
    paid = [
        send(http, chat_id=chat, text="x", allow_paid_broadcast=True).status_code
        for chat in range(11, 14)
    ]

    assert free == [200, 200, 200, 429]  # the fourth free one would pass 3 a second
    assert paid == [200, 200, 429]  # 3 free + 2 paid fill the paid limit of 5
    assert send(http, chat_id=20, text="x").status_code == 429  # still full for free ones
    assert [m["paid_broadcast"] for m in recorded(http)] == [False] * 3 + [True] * 2
    stats = fake.stats()
    assert (stats["sent"], stats["paid"], stats["billed"], stats["429"]) == (5, 2, 2, 3)


def test_paid_messages_within_the_free_rate_are_not_billed(fake: Any, http: httpx.Client) -> None:
    fake.configure(enforce_limits=True, global_per_second=2, stars_balance=0)

    answers = [
        send(http, chat_id=chat, text="x", allow_paid_broadcast="true") for chat in range(1, 4)
    ]

    assert [a.status_code for a in answers[:2]] == [200, 200]  # free: under 2 a second
    assert answers[2].status_code == 400
    assert answers[2].json() == error(400, "Bad Request: BALANCE_TOO_LOW")
    assert (fake.stats()["paid"], fake.stats()["billed"], fake.stats()["400"]) == (2, 0, 1)


def test_the_stars_balance_pays_for_billed_messages_until_it_runs_out(
    fake: Any, http: httpx.Client, bot: Any
) -> None:
    fake.configure(global_per_second=1, stars_balance=0.2)  # two billed messages' worth

    statuses = [
        send(http, chat_id=chat, text="x", allow_paid_broadcast=True).status_code
        for chat in range(1, 5)
    ]
    with pytest.raises(apihelper.ApiTelegramException) as raised:
        bot.send_message(9, "x", allow_paid_broadcast=True)

    assert statuses == [200, 200, 200, 400]  # the first is free; the next two cost 0.1 each
    assert (raised.value.error_code, raised.value.description) == (
        400, "Bad Request: BALANCE_TOO_LOW")  # fmt: skip
    assert fake.stats()["billed"] == 2
    fake.configure(stars_balance=10)  # topped up
    assert send(http, chat_id=9, text="x", allow_paid_broadcast=True).status_code == 200
    assert send(http, chat_id=10, text="free, and past the free rate").status_code == 200


def test_message_ids_stay_unique_under_concurrent_sends(fake: Any, server: Any) -> None:
    def worker() -> None:
        with httpx.Client(base_url=server.base_url, timeout=5) as client:
            for _ in range(25):
                assert send(client, chat_id=1, text="x").status_code == 200

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    ids = sorted(message["message_id"] for message in fake.messages())
    assert ids == list(range(1, 201))


def test_keep_alive_answers_do_not_stall(fake: Any, server: Any, http: httpx.Client) -> None:
    """Nagle's algorithm meeting delayed ACK costs ~40 ms a request. The fake writes each answer
    at once and turns Nagle off on every connection (the handler's disable_nagle_algorithm)."""
    started = time.perf_counter()
    for _ in range(50):
        send(http, chat_id=1, text="x")

    assert (time.perf_counter() - started) / 50 < 0.02
    connections = list(server._connections)  # the server's ends of the open connections
    assert connections
    assert all(c.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for c in connections)


# --- control routes ----------------------------------------------------------------------------


def test_config_over_http(fake: Any, http: httpx.Client) -> None:
    answer = http.post("/_fake/config", json={"blocked_chat_ids": [5], "retry_after": 3})

    assert answer.status_code == 200
    assert answer.json()["blocked_chat_ids"] == [5]
    assert http.get("/_fake/config").json()["retry_after"] == 3
    assert send(http, chat_id=5, text="x").status_code == 403
    assert fake.behaviour.blocked_chat_ids == frozenset({5})


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"no_such_knob": 1}, "unknown behaviour field(s): no_such_knob"),
        ({"rate_limit_every": -1}, "rate_limit_every: must be >= 0"),
        ({"stars_balance": -1}, "stars_balance: must be >= 0"),
        ({"paid_per_second": 0}, "paid_per_second: must be >= 1"),
        ({"blocked_chat_ids": 5}, "blocked_chat_ids: must be a list of chat ids"),
        ([1, 2], "JSON object"),
    ],
)
def test_bad_config_is_refused(fake: Any, http: httpx.Client, body: Any, words: str) -> None:
    answer = http.post("/_fake/config", json=body)

    assert answer.status_code == 400
    assert answer.json()["ok"] is False
    assert words in answer.json()["description"]
    assert fake.behaviour == fakes.Behaviour()


def test_configure_refuses_unknown_names_in_python_too(fake: Any) -> None:
    with pytest.raises(ValueError, match="unknown behaviour field"):
        fake.configure(blocked=[1])


def test_messages_filter_and_clear(fake: Any, http: httpx.Client) -> None:
    for chat in (1, 2, 1):
        send(http, chat_id=chat, text=f"to {chat}")

    assert [m["text"] for m in recorded(http, "?chat_id=1")] == ["to 1", "to 1"]
    assert len(recorded(http)) == 3
    assert http.delete("/_fake/messages").status_code == 200
    assert recorded(http) == []
    assert fake.messages() == []


def test_stats_count_by_outcome(fake: Any, http: httpx.Client) -> None:
    fake.configure(blocked_chat_ids=[3])
    send(http, chat_id=1, text="ok")
    send(http, chat_id=2, text="ok")
    send(http, chat_id=3, text="blocked")
    send(http, chat_id=1, text="<x>", parse_mode="HTML")
    http.get("/botbad/getMe")

    stats = http.get("/_fake/stats").json()

    assert stats == {
        "sent": 2,
        "400": 1,
        "401": 1,
        "403": 1,
        "404": 0,
        "429": 0,
        "5xx": 0,
        "dropped": 0,
        "paid": 0,
        "billed": 0,
        "messages": 2,
    }


def test_the_page_lists_messages_newest_first_and_escapes_them(
    fake: Any, http: httpx.Client
) -> None:
    send(http, chat_id=11, text="<script>alert(1)</script>")  # plain text: shown as typed
    send(
        http,
        chat_id=12,
        text='&lt;script&gt;alert(2)&lt;/script&gt; <b>bold</b> <a href="javascript:x()">j</a>',
        parse_mode="HTML",
        disable_notification=True,
    )

    answer = http.get("/_fake")

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    page = answer.text
    assert "<script" not in page
    assert "javascript:" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;script&gt;alert(2)&lt;/script&gt; <b>bold</b> j" in page
    assert page.index("chat 12") < page.index("chat 11")
    assert "silent" in page
    assert '<meta http-equiv="refresh" content="5">' in page
    assert 'name="viewport"' in page
    assert "src=" not in page
    assert "<link" not in page


# --- inline keyboards ------------------------------------------------------------------------


KEYBOARD = {
    "inline_keyboard": [
        [
            {"text": "قیمه", "callback_data": "p:abc:0:0"},
            {"text": "Kabab", "callback_data": "p:abc:0:1"},
        ],
        [{"text": "Open Rastar", "url": "https://rastar.example/reserve"}],
    ]
}


def test_an_inline_keyboard_is_recorded_echoed_and_drawn(fake: Any, http: httpx.Client) -> None:
    answer = send(http, chat_id=7, text="pick", reply_markup=json.dumps(KEYBOARD))

    assert answer.status_code == 200
    assert answer.json()["result"]["reply_markup"] == KEYBOARD
    assert recorded(http)[0]["reply_markup"] == KEYBOARD
    page = http.get("/_fake").text
    assert 'data-callback="p:abc:0:1">Kabab</span>' in page
    assert 'href="https://rastar.example/reserve"' in page and "Open Rastar ↗" in page


def test_telebot_sends_an_inline_keyboard(fake: Any, bot: Any) -> None:
    markup = InlineKeyboardMarkup()
    markup.row(InlineKeyboardButton("A", callback_data="d:x:1"))
    message = bot.send_message(5, "days", reply_markup=markup)

    assert message.reply_markup.keyboard[0][0].callback_data == "d:x:1"
    assert fake.messages()[0]["reply_markup"]["inline_keyboard"][0][0]["text"] == "A"


@pytest.mark.parametrize(
    ("markup", "description"),
    [
        ("{not json", "Bad Request: can't parse reply keyboard markup JSON object"),
        ('{"inline_keyboard": [{"text": "a"}]}', "Bad Request: field \"inline_keyboard\" of"
         " the InlineKeyboardMarkup must be an Array of Arrays"),
        ('{"inline_keyboard": [[{"text": "a"}]]}',
         "Bad Request: text buttons are unallowed in the inline keyboard"),
        ('{"inline_keyboard": [[{"text": "a", "callback_data": "%s"}]]}' % ("x" * 65),
         "Bad Request: BUTTON_DATA_INVALID"),
        ('{"inline_keyboard": [[{"text": "a", "callback_data": ""}]]}',
         "Bad Request: BUTTON_DATA_INVALID"),
        ('{"inline_keyboard": [[{"text": "a", "url": "ftp://x"}]]}',
         "Bad Request: inline keyboard button URL 'ftp://x' is invalid: Unsupported URL protocol"),
        ('{"inline_keyboard": [[{"text": "a", "url": "https://"}]]}',
         "Bad Request: inline keyboard button URL 'https://' is invalid: Wrong HTTP URL"),
        ('{"inline_keyboard": [[{"text": "a", "url": "http://localhost/menu"}]]}',
         "Bad Request: BUTTON_URL_INVALID"),
        ('{"inline_keyboard": [[{"text": "a", "url": "tg://"}]]}',
         "Bad Request: BUTTON_URL_INVALID"),
        ('{"inline_keyboard": [[{"text": "a", "url": 5}]]}', "Bad Request: can't parse inline"
         ' keyboard button: Field "url" must be of type String'),
        (json.dumps({"inline_keyboard": [[{"text": "a" * 60, "url": "https://e.com/" + "x" * 60}]
                                         * 8] * 12}),
         "Bad Request: reply markup is too long"),
        ('{"inline_keyboard": [[{"callback_data": "a"}]]}', "Bad Request: can't parse inline"
         ' keyboard button: Field "text" must be of type String'),
    ],
)  # fmt: skip
def test_a_bad_keyboard_is_refused_in_telegram_s_words(
    fake: Any, http: httpx.Client, markup: str, description: str
) -> None:
    answer = send(http, chat_id=7, text="pick", reply_markup=markup)

    assert answer.status_code == 400
    assert answer.json() == error(400, description)
    assert recorded(http) == []


def test_callback_data_is_counted_in_bytes(fake: Any, http: httpx.Client) -> None:
    fits = {"inline_keyboard": [[{"text": "a", "callback_data": "ж" * 32}]]}  # 64 bytes
    too_long = {"inline_keyboard": [[{"text": "a", "callback_data": "ж" * 33}]]}

    assert send(http, chat_id=7, text="x", reply_markup=json.dumps(fits)).status_code == 200
    assert send(http, chat_id=7, text="x", reply_markup=json.dumps(too_long)).status_code == 400


# --- photos, protected content, link previews -----------------------------------------------

PHOTO = "https://cdn.example.com/menu/week-12.jpg"
WRONG_URL = "Bad Request: wrong file identifier/HTTP URL specified"


def send_photo(http: httpx.Client, **params: Any) -> httpx.Response:
    return http.post(f"/bot{TOKEN}/sendPhoto", json=params)


def test_telebot_sends_a_photo_with_a_caption_buttons_and_protection(fake: Any, bot: Any) -> None:
    markup = InlineKeyboardMarkup()
    markup.row(InlineKeyboardButton("Menu", url="https://rastar.example/menu"))
    message = bot.send_photo(
        42, PHOTO, caption="<b>This week</b> &amp; next", parse_mode="HTML",
        protect_content=True, reply_markup=markup,
    )  # fmt: skip

    assert message.content_type == "photo"
    assert message.caption == "This week & next"
    assert [(e.type, e.offset, e.length) for e in message.caption_entities] == [("bold", 0, 9)]
    assert message.has_protected_content is True
    assert [(size.width, size.height) for size in message.photo] == [(90, 60), (1280, 853)]
    assert message.photo[-1].file_id.startswith("AgAC")
    assert message.reply_markup.keyboard[0][0].url == "https://rastar.example/menu"
    [record] = fake.messages()
    assert (record["photo"], record["photo_file_id"]) == (PHOTO, message.photo[-1].file_id)
    assert (record["text"], record["visible_text"]) == ("<b>This week</b> &amp; next",
                                                        "This week & next")  # fmt: skip
    assert (record["protect_content"], record["link_preview"]) == (True, False)
    assert record["reply_markup"]["inline_keyboard"][0][0]["text"] == "Menu"


def test_a_photo_s_file_id_is_the_same_for_the_same_url_and_can_be_sent_again(
    fake: Any, http: httpx.Client, bot: Any
) -> None:
    first = bot.send_photo(7, PHOTO)
    again = bot.send_photo(8, PHOTO)
    by_id = bot.send_photo(9, first.photo[-1].file_id)

    assert first.photo[-1].file_id == again.photo[-1].file_id
    assert by_id.caption is None and by_id.photo
    assert [record["chat_id"] for record in recorded(http)] == [7, 8, 9]


def test_a_caption_may_be_empty_and_is_counted_after_its_markup(fake: Any, http: httpx.Client):
    assert send_photo(http, chat_id=7, photo=PHOTO).status_code == 200
    fits = "<b>" + "x" * 1024 + "</b>"
    assert (
        send_photo(http, chat_id=7, photo=PHOTO, caption=fits, parse_mode="HTML").status_code == 200
    )
    assert send_photo(http, chat_id=7, photo=PHOTO, caption="😀" * 512).status_code == 200


@pytest.mark.parametrize(
    ("params", "description"),
    [
        ({"photo": ""}, "Bad Request: there is no photo in the request"),
        ({"photo": PHOTO, "caption": "x" * 1025}, "Bad Request: message caption is too long"),
        ({"photo": PHOTO, "caption": "😀" * 513}, "Bad Request: message caption is too long"),
        ({"photo": PHOTO, "caption": "<b>x", "parse_mode": "HTML"},
         "Bad Request: can't parse entities: Can't find end tag corresponding to start tag \"b\""),
        ({"photo": "ftp://cdn.example.com/a.jpg"},
         "Bad Request: wrong file identifier/HTTP URL specified"),
        ({"photo": "http://localhost:8000/a.jpg"},
         "Bad Request: wrong file identifier/HTTP URL specified"),
        ({"photo": "http://10.1.2.3/a.jpg"}, WRONG_URL),
        ({"photo": "https://photos/a.jpg"}, WRONG_URL),
        ({"photo": "https://gone.invalid/a.jpg"}, "Bad Request: failed to get HTTP URL content"),
        ({"photo": "not a file id"},
         "Bad Request: wrong remote file identifier specified: Wrong character in the string"),
        ({"photo": "A" * 21},
         "Bad Request: wrong remote file identifier specified: Wrong string length"),
        ({"photo": "AgAC"},
         "Bad Request: wrong remote file identifier specified: Can't unserialize it. Wrong last"
         " symbol"),
        ({"photo": PHOTO, "reply_markup": '{"inline_keyboard": [[{"text": "a", "url": "x"}]]}'},
         "Bad Request: inline keyboard button URL 'x' is invalid: Unsupported URL protocol"),
    ],
)  # fmt: skip
def test_a_bad_photo_is_refused_in_telegram_s_words(
    fake: Any, http: httpx.Client, params: dict[str, Any], description: str
) -> None:
    answer = send_photo(http, chat_id=7, **params)

    assert answer.status_code == 400
    assert answer.json() == error(400, description)
    assert recorded(http) == []


def test_a_photo_to_a_blocked_person_is_refused_like_a_message(fake: Any, http: httpx.Client):
    fake.configure(blocked_chat_ids={7})
    answer = send_photo(http, chat_id=7, photo=PHOTO)
    assert answer.json() == error(403, "Forbidden: bot was blocked by the user")


@pytest.mark.parametrize(
    ("params", "shown"),
    [
        ({}, True),
        ({"link_preview_options": '{"is_disabled": true}'}, False),
        ({"link_preview_options": '{"is_disabled": false}'}, True),
        ({"disable_web_page_preview": "true"}, False),
    ],
)
def test_whether_the_link_preview_is_wanted_is_recorded(
    fake: Any, http: httpx.Client, params: dict[str, str], shown: bool
) -> None:
    assert send(http, chat_id=7, text="https://example.com", **params).status_code == 200
    assert recorded(http)[0]["link_preview"] is shown


def test_bad_link_preview_options_are_refused(fake: Any, http: httpx.Client) -> None:
    answer = send(http, chat_id=7, text="x", link_preview_options="{no")
    assert answer.json() == error(400, "Bad Request: can't parse link preview options JSON object")


def test_telebot_sends_protected_content_without_a_preview(fake: Any, bot: Any) -> None:
    options = telebot.types.LinkPreviewOptions(is_disabled=True)
    message = bot.send_message(5, "see https://example.com", protect_content=True,
                               link_preview_options=options)  # fmt: skip

    assert message.has_protected_content is True
    [record] = fake.messages()
    assert (record["protect_content"], record["link_preview"], record["photo"]) == (
        True, False, None)  # fmt: skip


def test_a_photo_s_caption_cannot_be_edited_as_text(fake: Any, http: httpx.Client) -> None:
    sent = send_photo(http, chat_id=7, photo=PHOTO, caption="old").json()["result"]
    edit = {"chat_id": 7, "message_id": sent["message_id"], "text": "new"}
    answer = http.post(f"/bot{TOKEN}/editMessageText", json=edit)
    assert answer.json() == error(400, "Bad Request: there is no text in the message to edit")


def test_the_page_shows_photos_captions_buttons_and_marks(fake: Any, http: httpx.Client) -> None:
    markup = {"inline_keyboard": [[{"text": "Menu", "url": "https://rastar.example/menu"}]]}
    send_photo(http, chat_id=7, photo=PHOTO, caption="<i>This week</i>", parse_mode="HTML",
               protect_content=True, reply_markup=json.dumps(markup))  # fmt: skip
    file_id = "AgACAgIAAxkBAAIBY2ZlYWJjZGVmZ2hpamtsbW5vcA"
    send_photo(http, chat_id=8, photo=file_id)
    send(http, chat_id=9, text="https://example.com",
         link_preview_options='{"is_disabled": true}')  # fmt: skip

    for page in (http.get("/_fake").text, http.get("/_fake?chat=7").text):
        assert f'<img class="photo" src="{PHOTO}"' in page
        assert 'referrerpolicy="no-referrer"' in page
        assert "<i>This week</i>" in page
        assert "🔒 protected" in page
        assert 'href="https://rastar.example/menu"' in page and "Menu ↗" in page
        assert page.index('class="photo"') < page.index("This week")  # above its caption
    feed = http.get("/_fake").text
    assert 'class="photo file-id"' in feed and "file_id AgACAgIAAxkBAAIBY2Zl" in feed
    assert "no preview" in feed
    assert feed.count("<img") == 1


# --- standalone --------------------------------------------------------------------------------


def test_python_m_runs_it_standalone() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "infra.fakes.telegram", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        answer = httpx.get(f"{url}/bot{TOKEN}/getMe", timeout=5)
        assert answer.json()["result"]["id"] == BOT_ID
    finally:
        process.terminate()
    assert process.wait(timeout=5) == 0  # SIGTERM stops it cleanly
