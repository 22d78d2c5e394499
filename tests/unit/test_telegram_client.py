"""The Bot API client's own HTTP sessions still honour the proxy environment, and a proxy
that cannot be reached means the message never left (safe to retry)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from infra.fakes.telegram import FakeTelegram
from job_scheduler.adapters.telegram import TelegramClient
from job_scheduler.errors import Transient

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
