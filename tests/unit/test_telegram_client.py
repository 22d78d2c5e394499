"""The Bot API client against the fake over HTTP: its own sessions still honour the proxy
environment (a proxy that cannot be reached means the message never left: safe to retry),
and ``deliver`` sends a job's message as sendPhoto or sendMessage with what it asks for."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from infra.fakes.telegram import FakeTelegram
from job_scheduler.adapters.telegram import TelegramClient
from job_scheduler.delivery.records import Delivery
from job_scheduler.errors import Rejected, StarsBalanceTooLow, Transient
from job_scheduler.model import OutgoingMessage

TOKEN = "123456789:AAHfiqksKZ8WmR2zSjiQ7_v4TMAKdiHm9T0"  # shaped like a real one, is not


@pytest.fixture(scope="module")
def fake() -> Iterator[tuple[FakeTelegram, str]]:
    server = FakeTelegram()
    url = server.start()
    yield server, url
    server.stop()


def on_a_new_thread(work: Callable[[], Any]) -> Any:
    """Run ``work`` on a fresh thread (so on a fresh session); its result or its error."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(work())
        except Exception as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=30)
    assert outcome, "the send hung"
    return outcome[0]


def test_proxies_from_the_environment_still_apply(fake, monkeypatch):
    _, url = fake
    client = TelegramClient(TOKEN, url)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:1")  # nothing listens there
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)

    outcome = on_a_new_thread(lambda: client.send(1, "hi", None, False))

    assert isinstance(outcome, Transient), outcome  # refused by the proxy: never sent
    assert "ProxyError" in str(outcome)
    monkeypatch.delenv("HTTP_PROXY")
    assert on_a_new_thread(lambda: client.send(1, "hi", None, False)) == 1


PHOTO = "https://cdn.example.com/menu/week-12.jpg"
MENU = {"inline_keyboard": [[{"text": "Menu", "url": "https://rastar.example/menu"}]]}


def delivery(**fields: Any) -> Delivery:
    return Delivery(1, 10, 77, **{"text": "<b>Hi</b>", "parse_mode": "HTML", "silent": False,
                                  **fields})  # fmt: skip


@pytest.fixture
def client(fake) -> Iterator[TelegramClient]:
    server, url = fake
    server.reset()
    yield TelegramClient(TOKEN, url)
    server.reset()


def test_a_plain_delivery_goes_as_send_sends_it(fake, client):
    client.send(77, "<b>Hi</b>", "HTML", False)
    client.deliver(77, delivery())

    by_send, by_deliver = fake[0].messages()
    for record in (by_send, by_deliver):
        del record["message_id"], record["time"]
    assert by_deliver == by_send
    assert (by_deliver["photo"], by_deliver["link_preview"], by_deliver["protect_content"]) == (
        None, True, False)  # fmt: skip


def test_a_photo_goes_with_send_photo_its_text_the_caption(fake, client):
    message_id = client.deliver(77, delivery(photo=PHOTO, reply_markup=MENU, silent=True,
                                             protect_content=True))  # fmt: skip

    [record] = fake[0].messages()
    assert message_id == record["message_id"]
    assert (record["photo"], record["visible_text"], record["entities"][0]["type"]) == (
        PHOTO, "Hi", "bold")  # fmt: skip
    assert (record["reply_markup"], record["disable_notification"], record["protect_content"]) == (
        MENU, True, True)  # fmt: skip


def test_a_photo_without_a_caption_sends_no_caption(fake, client):
    client.deliver(77, delivery(text="", photo=PHOTO))
    [record] = fake[0].messages()
    assert (record["text"], record["parse_mode"], record["photo"]) == ("", None, PHOTO)


def test_a_rendered_message_can_go_without_its_link_preview(fake, client):
    message = OutgoingMessage(10, 77, "see https://example.com", None, link_preview=False)
    client.deliver(77, message)
    assert fake[0].messages()[0]["link_preview"] is False


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"photo": "https://gone.invalid/a.jpg"}, "failed to get HTTP URL content"),
        ({"photo": PHOTO, "text": "x" * 1025, "parse_mode": None}, "message caption is too long"),
    ],
)
def test_what_telegram_refuses_of_a_photo_is_rejected_in_its_words(client, fields, words):
    with pytest.raises(Rejected, match=words):
        client.deliver(77, delivery(**fields))


def test_a_paid_broadcast_goes_with_allow_paid_broadcast_and_a_plain_one_without(fake, client):
    client.deliver(77, delivery(paid_broadcast=True))
    client.deliver(78, delivery(photo=PHOTO, paid_broadcast=True))
    client.deliver(79, delivery())

    assert [record["paid_broadcast"] for record in fake[0].messages()] == [True, True, False]
    assert fake[0].stats()["paid"] == 2


def test_a_paid_message_the_stars_cannot_pay_for_is_stars_balance_too_low(fake, client):
    fake[0].configure(global_per_second=1, stars_balance=0)
    client.deliver(77, delivery(paid_broadcast=True))  # within the free rate: not billed

    with pytest.raises(StarsBalanceTooLow, match=r"BALANCE_TOO_LOW.*top the balance up"):
        client.deliver(78, delivery(paid_broadcast=True))
    assert [record["chat_id"] for record in fake[0].messages()] == [77]
