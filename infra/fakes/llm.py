"""A fake OpenAI-compatible chat completions endpoint, for dish suggestions.

    python -m infra.fakes.llm [--port 8083]     # LLM_API_URL=http://127.0.0.1:8083/v1

``POST /v1/chat/completions`` reads the menu and the history from the prompt that
``job_scheduler/suggestions.py`` writes and answers, like a model told "suggest something",
with the id of the first dish on the menu the person has not eaten before (else the first
dish). Knobs: ``latency_ms``; ``fail_every`` (every Nth call answers 500); ``off_menu`` (the
answer names a dish that is not on the menu); ``api_key`` (then a request without
``Authorization: Bearer <api_key>`` gets 401).
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
from dataclasses import dataclass, replace
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

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


class FakeLlm:
    def __init__(self, knobs: Knobs | None = None) -> None:
        self.knobs = knobs or Knobs()
        self._lock = threading.Lock()
        self.calls = 0
        self._server: ThreadingHTTPServer | None = None
        self.base_url: str | None = None

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        server = ThreadingHTTPServer((host, port), _Handler)
        server.daemon_threads = True
        server.fake = self  # type: ignore[attr-defined]
        self._server = server
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        self.base_url = f"http://{host}:{server.server_address[1]}/v1"
        return self.base_url

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

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


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def do_POST(self) -> None:
        fake: FakeLlm = self.server.fake  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path != "/v1/chat/completions":
            self._send(404, {"error": {"message": "not found"}})
            return
        try:
            request = json.loads(body)
        except ValueError:
            self._send(400, {"error": {"message": "the body is not JSON"}})
            return
        self._send(*fake.complete(request, self.headers.get("Authorization")))

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status, HTTPStatus(status).phrase)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m infra.fakes.llm")
    parser.add_argument("--port", type=int, default=8083)
    args = parser.parse_args()
    fake = FakeLlm()
    print(fake.start(port=args.port), flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
