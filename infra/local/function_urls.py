"""Lambda function URLs, in-process: an HTTP server per function that turns each request
into the event a function URL sends (payload format 2.0) and the handler's answer back
into HTTP, as AWS does.

The handler runs on the function's own threads, as many as its reserved concurrency
(``UrlFunction.concurrency``), kept from one request to the next as Lambda keeps warm
environments: each keeps its Postgres connection, and a burst of updates holds no more
connections than the function may on AWS (docs/connections.md). Requests beyond that wait
for a free one (on AWS they would be throttled, and Telegram would send them again).
"""

from __future__ import annotations

import base64
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from job_scheduler.config import Settings
from job_scheduler.observability import logger

from .lambdas import LocalContext, load_function
from .template import UrlFunction

MAX_BODY_BYTES = 6 * 1024 * 1024  # Lambda's synchronous payload limit


def url_event(method: str, target: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """The event a function URL hands its function for one request."""
    parts = urlsplit(target)
    text_body = body.decode("utf-8", "replace")
    is_text = body == text_body.encode("utf-8")
    now = datetime.now(UTC)
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": parts.path or "/",
        "rawQueryString": parts.query,
        "headers": {name.lower(): value for name, value in headers.items()},
        "queryStringParameters": dict(parse_qsl(parts.query)) or None,
        "requestContext": {
            "accountId": "anonymous", "apiId": "local", "domainName": "127.0.0.1",
            "http": {"method": method, "path": parts.path or "/", "protocol": "HTTP/1.1",
                     "sourceIp": "127.0.0.1", "userAgent": headers.get("User-Agent", "")},
            "requestId": f"local-{time.monotonic_ns()}", "routeKey": "$default",
            "stage": "$default", "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "body": text_body if is_text else base64.b64encode(body).decode(),
        "isBase64Encoded": not is_text,
    }  # fmt: skip


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Telegram opens up to 40 connections at once to a webhook (setWebhook's max_connections);
    # socketserver's default backlog of 5 resets some of them while the accept loop is busy.
    request_queue_size = 64


class FunctionUrl:
    """Serves one function on 127.0.0.1:port until ``stop``."""

    def __init__(self, function: UrlFunction, settings: Settings, port: int = 0) -> None:
        handler = load_function(function.code_uri, function.handler, settings)
        self.environments = ThreadPoolExecutor(
            max_workers=function.concurrency, thread_name_prefix=f"lambda-{function.function}"
        )
        request_handler = _request_handler(function, handler, self.environments)
        self.server = _Server(("127.0.0.1", port), request_handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True,
                                        name=f"url-{function.function}")  # fmt: skip

    def start(self) -> FunctionUrl:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.environments.shutdown(wait=False, cancel_futures=True)


def _request_handler(
    function: UrlFunction, handler: Any, environments: ThreadPoolExecutor
) -> type[BaseHTTPRequestHandler]:
    def invoke(event: dict[str, Any]) -> Any:
        """On one of the function's threads: its context starts when the invocation does."""
        return handler(event, LocalContext(function.function, timeout_seconds=function.timeout))

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self._invoke()

        def do_GET(self) -> None:
            self._invoke()

        def _invoke(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                self._answer(413, {}, b'{"Message":"Request must be smaller than 6 MB"}')
                return
            body = self.rfile.read(length)
            event = url_event(self.command, self.path, dict(self.headers.items()), body)
            try:
                result = environments.submit(invoke, event).result()
            except Exception:
                logger.exception(
                    "function URL handler raised", extra={"function": function.function}
                )
                self._answer(502, {}, b'{"Message":"Internal Server Error"}')
                return
            self._answer(*_http_answer(result))

        def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for name, value in {"Content-Type": "application/json", **headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the handler logs what matters; a line per update would drown the terminal

    return Handler


def _http_answer(result: Any) -> tuple[int, dict[str, str], bytes]:
    """A handler's result as a function URL returns it: a dict with ``statusCode`` is the
    response; anything else is a 200 JSON body."""
    if isinstance(result, dict) and "statusCode" in result:
        body = result.get("body") or ""
        raw = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
        return int(result["statusCode"]), dict(result.get("headers") or {}), raw
    return 200, {}, json.dumps(result).encode()
