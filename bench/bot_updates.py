"""Updates per second through the bot's webhook handler in one process, against the fake
Telegram in its own process, for context.

    .venv/bin/python -m bench.bot_updates [--updates 2000] [--threads 1,4]

Each update is a ``/help`` from one of ``--updates`` people, as Telegram posts it: a
function URL event with the secret header, handed to ``WebhookHandler`` (the secret
checked, the update claimed in ``bot_updates``, the person registered, the answer sent
with ``sendMessage``). Baseline: the same number of bare ``sendMessage`` calls through the
same ``TelegramClient`` on as many threads, nothing else: the part of an update that is
Telegram's. Then the same updates again, each a redelivery: the ledger's answer alone.
Nothing asserts on time.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.harness import (
    TOKEN,
    clear_metrics,
    fake_telegram,
    footer,
    header,
    quiet,
    ratio,
    scratch_database,
    table,
)
from infra.local.function_urls import url_event
from job_scheduler.adapters.db import connect, migrate
from job_scheduler.adapters.telegram import TelegramClient
from job_scheduler.bot.webhook import SECRET_HEADER, WebhookHandler, webhook_secret
from job_scheduler.config import Settings

FIRST_PERSON = 5_000_000


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bot_updates")
    parser.add_argument("--updates", type=int, default=2000)
    parser.add_argument("--threads", default="1,4")
    args = parser.parse_args()
    levels = [int(value) for value in args.threads.split(",")]
    quiet("WARNING")
    header("bot updates", updates=args.updates, threads=levels)
    rows = []
    with scratch_database() as database_url, fake_telegram() as fake:
        migrate(database_url)
        settings = Settings(database_url=database_url, telegram_bot_token=TOKEN,
                            telegram_api_url=fake.url, log_level="WARNING")  # fmt: skip
        handler = WebhookHandler.from_settings(settings)
        secret = webhook_secret(settings)
        client = TelegramClient(TOKEN, fake.url)
        first_id = 1
        for threads in levels:
            connect(database_url).execute("TRUNCATE users, bot_updates CASCADE")
            events = [_event(first_id + n, FIRST_PERSON + n, secret) for n in range(args.updates)]
            first_id += args.updates
            people = [FIRST_PERSON + n for n in range(args.updates)]
            bare = _rate(lambda chat: client.send(chat, "help", "HTML", False), people, threads)
            applied = _rate(lambda event: _expect(handler(event), "applied"), events, threads)
            again = _rate(lambda event: _expect(handler(event), "duplicate"), events, threads)
            rows.append((threads, f"{bare:,.0f}", f"{applied:,.0f}", ratio(applied, bare),
                         f"{again:,.0f}"))  # fmt: skip
    table(("threads", "bare sendMessage/s", "updates/s", "vs bare", "redelivered updates/s"),
          rows)  # fmt: skip
    footer()


def _event(update_id: int, person: int, secret: str) -> dict[str, Any]:
    who = {"id": person, "is_bot": False, "first_name": "Bench", "language_code": "en"}
    update = {"update_id": update_id, "message": {
        "message_id": 1, "from": who, "chat": {"id": person, "type": "private"},
        "date": int(time.time()), "text": "/help",
        "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
    }}  # fmt: skip
    headers = {SECRET_HEADER: secret, "Content-Type": "application/json"}
    return url_event("POST", "/", headers, json.dumps(update).encode())


def _expect(answer: dict[str, Any], outcome: str) -> None:
    clear_metrics()  # what log_metrics does after each invocation, without the printing
    body = json.loads(answer["body"])
    if answer["statusCode"] != 200 or body.get("outcome") != outcome:
        raise RuntimeError(f"expected {outcome}, got {answer['statusCode']} {body}")


def _rate(call: Callable[[Any], Any], items: list[Any], threads: int) -> float:
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for _ in pool.map(call, items):
            pass
    return len(items) / (time.perf_counter() - started)


if __name__ == "__main__":
    main()
