"""What the small fakes share: serving one on loopback in a thread, JSON answers, and a
``python -m`` entry point that prints the URL first (what ``bench/harness.py`` reads)."""

from __future__ import annotations

import argparse
import json
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class LoopbackFake:
    """A fake served by ``handler`` on a thread; the handler reaches it as ``server.fake``."""

    handler: type[BaseHTTPRequestHandler]
    url_path: str = ""  # appended to the base URL clients are given (e.g. "/v1")

    _server: ThreadingHTTPServer | None = None
    base_url: str | None = None

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on host:port (0 picks a free port); returns the URL clients use."""
        server = ThreadingHTTPServer((host, port), self.handler)
        server.daemon_threads = True
        server.fake = self  # type: ignore[attr-defined]
        self._server = server
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        self.base_url = f"http://{host}:{server.server_address[1]}{self.url_path}"
        return self.base_url

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()


class JsonHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # keep-alive answers would wait ~40 ms otherwise

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a line per request would drown the output."""

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send_json(self, status: int, body: Any) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
        self.send_bytes(status, data, "application/json")

    def send_bytes(self, status: int, data: bytes, kind: str) -> None:
        self.send_response(status, HTTPStatus(status).phrase)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def serve_from_command_line(
    prog: str, default_port: int, make: Any, extra: dict[str, Any] | None = None
) -> None:
    """Parse ``--port`` (and ``extra`` int options), start ``make(**options)``, print its
    URL, serve until interrupted."""
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--port", type=int, default=default_port)
    for name, default in (extra or {}).items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=default)
    options = vars(parser.parse_args())
    port = options.pop("port")
    fake = make(**options)
    print(fake.start(port=port), flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        fake.stop()
