"""The admin API and site for ``make run``: served as ``chalice local`` serves them, with a
fresh admin token each start (the previous run's ``make-run`` token is revoked)."""

from __future__ import annotations

import contextlib
import importlib.util
import re
import sys
import threading
from pathlib import Path
from typing import Any

from job_scheduler.adapters.db import get_connection
from job_scheduler.admin import tokens as admin_tokens
from job_scheduler.config import Settings
from job_scheduler.errors import TokenNotFound

ADMIN_SITE = Path(__file__).resolve().parents[2] / "admin_site"
_STATE = re.compile(r"(state=)[^&\s\"]+")
TOKEN_NAME = "make-run"  # noqa: S105 - the token's name, not the token


def load_app(settings: Settings | None = None) -> Any:
    """admin_site/app.py as Chalice loads it (its own directory on the path for chalicelib),
    its routes' objects built from ``settings`` when given (else from the environment, as in
    Lambda)."""
    if str(ADMIN_SITE) not in sys.path:
        sys.path.insert(0, str(ADMIN_SITE))
    spec = importlib.util.spec_from_file_location("admin_app", ADMIN_SITE / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if settings is not None:
        from chalicelib.context import current

        current.configure(settings)
    return module.app


def _handler() -> type:
    """chalice local's request handler, its log lines without the link page's one-time
    state (a credential while it lasts)."""
    from chalice.local import ChaliceRequestHandler

    class Handler(ChaliceRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            scrubbed = tuple(_STATE.sub(r"\1<hidden>", str(arg)) for arg in args)
            super().log_message(format, *scrubbed)

    return Handler


class AdminSite:
    def __init__(self, settings: Settings, port: int) -> None:
        from chalice.config import Config
        from chalice.local import LocalDevServer

        app = load_app(settings)
        self.server = LocalDevServer(app, Config.create(), "127.0.0.1", port, _handler())
        self.url = f"http://127.0.0.1:{self.server.server.server_address[1]}"
        conn = get_connection(settings.database_url)
        with contextlib.suppress(TokenNotFound):  # none on the first run
            admin_tokens.revoke(conn, TOKEN_NAME, "make run")
        self.token = admin_tokens.create(conn, TOKEN_NAME, "make run")
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> AdminSite:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
