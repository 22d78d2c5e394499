"""Talking to Rastar (a Supabase project) over HTTP: timeouts, jittered retries, errors that
never carry a token or a password.

``RastarClient`` is thread-safe: an ``httpx.Client`` per thread that uses it (see ``_http``),
and no per-person state (the access token is an argument of each call).

Why not Supabase's own clients (``postgrest``, ``supabase-auth``): both are built around one
session held in the client object (``postgrest``'s ``auth()`` rewrites the shared client's
headers; ``supabase-auth`` keeps a session in memory and refreshes it on timer threads),
the wrong shape for one process checking thousands of people on many threads; each also
loads pydantic, ~0.5 s more on the executor's cold start; and the retries and the error
hygiene below are needed anyway. The tests drive the fake Supabase with both of them, so
what this client sends is what they send.

Errors: ``CredentialsRefused`` (a wrong password, a refresh token spent or revoked: link
again; not retried); ``AccessTokenExpired`` (the session layer refreshes once);
``RastarUnavailable`` (timeouts, connection errors, 429 or 5xx that outlasted the retries,
an answer of unknown shape, the anon key refused: none of them the person's fault).
"""

from __future__ import annotations

import threading
from datetime import date
from typing import Any

import httpx
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from job_scheduler.config import Settings
from job_scheduler.errors import (
    AccessTokenExpired,
    ConfigError,
    CredentialsRefused,
    RastarUnavailable,
    UnexpectedAnswer,
)
from job_scheduler.rastar import protocol
from job_scheduler.rastar.protocol import Offering, Selection, Session

ATTEMPTS = 3
# A refresh whose answer is lost is retried with the same, now spent, refresh token: GoTrue
# answers it with the new session only within its reuse interval (10 s by default), and
# older GoTrue revokes the whole session after it. So a refresh waits at most this long per
# try, and its three tries (with their backoff) end within those 10 s.
REFRESH_TRY_SECONDS = 2.5


class _RetryableAnswer(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"Rastar answered {status}")
        self.status = status


_RETRYABLE = (httpx.TimeoutException, httpx.TransportError, _RetryableAnswer)


class RastarClient:
    def __init__(
        self,
        base_url: str,
        anon_key: str,
        menu_table: str = "menu_schedule",
        selections_table: str = "user_menu_selections",
        timeout_seconds: float = 10,
    ) -> None:
        self.anon_key = anon_key
        self.menu_table, self.selections_table = menu_table, selections_table
        self._base_url = base_url.rstrip("/")
        self._timeout = timeout_seconds
        self._local = threading.local()
        self._clients: list[httpx.Client] = []
        self._clients_lock = threading.Lock()

    @property
    def _http(self) -> httpx.Client:
        """This thread's HTTP client, with its one kept-alive connection.

        Written here rather than one shared ``httpx.Client``: httpcore's pool scans every
        connection under one lock for each request (``_assign_requests_to_connections``,
        ``is_idle``), so 64 threads sharing a pool of 64 spent most of the food reminder's
        CPU there (``bench/food_reminder.py``). One client per thread scans one connection;
        the callers' threads are the concurrency bound."""
        client = getattr(self._local, "client", None)
        if client is None:
            client = httpx.Client(
                base_url=self._base_url,
                timeout=httpx.Timeout(self._timeout, connect=min(self._timeout, 3.0)),
                limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            )
            with self._clients_lock:
                self._clients.append(client)
            self._local.client = client
        return client

    @classmethod
    def from_settings(cls, settings: Settings) -> RastarClient:
        if not settings.rastar_supabase_url or not settings.rastar_supabase_anon_key:
            raise ConfigError(
                "RASTAR_SUPABASE_URL and RASTAR_SUPABASE_ANON_KEY (or its _SECRET_ARN) must be"
                " set: the Rastar Supabase project's URL and public anon key"
            )
        return cls(
            settings.rastar_supabase_url,
            settings.rastar_supabase_anon_key,
            settings.rastar_menu_table,
            settings.rastar_selections_table,
            settings.rastar_timeout_seconds,
        )

    def close(self) -> None:
        with self._clients_lock:
            clients, self._clients = self._clients, []
        for client in clients:
            client.close()
        self._local = threading.local()

    # --- auth (GoTrue) -------------------------------------------------------------------

    def sign_in(self, email: str, password: str) -> Session:
        """A new session for these credentials; CredentialsRefused if Rastar refuses them."""
        body = {"email": email, "password": password}
        return self._auth("password", body, "the email or password")

    def refresh(self, refresh_token: str) -> Session:
        """A new session (a new refresh token too: the old one is spent once this answers)."""
        timeout = httpx.Timeout(min(self._timeout, REFRESH_TRY_SECONDS))
        body = {"refresh_token": refresh_token}
        return self._auth("refresh_token", body, "the session", timeout=timeout)

    def _auth(self, grant: str, body: dict[str, str], what: str, **request: Any) -> Session:
        answer = self._send(
            "POST", protocol.TOKEN_PATH, None, params={"grant_type": grant}, json=body, **request
        )
        if answer.status_code in protocol.REFUSED_AUTH_STATUSES:
            code = protocol.auth_error(_json_or_none(answer))
            raise CredentialsRefused(f"Rastar refused {what} ({code or answer.status_code})")
        return protocol.parse_session(self._json(answer, protocol.TOKEN_PATH))

    # --- data (PostgREST) ----------------------------------------------------------------

    def menu(self, token: str, first: date, last: date) -> tuple[Offering, ...]:
        """The dishes offered from ``first`` to ``last``; empty days are simply absent."""
        path = protocol.REST_PATH + self.menu_table
        answer = self._send("GET", path, token, params=protocol.menu_params(first, last))
        return protocol.parse_menu(self._data(answer, path))

    def selections(
        self, token: str, user_id: str, first: date, last: date
    ) -> tuple[Selection, ...]:
        """The person's picks for dates from ``first`` to ``last``."""
        path = protocol.REST_PATH + self.selections_table
        params = protocol.selections_params(self.menu_table, user_id, first, last)
        return protocol.parse_selections(
            self._data(self._send("GET", path, token, params=params), path)
        )

    def pick(self, token: str, user_id: str, offering: Offering) -> Selection:
        path = protocol.REST_PATH + self.selections_table
        answer = self._send(
            "POST",
            path,
            token,
            json={"user_id": user_id, "menu_schedule_id": offering.schedule_id},
            headers={"Prefer": "return=representation"},
        )
        return protocol.parse_pick(self._data(answer, path), offering)

    def unpick(self, token: str, selection_id: str) -> None:
        path = protocol.REST_PATH + self.selections_table
        self._data(self._send("DELETE", path, token, params={"id": f"eq.{selection_id}"}), path)

    # --- the wire ------------------------------------------------------------------------

    def _send(self, method: str, path: str, token: str | None, **request: Any) -> httpx.Response:
        headers = {**protocol.person_headers(self.anon_key, token), **request.pop("headers", {})}
        try:
            answer = self._send_retrying(method, path, headers, request)
        except _RETRYABLE as exc:
            raise RastarUnavailable(f"Rastar {path}: {_describe(exc)} ({ATTEMPTS} tries)") from None
        if protocol.is_refused_api_key(answer.status_code, _json_or_none(answer)):
            raise RastarUnavailable(
                f"Rastar {path} refused the project's anon key: check RASTAR_SUPABASE_ANON_KEY"
            )
        return answer

    @retry(
        retry=retry_if_exception_type(_RETRYABLE),
        stop=stop_after_attempt(ATTEMPTS),
        wait=wait_exponential_jitter(multiplier=0.2, max=2),
        reraise=True,
    )
    def _send_retrying(
        self, method: str, path: str, headers: dict[str, str], request: dict[str, Any]
    ) -> httpx.Response:
        answer = self._http.request(method, path, headers=headers, **request)
        if answer.status_code in protocol.RETRY_STATUSES:
            raise _RetryableAnswer(answer.status_code)
        return answer

    def _data(self, answer: httpx.Response, path: str) -> Any:
        body = _json_or_none(answer)
        if protocol.is_expired_token(answer.status_code, body):
            raise AccessTokenExpired(f"Rastar {path} refused the access token")
        if answer.status_code == 401:
            raise CredentialsRefused(f"Rastar {path} refused the person ({answer.status_code})")
        if answer.status_code == 403:  # row-level security said no: not the person's doing
            code = (_json_or_none(answer) or {}).get("code", "") if _is_object(answer) else ""
            raise UnexpectedAnswer(f"Rastar {path} refused by row-level security (403 {code})")
        if answer.status_code == 204:
            return None
        return self._json(answer, path)

    @staticmethod
    def _json(answer: httpx.Response, path: str) -> Any:
        if not 200 <= answer.status_code < 300:
            code = (_json_or_none(answer) or {}).get("code", "") if _is_object(answer) else ""
            raise RastarUnavailable(f"Rastar {path} answered {answer.status_code} {code}".strip())
        try:
            return answer.json()
        except ValueError:
            raise RastarUnavailable(f"Rastar {path} answered something that is not JSON") from None


def _json_or_none(answer: httpx.Response) -> Any:
    try:
        return answer.json()
    except ValueError:
        return None


def _is_object(answer: httpx.Response) -> bool:
    return isinstance(_json_or_none(answer), dict)


def _describe(exc: BaseException) -> str:
    """The error's kind, never its text: httpx puts the URL in it, and the URL is harmless but
    the request headers (the token) must not follow it into a log."""
    if isinstance(exc, _RetryableAnswer):
        return f"answered {exc.status}"
    return type(exc).__name__
