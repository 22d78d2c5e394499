"""A fake OpenAI-compatible chat completions endpoint, for dish suggestions.

    python -m infra.fakes.llm [--port 8083]     # LLM_API_URL=http://127.0.0.1:8083/v1

``POST /v1/chat/completions`` reads the menu and the history from the prompt that
``job_scheduler/jobs/food_reminder/suggestions.py`` writes and answers, like a model told
"suggest something", with the id of the first dish on the menu the person has not eaten
before (else the first dish). Knobs: ``latency_ms``; ``fail_every`` (every Nth call answers
500); ``off_menu`` (the answer names a dish that is not on the menu); ``api_key`` (then a
request without ``Authorization: Bearer <api_key>`` gets 401).
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

from infra.fakes.serving import JsonHandler, LoopbackFake, serve_from_command_line

_MENU_LINE = re.compile(r"^(\S+): (.+)$")


@dataclass(frozen=True)
class Knobs:
    latency_ms: int = 0
    fail_every: int = 0
    off_menu: bool = False
    api_key: str | None = None


def choose(prompt: str) -> str:
    """The first dish on the menu not in the history; else the first dish."""
    menu_part, _, history_part = prompt.partition("What they picked before")
    menu = [m.groups() for line in menu_part.splitlines() if (m := _MENU_LINE.match(line))]
    eaten = {line.partition(": ")[2] for line in history_part.splitlines()}
    for food_id, name in menu:
        if name not in eaten:
            return food_id
    return menu[0][0] if menu else ""


class FakeLlm(LoopbackFake):
    url_path = "/v1"

    def __init__(self, knobs: Knobs | None = None) -> None:
        self.handler = _Handler
        self.knobs = knobs or Knobs()
        self._lock = threading.Lock()
        self.calls = 0

    def configure(self, **changes: Any) -> None:
        with self._lock:
            self.knobs = replace(self.knobs, **changes)
            self.calls = 0

    def complete(self, body: dict[str, Any], authorization: str | None) -> tuple[int, Any]:
        with self._lock:
            self.calls += 1
            calls, knobs = self.calls, self.knobs
        if knobs.latency_ms:
            time.sleep(knobs.latency_ms / 1000)
        if knobs.api_key and authorization != f"Bearer {knobs.api_key}":
            return 401, {"error": {"message": "Incorrect API key provided", "type": "auth"}}
        if knobs.fail_every and calls % knobs.fail_every == 0:
            return 500, {"error": {"message": "The server had an error", "type": "server_error"}}
        try:
            prompt = body["messages"][-1]["content"]
        except (KeyError, IndexError, TypeError):
            return 400, {"error": {"message": "messages is required", "type": "invalid_request"}}
        answer = "pizza" if knobs.off_menu else choose(prompt)
        return 200, {
            "id": f"chatcmpl-fake-{calls}",
            "object": "chat.completion",
            "model": body.get("model", "fake"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": answer},
                    "finish_reason": "stop",
                }
            ],
        }


class _Handler(JsonHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server calls it by this name
        fake: FakeLlm = self.server.fake  # type: ignore[attr-defined]
        body = self.read_body()
        if self.path != "/v1/chat/completions":
            self.send_json(404, {"error": {"message": "not found"}})
            return
        try:
            request = json.loads(body)
        except ValueError:
            self.send_json(400, {"error": {"message": "the body is not JSON"}})
            return
        self.send_json(*fake.complete(request, self.headers.get("Authorization")))


def main() -> None:
    serve_from_command_line("python -m infra.fakes.llm", 8083, lambda: FakeLlm())


if __name__ == "__main__":
    main()
